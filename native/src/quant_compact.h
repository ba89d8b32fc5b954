// The compact CPU form of an MLX affine-quantized weight's per-group scales and biases (w = scale *
// q + bias per group of `groupSize` values). MLX holds both as float32 here: 8 bytes per group of
// 32 weights, half again the 4-bit data. GGUF stores them smaller — Q4_0 / Q8_0 one float16 scale
// (bias -2^(bits-1) * scale), Q4_1 a float16 scale and minimum — so on the CPU prepareCompute()
// stores what the values allow, checked element by element:
//   scales: float16 when every one converts exactly, else float32;
//   biases: none when every one is exactly -2^(bits-1) * scale (Linear::implicitBiases), else
//           float16 when exact, else float32.
// Q4_0 then costs 4.5 bits per weight, Q4_1 5 and Q8_0 8.5, as in the file. float16 -> float32 and
// -2^(bits-1) * scale are exact, so every reader below gives the float32 path's results bit for
// bit. Readers: MLX ops through Linear::affineParams() (float32, made lazily per product); the CPU
// kernels (packed_matmul.cc, decode_cpu.cc) through GroupScales / RowScales, one row at a time.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "model.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MEDTUNE_NO_SIMD)
#include <immintrin.h>
#define MEDTUNE_SCALES_SIMD __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#endif

namespace medtune {

// Stores l's scales and biases compactly (above) if l is quantized with float32 ones; else, or if
// already compact, leaves it alone. Returns the bytes saved.
size_t compactScales(Linear& l);

// The scales and biases of a packed weight (out, in) as raw pointers into evaluated,
// row-contiguous arrays: each of scales / biases either float32 or float16, biases possibly
// implicit. groups = in / groupSize values per row.
struct GroupScales {
  int groups = 0;
  int bits = 0;
  const float* s32 = nullptr;     // (out, groups) or null
  const uint16_t* s16 = nullptr;  // (out, groups) float16 bits, when s32 is null
  const float* b32 = nullptr;     // (out, groups) or null
  const uint16_t* b16 = nullptr;  // (out, groups) float16 bits, or null
  bool implicitBiases() const { return !b32 && !b16; }
};

// From evaluated arrays: scales (out, groups) float32 or float16; biases likewise, or null for
// implicit ones. Throws (naming the dtype) on anything else or a non-contiguous array.
GroupScales groupScales(const mx::array& scales, const mx::array* biases, int bits);

// Row o's scales and biases as float32 (groups values each) for kernels that read s[g], b[g]:
// pointers into the stored arrays when those are float32, else converted into this object's
// storage (on the stack for rows up to 512 groups: 16384 values at group 32).
struct Avx512Tag {};
class RowScales {
 public:
  RowScales(const GroupScales& g, int o);  // any CPU
#if defined(MEDTUNE_SCALES_SIMD)
  // The same for AVX-512 kernels, inlined into them.
  MEDTUNE_SCALES_SIMD RowScales(const GroupScales& g, int o, Avx512Tag);
#endif
  RowScales(const RowScales&) = delete;
  RowScales& operator=(const RowScales&) = delete;
  const float* s = nullptr;  // (groups)
  const float* b = nullptr;  // (groups)

 private:
  static constexpr int kInline = 512;
  float* storage(int groups);  // room for 2 * groups floats, each rounded up to 4
  float inline_[2 * kInline];
  std::vector<float> heap_;
};

inline float* RowScales::storage(int groups) {
  if (groups <= kInline) return inline_;
  heap_.resize(2 * static_cast<size_t>((groups + 3) & ~3));
  return heap_.data();
}

#if defined(MEDTUNE_SCALES_SIMD)
// Up to 4 float16 values as float32 lanes, zeros after.
MEDTUNE_SCALES_SIMD inline __m128 halves4(const uint16_t* p, int left) {
  if (left >= 4) return _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  alignas(8) uint16_t tail[4] = {0, 0, 0, 0};
  for (int i = 0; i < left; ++i) tail[i] = p[i];
  return _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(tail)));
}

// 4 values per conversion and store: the kernel's single-value loads right after then read from
// 16-byte stores (a row written by 512-bit stores measured ~25% slower batch-1 decode on
// SmolLM2-135M, 18 groups a row; these are not measured better beyond noise yet).
MEDTUNE_SCALES_SIMD inline RowScales::RowScales(const GroupScales& g, int o, Avx512Tag) {
  const size_t at = static_cast<size_t>(o) * g.groups;
  s = g.s32 ? g.s32 + at : nullptr;
  b = g.b32 ? g.b32 + at : nullptr;
  if (s && b) return;  // float32 as stored
  float* sBuf = storage(g.groups);
  float* bBuf = sBuf + ((g.groups + 3) & ~3);
  const __m128 factor = _mm_set1_ps(-static_cast<float>(1u << (g.bits - 1)));
  for (int i = 0; i < g.groups; i += 4) {
    const int left = g.groups - i;
    __m128 sv;
    if (g.s32) {
      sv = left >= 4 ? _mm_loadu_ps(g.s32 + at + i) : _mm_setzero_ps();
      if (left < 4)
        for (int j = 0; j < left; ++j) sv[j] = g.s32[at + i + j];
    } else {
      sv = halves4(g.s16 + at + i, left);
      _mm_storeu_ps(sBuf + i, sv);
    }
    if (g.b16) {
      _mm_storeu_ps(bBuf + i, halves4(g.b16 + at + i, left));
    } else if (!g.b32) {
      _mm_storeu_ps(bBuf + i, _mm_mul_ps(sv, factor));  // implicit biases
    }
  }
  if (!s) s = sBuf;
  if (!b) b = bBuf;
}
#endif

}  // namespace medtune
