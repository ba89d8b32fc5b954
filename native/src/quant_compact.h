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
#define MEDTUNE_SCALES_SIMD __attribute__((target("avx512f,avx512bw,avx512vl,fma")))
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
  // The same for AVX-512 kernels, inlined into them (convertScales).
  MEDTUNE_SCALES_SIMD RowScales(const GroupScales& g, int o, Avx512Tag);
#endif
  RowScales(const RowScales&) = delete;
  RowScales& operator=(const RowScales&) = delete;
  const float* s = nullptr;  // (groups)
  const float* b = nullptr;  // (groups)

 private:
  static constexpr int kInline = 512;
  // Points s, b at row `at`'s stored float32 values where there are some; true when both are.
  bool borrow(const GroupScales& g, size_t at) {
    s = g.s32 ? g.s32 + at : nullptr;
    b = g.b32 ? g.b32 + at : nullptr;
    return s && b;
  }
  float* storage(int groups);  // room for 2 * groups floats, each rounded up to 16
  float inline_[2 * kInline];
  std::vector<float> heap_;
};

inline float* RowScales::storage(int groups) {
  if (groups <= kInline) return inline_;
  heap_.resize(2 * static_cast<size_t>((groups + 15) / 16 * 16));
  return heap_.data();
}

#if defined(MEDTUNE_SCALES_SIMD)
// Scales and biases of n consecutive groups from index `at` of the (out, groups) arrays (a span
// of whole rows, say) as float32 into s, b (n each, with room for n rounded up to 16): 16 values
// per conversion. Batch-1 decode converts 16 rows at a time (decode_cpu.cc dotRowsAvx512).
MEDTUNE_SCALES_SIMD inline void convertScales(const GroupScales& g, size_t at, size_t n, float* s,
                                              float* b) {
  const __m512 factor = _mm512_set1_ps(-static_cast<float>(1u << (g.bits - 1)));
  for (size_t i = 0; i < n; i += 16) {
    const size_t left = n - i;
    const __mmask16 m = left >= 16 ? 0xffff : static_cast<__mmask16>((1u << left) - 1);
    const __m512 sv = g.s32 ? _mm512_maskz_loadu_ps(m, g.s32 + at + i)
                            : _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, g.s16 + at + i));
    _mm512_storeu_ps(s + i, sv);
    if (g.b32) {
      _mm512_storeu_ps(b + i, _mm512_maskz_loadu_ps(m, g.b32 + at + i));
    } else if (g.b16) {
      _mm512_storeu_ps(b + i, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, g.b16 + at + i)));
    } else {
      _mm512_storeu_ps(b + i, _mm512_mul_ps(sv, factor));  // implicit biases
    }
  }
}

// 32 weights of one group from 16 bytes (4-bit: byte j holds value 2j in its low nibble, 2j + 1 in
// its high one) or 32 bytes (8-bit), in their natural order, times the group's scale s plus its
// bias b: values 0-15 in *v0, 16-31 in *v1.
MEDTUNE_SCALES_SIMD inline void dequant32Avx512(const uint8_t* p, int bits, __m512 s, __m512 b,
                                                __m512* v0, __m512* v1) {
  __m512i c0, c1;
  if (bits == 4) {
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m512i lo = _mm512_and_si512(v, _mm512_set1_epi32(15));  // values 0, 2, 4, ...
    const __m512i hi = _mm512_srli_epi32(v, 4);                     // values 1, 3, 5, ...
    // Interleave: lanes 0..15 of the result come from lo[0], hi[0], lo[1], hi[1], ...
    const __m512i first = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i second =
        _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    c0 = _mm512_permutex2var_epi32(lo, first, hi);
    c1 = _mm512_permutex2var_epi32(lo, second, hi);
  } else {
    c0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    c1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
  }
  *v0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c0), s, b);
  *v1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c1), s, b);
}

MEDTUNE_SCALES_SIMD inline RowScales::RowScales(const GroupScales& g, int o, Avx512Tag) {
  const size_t at = static_cast<size_t>(o) * g.groups;
  if (borrow(g, at)) return;  // float32 as stored
  float* sBuf = storage(g.groups);
  float* bBuf = sBuf + (g.groups + 15) / 16 * 16;
  convertScales(g, at, g.groups, sBuf, bBuf);
  s = sBuf;
  b = bBuf;
}
#endif

}  // namespace medtune
