// bfloat16 products of packed 4/8-bit weights on Intel AMX tiles, for the CPU training step's
// frozen base (packed_matmul.cc): the forward y = x W^T and the backward through x, dx = g W. The
// weights are dequantized from their packed bytes into bfloat16 blocks (a 4-bit code times a
// float16 scale plus bias has more bits than bfloat16's 8, so this rounds them), the activations
// are rounded to bfloat16 once per product, and every tile product (tdpbf16ps: 16 x 16 outputs,
// 32 terms each) accumulates in float32. This is the precision of bfloat16 mixed-precision
// training: relative errors of a few 1e-3 per product against float32, sums kept in float32.
//
// Work is shared out over cpuKernelPool(): blocks of 64 weight rows (forward) or 64 input columns
// (backward), times chunks of positions when the blocks alone are too few for the threads.
#pragma once

#include <cstdint>

#include "quant_compact.h"

namespace medtune::bf16 {

// AMX-BF16 and AVX512-BF16 on the CPU, with the tile state granted by the OS (Linux arch_prctl,
// asked once). False in MEDTUNE_NO_SIMD builds.
bool amxAvailable();

// A packed weight (MLX affine, row-major (out, in)): value i of row o at bits [i*bits, (i+1)*bits)
// of the row's little-endian words.
struct PackedWeight {
  const uint32_t* q = nullptr;
  int in = 0, out = 0, bits = 0, group = 0;
  GroupScales scales;
};

// Whether the tile kernels take w: 4 or 8 bits, in and out multiples of 32, groups of a multiple
// of 32 values (GGUF Q4_0 / Q4_1 / Q8_0 and MLX's group sizes 32, 64, 128 on model shapes).
bool supports(const PackedWeight& w);

// y (M, out) = x (M, in) W^T. Needs amxAvailable() and supports(w); any M >= 0.
void forward(const PackedWeight& w, const float* x, int M, float* y);
// dx (M, in) = g (M, out) W. Needs the same.
void transposed(const PackedWeight& w, const float* g, int M, float* dx);

}  // namespace medtune::bf16
