// Tensor: a JS handle on an mlx::core::array. JS owns it until dispose() (or GC), so tests and the
// smoke check can see MLX's memory counters move as arrays are allocated and freed.
#pragma once

#include <napi.h>

#include <optional>

#include "mlx/mlx.h"

namespace medtune {

class Tensor : public Napi::ObjectWrap<Tensor> {
 public:
  static Napi::Function Init(Napi::Env env, Napi::Object exports);
  static Napi::Object Wrap(Napi::Env env, mlx::core::array a);
  static mlx::core::array& ArrayOf(const Napi::Value& v);

  explicit Tensor(const Napi::CallbackInfo& info);

 private:
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value NBytes(const Napi::CallbackInfo& info);
  Napi::Value ToFloat32Array(const Napi::CallbackInfo& info);
  void Dispose(const Napi::CallbackInfo& info);
  mlx::core::array& array(Napi::Env env);

  std::optional<mlx::core::array> array_;
  static Napi::FunctionReference* constructor_;
};

// fromFloat32(data: Float32Array, shape: number[]): Tensor
Napi::Value FromFloat32(const Napi::CallbackInfo& info);
// matmul(a: Tensor, b: Tensor): Tensor — evaluated before returning.
Napi::Value Matmul(const Napi::CallbackInfo& info);
// quantizedMatmul(x, w, {bits, groupSize, mode}): {y, dx} (see tensor.cc).
Napi::Value QuantizedMatmul(const Napi::CallbackInfo& info);
// skinnyGemm(a, b, {transA, transB, alpha, beta, c}): {taken, skinny, blas} (see tensor.cc).
Napi::Value SkinnyGemmHook(const Napi::CallbackInfo& info);

}  // namespace medtune
