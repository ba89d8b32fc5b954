// Fused CPU kernels for the element-wise parts of a training step that MLX's CPU backend runs one
// scalar exp at a time (~30 ns per element on our Intel runner): the softmax cross-entropy of a
// chunk of logits, SwiGLU and GELU. On a 4 x 512 SmolLM2-135M LoRA step, `npm run bench -- profile`
// put the chunked cross-entropy at about half the step (two exps per logit over 2048 x 49152
// logits); with these kernels the step went from 99 to 173 tokens/s. Each is an MLX primitive (so
// it sits in the lazy graph, compiled steps included) whose CPU body runs AVX-512 exp
// (cpu_gemm.cc) over rows shared out to cpuKernelPool(). MEDTUNE_CPU_FUSED=mlx switches back to
// MLX's ops.
#pragma once

#include <napi.h>

#include <utility>

#include "model.h"

namespace medtune {

// True when the fused kernels serve `a`: the CPU device, float32, not switched off.
bool fusedCpuOpsApply(const mx::array& a);

// silu(g) * u for float32 g, u of one shape, with a backward of its own (one exp per element each
// way, where MLX's compiled graph runs sigmoid and its VJP as separate passes).
mx::array cpuSwiglu(const mx::array& g, const mx::array& u);

// GELU of float32 x with a backward of its own: the erf form (0.5 x (1 + erf(x / sqrt 2)), erf to
// 1.5e-7) or, with tanhForm, the tanh approximation. MLX's CPU erf costs ~50 ns per element.
mx::array cpuGelu(const mx::array& x, bool tanhForm);
// The same GELU through MLX's ops (model_gpt2.cc), for the test hook's reference.
mx::array mlxGelu(const mx::array& x, bool tanhForm);

// For float32 logits (n, V), int32 targets (n) and float32 mask (n): per row, loss_r = mask_r *
// (logsumexp(logits_r) - logits_r[t_r]) as an (n) array, and p = mask_r * softmax(logits_r), (n,
// V): the cross-entropy and its gradient with respect to the logits, in one exp per logit. No
// VJP: its caller (chunkedCrossEntropy) supplies the gradient itself. A target outside [0, V)
// gives a NaN loss for its row.
std::pair<mx::array, mx::array> cpuSoftmaxCrossEntropy(const mx::array& logits,
                                                       const mx::array& targets,
                                                       const mx::array& mask);

// Test hooks, on tensors: swiglu(g, u, {mode}) -> {y, dg, du} and softmaxCrossEntropy(logits,
// targets Int32Array, mask Float32Array, {mode}) -> {loss, p}; mode "fused" (these kernels) or
// "mlx" (MLX's ops). dg, du: the backward for the cotangent cos(0, 1, ...) of y.
Napi::Value SwigluHook(const Napi::CallbackInfo& info);
// gelu(x, {form: "erf" | "tanh", mode}) -> {y, dx}.
Napi::Value GeluHook(const Napi::CallbackInfo& info);
Napi::Value SoftmaxCrossEntropyHook(const Napi::CallbackInfo& info);

}  // namespace medtune
