// int8 products of packed 4/8-bit weights for the CPU decode path (decode_cpu.cc): x is quantized
// to int8 per block of 32 values (scale max|x| / 127, as llama.cpp does for its Q4/Q8 products).
// Several positions (a prompt chunk, a batched step) run on Intel AMX tiles, each block of 16
// weight rows x 16 positions one tile product (tdpbusd: the weights' unsigned 4/8-bit codes times
// x's int8 values); one position (batch 1) runs on AVX-512 VNNI. Both give exact int32 block sums.
//
// One order of float operations for every output, whatever the batch: for output o of position m,
//   acc = 0; for each block k: acc = fma(float(C[k][o][m]), s_w[o][k] * s_x[m][k], acc);
//   then for each weight group g: acc = fma(b_w[o][g], sum_g(x[m]), acc)
// with C[k] the block's integer sum, s_w, b_w the group's affine scale and bias (w = s_w * q +
// b_w), s_x the block's x scale and sum_g(x[m]) x's float sum over the group. So a position's
// products do not depend on the other positions computed with it: a batched decode step, a prompt
// chunk and a batch-1 step give the same bits for the same x.
#pragma once

#include <cstdint>
#include <vector>

#include "quant_compact.h"

namespace medtune::int8 {

// Whether rows() can take one position (AVX-512 with VNNI) and several (also AMX-INT8, with the
// tile state granted by the OS: Linux arch_prctl, asked once). MEDTUNE_NO_SIMD builds: false.
bool vnniAvailable();
bool amxAvailable();

// A weight's scales and biases as the kernels read them: for each tile of 16 rows, (groups, 16),
// group g of the tile's rows side by side (rows past the weight's last zero), in their stored form
// (float16 or float32; no biases when implicit, -2^(bits-1) * scale). The same bytes as the
// (out, groups) arrays they come from; made once per weight when a decoder is created.
struct TiledScales {
  int groups = 0, bits = 0;
  std::vector<float> s32, b32;
  std::vector<uint16_t> s16, b16;
};
TiledScales tileScales(const GroupScales& g, int out);

// A packed weight (MLX affine, row-major): value i of row o at bits [i*bits, (i+1)*bits) of the
// row's little-endian words. in and group are multiples of 32.
struct Weight {
  const uint32_t* q = nullptr;  // (out, in * bits / 32)
  int in = 0, out = 0, bits = 0, group = 0;
  const TiledScales* scales = nullptr;
};

// x (M, in) quantized for weights of `bits` and `group` (needs vnniAvailable()); M = 1: 64 bytes
// per pair of blocks, in the order the VNNI rows read the codes; else 16 positions per tile:
//   b: (tiles, blocks, 8, 64) int8, the B operand of block k for positions 16t..16t+15 (row r holds
//      values 4r..4r+3 of each position in turn); within a block, 4-bit weights' unpacked order:
//      the block's even-indexed values, then its odd ones (8-bit: natural order);
//   scale: (tiles, blocks, 16) the blocks' scales; sums: (tiles, groups, 16) x's float sums.
// Positions past M are zero.
struct QuantizedX {
  int M = 0, in = 0, bits = 0, group = 0;
  std::vector<int8_t> b;
  std::vector<float> scale, sums;
};
void quantize(const float* x, int M, int in, int bits, int group, QuantizedX& out);
// The same in parts, for several threads: prepare() sizes and zeroes `out` for M positions; then
// quantizeBlocks(x, k0, k1, out) quantizes blocks [k0, k1) of every position. Calls over disjoint
// runs of whole weight groups (k0, k1 multiples of group / 32) write disjoint cache lines when
// M > 1; M = 1 shares 64 bytes between blocks 2j and 2j + 1.
void prepare(int M, int in, int bits, int group, QuantizedX& out);
void quantizeBlocks(const float* x, int k0, int k1, QuantizedX& out);

// y[m * ldy + o] = sum_i w[o][i] x[m][i] in the order above (no bias vector, no LoRA) for o in
// [o0, o1) and every m < x.M; x.M = 1 needs vnniAvailable(), more amxAvailable(). Any thread may
// call it (each loads its own tile configuration).
void rows(const Weight& w, const QuantizedX& x, float* y, int ldy, int o0, int o1);

}  // namespace medtune::int8
