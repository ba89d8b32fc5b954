// NativeBert: the JS handle on a loaded BertModel (src/native/binding.ts declares it as
// NativeBertHandle). loadBert(config, file, opts) loads synchronously; encode() copies its inputs
// into plain vectors on the JS thread and runs the forward pass on a job thread (job.h), so a large
// batch never blocks the event loop. One encode at a time per handle.
#include <napi.h>

#include <atomic>
#include <cstring>
#include <memory>

#include "errors.h"
#include "job.h"
#include "model_bert.h"

namespace medtune {

namespace {

double numberOr(const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throw ArgumentError(std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int requiredInt(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw ArgumentError(std::string("bert config: ") + key + " must be a number");
  return v.As<Napi::Number>().Int32Value();
}

std::string stringOr(const Napi::Object& o, const char* key, const std::string& dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsString()) throw ArgumentError(std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

BertConfig readBertConfig(const Napi::Value& v) {
  if (!v.IsObject()) throw ArgumentError("loadBert: config must be an object");
  Napi::Object o = v.As<Napi::Object>();
  BertConfig c;
  c.vocabSize = requiredInt(o, "vocabSize");
  c.hiddenSize = requiredInt(o, "hiddenSize");
  c.intermediateSize = requiredInt(o, "intermediateSize");
  c.numLayers = requiredInt(o, "numLayers");
  c.numHeads = requiredInt(o, "numHeads");
  c.maxPositionEmbeddings = static_cast<int>(numberOr(o, "maxPositionEmbeddings", 512));
  c.typeVocabSize = static_cast<int>(numberOr(o, "typeVocabSize", 2));
  c.layerNormEps = static_cast<float>(numberOr(o, "layerNormEps", 1e-12));
  c.hiddenAct = stringOr(o, "hiddenAct", "gelu");
  return c;
}

Napi::Object bertConfigToJs(Napi::Env env, const BertConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("vocabSize", c.vocabSize);
  o.Set("hiddenSize", c.hiddenSize);
  o.Set("intermediateSize", c.intermediateSize);
  o.Set("numLayers", c.numLayers);
  o.Set("numHeads", c.numHeads);
  o.Set("maxPositionEmbeddings", c.maxPositionEmbeddings);
  o.Set("typeVocabSize", c.typeVocabSize);
  o.Set("layerNormEps", c.layerNormEps);
  o.Set("hiddenAct", c.hiddenAct);
  return o;
}

std::vector<int32_t> int32Array(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw ArgumentError(std::string("encode: ") + what + " must be an Int32Array");
  }
  auto a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

// Uint8Array (0/1) or Float32Array -> floats.
std::vector<float> maskArray(const Napi::Value& v) {
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_uint8_array) {
      auto a = v.As<Napi::Uint8Array>();
      std::vector<float> out(a.ElementLength());
      for (size_t i = 0; i < out.size(); ++i) out[i] = a[i] ? 1.0f : 0.0f;
      return out;
    }
    if (ta.TypedArrayType() == napi_float32_array) {
      auto a = v.As<Napi::Float32Array>();
      return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
    }
  }
  throw ArgumentError("encode: mask must be a Uint8Array or Float32Array");
}

BertPooling parsePooling(const std::string& s) {
  if (s == "mean") return BertPooling::kMean;
  if (s == "cls") return BertPooling::kCls;
  if (s == "none") return BertPooling::kNone;
  throw ArgumentError("encode: pooling must be mean, cls or none, got '" + s + "'");
}

mx::Dtype parseWeightDtype(const std::string& s) {
  if (s == "float32") return mx::float32;
  if (s == "float16") return mx::float16;
  if (s == "bfloat16") return mx::bfloat16;
  throw ArgumentError("loadBert: dtype must be float32, float16 or bfloat16, got " + s);
}

class NativeBert : public Napi::ObjectWrap<NativeBert> {
 public:
  static Napi::FunctionReference* constructor;

  static void Init(Napi::Env env) {
    Napi::Function f = DefineClass(
        env, "NativeBert",
        {InstanceMethod<&NativeBert::Config>("config"),
         InstanceMethod<&NativeBert::Encode>("encode"), InstanceMethod<&NativeBert::Busy>("busy"),
         InstanceMethod<&NativeBert::Dispose>("dispose")});
    constructor = new Napi::FunctionReference(Napi::Persistent(f));
  }

  explicit NativeBert(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeBert>(info) {}

  std::shared_ptr<const BertModel> model;

 private:
  std::shared_ptr<std::atomic<bool>> busy_ = std::make_shared<std::atomic<bool>>(false);

  const BertModel& loaded() const {
    if (!model) throw ArgumentError("this BERT encoder was disposed");
    return *model;
  }

  Napi::Value Config(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      Napi::Object o = bertConfigToJs(info.Env(), loaded().config);
      o.Set("source", loaded().source);
      return o;
    });
  }

  // encode({ids, mask, typeIds?, shape: [B, L], pooling, normalize, returnHidden})
  //   -> Promise<{embeddings: Float32Array (B*D), hidden?: Float32Array (B*L*D)}>
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      std::shared_ptr<const BertModel> m = model;
      if (!m) throw ArgumentError("this BERT encoder was disposed");
      if (busy_->load()) throw ArgumentError("encode: the encoder is busy; await the last call");
      if (!info[0].IsObject()) throw ArgumentError("encode(options) needs an options object");
      Napi::Object o = info[0].As<Napi::Object>();
      auto in = std::make_shared<std::vector<int32_t>>(int32Array(o.Get("ids"), "ids"));
      auto mask = std::make_shared<std::vector<float>>(maskArray(o.Get("mask")));
      auto types = std::make_shared<std::vector<int32_t>>();
      if (!o.Get("typeIds").IsUndefined()) *types = int32Array(o.Get("typeIds"), "typeIds");
      Napi::Value shapeV = o.Get("shape");
      if (!shapeV.IsArray() || shapeV.As<Napi::Array>().Length() != 2) {
        throw ArgumentError("encode: shape must be [batch, length]");
      }
      const int batch = shapeV.As<Napi::Array>().Get(0u).ToNumber().Int32Value();
      const int length = shapeV.As<Napi::Array>().Get(1u).ToNumber().Int32Value();
      BertEncodeOptions opts;
      opts.pooling = parsePooling(stringOr(o, "pooling", "mean"));
      Napi::Value norm = o.Get("normalize");
      opts.normalize = norm.IsBoolean() ? norm.As<Napi::Boolean>().Value() : false;
      Napi::Value hid = o.Get("returnHidden");
      opts.returnHidden = hid.IsBoolean() && hid.As<Napi::Boolean>().Value();
      auto busy = busy_;
      busy->store(true);
      return runJob(
          info.Env(), info.Env().Undefined(),
          [m, in, mask, types, batch, length, opts](const Emit&) {
            BertEncodeResult r = m->encode(*in, *types, *mask, batch, length, opts);
            Event e("encoded");
            e.num("batch", batch).num("length", length);
            e.floats.emplace_back("embeddings", std::move(r.embeddings));
            if (opts.returnHidden) e.floats.emplace_back("hidden", std::move(r.hidden));
            return e;
          },
          [busy]() { busy->store(false); });
    });
  }

  Napi::Value Busy(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), busy_->load());
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      // A running job holds its own reference, so the weights outlive it either way.
      model.reset();
      return info.Env().Undefined();
    });
  }
};

Napi::FunctionReference* NativeBert::constructor = nullptr;

// loadBert(config, file, {dtype?, source?}) -> NativeBert
Napi::Value LoadBert(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    BertConfig c = readBertConfig(info[0]);
    if (!info[1].IsString()) throw ArgumentError("loadBert(config, file: string, {dtype, source})");
    const std::string file = info[1].As<Napi::String>().Utf8Value();
    Napi::Object o =
        info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(info.Env());
    auto m = std::make_shared<BertModel>(loadBert(
        c, file, parseWeightDtype(stringOr(o, "dtype", "float32")), stringOr(o, "source", file)));
    Napi::Object handle = NativeBert::constructor->New({});
    NativeBert::Unwrap(handle)->model = std::move(m);
    return handle;
  });
}

}  // namespace

void InitEmbedder(Napi::Env env, Napi::Object exports) {
  NativeBert::Init(env);
  exports.Set("loadBert", Napi::Function::New(env, LoadBert, "loadBert"));
}

}  // namespace medtune
