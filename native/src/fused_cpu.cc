// See fused_cpu.h.
#include "fused_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu_gemm.h"
#include "errors.h"
#include "mlx/backend/cpu/encoder.h"
#include "mlx/primitives.h"
#include "tensor.h"
#include "thread_pool.h"

namespace medtune {

namespace {

void allocate(std::vector<mx::array>& outputs) {
  for (auto& out : outputs) out.set_data(mx::allocator::malloc(out.nbytes()));
}

// fn(begin, end) over [0, n) in pieces of about `grain`, shared out to the kernel pool.
template <typename Fn>
void parallelRanges(size_t n, size_t grain, Fn fn) {
  const int tasks = static_cast<int>(std::max<size_t>(1, (n + grain - 1) / grain));
  const size_t per = (n + tasks - 1) / tasks;
  cpuKernelPool().parallelFor(tasks, [&](int t, int) {
    const size_t b = std::min(n, t * per), e = std::min(n, b + per);
    if (b < e) fn(b, e);
  });
}

constexpr size_t kElementGrain = 1 << 16;  // elements per task (a few hundred microseconds)

class SwigluGrad : public mx::Primitive {
 public:
  explicit SwigluGrad(mx::Stream s) : mx::Primitive(s) {}
  // inputs g, u, dy -> dg, du
  void eval_cpu(const std::vector<mx::array>& in, std::vector<mx::array>& out) override {
    allocate(out);
    const float *g = in[0].data<float>(), *u = in[1].data<float>(), *dy = in[2].data<float>();
    float *dg = out[0].data<float>(), *du = out[1].data<float>();
    const size_t n = in[0].size();
    auto& enc = mx::cpu::get_command_encoder(stream());
    for (const auto& x : in) enc.set_input_array(x);
    for (auto& x : out) enc.set_output_array(x);
    enc.dispatch([=]() {
      parallelRanges(n, kElementGrain, [&](size_t b, size_t e) {
        siluMulGrad(g + b, u + b, dy + b, dg + b, du + b, e - b);
      });
    });
  }
  void eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) override {
    throw std::runtime_error("medtune's CPU SwiGLU backward has no GPU kernel");
  }
  const char* name() const override { return "MedtuneSwigluGrad"; }
  bool is_equivalent(const mx::Primitive&) const override { return true; }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& in) override {
    return {in[0].shape(), in[0].shape()};
  }
};

class Swiglu : public mx::UnaryPrimitive {
 public:
  explicit Swiglu(mx::Stream s) : mx::UnaryPrimitive(s) {}
  // inputs g, u -> silu(g) * u
  void eval_cpu(const std::vector<mx::array>& in, mx::array& out) override {
    out.set_data(mx::allocator::malloc(out.nbytes()));
    const float *g = in[0].data<float>(), *u = in[1].data<float>();
    float* y = out.data<float>();
    const size_t n = in[0].size();
    auto& enc = mx::cpu::get_command_encoder(stream());
    for (const auto& x : in) enc.set_input_array(x);
    enc.set_output_array(out);
    enc.dispatch([=]() {
      parallelRanges(n, kElementGrain, [&](size_t b, size_t e) {
        std::memcpy(y + b, g + b, (e - b) * sizeof(float));
        siluMul(y + b, u + b, e - b);
      });
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("medtune's CPU SwiGLU has no GPU kernel");
  }
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals,
                             const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums,
                             const std::vector<mx::array>&) override {
    const mx::array dy = mx::contiguous(mx::astype(cotangents[0], mx::float32, stream()));
    auto grads = mx::array::make_arrays(
        {primals[0].shape(), primals[0].shape()}, {mx::float32, mx::float32},
        std::make_shared<SwigluGrad>(stream()), {primals[0], primals[1], dy});
    std::vector<mx::array> out;
    for (int i : argnums) out.push_back(grads[i]);
    return out;
  }
  const char* name() const override { return "MedtuneSwiglu"; }
  bool is_equivalent(const mx::Primitive&) const override { return true; }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& in) override {
    return {in[0].shape()};
  }
};

class GeluGrad : public mx::UnaryPrimitive {
 public:
  GeluGrad(mx::Stream s, bool tanhForm) : mx::UnaryPrimitive(s), tanh_(tanhForm) {}
  // inputs x, dy -> dx
  void eval_cpu(const std::vector<mx::array>& in, mx::array& out) override {
    out.set_data(mx::allocator::malloc(out.nbytes()));
    const float *x = in[0].data<float>(), *dy = in[1].data<float>();
    float* dx = out.data<float>();
    const size_t n = in[0].size();
    const bool tanhForm = tanh_;
    auto& enc = mx::cpu::get_command_encoder(stream());
    for (const auto& a : in) enc.set_input_array(a);
    enc.set_output_array(out);
    enc.dispatch([=]() {
      parallelRanges(n, kElementGrain,
                     [&](size_t b, size_t e) { geluGrad(x + b, dy + b, dx + b, e - b, tanhForm); });
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("medtune's CPU GELU backward has no GPU kernel");
  }
  const char* name() const override { return "MedtuneGeluGrad"; }
  bool is_equivalent(const mx::Primitive& other) const override {
    return tanh_ == static_cast<const GeluGrad&>(other).tanh_;
  }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& in) override {
    return {in[0].shape()};
  }

 private:
  bool tanh_;
};

class Gelu : public mx::UnaryPrimitive {
 public:
  Gelu(mx::Stream s, bool tanhForm) : mx::UnaryPrimitive(s), tanh_(tanhForm) {}
  void eval_cpu(const std::vector<mx::array>& in, mx::array& out) override {
    out.set_data(mx::allocator::malloc(out.nbytes()));
    const float* x = in[0].data<float>();
    float* y = out.data<float>();
    const size_t n = in[0].size();
    const bool tanhForm = tanh_;
    auto& enc = mx::cpu::get_command_encoder(stream());
    enc.set_input_array(in[0]);
    enc.set_output_array(out);
    enc.dispatch([=]() {
      parallelRanges(n, kElementGrain,
                     [&](size_t b, size_t e) { gelu(x + b, y + b, e - b, tanhForm); });
    });
  }
  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("medtune's CPU GELU has no GPU kernel");
  }
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals,
                             const std::vector<mx::array>& cotangents, const std::vector<int>&,
                             const std::vector<mx::array>&) override {
    const mx::array dy = mx::contiguous(mx::astype(cotangents[0], mx::float32, stream()));
    return {mx::array(primals[0].shape(), mx::float32, std::make_shared<GeluGrad>(stream(), tanh_),
                      {primals[0], dy})};
  }
  const char* name() const override { return "MedtuneGelu"; }
  bool is_equivalent(const mx::Primitive& other) const override {
    return tanh_ == static_cast<const Gelu&>(other).tanh_;
  }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& in) override {
    return {in[0].shape()};
  }

 private:
  bool tanh_;
};

class SoftmaxCrossEntropy : public mx::Primitive {
 public:
  explicit SoftmaxCrossEntropy(mx::Stream s) : mx::Primitive(s) {}
  // inputs logits (n, V), targets (n), mask (n) -> row losses (n), masked softmax (n, V)
  void eval_cpu(const std::vector<mx::array>& in, std::vector<mx::array>& out) override {
    allocate(out);
    const int n = in[0].shape(0), V = in[0].shape(1);
    const float* logits = in[0].data<float>();
    const int32_t* targets = in[1].data<int32_t>();
    const float* mask = in[2].data<float>();
    float *loss = out[0].data<float>(), *p = out[1].data<float>();
    auto& enc = mx::cpu::get_command_encoder(stream());
    for (const auto& x : in) enc.set_input_array(x);
    for (auto& x : out) enc.set_output_array(x);
    enc.dispatch([=]() {
      cpuKernelPool().parallelFor(n, [&](int r, int) {
        const float* l = logits + static_cast<size_t>(r) * V;
        float* pr = p + static_cast<size_t>(r) * V;
        const float peak = rowMax(l, V);
        std::memcpy(pr, l, V * sizeof(float));
        const float sum = expShiftSum(pr, V, peak);  // pr = exp(l - peak)
        const float lse = peak + std::log(sum);
        const int32_t t = targets[r];
        loss[r] =
            t >= 0 && t < V ? mask[r] * (lse - l[t]) : std::numeric_limits<float>::quiet_NaN();
        const float scale = mask[r] / sum;
        for (int i = 0; i < V; ++i) pr[i] *= scale;
      });
    });
  }
  void eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) override {
    throw std::runtime_error("medtune's CPU cross-entropy has no GPU kernel");
  }
  const char* name() const override { return "MedtuneSoftmaxCrossEntropy"; }
  bool is_equivalent(const mx::Primitive&) const override { return true; }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& in) override {
    return {{in[0].shape(0)}, in[0].shape()};
  }
};

bool switchedOff() {
  const char* s = std::getenv("MEDTUNE_CPU_FUSED");
  return s && std::string(s) == "mlx";
}

}  // namespace

bool fusedCpuOpsApply(const mx::array& a) {
  return !switchedOff() && mx::default_device().type == mx::Device::cpu && a.dtype() == mx::float32;
}

mx::array cpuSwiglu(const mx::array& g, const mx::array& u) {
  if (g.shape() != u.shape() || g.dtype() != mx::float32 || u.dtype() != mx::float32) {
    throw std::invalid_argument("cpuSwiglu: expected float32 g and u of one shape");
  }
  const mx::Stream s = mx::default_stream(mx::Device::cpu);
  return mx::array(g.shape(), mx::float32, std::make_shared<Swiglu>(s),
                   {mx::contiguous(g, false, s), mx::contiguous(u, false, s)});
}

mx::array cpuGelu(const mx::array& x, bool tanhForm) {
  if (x.dtype() != mx::float32) throw std::invalid_argument("cpuGelu: expected float32 x");
  const mx::Stream s = mx::default_stream(mx::Device::cpu);
  return mx::array(x.shape(), mx::float32, std::make_shared<Gelu>(s, tanhForm),
                   {mx::contiguous(x, false, s)});
}

std::pair<mx::array, mx::array> cpuSoftmaxCrossEntropy(const mx::array& logits,
                                                       const mx::array& targets,
                                                       const mx::array& mask) {
  if (logits.ndim() != 2 || logits.dtype() != mx::float32 || targets.ndim() != 1 ||
      mask.ndim() != 1 || targets.shape(0) != logits.shape(0) || mask.shape(0) != logits.shape(0)) {
    throw std::invalid_argument(
        "cpuSoftmaxCrossEntropy: expected float32 logits (n, V), targets (n) and mask (n)");
  }
  const mx::Stream s = mx::default_stream(mx::Device::cpu);
  auto outs =
      mx::array::make_arrays({{logits.shape(0)}, logits.shape()}, {mx::float32, mx::float32},
                             std::make_shared<SoftmaxCrossEntropy>(s),
                             {mx::contiguous(logits, false, s),
                              mx::contiguous(mx::astype(targets, mx::int32, s), false, s),
                              mx::contiguous(mx::astype(mask, mx::float32, s), false, s)});
  return {outs[0], outs[1]};
}

namespace {

std::string hookMode(const Napi::CallbackInfo& info, size_t at, const char* usage) {
  if (info.Length() <= at || !info[at].IsObject()) throw ArgumentError(usage);
  const std::string mode = info[at].As<Napi::Object>().Get("mode").ToString().Utf8Value();
  if (mode != "fused" && mode != "mlx")
    throw ArgumentError(std::string(usage) + ": mode must be fused or mlx");
  return mode;
}

}  // namespace

Napi::Value SwigluHook(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const char* usage = "swiglu(g, u, {mode})";
    const std::string mode = hookMode(info, 2, usage);
    const mx::array g = Tensor::ArrayOf(info[0]), u = Tensor::ArrayOf(info[1]);
    if (g.shape() != u.shape() || g.dtype() != mx::float32 || u.dtype() != mx::float32)
      throw ArgumentError("swiglu: expected float32 g and u of one shape");
    auto fn = [&](const std::vector<mx::array>& in) -> std::vector<mx::array> {
      if (mode == "fused") return {cpuSwiglu(in[0], in[1])};
      return {mx::multiply(mx::multiply(in[0], mx::sigmoid(in[0])), in[1])};
    };
    mx::array cot = mx::cos(
        mx::reshape(mx::astype(mx::arange(static_cast<int>(g.size())), mx::float32), g.shape()));
    auto [outs, grads] = mx::vjp(fn, {g, u}, {cot});
    mx::eval({outs[0], grads[0], grads[1]});
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("y", Tensor::Wrap(info.Env(), outs[0]));
    r.Set("dg", Tensor::Wrap(info.Env(), grads[0]));
    r.Set("du", Tensor::Wrap(info.Env(), grads[1]));
    return r;
  });
}

Napi::Value GeluHook(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const char* usage = "gelu(x, {form, mode})";
    const std::string mode = hookMode(info, 1, usage);
    const std::string form = info[1].As<Napi::Object>().Get("form").ToString().Utf8Value();
    if (form != "erf" && form != "tanh") throw ArgumentError("gelu: form must be erf or tanh");
    const mx::array x = Tensor::ArrayOf(info[0]);
    if (x.dtype() != mx::float32) throw ArgumentError("gelu: expected float32 x");
    auto fn = [&](const std::vector<mx::array>& in) -> std::vector<mx::array> {
      if (mode == "fused") return {cpuGelu(in[0], form == "tanh")};
      return {mlxGelu(in[0], form == "tanh")};
    };
    mx::array cot = mx::cos(
        mx::reshape(mx::astype(mx::arange(static_cast<int>(x.size())), mx::float32), x.shape()));
    auto [outs, grads] = mx::vjp(fn, {x}, {cot});
    mx::eval({outs[0], grads[0]});
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("y", Tensor::Wrap(info.Env(), outs[0]));
    r.Set("dx", Tensor::Wrap(info.Env(), grads[0]));
    return r;
  });
}

Napi::Value SoftmaxCrossEntropyHook(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const char* usage = "softmaxCrossEntropy(logits, targets, mask, {mode})";
    const std::string mode = hookMode(info, 3, usage);
    const mx::array logits = Tensor::ArrayOf(info[0]);
    if (logits.ndim() != 2 || logits.dtype() != mx::float32)
      throw ArgumentError("softmaxCrossEntropy: logits must be float32 (n, V)");
    if (!info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        !info[2].IsTypedArray() ||
        info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw ArgumentError(
          "softmaxCrossEntropy: targets must be an Int32Array and mask a Float32Array");
    const Napi::Int32Array tj = info[1].As<Napi::Int32Array>();
    const Napi::Float32Array mj = info[2].As<Napi::Float32Array>();
    const int n = logits.shape(0);
    if (static_cast<int>(tj.ElementLength()) != n || static_cast<int>(mj.ElementLength()) != n)
      throw ArgumentError("softmaxCrossEntropy: targets and mask need one value per row of logits");
    const mx::array t(tj.Data(), {n}, mx::int32), mk(mj.Data(), {n}, mx::float32);
    std::pair<mx::array, mx::array> r = [&]() -> std::pair<mx::array, mx::array> {
      if (mode == "fused") return cpuSoftmaxCrossEntropy(logits, t, mk);
      mx::array lse = mx::logsumexp(logits, -1, true);
      mx::array tgt = mx::take_along_axis(logits, mx::expand_dims(t, -1), -1);
      mx::array mkc = mx::expand_dims(mk, -1);
      return {mx::squeeze(mx::multiply(mx::subtract(lse, tgt), mkc), -1),
              mx::multiply(mx::exp(mx::subtract(logits, lse)), mkc)};
    }();
    mx::eval({r.first, r.second});
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("loss", Tensor::Wrap(info.Env(), r.first));
    o.Set("p", Tensor::Wrap(info.Env(), r.second));
    return o;
  });
}

}  // namespace medtune
