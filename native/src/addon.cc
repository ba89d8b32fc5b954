// Module entry point: registers every native surface. The TypeScript declaration of all of it is
// src/native/binding.ts; keep the two in step.
#include <napi.h>

#include "attention_cpu.h"
#include "embedder_wrap.h"
#include "fused_cpu.h"
#include "kquants.h"
#include "model_wrap.h"
#include "runtime.h"
#include "tensor.h"

namespace medtune {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitRuntime(env, exports);
  Tensor::Init(env, exports);
  exports.Set("fromFloat32", Napi::Function::New(env, FromFloat32, "fromFloat32"));
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
  exports.Set("quantizedMatmul", Napi::Function::New(env, QuantizedMatmul, "quantizedMatmul"));
  exports.Set("skinnyGemm", Napi::Function::New(env, SkinnyGemmHook, "skinnyGemm"));
  exports.Set("causalAttention", Napi::Function::New(env, CausalAttentionHook, "causalAttention"));
  exports.Set("swiglu", Napi::Function::New(env, SwigluHook, "swiglu"));
  exports.Set("gelu", Napi::Function::New(env, GeluHook, "gelu"));
  exports.Set("softmaxCrossEntropy",
              Napi::Function::New(env, SoftmaxCrossEntropyHook, "softmaxCrossEntropy"));
  exports.Set("ggmlToFloat32", Napi::Function::New(env, GgmlToFloat32, "ggmlToFloat32"));
  NativeModel::Init(env, exports);
  InitEmbedder(env, exports);
  return exports;
}

}  // namespace medtune

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return medtune::Init(env, exports);
}

NODE_API_MODULE(medtune_native, InitModule)
