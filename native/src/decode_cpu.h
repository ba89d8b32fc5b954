// The CPU generation path: a prompt chunk and each generated token for B rows computed in plain
// C++ over the model's packed weights (MLX affine 4/8-bit, float32), without building an MLX graph.
// A decode step is ~700 tiny MLX ops (each a scheduler round trip) around matrix-vector products
// that MLX's CPU quantized kernel runs as a scalar loop; here each projection is one AVX-512 pass
// over the packed bytes split across threads, and RMSNorm, RoPE, the cache write and attention
// over the cache run in place. A prompt chunk (prefill) runs the same block with every projection
// as a register-tiled product (cpu_gemm.h: rows of W dequantized a few at a time against x packed
// in panels of 64 positions), causal attention of the chunk over the cache, and the LM head for
// the last position only. Training keeps the MLX path. MEDTUNE_CPU_DECODE=mlx turns it all off
// (A/B and tests). Where the CPU has AMX, products over packed weights quantize x to int8 per 32
// values, as llama.cpp does (int8_cpu.h: AMX tiles for prompt chunks and batched steps, VNNI for
// batch 1, one order of float operations for all, so batched output equals one-by-one output);
// logits move by ~1e-3 relative, so greedy output can leave the float32 path's at near ties.
// MEDTUNE_DECODE_INT8=0 keeps float32 products (they match the MLX path to float tolerance);
// MEDTUNE_DECODE_INT8=1 asks for int8 elsewhere too (VNNI, batch 1 only: batches stay float32, so
// batched and one-by-one output can then differ). Scoring (scoreOptions) always runs float32.
// MEDTUNE_DECODE_THREADS (else OMP_NUM_THREADS) sets its thread count (default: the cores, at
// most 8).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "model.h"

namespace medtune {

struct CpuDecodePlan;

class CpuDecoder {
 public:
  // A decoder for `m` when every tensor it reads has a supported layout (float32 activations on
  // the CPU device; weights float32 or 4/8-bit with groups of 32k; LoRA without DoRA), else none.
  // exact: float32 products whatever the int8 setting (log-probs for scoring).
  static std::optional<CpuDecoder> create(const Model& m, bool exact = false);
  // tokens (B) at position cache.offset -> logits (B, V) float32; writes the cache in place and
  // advances its offset. The cache holds a prefilled prompt of the same B rows.
  // None when the cache cannot be written in place (then the MLX path decodes this step).
  // With `profile`, adds the wall seconds of each phase (no barriers needed: all is synchronous).
  std::optional<mx::array> step(const std::vector<int32_t>& tokens, KvCache& cache,
                                PhaseTimes* profile = nullptr);
  // A prompt chunk: tokens (B, L) row-major at positions cache.offset ... + L - 1 (B = the cache's
  // rows; left padding as in cache.padding) -> the logits (B, V) of each row's last position, or
  // an empty (B, 0) array when `logits` is false (a chunk before the last). Writes the cache in
  // place and advances its offset by L; none when it cannot (then MLX runs this chunk).
  std::optional<mx::array> prefill(const std::vector<int32_t>& tokens, int L, KvCache& cache,
                                   bool logits, PhaseTimes* profile = nullptr);

 private:
  std::shared_ptr<CpuDecodePlan> plan_;
};

// y (M, out) = x (M, in) W^T through the decode kernels (tests compare it with MLX): float32, or
// with x quantized to int8 (AMX tiles for any M; without AMX, VNNI rows for M = 1, float beyond).
mx::array cpuDecodeMatmul(const Linear& w, const mx::array& x, bool int8);

// The int8 kernels this CPU has for decoding ("amx", "vnni" or "none") and whether the decoder uses
// them unless told (MEDTUNE_DECODE_INT8).
struct DecodeInt8 {
  const char* kernel;
  bool byDefault;
};
DecodeInt8 decodeInt8();

// The element type of a generation decoder's KV cache for heads of `headDim` under the current
// environment: "float16" where the AVX-512 attention reads it (F16C), else "float32"
// (MEDTUNE_DECODE_KV=f32 asks for float32; scoring decoders always keep float32).
const char* decodeKvCache(int headDim);

}  // namespace medtune
