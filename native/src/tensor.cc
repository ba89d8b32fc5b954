#include "tensor.h"

#include <cstring>
#include <sstream>
#include <string>

#include "decode_cpu.h"
#include "errors.h"
#include "model.h"
#include "packed_matmul.h"
#include "quant_compact.h"
#include "skinny_gemm.h"

namespace mx = mlx::core;

namespace medtune {

Napi::FunctionReference* Tensor::constructor_ = nullptr;

Napi::Function Tensor::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function fn = DefineClass(env, "Tensor",
                                  {
                                      InstanceAccessor<&Tensor::Shape>("shape"),
                                      InstanceAccessor<&Tensor::Dtype>("dtype"),
                                      InstanceAccessor<&Tensor::NBytes>("nbytes"),
                                      InstanceMethod<&Tensor::ToFloat32Array>("toFloat32Array"),
                                      InstanceMethod<&Tensor::Dispose>("dispose"),
                                  });
  constructor_ = new Napi::FunctionReference(Napi::Persistent(fn));
  env.SetInstanceData(constructor_);
  exports.Set("Tensor", fn);
  return fn;
}

Tensor::Tensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tensor>(info) {}

Napi::Object Tensor::Wrap(Napi::Env env, mx::array a) {
  Napi::Object obj = constructor_->New({});
  Napi::ObjectWrap<Tensor>::Unwrap(obj)->array_.emplace(std::move(a));
  return obj;
}

mx::array& Tensor::ArrayOf(const Napi::Value& v) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(constructor_->Value())) {
    throw ArgumentError("expected a Tensor");
  }
  return Napi::ObjectWrap<Tensor>::Unwrap(v.As<Napi::Object>())->array(v.Env());
}

mx::array& Tensor::array(Napi::Env env) {
  if (!array_) throw ArgumentError("Tensor was disposed");
  return *array_;
}

Napi::Value Tensor::Shape(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const auto& shape = array(info.Env()).shape();
    Napi::Array out = Napi::Array::New(info.Env(), shape.size());
    for (size_t i = 0; i < shape.size(); ++i) out.Set(i, Napi::Number::New(info.Env(), shape[i]));
    return out;
  });
}

Napi::Value Tensor::Dtype(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    std::ostringstream os;
    os << array(info.Env()).dtype();
    return Napi::String::New(info.Env(), os.str());
  });
}

Napi::Value Tensor::NBytes(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(array(info.Env()).nbytes()));
  });
}

Napi::Value Tensor::ToFloat32Array(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    mx::array a = mx::astype(array(info.Env()), mx::float32);
    a = mx::contiguous(a);
    mx::eval(a);
    Napi::Float32Array out = Napi::Float32Array::New(info.Env(), a.size());
    std::memcpy(out.Data(), a.data<float>(), a.size() * sizeof(float));
    return out;
  });
}

void Tensor::Dispose(const Napi::CallbackInfo& info) { array_.reset(); }

static mx::Shape readShape(const Napi::Value& v) {
  if (!v.IsArray()) throw ArgumentError("shape must be an array of non-negative integers");
  Napi::Array arr = v.As<Napi::Array>();
  mx::Shape shape;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value d = arr.Get(i);
    if (!d.IsNumber() || d.As<Napi::Number>().Int64Value() < 0) {
      throw ArgumentError("shape[" + std::to_string(i) + "] must be a non-negative integer");
    }
    shape.push_back(static_cast<int>(d.As<Napi::Number>().Int64Value()));
  }
  return shape;
}

Napi::Value FromFloat32(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw ArgumentError("fromFloat32(data: Float32Array, shape: number[])");
    }
    Napi::Float32Array data = info[0].As<Napi::Float32Array>();
    mx::Shape shape = readShape(info[1]);
    size_t n = 1;
    for (int d : shape) n *= static_cast<size_t>(d);
    if (n != data.ElementLength()) {
      throw ArgumentError("fromFloat32: data has " + std::to_string(data.ElementLength()) +
                          " elements but shape needs " + std::to_string(n));
    }
    // Copy: the JS buffer may move or be freed once we return.
    mx::array a(data.Data(), shape, mx::float32);
    mx::eval(a);
    return Tensor::Wrap(info.Env(), std::move(a));
  });
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 2) throw ArgumentError("matmul(a: Tensor, b: Tensor)");
    mx::array c = mx::matmul(Tensor::ArrayOf(info[0]), Tensor::ArrayOf(info[1]));
    mx::eval(c);
    return Tensor::Wrap(info.Env(), std::move(c));
  });
}

}  // namespace medtune

namespace medtune {

// quantizedMatmul(x (N, in), w (out, in), {bits, groupSize, mode}): x W^T with W quantized
// (MLX affine, the format GGUF Q4_0 / Q4_1 / Q8_0 load into) and, for the backward through
// activations, dX for the cotangent cos(0, 1, 2, ...) of Y. mode: "tiled" (dequantized blocks +
// BLAS, packed_matmul.cc, float32), "tiled-bf16" (the same primitive on bfloat16 AMX tiles),
// "kernel" (MLX's quantized_matmul), "dequantized" (the whole W dequantized first), "decode" (the
// CPU decode kernels of decode_cpu.cc, float32; float W when bits is 0) or "decode-int8" (their
// int8 kernels: AMX tiles, else VNNI rows for one row). params: "mlx" (mx::quantize's float32
// scales and biases, the default), "symmetric" (its scales rounded to float16, biases -2^(bits-1) *
// scale: GGUF Q4_0 / Q8_0) or "float16" (both rounded to float16: Q4_1). compact: store them as
// prepareCompute() does (quant_compact.h) first; the result's scales / biases name the forms then
// held ("float32", "float16", "implicit").
Napi::Value QuantizedMatmul(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 3 || !info[2].IsObject())
      throw ArgumentError("quantizedMatmul(x, w, {bits, groupSize, mode})");
    Napi::Object o = info[2].As<Napi::Object>();
    const int bits = o.Get("bits").ToNumber().Int32Value();
    const int group = o.Get("groupSize").ToNumber().Int32Value();
    const std::string mode = o.Get("mode").ToString().Utf8Value();
    const std::string params =
        o.Has("params") ? o.Get("params").ToString().Utf8Value() : std::string("mlx");
    const bool compact = o.Has("compact") && o.Get("compact").ToBoolean().Value();
    const mx::array& x = Tensor::ArrayOf(info[0]);
    const mx::array& w = Tensor::ArrayOf(info[1]);
    if (x.ndim() != 2 || w.ndim() != 2 || x.shape(1) != w.shape(1))
      throw ArgumentError("quantizedMatmul: x (N, in) and w (out, in)");
    if (w.shape(1) % group != 0) throw ArgumentError("quantizedMatmul: in % groupSize != 0");
    Linear lin;
    lin.outDim = w.shape(0);
    lin.inDim = w.shape(1);
    lin.weight = mx::astype(w, mx::float32);
    lin.quantize(group, bits);
    auto half = [](const mx::array& a) {
      return mx::astype(mx::astype(a, mx::float16), mx::float32);
    };
    if (params == "symmetric") {
      lin.scales = half(*lin.scales);
      lin.qbiases = mx::multiply(*lin.scales, mx::array(-static_cast<float>(1 << (bits - 1))));
    } else if (params == "float16") {
      lin.scales = half(*lin.scales);
      lin.qbiases = half(*lin.qbiases);
    } else if (params != "mlx") {
      throw ArgumentError("quantizedMatmul: params must be mlx, symmetric or float16");
    }
    mx::eval(*lin.scales, *lin.qbiases);
    if (compact) compactScales(lin);
    const bool decode = mode == "decode" || mode == "decode-int8";
    const bool tiledMode = mode == "tiled" || mode == "tiled-bf16";
    if (tiledMode || decode) {
      lin.tiled = true;
    } else if (mode == "dequantized") {
      lin.dense = lin.denseWeight();
    } else if (mode != "kernel") {
      throw ArgumentError(
          "quantizedMatmul: mode must be tiled, tiled-bf16, kernel, dequantized, decode or "
          "decode-int8");
    }
    // "tiled" goes through the packed primitive at any row count (Linear::matmul would hand a
    // few rows to MLX's kernel). The decode kernels have no backward: dx is then the tiled path's.
    const PackedPrecision precision =
        mode == "tiled-bf16" ? PackedPrecision::Bf16 : PackedPrecision::Float32;
    auto product = [&lin, tiledMode, precision](const mx::array& a) {
      return tiledMode ? packedMatmul(lin, a, precision) : lin.matmul(a);
    };
    mx::array y = decode ? cpuDecodeMatmul(lin, x, mode == "decode-int8") : product(x);
    mx::array cot = mx::cos(
        mx::reshape(mx::astype(mx::arange(static_cast<int>(y.size())), mx::float32), y.shape()));
    auto [outs, dx] = mx::vjp(
        [&product](const std::vector<mx::array>& in) {
          return std::vector<mx::array>{product(in[0])};
        },
        {x}, {cot});
    mx::eval(y, dx[0]);
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("y", Tensor::Wrap(info.Env(), y));
    r.Set("dx", Tensor::Wrap(info.Env(), dx[0]));
    auto form = [](const std::optional<mx::array>& a) {
      return !a ? "implicit" : a->dtype() == mx::float16 ? "float16" : "float32";
    };
    r.Set("scales", form(lin.scales));
    r.Set("biases", form(lin.qbiases));
    return r;
  });
}

}  // namespace medtune

namespace medtune {

// skinnyGemm(a, b, {transA, transB, alpha, beta, c}) -> {taken, skinny, blas}: op(a) op(b) times
// alpha plus beta c (c: (M, N), needed when beta is not 0) by skinnySgemm (taken: whether it
// applied; skinny is then its result) and by BLAS itself (sgemm, packed_matmul.h), for the tests.
Napi::Value SkinnyGemmHook(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 3 || !info[2].IsObject()) {
      throw ArgumentError("skinnyGemm(a, b, {transA, transB, alpha, beta, c})");
    }
    Napi::Object o = info[2].As<Napi::Object>();
    const bool ta = o.Get("transA").ToBoolean(), tb = o.Get("transB").ToBoolean();
    const float alpha = o.Get("alpha").ToNumber().FloatValue();
    const float beta = o.Get("beta").ToNumber().FloatValue();
    mx::array a = mx::contiguous(mx::astype(Tensor::ArrayOf(info[0]), mx::float32));
    mx::array b = mx::contiguous(mx::astype(Tensor::ArrayOf(info[1]), mx::float32));
    if (a.ndim() != 2 || b.ndim() != 2) throw ArgumentError("skinnyGemm: a and b must be 2-D");
    const int M = ta ? a.shape(1) : a.shape(0), K = ta ? a.shape(0) : a.shape(1);
    const int N = tb ? b.shape(0) : b.shape(1);
    if ((tb ? b.shape(1) : b.shape(0)) != K) throw ArgumentError("skinnyGemm: inner sizes differ");
    mx::array c0 = o.Has("c") && !o.Get("c").IsUndefined()
                       ? mx::contiguous(mx::astype(Tensor::ArrayOf(o.Get("c")), mx::float32))
                       : mx::zeros({M, N}, mx::float32);
    if (c0.shape() != mx::Shape{M, N}) throw ArgumentError("skinnyGemm: c must be (M, N)");
    mx::eval({a, b, c0});
    const auto run = [&](bool skinny, bool& taken) {
      std::vector<float> c(c0.data<float>(), c0.data<float>() + c0.size());
      const float *pa = a.data<float>(), *pb = b.data<float>();
      const int lda = a.shape(1), ldb = b.shape(1);
      taken = skinny ? skinnySgemm(ta, tb, M, N, K, alpha, pa, lda, pb, ldb, beta, c.data(), N)
                     : (sgemm(ta, tb, M, N, K, alpha, pa, lda, pb, ldb, beta, c.data(), N), true);
      return mx::array(c.data(), {M, N}, mx::float32);
    };
    bool taken = false, unused = false;
    mx::array skinny = run(true, taken), blas = run(false, unused);
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("taken", taken);
    r.Set("skinny", Tensor::Wrap(info.Env(), std::move(skinny)));
    r.Set("blas", Tensor::Wrap(info.Env(), std::move(blas)));
    return r;
  });
}

}  // namespace medtune
