// Fused causal self-attention for the CPU device (attention_cpu.cc), flash-attention style: blocks
// of 64 queries x 64 keys with an online softmax, so the (B, H, L, Lk) scores are never
// materialised. The forward saves only each query row's log-sum-exp; the backward (a second
// primitive, the forward's VJP) recomputes the probabilities block by block. GQA: H query heads
// share H / Hkv key/value heads. MEDTUNE_CPU_ATTENTION=mlx routes attention back to MLX's
// scaled_dot_product_attention (A/B and tests).
#pragma once

#include <napi.h>

#include "mlx/mlx.h"

namespace mx = mlx::core;

namespace medtune {

// Whether cpuCausalAttention can take q (B, H, L, hd), k and v (B, Hkv, Lk, hd): float32 on the
// CPU device, Lk >= L, H a multiple of Hkv, and not switched off by MEDTUNE_CPU_ATTENTION=mlx.
bool cpuAttentionApplies(const mx::array& q, const mx::array& k, const mx::array& v);

// softmax(q k^T * scale + causal) v -> (B, H, L, hd). The mask is aligned bottom-right as MLX's
// "causal": query i sits at position Lk - L + i and sees keys 0 .. Lk - L + i.
mx::array cpuCausalAttention(const mx::array& q, const mx::array& k, const mx::array& v,
                             float scale);

// Test hook causalAttention(q, k, v, {scale, mode: "fused" | "mlx"}) -> {o, dq, dk, dv}: the
// gradients for the cotangent cos(0, 1, ...) of o (see attention_cpu.cc).
Napi::Value CausalAttentionHook(const Napi::CallbackInfo& info);

}  // namespace medtune
