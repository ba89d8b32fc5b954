// See model_wrap.h. Options → plain structs on the JS thread (sharp's baton pattern); the worker
// thread sees only those structs and the shared Model.
#include "model_wrap.h"

#include <cstring>

#include "distributed.h"
#include "errors.h"
#include "generate.h"
#include "job.h"
#include "lora.h"
#include "profile.h"
#include "train.h"

namespace medtune {

Napi::FunctionReference* NativeModel::constructor_ = nullptr;

namespace {

// ---- reading JS values --------------------------------------------------------------------

Napi::Object asObject(const Napi::Value& v, const char* what) {
  if (!v.IsObject()) throw ArgumentError(std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

double num(const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throw ArgumentError(std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

double reqNum(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw ArgumentError(std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

// Required settings (the training and adapter options, named as the preset keys): TypeScript owns
// every default, so a missing or mistyped key is an error that names it, as in sharp's readers.
Napi::Value need(const Napi::Object& o, const char* what, const char* key, bool ok(Napi::Value),
                 const char* expected) {
  Napi::Value v = o.Get(key);
  if (!ok(v)) {
    const char* got = v.IsUndefined() ? "undefined (missing)"
                      : v.IsNull()    ? "null"
                      : v.IsNumber()  ? "a number"
                      : v.IsString()  ? "a string"
                      : v.IsBoolean() ? "a boolean"
                                      : "an object";
    throw ArgumentError(std::string(what) + "." + key + ": expected " + expected + ", got " + got);
  }
  return v;
}
double needNum(const Napi::Object& o, const char* what, const char* key) {
  return need(
             o, what, key, [](Napi::Value v) { return v.IsNumber(); }, "a number")
      .As<Napi::Number>()
      .DoubleValue();
}
int needInt(const Napi::Object& o, const char* what, const char* key) {
  const double d = needNum(o, what, key);
  if (d != static_cast<double>(static_cast<int>(d))) {
    throw ArgumentError(std::string(what) + "." + key + ": expected an integer, got " +
                        std::to_string(d));
  }
  return static_cast<int>(d);
}
bool needBool(const Napi::Object& o, const char* what, const char* key) {
  return need(
             o, what, key, [](Napi::Value v) { return v.IsBoolean(); }, "a boolean")
      .As<Napi::Boolean>()
      .Value();
}
// A number, or null for "none" (0 in the struct).
double needNumOrNull(const Napi::Object& o, const char* what, const char* key) {
  Napi::Value v = need(
      o, what, key, [](Napi::Value v) { return v.IsNumber() || v.IsNull(); }, "a number or null");
  return v.IsNull() ? 0.0 : v.As<Napi::Number>().DoubleValue();
}
// A string, or null for "none" ("" in the struct).
std::string needStrOrNull(const Napi::Object& o, const char* what, const char* key) {
  Napi::Value v = need(
      o, what, key, [](Napi::Value v) { return v.IsString() || v.IsNull(); }, "a string or null");
  return v.IsNull() ? "" : v.As<Napi::String>().Utf8Value();
}
// An object, or null; false for null.
bool needObjOrNull(const Napi::Object& o, const char* what, const char* key) {
  Napi::Value v = need(
      o, what, key, [](Napi::Value v) { return v.IsObject() || v.IsNull(); }, "an object or null");
  return v.IsObject();
}

bool boolean(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsBoolean()) throw ArgumentError(std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string str(const Napi::Object& o, const char* key, const std::string& dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsString()) throw ArgumentError(std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

// Int32Array, Uint32Array, Float64Array or number[] -> int64s.
std::vector<int64_t> ints(const Napi::Value& v, const std::string& what) {
  std::vector<int64_t> out;
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    const size_t n = ta.ElementLength();
    out.resize(n);
    switch (ta.TypedArrayType()) {
      case napi_int32_array: {
        auto a = v.As<Napi::Int32Array>();
        for (size_t i = 0; i < n; ++i) out[i] = a[i];
        return out;
      }
      case napi_uint32_array: {
        auto a = v.As<Napi::Uint32Array>();
        for (size_t i = 0; i < n; ++i) out[i] = a[i];
        return out;
      }
      case napi_float64_array: {
        auto a = v.As<Napi::Float64Array>();
        for (size_t i = 0; i < n; ++i) out[i] = static_cast<int64_t>(a[i]);
        return out;
      }
      default:
        break;
    }
  } else if (v.IsArray()) {
    auto a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value e = a.Get(i);
      if (!e.IsNumber()) throw ArgumentError(what + "[" + std::to_string(i) + "] must be a number");
      out.push_back(e.As<Napi::Number>().Int64Value());
    }
    return out;
  }
  throw ArgumentError(what + " must be an Int32Array, Uint32Array, Float64Array or number[]");
}

std::vector<int32_t> int32s(const Napi::Value& v, const std::string& what) {
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    auto a = v.As<Napi::Int32Array>();
    return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
  }
  auto w = ints(v, what);
  return std::vector<int32_t>(w.begin(), w.end());
}

// Float32Array, Uint8Array or number[]/boolean[] -> floats.
std::vector<float> floats(const Napi::Value& v, const std::string& what) {
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() == napi_float32_array) {
      auto a = v.As<Napi::Float32Array>();
      return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
    }
    if (ta.TypedArrayType() == napi_uint8_array) {
      auto a = v.As<Napi::Uint8Array>();
      std::vector<float> out(a.ElementLength());
      for (size_t i = 0; i < out.size(); ++i) out[i] = a[i] ? 1.0f : 0.0f;
      return out;
    }
  } else if (v.IsArray()) {
    auto a = v.As<Napi::Array>();
    std::vector<float> out;
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value e = a.Get(i);
      out.push_back(e.IsBoolean() ? (e.As<Napi::Boolean>().Value() ? 1.0f : 0.0f)
                                  : static_cast<float>(e.ToNumber().DoubleValue()));
    }
    return out;
  }
  throw ArgumentError(what + " must be a Float32Array, Uint8Array or array");
}

mx::Dtype parseDtype(const std::string& s) {
  if (s == "float32") return mx::float32;
  if (s == "float16") return mx::float16;
  if (s == "bfloat16") return mx::bfloat16;
  throw ArgumentError("dtype must be float32, float16 or bfloat16, got " + s);
}

ModelConfig readConfig(const Napi::Value& v) {
  Napi::Object o = asObject(v, "config");
  ModelConfig c;
  c.architecture = str(o, "architecture", "llama");
  c.vocabSize = static_cast<int>(reqNum(o, "vocabSize"));
  c.hiddenSize = static_cast<int>(reqNum(o, "hiddenSize"));
  c.intermediateSize = static_cast<int>(reqNum(o, "intermediateSize"));
  c.numLayers = static_cast<int>(reqNum(o, "numLayers"));
  c.numHeads = static_cast<int>(reqNum(o, "numHeads"));
  c.numKvHeads = static_cast<int>(num(o, "numKvHeads", c.numHeads));
  c.headDim = static_cast<int>(num(o, "headDim", c.numHeads ? c.hiddenSize / c.numHeads : 0));
  c.rmsNormEps = static_cast<float>(num(o, "rmsNormEps", 1e-5));
  c.ropeTheta = static_cast<float>(num(o, "ropeTheta", 10000));
  c.tieWordEmbeddings = boolean(o, "tieWordEmbeddings", false);
  c.attentionBias = boolean(o, "attentionBias", c.architecture == "qwen2");
  c.slidingWindow = static_cast<int>(num(o, "slidingWindow", 0));
  c.maxPositionEmbeddings = static_cast<int>(num(o, "maxPositionEmbeddings", 2048));
  c.hiddenAct = str(o, "hiddenAct", isGpt2Family(c.architecture) ? "gelu" : "silu");
  c.scaleEmbedding = boolean(o, "scaleEmbedding", c.architecture == "biogpt");
  if (c.hiddenAct != "silu" && c.hiddenAct != "gelu" && c.hiddenAct != "gelu_new" &&
      c.hiddenAct != "gelu_pytorch_tanh") {
    throw ArgumentError("unsupported hiddenAct '" + c.hiddenAct + "'");
  }
  Napi::Value rs = o.Get("ropeScaling");
  if (rs.IsObject()) {
    Napi::Object r = rs.As<Napi::Object>();
    c.ropeScaling.type = str(r, "type", "none");
    c.ropeScaling.factor = static_cast<float>(num(r, "factor", 1));
    c.ropeScaling.lowFreqFactor = static_cast<float>(num(r, "lowFreqFactor", 1));
    c.ropeScaling.highFreqFactor = static_cast<float>(num(r, "highFreqFactor", 4));
    c.ropeScaling.originalMaxPositionEmbeddings =
        static_cast<int>(num(r, "originalMaxPositionEmbeddings", 8192));
    if (c.ropeScaling.type != "none" && c.ropeScaling.type != "linear" &&
        c.ropeScaling.type != "llama3") {
      throw ArgumentError("unsupported ropeScaling.type '" + c.ropeScaling.type + "'");
    }
  }
  return c;
}

Napi::Object configToJs(Napi::Env env, const ModelConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("architecture", c.architecture);
  o.Set("vocabSize", c.vocabSize);
  o.Set("hiddenSize", c.hiddenSize);
  o.Set("intermediateSize", c.intermediateSize);
  o.Set("numLayers", c.numLayers);
  o.Set("numHeads", c.numHeads);
  o.Set("numKvHeads", c.numKvHeads);
  o.Set("headDim", c.headDim);
  o.Set("rmsNormEps", c.rmsNormEps);
  o.Set("ropeTheta", c.ropeTheta);
  o.Set("tieWordEmbeddings", c.tieWordEmbeddings);
  o.Set("attentionBias", c.attentionBias);
  o.Set("slidingWindow", c.slidingWindow);
  o.Set("maxPositionEmbeddings", c.maxPositionEmbeddings);
  o.Set("hiddenAct", c.hiddenAct);
  o.Set("scaleEmbedding", c.scaleEmbedding);
  Napi::Object r = Napi::Object::New(env);
  r.Set("type", c.ropeScaling.type);
  r.Set("factor", c.ropeScaling.factor);
  r.Set("lowFreqFactor", c.ropeScaling.lowFreqFactor);
  r.Set("highFreqFactor", c.ropeScaling.highFreqFactor);
  r.Set("originalMaxPositionEmbeddings", c.ropeScaling.originalMaxPositionEmbeddings);
  o.Set("ropeScaling", r);
  return o;
}

Dataset readDataset(const Napi::Value& v, const std::string& what) {
  Napi::Object o = asObject(v, what.c_str());
  Dataset d;
  d.tokens = int32s(o.Get("tokens"), what + ".tokens");
  d.offsets = ints(o.Get("offsets"), what + ".offsets");
  d.lossMask = floats(o.Get("lossMask"), what + ".lossMask");
  if (d.lossMask.size() != d.tokens.size()) {
    throw ArgumentError(what + ".lossMask has " + std::to_string(d.lossMask.size()) +
                        " entries but tokens has " + std::to_string(d.tokens.size()));
  }
  for (size_t i = 0; i < d.offsets.size(); ++i) {
    if (d.offsets[i] < 0 || static_cast<size_t>(d.offsets[i]) > d.tokens.size() ||
        (i > 0 && d.offsets[i] < d.offsets[i - 1])) {
      throw ArgumentError(what + ".offsets[" + std::to_string(i) + "] is out of order or range");
    }
  }
  return d;
}

BatchList readBatches(const Napi::Value& v, const std::string& what, size_t datasetSize) {
  Napi::Object o = asObject(v, what.c_str());
  BatchList b;
  b.indices = int32s(o.Get("indices"), what + ".indices");
  b.offsets = ints(o.Get("offsets"), what + ".offsets");
  for (int32_t i : b.indices) {
    if (i < 0 || static_cast<size_t>(i) >= datasetSize) {
      throw ArgumentError(what + " refers to example " + std::to_string(i) +
                          " but the dataset has " + std::to_string(datasetSize));
    }
  }
  for (size_t i = 0; i < b.offsets.size(); ++i) {
    if (b.offsets[i] < 0 || static_cast<size_t>(b.offsets[i]) > b.indices.size() ||
        (i > 0 && b.offsets[i] <= b.offsets[i - 1])) {
      throw ArgumentError(what + ".offsets[" + std::to_string(i) +
                          "] is out of range or makes an empty batch");
    }
  }
  return b;
}

Napi::Float32Array toFloat32(Napi::Env env, const mx::array& a) {
  mx::array c = mx::contiguous(mx::astype(a, mx::float32));
  mx::eval(c);
  auto out = Napi::Float32Array::New(env, c.size());
  if (c.size()) std::memcpy(out.Data(), c.data<float>(), c.size() * sizeof(float));
  return out;
}

Napi::Array shapeToJs(Napi::Env env, const mx::Shape& s) {
  Napi::Array a = Napi::Array::New(env, s.size());
  for (size_t i = 0; i < s.size(); ++i) a.Set(i, s[i]);
  return a;
}

// ids (Int32Array) + shape [B, L] -> (B, L) int32 checked against the vocabulary.
mx::array readIds(const Napi::Value& data, const Napi::Value& shape, int vocab, const char* what) {
  std::vector<int32_t> ids = int32s(data, what);
  std::vector<int64_t> s = ints(shape, std::string(what) + " shape");
  if (s.size() != 2 || s[0] <= 0 || s[1] <= 0 || static_cast<size_t>(s[0] * s[1]) != ids.size()) {
    throw ArgumentError(std::string(what) + ": shape must be [B, L] with B*L == ids.length");
  }
  for (int32_t t : ids) {
    if (t < 0 || t >= vocab) {
      throw ArgumentError(std::string(what) + ": token " + std::to_string(t) +
                          " is outside the vocabulary (" + std::to_string(vocab) + ")");
    }
  }
  return mx::array(ids.data(), {static_cast<int>(s[0]), static_cast<int>(s[1])}, mx::int32);
}

// {inputs, targets, mask, shape} -> one checked micro-batch.
Batch readBatch(const Napi::Object& o, int vocab) {
  Batch b;
  b.inputs = readIds(o.Get("inputs"), o.Get("shape"), vocab, "inputs");
  b.targets = readIds(o.Get("targets"), o.Get("shape"), vocab, "targets");
  std::vector<float> mask = floats(o.Get("mask"), "mask");
  if (mask.size() != b.inputs.size()) throw ArgumentError("mask must have B*L entries");
  b.mask = mx::array(mask.data(), b.inputs.shape(), mx::float32);
  for (float f : mask) b.supervisedTokens += f != 0.0f;
  return b;
}

// The sampling fields shared by generate() and generateBatch().
SamplingOptions readSampling(const Napi::Object& o) {
  SamplingOptions s;
  s.temperature = static_cast<float>(num(o, "temperature", 0));
  s.topP = static_cast<float>(num(o, "topP", 1));
  s.topK = static_cast<int>(num(o, "topK", 0));
  s.repetitionPenalty = static_cast<float>(num(o, "repetitionPenalty", 1));
  s.repetitionContextSize = static_cast<int>(num(o, "repetitionContextSize", 64));
  s.seed = static_cast<uint64_t>(num(o, "seed", 0));
  s.prefillChunk = static_cast<int>(num(o, "prefillChunk", 512));
  if (s.prefillChunk < 1) throw ArgumentError("prefillChunk must be >= 1");
  return s;
}

}  // namespace

// ---- class ----------------------------------------------------------------------------------

void NativeModel::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function fn =
      DefineClass(env, "NativeModel",
                  {
                      InstanceAccessor<&NativeModel::Config>("config"),
                      InstanceAccessor<&NativeModel::AdaptersEnabled>("adaptersEnabled"),
                      InstanceAccessor<&NativeModel::Busy>("busy"),
                      InstanceAccessor<&NativeModel::LoadNotes>("loadNotes"),
                      InstanceMethod<&NativeModel::Quantize>("quantize"),
                      InstanceMethod<&NativeModel::AddAdapters>("addAdapters"),
                      InstanceMethod<&NativeModel::RemoveAdapters>("removeAdapters"),
                      InstanceMethod<&NativeModel::SetAdaptersEnabled>("setAdaptersEnabled"),
                      InstanceMethod<&NativeModel::AdapterNames>("adapterNames"),
                      InstanceMethod<&NativeModel::GetAdapterWeights>("getAdapterWeights"),
                      InstanceMethod<&NativeModel::SetAdapterWeights>("setAdapterWeights"),
                      InstanceMethod<&NativeModel::SaveAdapters>("saveAdapters"),
                      InstanceMethod<&NativeModel::LoadAdapters>("loadAdapters"),
                      InstanceMethod<&NativeModel::SaveBaseWeights>("saveBaseWeights"),
                      InstanceMethod<&NativeModel::Forward>("forward"),
                      InstanceMethod<&NativeModel::LossAndGrad>("lossAndGrad"),
                      InstanceMethod<&NativeModel::Score>("score"),
                      InstanceMethod<&NativeModel::Generate>("generate"),
                      InstanceMethod<&NativeModel::GenerateBatch>("generateBatch"),
                      InstanceMethod<&NativeModel::ScoreOptions>("scoreOptions"),
                      InstanceMethod<&NativeModel::ProfileTraining>("profileTraining"),
                      InstanceMethod<&NativeModel::ProfileDecode>("profileDecode"),
                      InstanceMethod<&NativeModel::Train>("train"),
                      InstanceMethod<&NativeModel::Cancel>("cancel"),
                      InstanceMethod<&NativeModel::Dispose>("dispose"),
                  });
  // Not SetInstanceData: Tensor already owns the env's single instance-data slot.
  constructor_ = new Napi::FunctionReference(Napi::Persistent(fn));
  exports.Set("NativeModel", fn);
  exports.Set("loadGguf", Napi::Function::New(env, LoadGgufModel, "loadGguf"));
  exports.Set("loadHf", Napi::Function::New(env, LoadHfModel, "loadHf"));
  exports.Set("createRandomModel",
              Napi::Function::New(env, CreateRandomModel, "createRandomModel"));
  exports.Set("validateSafetensors",
              Napi::Function::New(env, ValidateSafetensors, "validateSafetensors"));
  exports.Set("initDistributed", Napi::Function::New(env, InitDistributed, "initDistributed"));
  Napi::Array modules = Napi::Array::New(env, 7);
  for (uint32_t i = 0; i < 7; ++i) modules.Set(i, kLoraModules[i]);
  exports.Set("loraModules", modules);
}

NativeModel::NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {}

Napi::Object NativeModel::Wrap(Napi::Env env, Model m) {
  Napi::Object obj = constructor_->New({});
  Unwrap(obj)->model_ = std::make_shared<Model>(std::move(m));
  return obj;
}

Model& NativeModel::model() {
  if (!model_) throw ArgumentError("the model was disposed");
  return *model_;
}

void NativeModel::ensureIdle() {
  if (busy_->load()) {
    throw std::runtime_error(
        "the model is busy (a train or generate job is running); await it or cancel()");
  }
}

Napi::Value NativeModel::Config(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return configToJs(info.Env(), model().config); });
}

Napi::Value NativeModel::Busy(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), busy_->load());
}

Napi::Value NativeModel::LoadNotes(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const auto& notes = model().loadNotes;
    Napi::Array a = Napi::Array::New(info.Env(), notes.size());
    for (size_t i = 0; i < notes.size(); ++i) a.Set(i, notes[i]);
    return a;
  });
}

Napi::Value NativeModel::AdaptersEnabled(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::Boolean::New(info.Env(), model().adaptersEnabled);
  });
}

// quantize({groupSize = 64, bits = 4}): QLoRA — the frozen base goes to MLX affine quantization.
Napi::Value NativeModel::Quantize(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    Napi::Object o =
        info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(info.Env());
    const int group = static_cast<int>(num(o, "groupSize", 64));
    const int bits = static_cast<int>(num(o, "bits", 4));
    if (group != 32 && group != 64 && group != 128)
      throw ArgumentError("groupSize must be 32, 64 or 128");
    if (bits != 2 && bits != 3 && bits != 4 && bits != 6 && bits != 8) {
      throw ArgumentError("bits must be 2, 3, 4, 6 or 8");
    }
    if (model().dora()) {
      // DoRA's ||W||_row and m were taken from the float W; quantizing now would leave them stale.
      throw ArgumentError("quantize the base before adding DoRA adapters");
    }
    quantizeBase(model(), group, bits);
    return info.Env().Undefined();
  });
}

// addAdapters({loraRank, loraScale, loraDropout, loraKeys, loraLayers, dora, seed}): every key
// required; loraScale is alpha / rank (or alpha / sqrt(rank) with rsLora), computed in TypeScript.
Napi::Value NativeModel::AddAdapters(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    const char* what = "addAdapters options";
    Napi::Object o = asObject(info[0], what);
    LoraConfig c;
    c.rank = needInt(o, what, "loraRank");
    if (c.rank < 1) throw ArgumentError("addAdapters options.loraRank: expected >= 1");
    c.scale = static_cast<float>(needNum(o, what, "loraScale"));
    c.alpha = c.scale * c.rank;
    c.dropout = static_cast<float>(needNum(o, what, "loraDropout"));
    if (c.dropout < 0 || c.dropout >= 1) {
      throw ArgumentError("addAdapters options.loraDropout: expected a number in [0, 1)");
    }
    c.numLayers = needInt(o, what, "loraLayers");
    c.dora = needBool(o, what, "dora");
    Napi::Value keys = need(
        o, what, "loraKeys", [](Napi::Value v) { return v.IsArray(); }, "an array of module names");
    Napi::Array a = keys.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      std::string k = a.Get(i).ToString().Utf8Value();
      bool ok = false;
      for (const char* m : kLoraModules) ok = ok || k == m;
      if (!ok) {
        throw ArgumentError("addAdapters options.loraKeys: unknown module '" + k +
                            "' (use self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj)");
      }
      c.keys.push_back(k);
    }
    if (c.keys.empty()) throw ArgumentError("addAdapters options.loraKeys: empty");
    model().addAdapters(c, static_cast<uint64_t>(needNum(o, what, "seed")));
    return info.Env().Undefined();
  });
}

Napi::Value NativeModel::RemoveAdapters(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    model().adapters.clear();
    model().lora.reset();
    return info.Env().Undefined();
  });
}

Napi::Value NativeModel::SetAdaptersEnabled(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    if (!info[0].IsBoolean()) throw ArgumentError("setAdaptersEnabled(enabled: boolean)");
    model().adaptersEnabled = info[0].As<Napi::Boolean>().Value();
    return info.Env().Undefined();
  });
}

Napi::Value NativeModel::AdapterNames(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto names = model().adapterNames();
    Napi::Array a = Napi::Array::New(info.Env(), names.size());
    for (size_t i = 0; i < names.size(); ++i) a.Set(i, names[i]);
    return a;
  });
}

// getAdapterWeights(): {name: {a, aShape, b, bShape, m?}} with a (in, r), b (r, out) and DoRA's
// magnitude m (out).
Napi::Value NativeModel::GetAdapterWeights(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    for (const auto& kv : model().adapters) {
      Napi::Object w = Napi::Object::New(env);
      w.Set("a", toFloat32(env, kv.second.a));
      w.Set("aShape", shapeToJs(env, kv.second.a.shape()));
      w.Set("b", toFloat32(env, kv.second.b));
      w.Set("bShape", shapeToJs(env, kv.second.b.shape()));
      if (kv.second.m) w.Set("m", toFloat32(env, *kv.second.m));
      out.Set(kv.first, w);
    }
    return out;
  });
}

Napi::Value NativeModel::SetAdapterWeights(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    Napi::Object o = asObject(info[0], "setAdapterWeights(weights)");
    auto adapters = model().adapters;
    for (auto& kv : adapters) {
      Napi::Value v = o.Get(kv.first);
      if (v.IsUndefined()) continue;
      Napi::Object w = asObject(v, kv.first.c_str());
      std::vector<std::pair<const char*, mx::array*>> parts{{"a", &kv.second.a},
                                                            {"b", &kv.second.b}};
      if (kv.second.m) parts.emplace_back("m", &*kv.second.m);
      for (auto [key, arr] : parts) {
        Napi::Value d = w.Get(key);
        if (d.IsUndefined()) continue;
        std::vector<float> f = floats(d, kv.first + "." + key);
        if (f.size() != arr->size()) {
          throw ArgumentError(kv.first + "." + key + " needs " + std::to_string(arr->size()) +
                              " values, got " + std::to_string(f.size()));
        }
        *arr = mx::array(f.data(), arr->shape(), mx::float32);
        mx::eval(*arr);
      }
    }
    model().adapters = std::move(adapters);
    model().refreshDoraNorms();
    return info.Env().Undefined();
  });
}

Napi::Value NativeModel::SaveAdapters(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    if (!info[0].IsString()) throw ArgumentError("saveAdapters(path, format)");
    const std::string fmt = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "mlx";
    saveAdapters(model(), info[0].As<Napi::String>().Utf8Value(), parseAdapterFormat(fmt));
    return info.Env().Undefined();
  });
}

Napi::Value NativeModel::LoadAdapters(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    if (!info[0].IsString()) throw ArgumentError("loadAdapters(path, format)");
    const std::string fmt = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "mlx";
    loadAdapters(model(), info[0].As<Napi::String>().Utf8Value(), parseAdapterFormat(fmt));
    return info.Env().Undefined();
  });
}

Napi::Value NativeModel::SaveBaseWeights(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    if (!info[0].IsString()) throw ArgumentError("saveBaseWeights(path)");
    saveSafetensorsAtomic(info[0].As<Napi::String>().Utf8Value(), hfWeights(model()),
                          {{"format", "pt"}});
    return info.Env().Undefined();
  });
}

// forward(ids: Int32Array, shape: [B, L]): Float32Array logits (B, L, V)
Napi::Value NativeModel::Forward(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    mx::array ids = readIds(info[0], info[1], model().config.vocabSize, "forward");
    return toFloat32(info.Env(), model().forward(ids, nullptr, ForwardOptions{}));
  });
}

// lossAndGrad({inputs, targets, mask, shape, training?, seed?, gradientCheckpointing?}):
// {lossSum, supervisedTokens, grads: {"<name>.lora_a" | ".lora_b" | ".m" (DoRA): Float32Array}}
Napi::Value NativeModel::LossAndGrad(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    Napi::Env env = info.Env();
    Napi::Object o = asObject(info[0], "lossAndGrad options");
    Batch b = readBatch(o, model().config.vocabSize);
    ForwardOptions fo;
    fo.training = boolean(o, "training", false);
    fo.dropoutSeed = static_cast<uint64_t>(num(o, "seed", 0));
    fo.gradientCheckpointing = boolean(o, "gradientCheckpointing", false);
    const int ceRows = static_cast<int>(num(o, "crossEntropyChunk", kCrossEntropyChunkRows));
    if (ceRows < 0) throw ArgumentError("crossEntropyChunk must be >= 0");
    Gradients g = lossAndGrad(model(), b, fo, ceRows);
    Napi::Object out = Napi::Object::New(env);
    out.Set("lossSum", g.lossSum);
    out.Set("supervisedTokens", static_cast<double>(g.supervisedTokens));
    Napi::Object grads = Napi::Object::New(env);
    auto names = model().adapterParamNames();
    for (size_t i = 0; i < names.size(); ++i) grads.Set(names[i], toFloat32(env, g.grads[i]));
    out.Set("grads", grads);
    return out;
  });
}

// score([{prompt, completion}]): [{tokenLogprobs: Float32Array, sum}]
Napi::Value NativeModel::Score(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    if (!info[0].IsArray()) throw ArgumentError("score(items: {prompt, completion}[])");
    Napi::Array a = info[0].As<Napi::Array>();
    std::vector<ScoreItem> items;
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Object it = asObject(a.Get(i), "score item");
      items.push_back(
          {int32s(it.Get("prompt"), "prompt"), int32s(it.Get("completion"), "completion")});
    }
    auto res = score(model(), items);
    Napi::Array out = Napi::Array::New(info.Env(), res.size());
    for (size_t i = 0; i < res.size(); ++i) {
      Napi::Object r = Napi::Object::New(info.Env());
      auto f = Napi::Float32Array::New(info.Env(), res[i].tokenLogprobs.size());
      if (!res[i].tokenLogprobs.empty()) {
        std::memcpy(f.Data(), res[i].tokenLogprobs.data(), res[i].tokenLogprobs.size() * 4);
      }
      r.Set("tokenLogprobs", f);
      r.Set("sum", res[i].sum);
      out.Set(i, r);
    }
    return out;
  });
}

// generate(options, onToken?): Promise<{tokens, stopReason, ...}>
Napi::Value NativeModel::Generate(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    Napi::Object o = asObject(info[0], "generate options");
    GenerateOptions g;
    static_cast<SamplingOptions&>(g) = readSampling(o);
    g.prompt = int32s(o.Get("prompt"), "prompt");
    g.maxTokens = static_cast<int>(num(o, "maxTokens", 256));
    if (!o.Get("stopTokens").IsUndefined())
      g.stopTokens = int32s(o.Get("stopTokens"), "stopTokens");
    return startJob(info, info[1], [g](const Model& m, const Emit& emit, const auto& cancel) {
      return generate(m, g, emit, cancel);
    });
  });
}

// generateBatch({prompts: [{prompt, maxTokens?, stopTokens?}], ...sampling}, onToken?)
Napi::Value NativeModel::GenerateBatch(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    Napi::Object o = asObject(info[0], "generateBatch options");
    SamplingOptions s = readSampling(o);
    if (!o.Get("prompts").IsArray()) throw ArgumentError("generateBatch: prompts must be an array");
    Napi::Array a = o.Get("prompts").As<Napi::Array>();
    if (a.Length() == 0) throw ArgumentError("generateBatch: prompts is empty");
    const int dfltMax = static_cast<int>(num(o, "maxTokens", 256));
    std::vector<SequenceRequest> seqs;
    for (uint32_t i = 0; i < a.Length(); ++i) {
      const std::string what = "prompts[" + std::to_string(i) + "]";
      Napi::Object p = asObject(a.Get(i), what.c_str());
      SequenceRequest r;
      r.prompt = int32s(p.Get("prompt"), what + ".prompt");
      if (r.prompt.empty()) throw ArgumentError(what + ".prompt is empty");
      r.maxTokens = static_cast<int>(num(p, "maxTokens", dfltMax));
      if (!p.Get("stopTokens").IsUndefined()) {
        r.stopTokens = int32s(p.Get("stopTokens"), what + ".stopTokens");
      } else if (!o.Get("stopTokens").IsUndefined()) {
        r.stopTokens = int32s(o.Get("stopTokens"), "stopTokens");
      }
      seqs.push_back(std::move(r));
    }
    return startJob(info, info[1], [seqs, s](const Model& m, const Emit& emit, const auto& cancel) {
      return generateBatch(m, seqs, s, emit, cancel);
    });
  });
}

// scoreOptions({prompt, options: number[][], batchSize?}, onProgress?)
Napi::Value NativeModel::ScoreOptions(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    Napi::Object o = asObject(info[0], "scoreOptions options");
    std::vector<int32_t> prompt = int32s(o.Get("prompt"), "prompt");
    if (!o.Get("options").IsArray()) throw ArgumentError("scoreOptions: options must be an array");
    Napi::Array a = o.Get("options").As<Napi::Array>();
    std::vector<std::vector<int32_t>> options;
    for (uint32_t i = 0; i < a.Length(); ++i) {
      options.push_back(int32s(a.Get(i), "options[" + std::to_string(i) + "]"));
    }
    const int batchSize = static_cast<int>(num(o, "batchSize", 8));
    if (batchSize < 1) throw ArgumentError("scoreOptions: batchSize must be >= 1");
    return startJob(
        info, info[1],
        [prompt, options, batchSize](const Model& m, const Emit& emit, const auto& cancel) {
          return scoreOptions(m, prompt, options, batchSize, emit, cancel);
        });
  });
}

// profileTraining({inputs, targets, mask, shape, repeats?}): Promise<{phases, ...}>
Napi::Value NativeModel::ProfileTraining(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    Napi::Object o = asObject(info[0], "profileTraining options");
    Batch b = readBatch(o, model().config.vocabSize);
    const int repeats = static_cast<int>(num(o, "repeats", 2));
    return startJob(info, Napi::Value(), [b, repeats](const Model& m, const Emit&, const auto&) {
      return profileTrainingStep(m, b, repeats);
    });
  });
}

// profileDecode({prompt, tokens?, batch?}): Promise<{phases, ...}>
Napi::Value NativeModel::ProfileDecode(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    Napi::Object o = asObject(info[0], "profileDecode options");
    std::vector<int32_t> prompt = int32s(o.Get("prompt"), "prompt");
    for (int32_t t : prompt) {
      if (t < 0 || t >= model().config.vocabSize) throw ArgumentError("prompt token out of range");
    }
    const int tokens = static_cast<int>(num(o, "tokens", 16));
    const int batch = static_cast<int>(num(o, "batch", 1));
    if (batch < 1 || batch > 256) throw ArgumentError("profileDecode: batch must be in 1..256");
    return startJob(info, Napi::Value(),
                    [prompt, tokens, batch](const Model& m, const Emit&, const auto&) {
                      return profileDecodeStep(m, prompt, tokens, batch);
                    });
  });
}

Napi::Value NativeModel::startJob(
    const Napi::CallbackInfo& info, const Napi::Value& onEvent,
    std::function<Event(const Model&, const Emit&, const std::atomic<bool>&)> body) {
  std::shared_ptr<Model> m = model_;
  auto busy = busy_;
  auto cancel = cancel_;
  busy->store(true);
  cancel->store(false);
  return runJob(
      info.Env(), onEvent.IsEmpty() ? info.Env().Undefined() : onEvent,
      [m, body = std::move(body), cancel](const Emit& emit) { return body(*m, emit, *cancel); },
      [busy]() { busy->store(false); });
}

// train(options, onEvent?): Promise<{type: "done", iteration, ...}>
Napi::Value NativeModel::Train(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    Napi::Object o = asObject(info[0], "train options");
    auto t = std::make_shared<TrainOptions>();
    t->train = readDataset(o.Get("train"), "train");
    t->batches = readBatches(o.Get("batches"), "batches", t->train.size());
    if (needObjOrNull(o, "train options", "valid")) {
      t->valid = readDataset(o.Get("valid"), "valid");
      if (needObjOrNull(o, "train options", "validBatches")) {
        t->validBatches = readBatches(o.Get("validBatches"), "validBatches", t->valid.size());
      }
    }
    const char* w = "train options";
    t->iters = needInt(o, w, "iters");
    t->startIteration = needInt(o, w, "startIteration");
    t->gradAccumulationSteps = needInt(o, w, "gradAccumulationSteps");
    t->maxSeqLength = needInt(o, w, "maxSeqLength");
    t->learningRate = needNum(o, w, "learningRate");
    t->minLearningRate = needNum(o, w, "minLearningRate");
    t->warmupSteps = needInt(o, w, "warmupSteps");
    t->cycles = needInt(o, w, "cycles");
    t->weightDecay = needNum(o, w, "weightDecay");
    t->adamBeta1 = needNum(o, w, "adamBeta1");
    t->adamBeta2 = needNum(o, w, "adamBeta2");
    t->adamEps = needNum(o, w, "adamEps");
    t->gradClip = needNum(o, w, "gradClip");
    t->gradCheckpointing = needBool(o, w, "gradCheckpointing");
    t->seed = static_cast<uint64_t>(needNum(o, w, "seed"));
    t->reportEvery = needInt(o, w, "reportEvery");
    t->evalEvery = needInt(o, w, "evalEvery");
    t->saveEvery = needInt(o, w, "saveEvery");
    t->checkpointDir = needStrOrNull(o, w, "checkpointDir");
    t->resumeOptimizerFile = needStrOrNull(o, w, "resumeOptimizerFile");
    t->memoryLimitBytes = needNumOrNull(o, w, "memoryLimitBytes");
    t->distributed = needBool(o, w, "distributed");
    if (t->iters < 0 || t->maxSeqLength < 1 || t->gradAccumulationSteps < 1 || t->reportEvery < 1 ||
        t->cycles < 1 || t->warmupSteps < 0 || t->evalEvery < 0 || t->saveEvery < 0) {
      throw ArgumentError(
          "train options: iters >= 0, maxSeqLength >= 1, gradAccumulationSteps >= 1, reportEvery "
          ">= 1, cycles >= 1, warmupSteps >= 0, evalEvery >= 0, saveEvery >= 0");
    }
    if (model().adapters.empty()) throw ArgumentError("train: call addAdapters() first");
    std::shared_ptr<Model> m = model_;
    auto busy = busy_;
    auto cancel = cancel_;
    busy->store(true);
    cancel->store(false);
    return runJob(
        info.Env(), info[1],
        [m, t, cancel](const Emit& emit) { return train(*m, *t, emit, *cancel); },
        [busy]() { busy->store(false); });
  });
}

Napi::Value NativeModel::Cancel(const Napi::CallbackInfo& info) {
  cancel_->store(true);
  return info.Env().Undefined();
}

Napi::Value NativeModel::Dispose(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ensureIdle();
    model_.reset();
    return info.Env().Undefined();
  });
}

// ---- factories ------------------------------------------------------------------------------

Napi::Value LoadGgufModel(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsString()) throw ArgumentError("loadGguf(path, {dtype})");
    Napi::Object o =
        info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(info.Env());
    return NativeModel::Wrap(info.Env(), loadGguf(info[0].As<Napi::String>().Utf8Value(),
                                                  parseDtype(str(o, "dtype", "float32"))));
  });
}

Napi::Value LoadHfModel(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ModelConfig c = readConfig(info[0]);
    if (!info[1].IsArray()) throw ArgumentError("loadHf(config, files: string[], {dtype, source})");
    std::vector<std::string> files;
    Napi::Array a = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) files.push_back(a.Get(i).ToString().Utf8Value());
    if (files.empty()) throw ArgumentError("loadHf: no safetensors files");
    Napi::Object o =
        info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(info.Env());
    return NativeModel::Wrap(info.Env(), loadHf(c, files, parseDtype(str(o, "dtype", "float32")),
                                                str(o, "source", files[0])));
  });
}

Napi::Value CreateRandomModel(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    ModelConfig c = readConfig(info[0]);
    const uint64_t seed = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
    Napi::Object o =
        info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(info.Env());
    return NativeModel::Wrap(info.Env(),
                             createRandomModel(c, seed, parseDtype(str(o, "dtype", "float32"))));
  });
}

// initDistributed(backend): {rank, size, backend}; joins the group once per process.
Napi::Value InitDistributed(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsString())
      throw ArgumentError("initDistributed(backend: \"ring\" | \"mpi\" | \"any\")");
    DistributedInfo d = initDistributed(info[0].As<Napi::String>().Utf8Value());
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("rank", d.rank);
    out.Set("size", d.size);
    out.Set("backend", d.backend);
    return out;
  });
}

Napi::Value ValidateSafetensors(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsString()) throw ArgumentError("validateSafetensors(path)");
    validateSafetensors(info[0].As<Napi::String>().Utf8Value());
    return info.Env().Undefined();
  });
}

}  // namespace medtune
