// See decode_cpu.h. Layouts read here (all row-major, float32 unless said):
//   packed W (out, in*bits/32) uint32, value i of a row at bits [i*bits, (i+1)*bits) counted
//   little-endian across the words (MLX affine: w = scale * q + bias per group of `group` values);
//   KV cache (B, Hkv, capacity, hd); LoRA A (in, r), B (r, out).
// The x86 kernels use AVX-512 through function target attributes, chosen at run time, so the
// addon still builds and runs (scalar loops) on CPUs and compilers without it.
#include "decode_cpu.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>

#include "cpu_features.h"
#include "cpu_gemm.h"
#include "int8_cpu.h"
#include "quant_compact.h"

// MEDTUNE_NO_SIMD builds the scalar kernels only (as on CPUs and compilers without AVX-512).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MEDTUNE_NO_SIMD)
#include <immintrin.h>
#define MEDTUNE_AVX512 1
#define MEDTUNE_AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#endif

namespace medtune {

// Linear::decodeScales: the arrays it was made from (held, so their ids stay theirs) and the
// result.
struct DecodeScales {
  std::vector<mx::array> from;
  int8::TiledScales tiled;
};

namespace {

// One frozen projection as raw pointers into evaluated MLX arrays (the plan keeps them alive).
struct MatView {
  int in = 0, out = 0, bits = 0, group = 0;
  const uint32_t* q = nullptr;               // packed (out, in*bits/32), or null for float W
  GroupScales scales;                        // scales, biases (out, in/group): float32 or compact
  const int8::TiledScales* tiled = nullptr;  // the same for the int8 kernels, when they run
  const float* w = nullptr;                  // float W (out, in)
  const float* bias = nullptr;               // (out) or null
  const float* loraA = nullptr;              // (in, r) or null
  const float* loraB = nullptr;              // (r, out)
  const float* loraAT = nullptr;  // A transposed, (r, in), in the column order x has for W
  int rank = 0;
  float loraScale = 0.0f;
  size_t rowWords() const { return static_cast<size_t>(in) * bits / 32; }
};

bool haveAvx512() {
#if defined(MEDTUNE_AVX512)
  return cpuHasAvx512();
#else
  return false;
#endif
}

// 4-bit rows under AVX-512 are read 128 values (16 words) at a time: lane j of a vector holds
// word j, values 8j..8j+7, and nibble k of every lane (a shift by 4k; vpermps reads only an index's
// low 4 bits) gives the vector of values 8j+k. x is permuted once per product to that order:
// within each block of n = min(128, in - c) values from c, L = n/8 lanes, xp[c + L*k + j] =
// x[c + 8j + k]. A lane's 8 values share one quantization group (group sizes are multiples of 8).
bool permutesInput(const MatView& w) { return haveAvx512() && w.q && w.bits == 4; }

void permuteForQ4(const float* x, int in, float* xp) {
  for (int c = 0; c < in; c += 128) {
    const int L = std::min(128, in - c) / 8;
    for (int k = 0; k < 8; ++k)
      for (int j = 0; j < L; ++j) xp[c + L * k + j] = x[c + 8 * j + k];
  }
}

// ---- scalar kernels (any CPU) ----

void dequantRowScalar(const MatView& w, int o, float* dst) {
  const uint32_t* row = w.q + o * w.rowWords();
  const RowScales sb(w.scales, o);  // row o's scales and biases as float32, (in/group) each
  const float* s = sb.s;
  const float* b = sb.b;
  const uint32_t mask = (1u << w.bits) - 1;
  for (int i = 0; i < w.in; ++i) {
    const size_t bit = static_cast<size_t>(i) * w.bits;
    const uint32_t v = (row[bit / 32] >> (bit % 32)) & mask;
    dst[i] = s[i / w.group] * static_cast<float>(v) + b[i / w.group];
  }
}

float dotScalar(const float* a, const float* b, int n) {
  float s = 0.0f;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// ---- AVX-512 kernels ----

#if defined(MEDTUNE_AVX512)

MEDTUNE_AVX512_FN float dotAvx512(const float* a, const float* b, int n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

// Sixteen packed bytes -> sixteen int32 lanes.
MEDTUNE_AVX512_FN inline __m512i bytes16(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// The 4-bit blocks of permuteForQ4: block c's words as 16 lanes (L of them loaded) and, per
// lane, the scale or bias of the lane's group (from the row's float32 s or b).
struct Q4Block {
  __mmask16 lanes;  // the block's L lanes
  __m512i words;
  int L;
};

MEDTUNE_AVX512_FN inline Q4Block q4Block(const uint32_t* row, int in, int c) {
  const int L = std::min(128, in - c) / 8;
  const __mmask16 m = L == 16 ? 0xffff : static_cast<__mmask16>((1u << L) - 1);
  return {m, _mm512_maskz_loadu_epi32(m, row + c / 8), L};
}

// Lane j of block c: group (c + 8j) / group; `spread` maps lane j to j * 8 / group.
MEDTUNE_AVX512_FN inline __m512 perLane(const float* v, int c, int group, int groups,
                                        __m512i spread) {
  const int g0 = c / group, n = std::min(groups - g0, std::max(1, 128 / group));
  return _mm512_permutexvar_ps(
      spread, _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), v + g0));
}

MEDTUNE_AVX512_FN inline __m512i laneSpread(int group) {
  alignas(64) int idx[16];
  for (int j = 0; j < 16; ++j) idx[j] = j * 8 / group;
  return _mm512_load_si512(idx);
}

// The values of nibble k of every lane as floats: vpermps over the table 0..15 (the index's low
// 4 bits) converts them without unpacking.
MEDTUNE_AVX512_FN inline __m512 nibbles(__m512i words, int k, __m512 table) {
  return _mm512_permutexvar_ps(_mm512_srli_epi32(words, 4 * k), table);
}

MEDTUNE_AVX512_FN inline __m512 iota16() {
  return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

// Row o of W dequantized, 4-bit values in the permuted order of permuteForQ4.
MEDTUNE_AVX512_FN void dequantRowAvx512(const MatView& w, int o, float* dst) {
  const RowScales sb(w.scales, o, Avx512Tag{});  // row o as float32, (in/group) each
  const float* s = sb.s;
  const float* b = sb.b;
  if (w.bits == 4) {
    const uint32_t* row = w.q + o * w.rowWords();
    const int groups = w.in / w.group;
    const __m512i spread = laneSpread(w.group);
    const __m512 table = iota16();
    for (int c = 0; c < w.in; c += 128) {
      const Q4Block blk = q4Block(row, w.in, c);
      const __m512 sv = perLane(s, c, w.group, groups, spread);
      const __m512 bv = perLane(b, c, w.group, groups, spread);
      for (int k = 0; k < 8; ++k)
        _mm512_mask_storeu_ps(dst + c + blk.L * k, blk.lanes,
                              _mm512_fmadd_ps(nibbles(blk.words, k, table), sv, bv));
    }
    return;
  }
  const uint8_t* row = reinterpret_cast<const uint8_t*>(w.q + o * w.rowWords());
  // Group by group: no integer division per 32 values.
  for (int g = 0, c = 0; c < w.in; ++g) {
    const __m512 sv = _mm512_set1_ps(s[g]), bv = _mm512_set1_ps(b[g]);
    for (const int end = c + w.group; c < end; c += 32) {
      _mm512_storeu_ps(dst + c, _mm512_fmadd_ps(_mm512_cvtepi32_ps(bytes16(row + c)), sv, bv));
      _mm512_storeu_ps(dst + c + 16,
                       _mm512_fmadd_ps(_mm512_cvtepi32_ps(bytes16(row + c + 16)), sv, bv));
    }
  }
}

// Row o of a 4-bit W times one x row (permuted), reading the packed bytes once (the batch-1
// decode case). Per lane, the scale multiplies the lane's sum of q * x once and the bias its sum
// of x (xs: those sums, in/8 of them, in lane order): s * sum(q x) + b * sum(x) = sum((s q + b) x)
// without dequantizing each value. s, b: the row's scales and biases as float32.
MEDTUNE_AVX512_FN float dotQ4Avx512(const MatView& w, int o, const float* x, const float* xs,
                                    const float* s, const float* b, __m512i spread) {
  const uint32_t* row = w.q + o * w.rowWords();
  const int groups = w.in / w.group;
  const __m512 table = iota16();
  __m512 acc = _mm512_setzero_ps();
  for (int c = 0; c < w.in; c += 128) {
    const Q4Block blk = q4Block(row, w.in, c);
    const float* xc = x + c;
    const int L = blk.L;
    __m512 qx0 = _mm512_mul_ps(nibbles(blk.words, 0, table), _mm512_maskz_loadu_ps(blk.lanes, xc));
    __m512 qx1 =
        _mm512_mul_ps(nibbles(blk.words, 1, table), _mm512_maskz_loadu_ps(blk.lanes, xc + L));
    for (int k = 2; k < 8; k += 2) {
      qx0 = _mm512_fmadd_ps(nibbles(blk.words, k, table),
                            _mm512_maskz_loadu_ps(blk.lanes, xc + L * k), qx0);
      qx1 = _mm512_fmadd_ps(nibbles(blk.words, k + 1, table),
                            _mm512_maskz_loadu_ps(blk.lanes, xc + L * (k + 1)), qx1);
    }
    acc = _mm512_fmadd_ps(perLane(s, c, w.group, groups, spread), _mm512_add_ps(qx0, qx1), acc);
    acc = _mm512_fmadd_ps(perLane(b, c, w.group, groups, spread),
                          _mm512_maskz_loadu_ps(blk.lanes, xs + c / 8), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// Row o of an 8-bit W times one x row, reading the packed bytes once; s, b: the row's scales and
// biases as float32 (in/group each).
MEDTUNE_AVX512_FN float dotQ8Avx512(const MatView& w, int o, const float* x, const float* s,
                                    const float* b) {
  const uint8_t* row = reinterpret_cast<const uint8_t*>(w.q + o * w.rowWords());
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  for (int g = 0, c = 0; c < w.in; ++g) {
    const __m512 sv = _mm512_set1_ps(s[g]), bv = _mm512_set1_ps(b[g]);
    for (const int end = c + w.group; c < end; c += 32) {
      acc0 = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_cvtepi32_ps(bytes16(row + c)), sv, bv),
                             _mm512_loadu_ps(x + c), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_cvtepi32_ps(bytes16(row + c + 16)), sv, bv),
                             _mm512_loadu_ps(x + c + 16), acc1);
    }
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

// y[o] = row o of W times one x row for o in [o0, o1). Compact scales and biases are converted
// to float32 16 rows at a time, out of each row's product (row by row measured slower); float32
// ones are read in place.
// Rows are requested this many ahead of their product (a kernel test over 60 matrices of
// 1536 x 576, too big for the caches: 7.9 -> 9.0 G weights/s on one core).
constexpr int kPrefetchRows = 4;

// body(o, s, b) for each row o in [o0, o1), s and b its scales and biases as float32: read in
// place when stored so, else converted 16 rows at a time (row by row measured slower).
template <typename Body>
MEDTUNE_AVX512_FN void rowsWithScales(const MatView& w, int o0, int o1, Body&& body) {
  constexpr int kRows = 16;
  const int groups = w.in / w.group;
  const GroupScales& g = w.scales;
  const bool stored = g.s32 && g.b32;
  thread_local std::vector<float> buf;
  const size_t span = static_cast<size_t>(kRows) * groups + 16;  // floats per array, rounded up
  if (!stored && buf.size() < 2 * span) buf.resize(2 * span);
  for (int r0 = o0; r0 < o1; r0 += kRows) {
    const int r1 = std::min(o1, r0 + kRows);
    const size_t at = static_cast<size_t>(r0) * groups;
    const float* s = stored ? g.s32 + at : buf.data();         // (r1 - r0, groups)
    const float* b = stored ? g.b32 + at : buf.data() + span;  // (r1 - r0, groups)
    if (!stored)
      convertScales(g, at, static_cast<size_t>(r1 - r0) * groups, buf.data(), buf.data() + span);
    for (int o = r0; o < r1; ++o) {
      const size_t row = static_cast<size_t>(o - r0) * groups;
      if (o + kPrefetchRows < o1) {  // the hardware prefetcher stops at page boundaries
        const char* ahead = reinterpret_cast<const char*>(w.q + (o + kPrefetchRows) * w.rowWords());
        for (size_t i = 0; i < w.rowWords() * 4; i += 64) _mm_prefetch(ahead + i, _MM_HINT_T0);
      }
      body(o, s + row, b + row);
    }
  }
}

MEDTUNE_AVX512_FN void dotRowsAvx512(const MatView& w, const float* x, float* y, int o0, int o1) {
  thread_local std::vector<float> xs;
  const __m512i spread = laneSpread(w.group);
  if (w.bits == 4) {  // each lane's sum of x, in the permuted order (permuteForQ4)
    xs.resize(w.in / 8);
    for (int c = 0; c < w.in; c += 128) {
      const int L = std::min(128, w.in - c) / 8;
      for (int j = 0; j < L; ++j) {
        float t = 0.0f;
        for (int k = 0; k < 8; ++k) t += x[c + L * k + j];
        xs[c / 8 + j] = t;
      }
    }
  }
  rowsWithScales(w, o0, o1, [&](int o, const float* s, const float* b) {
    y[o] = w.bits == 4 ? dotQ4Avx512(w, o, x, xs.data(), s, b, spread) : dotQ8Avx512(w, o, x, s, b);
  });
}

// y[m, n] = w_n . x_m for NB rows of W and MB rows of x, as NB x MB register accumulators: each
// loaded W vector serves MB rows and each x vector NB rows (a batched decode step's product).
template <int NB, int MB>
MEDTUNE_AVX512_FN void tileAvx512(const float* const* w, const float* x, int in, float* y,
                                  int ldy) {
  __m512 acc[NB][MB];
  for (int n = 0; n < NB; ++n)
    for (int m = 0; m < MB; ++m) acc[n][m] = _mm512_setzero_ps();
  int i = 0;
  for (; i + 16 <= in; i += 16) {
    __m512 wv[NB];
    for (int n = 0; n < NB; ++n) wv[n] = _mm512_loadu_ps(w[n] + i);
    for (int m = 0; m < MB; ++m) {
      const __m512 xv = _mm512_loadu_ps(x + static_cast<size_t>(m) * in + i);
      for (int n = 0; n < NB; ++n) acc[n][m] = _mm512_fmadd_ps(wv[n], xv, acc[n][m]);
    }
  }
  if (i < in) {
    const __mmask16 k = static_cast<__mmask16>((1u << (in - i)) - 1);
    __m512 wv[NB];
    for (int n = 0; n < NB; ++n) wv[n] = _mm512_maskz_loadu_ps(k, w[n] + i);
    for (int m = 0; m < MB; ++m) {
      const __m512 xv = _mm512_maskz_loadu_ps(k, x + static_cast<size_t>(m) * in + i);
      for (int n = 0; n < NB; ++n) acc[n][m] = _mm512_fmadd_ps(wv[n], xv, acc[n][m]);
    }
  }
  for (int n = 0; n < NB; ++n)
    for (int m = 0; m < MB; ++m)
      y[static_cast<size_t>(m) * ldy + n] = _mm512_reduce_add_ps(acc[n][m]);
}

template <int NB>
void tileRows(const float* const* w, const float* x, int M, int in, float* y, int ldy) {
  int m = 0;
  for (; m + 4 <= M; m += 4)
    tileAvx512<NB, 4>(w, x + static_cast<size_t>(m) * in, in, y + static_cast<size_t>(m) * ldy,
                      ldy);
  const float* xm = x + static_cast<size_t>(m) * in;
  float* ym = y + static_cast<size_t>(m) * ldy;
  switch (M - m) {
    case 3:
      return tileAvx512<NB, 3>(w, xm, in, ym, ldy);
    case 2:
      return tileAvx512<NB, 2>(w, xm, in, ym, ldy);
    case 1:
      return tileAvx512<NB, 1>(w, xm, in, ym, ldy);
  }
}

// Rows [o0, o1) of y (M, ldy) for M > 1: four rows of W at a time (dequantized into a buffer
// when packed) against four rows of x.
void matRowsBatchedAvx512(const MatView& w, const float* x, int M, float* y, int ldy, int o0,
                          int o1) {
  thread_local std::vector<float> buf;
  if (w.q) buf.resize(4 * static_cast<size_t>(w.in));
  for (int o = o0; o < o1; o += 4) {
    const int nb = std::min(4, o1 - o);
    const float* rows[4];
    for (int n = 0; n < nb; ++n) {
      if (w.q) {
        dequantRowAvx512(w, o + n, buf.data() + static_cast<size_t>(n) * w.in);
        rows[n] = buf.data() + static_cast<size_t>(n) * w.in;
      } else {
        rows[n] = w.w + static_cast<size_t>(o + n) * w.in;
      }
    }
    switch (nb) {
      case 4:
        tileRows<4>(rows, x, M, w.in, y + o, ldy);
        break;
      case 3:
        tileRows<3>(rows, x, M, w.in, y + o, ldy);
        break;
      case 2:
        tileRows<2>(rows, x, M, w.in, y + o, ldy);
        break;
      default:
        tileRows<1>(rows, x, M, w.in, y + o, ldy);
        break;
    }
  }
}

#endif

// ---- int8 products over packed weights (int8_cpu.h) ----

// How products over packed weights treat x, chosen when a decoder is created: float32, or quantized
// to int8 (int8_cpu.h) for any batch on AMX tiles (batched output equals one-by-one output), or
// for batch 1 only on VNNI (batches stay float32). MEDTUNE_DECODE_INT8=1 or 0 says whether int8; by
// default int8 where the CPU has AMX, else the float kernels, whose logits equal the MLX path's to
// float tolerance. MEDTUNE_DECODE_AMX=0 uses the VNNI rows even where there is AMX (A/B).
enum class Int8 { off, vnni, amx };
Int8 int8Mode() {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
  };
  const bool amx = int8::amxAvailable() && env("MEDTUNE_DECODE_AMX") != "0";
  const std::string want = env("MEDTUNE_DECODE_INT8");
  if (want == "0" || (want != "1" && !amx)) return Int8::off;
  return amx ? Int8::amx : int8::vnniAvailable() ? Int8::vnni : Int8::off;
}

float dot(const float* a, const float* b, int n) {
#if defined(MEDTUNE_AVX512)
  if (haveAvx512()) return dotAvx512(a, b, n);
#endif
  return dotScalar(a, b, n);
}

// y[m, o] for o in [o0, o1): x is (M, in), already permuted when permutesInput(w).
void matRows(const MatView& w, const float* x, int M, float* y, int ldy, int o0, int o1) {
#if defined(MEDTUNE_AVX512)
  if (M > 1 && haveAvx512()) return matRowsBatchedAvx512(w, x, M, y, ldy, o0, o1);
  if (M == 1 && w.q && haveAvx512()) return dotRowsAvx512(w, x, y, o0, o1);
#endif
  thread_local std::vector<float> rowBuf;
  if (w.q) rowBuf.resize(w.in);
  for (int o = o0; o < o1; ++o) {
    const float* row = w.w ? w.w + static_cast<size_t>(o) * w.in : nullptr;
#if defined(MEDTUNE_AVX512)
    if (w.q && haveAvx512()) {
      dequantRowAvx512(w, o, rowBuf.data());
      row = rowBuf.data();
    }
#endif
    if (!row) {
      dequantRowScalar(w, o, rowBuf.data());
      row = rowBuf.data();
    }
    for (int m = 0; m < M; ++m) {
      y[static_cast<size_t>(m) * ldy + o] = dot(row, x + static_cast<size_t>(m) * w.in, w.in);
    }
  }
}

// Products with at least this many x rows (prompt chunks) go through the register-tiled kernel of
// cpu_gemm.h over x packed into panels. Below, the 4 x 4 dot-product tiles serve batched decode
// steps: at 16 rows they took ~7% less CPU time per step than the panel kernel (SmolLM2-135M).
constexpr int kGemmMinRows = 32;

// Rows [o0, o1) of y (M, ldy) from x packed by gemmPackPanels (already permuted when
// permutesInput(w)): kGemmTileRows rows of W at a time, dequantized into a small buffer when
// packed, against each panel of 64 x rows; a panel's outputs gather in a transposed buffer
// (o1 - o0, 64) and go to y at once (tile-sized scattered stores into y alias in the L1 cache).
void gemmRows(const MatView& w, const float* panels, int M, float* y, int ldy, int o0, int o1) {
  thread_local std::vector<float> buf, yT;
  if (w.q) buf.resize(static_cast<size_t>(kGemmTileRows) * w.in);
  yT.resize(static_cast<size_t>(o1 - o0 + kGemmTileRows) * kGemmPanelRows);
  for (int m0 = 0; m0 < M; m0 += kGemmPanelRows) {
    const float* panel = panels + static_cast<size_t>(m0 / kGemmPanelRows) * w.in * kGemmPanelRows;
    const int rowsM = std::min(kGemmPanelRows, M - m0);
    for (int o = o0; o < o1; o += kGemmTileRows) {
      const int nb = std::min(kGemmTileRows, o1 - o);
      const float* rows[kGemmTileRows];
      for (int n = 0; n < nb; ++n) {
        if (!w.q) {
          rows[n] = w.w + static_cast<size_t>(o + n) * w.in;
          continue;
        }
        float* dst = buf.data() + static_cast<size_t>(n) * w.in;
#if defined(MEDTUNE_AVX512)
        if (haveAvx512()) {
          dequantRowAvx512(w, o + n, dst);
        } else {
          dequantRowScalar(w, o + n, dst);
        }
#else
        dequantRowScalar(w, o + n, dst);
#endif
        rows[n] = dst;
      }
      gemmTile(rows, nb, panel, rowsM, w.in,
               yT.data() + static_cast<size_t>(o - o0) * kGemmPanelRows);
    }
    gemmUnpack(yT.data(), o1 - o0, rowsM, y + static_cast<size_t>(m0) * ldy + o0, ldy);
  }
}

// ---- threads ----

// A fixed set of workers that share out the items of one parallel region at a time: each thread,
// the caller's included, claims the next item with one atomic step until none is left, so a
// worker that the OS has descheduled (a loaded machine) only slows the items it holds, and the
// caller never waits for a worker that has not started. Workers spin briefly between regions (a
// decode step's regions are tens of microseconds apart), then sleep.
class Pool {
 public:
  explicit Pool(int threads) : size_(std::max(1, threads)) {
    for (int t = 1; t < size_; ++t) std::thread([this] { work(); }).detach();
  }
  int size() const { return size_; }
  // fn(i) for every i in [0, n), each on whichever thread claims it; returns when all are done.
  void run(int n, const std::function<void(int)>& fn) {
    if (n <= 0) return;
    if (size_ == 1 || n == 1) {
      for (int i = 0; i < n; ++i) fn(i);
      return;
    }
    if (n > kMaxItems) {  // runs of consecutive items, at most kMaxItems of them
      const int per = (n + kMaxItems - 1) / kMaxItems;
      return run((n + per - 1) / per, [&](int c) {
        for (int i = c * per; i < std::min(n, (c + 1) * per); ++i) fn(i);
      });
    }
    task_ = &fn;
    done_.store(0, std::memory_order_relaxed);
    job_ = (job_ + 1) & kJobMask;
    ticket_.store(job_ << 40 | static_cast<uint64_t>(n) << 20, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(mu_);  // a worker between its check and its wait sees it
    }
    cv_.notify_all();
    uint64_t seen = 0;
    while (claimAndRun(seen)) {
    }
    for (int spins = 0; done_.load(std::memory_order_acquire) < n; ++spins) relax(spins);
  }
  // Stages of one region: stage s's items fn(i), i in [0, n), start once every item of the stages
  // before it is done. Items are claimed in order, so when an item waits, every earlier item is
  // claimed and running: per-position preparation (a norm, x quantized) with no region of its own
  // and no serial pass.
  struct Stage {
    int n;
    const std::function<void(int)>& fn;
  };
  // fn(m) for m in [0, M) as a stage of a few runs of consecutive m (two per thread): one claim
  // per run, not per position.
  std::function<void(int)> runsOf(int M, const std::function<void(int)>& fn, int* count) const {
    *count = std::min(M, 2 * size_);
    return [M, n = *count, &fn](int i) {
      for (int m = M * i / n; m < M * (i + 1) / n; ++m) fn(m);
    };
  }
  void runStages(std::initializer_list<Stage> stages) {
    constexpr int kMost = 4;
    const Stage* st[kMost];
    int count = 0, total = 0, start[kMost + 1];
    for (const Stage& s : stages) {
      if (s.n <= 0) continue;  // an empty stage would not order the ones around it
      if (count == kMost) throw std::logic_error("Pool::runStages: more than 4 stages");
      st[count] = &s;
      start[count++] = total;
      total += s.n;
    }
    start[count] = total;
    std::atomic<int> finished{0};  // items of the stages before the current one's, all done
    run(total, [&](int i) {
      int s = 0;
      while (i >= start[s + 1]) ++s;
      for (int spins = 0; finished.load(std::memory_order_acquire) < start[s]; ++spins)
        relax(spins);
      st[s]->fn(i - start[s]);
      finished.fetch_add(1, std::memory_order_release);
    });
  }

 private:
  // ticket_: job id (24 bits) | item count (20 bits) | next unclaimed item (20 bits).
  static constexpr int kMaxItems = (1 << 20) - 1;
  static constexpr uint64_t kJobMask = (1u << 24) - 1;
  static uint64_t jobOf(uint64_t ticket) { return ticket >> 40; }

  // Claims and runs one item of the current region; false (and its job id in `job`) when none is
  // left. A claimed item keeps its region (and task_) alive until done_ counts it.
  bool claimAndRun(uint64_t& job) {
    uint64_t t = ticket_.load(std::memory_order_acquire);
    for (;;) {
      const int count = static_cast<int>(t >> 20 & kMaxItems),
                next = static_cast<int>(t & kMaxItems);
      if (next >= count) {
        job = jobOf(t);
        return false;
      }
      if (ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
        (*task_)(next);
        done_.fetch_add(1, std::memory_order_release);
        return true;
      }
    }
  }
  static void relax(int spins) {
#if defined(MEDTUNE_AVX512)
    if (spins < 2000) return _mm_pause();
#endif
    std::this_thread::yield();
  }
  void work() {
    for (;;) {
      uint64_t seen = 0;
      while (claimAndRun(seen)) {
      }
      auto fresh = [&] { return jobOf(ticket_.load(std::memory_order_acquire)) != seen; };
      for (int spins = 0; !fresh(); ++spins) {
        if (spins < 20000) {
          relax(spins);
          continue;
        }
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, fresh);
      }
    }
  }
  const int size_;
  const std::function<void(int)>* task_ = nullptr;
  uint64_t job_ = 0;  // the caller's side only
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int> done_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

int decodeThreads() {
  // The same knob BLAS and llama.cpp read, unless MEDTUNE_DECODE_THREADS says otherwise.
  for (const char* name : {"MEDTUNE_DECODE_THREADS", "OMP_NUM_THREADS"}) {
    const char* s = std::getenv(name);
    const int n = s ? std::atoi(s) : 0;
    if (n > 0) return std::min(n, 64);
  }
  return std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 8);
}

// Process-wide: workers live as long as the addon. One decode step at a time holds it.
Pool& pool() {
  static Pool* p = new Pool(decodeThreads());
  return *p;
}
std::mutex& poolLock() {
  static std::mutex mu;
  return mu;
}

// y (M, out) += scale * (x A) B, (M, in) (in, r) (r, out). With `panels` (x packed for the
// tiled kernel), x A runs through it over the rows of A^T; else row by row.
void addLora(const MatView& w, const float* x, const float* panels, int M, float* y) {
  const int in = w.in, rank = w.rank;
  thread_local std::vector<float> xa, yT;
  xa.assign(static_cast<size_t>(M) * rank, 0.0f);
  if (panels && w.loraAT) {
    yT.resize(static_cast<size_t>(rank + kGemmTileRows) * kGemmPanelRows);
    for (int m0 = 0; m0 < M; m0 += kGemmPanelRows) {
      const float* panel = panels + static_cast<size_t>(m0 / kGemmPanelRows) * in * kGemmPanelRows;
      const int rowsM = std::min(kGemmPanelRows, M - m0);
      for (int r = 0; r < rank; r += kGemmTileRows) {
        const float* rows[kGemmTileRows];
        const int nb = std::min(kGemmTileRows, rank - r);
        for (int n = 0; n < nb; ++n) rows[n] = w.loraAT + static_cast<size_t>(r + n) * in;
        gemmTile(rows, nb, panel, rowsM, in, yT.data() + static_cast<size_t>(r) * kGemmPanelRows);
      }
      gemmUnpack(yT.data(), rank, rowsM, xa.data() + static_cast<size_t>(m0) * rank, rank);
    }
  } else {
    for (int m = 0; m < M; ++m) {
      const float* xm = x + static_cast<size_t>(m) * in;
      float* xam = xa.data() + static_cast<size_t>(m) * rank;
      for (int i = 0; i < in; ++i) {
        const float* arow = w.loraA + static_cast<size_t>(i) * rank;
        for (int r = 0; r < rank; ++r) xam[r] += xm[i] * arow[r];
      }
    }
  }
  for (int m = 0; m < M; ++m) {
    float* ym = y + static_cast<size_t>(m) * w.out;
    for (int r = 0; r < rank; ++r)
      axpy(w.loraScale * xa[static_cast<size_t>(m) * rank + r],
           w.loraB + static_cast<size_t>(r) * w.out, ym, w.out);
  }
}

// ys[j] (M, mats[j]->out) = x (M, in) W_j^T (+ bias, + LoRA) for projections sharing their input,
// their output rows split evenly across the pool's threads in one parallel region. rowPrep(m),
// when given, first writes x's row m (a norm of the residual stream, say). With several positions
// and no packed panels, the rows, then x's preparation for the kernels (quantized or permuted),
// then the products are the stages of one region (Pool::runStages).
void project(const std::vector<const MatView*>& mats, const float* x, int M,
             const std::vector<float*>& ys, Int8 int8 = Int8::off,
             const std::function<void(int)>& rowPrep = nullptr) {
  const int in = mats[0]->in;
  // How x must be prepared for a matrix: as is, permuted (4-bit rows), or quantized to int8 for
  // int8_cpu.h (any M on AMX, M = 1 on VNNI).
  constexpr int kInt8Layout = 1000;
  auto layout = [M, int8](const MatView& w) {
    const bool quantized = int8 == Int8::amx || (int8 == Int8::vnni && M == 1);
    if (quantized && w.q && w.tiled) return kInt8Layout + 1000 * w.bits + w.group;
    return permutesInput(w) ? 1 : 0;
  };
  Pool& p = pool();
  // A matrix with another layout than the first gets its own region (x made first, once).
  for (size_t j = 1; j < mats.size(); ++j) {
    if (layout(*mats[j]) != layout(*mats[0])) {
      if (rowPrep) p.run(M, rowPrep);
      project({mats.begin() + j, mats.end()}, x, M, {ys.begin() + j, ys.end()}, int8);
      return project({mats.begin(), mats.begin() + j}, x, M, {ys.begin(), ys.begin() + j}, int8);
    }
  }
  const bool quantized = layout(*mats[0]) >= kInt8Layout, permuted = permutesInput(*mats[0]);
  // Several positions and no packed panels (int8 products, or fewer rows than the panel kernel
  // takes): x is made and prepared in the products' region.
  const bool staged = M > 1 && (quantized || M < kGemmMinRows);
  if (rowPrep && !staged) p.run(M, rowPrep);
  // Reused across calls (a fresh vector of this size is fresh pages, faulted in on every call).
  // Workers see their own thread_locals: they get these through pointers.
  thread_local std::vector<float> permutedX, panels;
  thread_local int8::QuantizedX quantizedX;
  int8::QuantizedX* xq = quantized ? &quantizedX : nullptr;
  float* xperm = nullptr;
  if (permuted && !quantized) {
    permutedX.resize(std::max(permutedX.size(), static_cast<size_t>(M) * in));
    xperm = permutedX.data();
  }
  const float* xin = xperm ? xperm : x;
  if (xq) int8::prepare(M, in, mats[0]->bits, mats[0]->group, *xq);
  // x's preparation for the kernels in parts: runs of whole weight groups (int8) or positions.
  const int perGroup = mats[0]->group / 32, groups = in / std::max(1, mats[0]->group);
  const int parts = xq ? std::min(groups, 2 * p.size()) : xperm ? M : 0;
  const std::function<void(int)> preparePart = [&](int i) {
    if (xq) {
      const int g0 = groups * i / parts, g1 = groups * (i + 1) / parts;
      int8::quantizeBlocks(x, g0 * perGroup, g1 * perGroup, *xq);
    } else {
      permuteForQ4(x + static_cast<size_t>(i) * in, in, xperm + static_cast<size_t>(i) * in);
    }
  };
  if (!staged)
    for (int i = 0; i < parts; ++i) preparePart(i);
  const float* packed = nullptr;
  if (!xq && M >= kGemmMinRows) {
    panels.resize(std::max(panels.size(), gemmPanelsSize(M, in)));
    gemmPackPanels(xin, M, in, panels.data());
    packed = panels.data();
  }
  int total = 0;
  for (const MatView* w : mats) total += w->out;
  // Items are runs of rows of the concatenated outputs in 16-row units (no cache line of y shared
  // by two items; a row's value does not depend on the split): one per thread up to 8, about
  // 2^20 multiply-adds each (tens of microseconds; a claim costs a cache line's trip).
  const int units = (total + 15) / 16;
  const double work = static_cast<double>(total) * M * in;
  const int want = std::clamp(static_cast<int>(work / (1 << 20)), p.size(), 8 * p.size());
  const int per = std::max(1, (units + want - 1) / want);
  const std::function<void(int)> products = [&](int c) {
    const int r0 = std::min(total, c * per * 16), r1 = std::min(total, (c + 1) * per * 16);
    int base = 0;
    for (size_t j = 0; j < mats.size(); ++j) {
      const int lo = std::max(r0, base), hi = std::min(r1, base + mats[j]->out);
      if (lo < hi && xq) {
        const MatView& w = *mats[j];
        int8::rows({w.q, w.in, w.out, w.bits, w.group, w.tiled}, *xq, ys[j], w.out, lo - base,
                   hi - base);
      } else if (lo < hi && packed) {
        gemmRows(*mats[j], packed, M, ys[j], mats[j]->out, lo - base, hi - base);
      } else if (lo < hi) {
        matRows(*mats[j], xin, M, ys[j], mats[j]->out, lo - base, hi - base);
      }
      base += mats[j]->out;
    }
  };
  const int items = (units + per - 1) / per;
  if (staged) {
    int runs = 0;
    const std::function<void(int)> rows = rowPrep ? p.runsOf(M, rowPrep, &runs) : nullptr;
    p.runStages({{runs, rows}, {parts, preparePart}, {items, products}});
  } else {
    p.run(items, products);
  }
  for (size_t j = 0; j < mats.size(); ++j) {
    const MatView& w = *mats[j];
    float* y = ys[j];
    if (w.bias) {
      for (int m = 0; m < M; ++m)
        for (int o = 0; o < w.out; ++o) y[m * w.out + o] += w.bias[o];
    }
    if (w.loraA) addLora(w, x, packed, M, y);
  }
}

void rmsNorm(const float* x, const float* weight, float eps, int M, int D, float* out) {
  for (int m = 0; m < M; ++m) {
    const float* xm = x + static_cast<size_t>(m) * D;
    const float ss = dot(xm, xm, D);
    const float r = 1.0f / std::sqrt(ss / D + eps);
    for (int i = 0; i < D; ++i) out[static_cast<size_t>(m) * D + i] = xm[i] * r * weight[i];
  }
}

// cos and sin of pos * invFreq[i] for each position, (n, hd/2) each: one table per forward call,
// shared by every layer and head.
struct RopeTable {
  int half = 0;
  std::vector<float> cos, sin;
  RopeTable(const std::vector<int>& positions, const std::vector<float>& invFreq)
      : half(static_cast<int>(invFreq.size())),
        cos(positions.size() * invFreq.size()),
        sin(cos.size()) {
    for (size_t p = 0; p < positions.size(); ++p) {
      for (int i = 0; i < half; ++i) {
        const float theta = static_cast<float>(positions[p]) * invFreq[i];
        cos[p * half + i] = std::cos(theta);
        sin[p * half + i] = std::sin(theta);
      }
    }
  }
  // Non-interleaved RoPE (fast::rope with traditional = false) of one head vector at entry p.
  void apply(float* v, size_t p) const {
    const float* c = cos.data() + p * half;
    const float* s = sin.data() + p * half;
    for (int i = 0; i < half; ++i) {
      const float a = v[i], b = v[i + half];
      v[i] = a * c[i] - b * s[i];
      v[i + half] = a * s[i] + b * c[i];
    }
  }
};

// A float32, row-contiguous, evaluated version of `a` (a copy only when needed), kept alive.
template <typename T>
const T* pointer(const mx::array& a, mx::Dtype dt, std::vector<mx::array>& keep) {
  mx::array c = a.dtype() == dt ? a : mx::astype(a, dt);
  // An eval even of a computed array costs a scheduler round trip: only when needed.
  if (!c.is_available()) mx::eval(c);
  if (!c.flags().row_contiguous || c.data_size() != c.size()) {
    c = mx::contiguous(c);
    mx::eval(c);
  }
  keep.push_back(c);
  return c.data<T>();
}

// The cache arrays written in place must be of the plan's dtype, contiguous and referenced by
// nothing else.
bool writableInPlace(mx::array& a, mx::Dtype dtype) {
  auto ok = [&] {
    return a.dtype() == dtype && a.flags().row_contiguous && a.data_size() == a.size() &&
           a.is_donatable();
  };
  if (!a.is_available()) mx::eval(a);
  if (ok()) return true;
  if (std::getenv("MEDTUNE_DECODE_DEBUG")) std::fprintf(stderr, "decode_cpu: cache copy\n");
  a = a.dtype() == dtype ? mx::copy(a) : mx::astype(a, dtype);
  mx::eval(a);
  return ok();
}

// A cache row (hd values) written from float32: as is, or rounded to float16 (nearest even).
void storeCacheRow(const float* src, float* dst, int n) {
  std::memcpy(dst, src, sizeof(float) * n);
}
#if defined(MEDTUNE_AVX512)
MEDTUNE_AVX512_FN void storeCacheRowF16c(const float* src, uint16_t* dst, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}
#endif
void storeCacheRow(const float* src, uint16_t* dst, int n) {
#if defined(MEDTUNE_AVX512)
  storeCacheRowF16c(src, dst, n);
#else
  (void)src, (void)dst, (void)n;
  throw std::logic_error("decode_cpu: a float16 cache needs F16C");  // halfCache() said no
#endif
}

// Whether a decoder keeps its KV cache in float16 (half the bytes each step reads, the largest
// item of a batched step after the weights; llama.cpp's default): where the AVX-512 attention
// kernels read it (F16C), for head sizes they take, unless exact or MEDTUNE_DECODE_KV=f32.
bool halfCache(const ModelConfig& c, bool exact) {
  const char* env = std::getenv("MEDTUNE_DECODE_KV");
  if (exact || (env && std::string(env) == "f32")) return false;
#if defined(MEDTUNE_AVX512)
  return haveAvx512() && __builtin_cpu_supports("f16c") && c.headDim % 16 == 0 && c.headDim <= 128;
#else
  (void)c;
  return false;
#endif
}

}  // namespace

struct CpuDecodePlan {
  const Model* model = nullptr;
  std::vector<mx::array> keep;
  MatView embed, head;
  struct Layer {
    MatView proj[7];  // kLoraModules order: q, k, v, o, gate, up, down
    const float* attnNorm = nullptr;
    const float* mlpNorm = nullptr;
  };
  std::vector<Layer> layers;
  std::vector<std::vector<float>> loraAT;            // storage of the MatViews' loraAT
  std::vector<std::shared_ptr<DecodeScales>> tiled;  // keeps the MatViews' tiled alive
  const float* norm = nullptr;
  std::vector<float> invFreq;  // (hd/2), positions pre-scaled (linear RoPE scaling)
  Int8 int8 = Int8::off;       // how products over packed weights treat x (int8Mode)
  bool halfKv = false;         // the KV cache in float16 (halfCache)
};

namespace {

std::optional<MatView> view(const Linear& l, std::vector<mx::array>& keep) {
  MatView v;
  v.in = l.inDim;
  v.out = l.outDim;
  if (l.quantized()) {
    if ((l.bits != 4 && l.bits != 8) || l.groupSize % 32 != 0 || l.inDim % 32 != 0 || !l.affine())
      return std::nullopt;
    if (l.qweight->dtype() != mx::uint32) return std::nullopt;
    v.bits = l.bits;
    v.group = l.groupSize;
    v.q = pointer<uint32_t>(*l.qweight, mx::uint32, keep);
    // Compact (float16) scales and biases are read as they are, not copied to float32.
    auto groupwise = [&keep](const mx::array& a) {
      if (a.dtype() == mx::float16) {
        pointer<mx::float16_t>(a, mx::float16, keep);
      } else {
        pointer<float>(a, mx::float32, keep);
      }
      return keep.back();  // (out, in/group), evaluated and row-contiguous
    };
    const mx::array s = groupwise(*l.scales);
    const std::optional<mx::array> b =
        l.qbiases ? std::optional<mx::array>(groupwise(*l.qbiases)) : std::nullopt;
    v.scales = groupScales(s, b ? &*b : nullptr, l.bits);
  } else {
    if (!l.weight || l.weight->dtype() != mx::float32) return std::nullopt;
    v.w = pointer<float>(*l.weight, mx::float32, keep);
  }
  if (l.bias) v.bias = pointer<float>(*l.bias, mx::float32, keep);
  return v;
}

// l's scales and biases for the AMX kernels (v: its view), made once per set of arrays.
const int8::TiledScales* tiledScales(const Linear& l, const MatView& v,
                                     std::vector<std::shared_ptr<DecodeScales>>& keep) {
  if (!v.q) return nullptr;
  std::vector<mx::array> from{*l.qweight, *l.scales};
  if (l.qbiases) from.push_back(*l.qbiases);
  auto same = [&](const DecodeScales& c) {
    if (c.from.size() != from.size()) return false;
    for (size_t i = 0; i < from.size(); ++i)
      if (c.from[i].id() != from[i].id()) return false;
    return true;
  };
  if (!l.decodeScales || !same(*l.decodeScales))
    l.decodeScales =
        std::make_shared<DecodeScales>(DecodeScales{from, int8::tileScales(v.scales, v.out)});
  keep.push_back(l.decodeScales);
  return &l.decodeScales->tiled;
}

}  // namespace

std::optional<CpuDecoder> CpuDecoder::create(const Model& m, bool exact) {
  const char* env = std::getenv("MEDTUNE_CPU_DECODE");
  if (env && std::string(env) == "mlx") return std::nullopt;
  // The llama family's block only (GPT-2-style models decode through MLX).
  if (mx::default_device() != mx::Device::cpu || m.dtype != mx::float32 || m.dora() ||
      isGpt2Family(m.config.architecture)) {
    return std::nullopt;
  }
  const ModelConfig& c = m.config;
  if (c.headDim % 2 != 0 || c.numKvHeads <= 0 || c.numHeads % c.numKvHeads != 0) {
    return std::nullopt;
  }
  auto plan = std::make_shared<CpuDecodePlan>();
  plan->model = &m;
  plan->int8 = exact ? Int8::off : int8Mode();
  plan->halfKv = halfCache(m.config, exact);
  auto& keep = plan->keep;
  auto embed = view(m.embed, keep);
  auto head = view(m.head(), keep);
  if (!embed || !head) return std::nullopt;
  plan->embed = *embed;
  plan->head = *head;
  for (const Block& b : m.layers) {
    CpuDecodePlan::Layer L;
    const Linear* lins[7] = {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down};
    for (int i = 0; i < 7; ++i) {
      auto v = view(*lins[i], keep);
      if (!v) return std::nullopt;
      L.proj[i] = *v;
    }
    L.attnNorm = pointer<float>(b.attnNorm, mx::float32, keep);
    L.mlpNorm = pointer<float>(b.mlpNorm, mx::float32, keep);
    plan->layers.push_back(L);
  }
  plan->norm = pointer<float>(m.norm, mx::float32, keep);
  if (plan->int8 != Int8::off) {
    plan->head.tiled = tiledScales(m.head(), plan->head, plan->tiled);
    for (size_t l = 0; l < m.layers.size(); ++l) {
      const Block& b = m.layers[l];
      const Linear* lins[7] = {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down};
      for (int i = 0; i < 7; ++i)
        plan->layers[l].proj[i].tiled = tiledScales(*lins[i], plan->layers[l].proj[i], plan->tiled);
    }
  }
  if (m.adaptersEnabled && m.lora && !m.adapters.empty()) {
    for (const auto& kv : m.adapters) {
      const LoraParams& p = kv.second;
      MatView& v = plan->layers.at(p.layer).proj[p.module];
      v.loraA = pointer<float>(p.a, mx::float32, keep);
      v.loraB = pointer<float>(p.b, mx::float32, keep);
      v.rank = p.a.shape(1);
      v.loraScale = m.lora->scale;
      // A^T for the tiled kernel, each row in x's column order for this weight.
      std::vector<float> at(static_cast<size_t>(v.rank) * v.in), row(v.in);
      for (int r = 0; r < v.rank; ++r) {
        for (int i = 0; i < v.in; ++i) row[i] = v.loraA[static_cast<size_t>(i) * v.rank + r];
        float* dst = at.data() + static_cast<size_t>(r) * v.in;
        if (permutesInput(v)) {
          permuteForQ4(row.data(), v.in, dst);
        } else {
          std::copy(row.begin(), row.end(), dst);
        }
      }
      plan->loraAT.push_back(std::move(at));
      v.loraAT = plan->loraAT.back().data();
    }
  }
  // RoPE inverse frequencies as fast::rope derives them: base^(-2i/hd), or 1 / freqs when the
  // model carries scaled wavelengths; linear scaling multiplies positions.
  const int half = c.headDim / 2;
  const float posScale = c.ropeScaling.type == "linear" ? 1.0f / c.ropeScaling.factor : 1.0f;
  std::vector<float> freqs;
  if (m.ropeFreqs) {
    const float* f = pointer<float>(*m.ropeFreqs, mx::float32, keep);
    freqs.assign(f, f + half);
  }
  for (int i = 0; i < half; ++i) {
    const float inv =
        m.ropeFreqs
            ? 1.0f / freqs[i]
            : std::exp(-static_cast<float>(i) * (std::log(c.ropeTheta) / static_cast<float>(half)));
    plan->invFreq.push_back(inv * posScale);
  }
  CpuDecoder d;
  d.plan_ = std::move(plan);
  return d;
}

namespace {

// Wall seconds per phase into a PhaseTimes, when one is given (all work is synchronous).
struct PhaseClock {
  PhaseTimes* times = nullptr;
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  void operator()(const char* phase) {
    if (!times) return;
    const auto now = std::chrono::steady_clock::now();
    (*times)[phase] += std::chrono::duration<double>(now - last).count();
    last = now;
  }
};

// One forward call: B rows of L new positions each, written at cache positions [pos0, pos0 + L).
struct Chunk {
  int B = 0, L = 0, pos0 = 0;
  std::vector<int> pad;      // (B) left padding of each row
  std::vector<int> ropePos;  // (B * L) RoPE position of each new position (pad excluded)
};

// Activations of one call, M = B * L rows: residual stream x and scratch h, o (M, D); q and
// the attention output att (M, H * hd); k, v (M, Hkv * hd); gate and up g, u (M, F).
struct Scratch {
  std::vector<float> x, h, o, q, att, k, v, g, u;
  bool residualPending = false;  // the last block's MLP output (o) is not yet added to x
  Scratch(int M, const ModelConfig& c)
      : x(static_cast<size_t>(M) * c.hiddenSize),
        h(x.size()),
        o(x.size()),
        q(static_cast<size_t>(M) * c.numHeads * c.headDim),
        att(q.size()),
        k(static_cast<size_t>(M) * c.numKvHeads * c.headDim),
        v(k.size()),
        g(static_cast<size_t>(M) * c.intermediateSize),
        u(g.size()) {}
};

// One head's attention over n keys and values (n, hd) (any CPU, any hd); p scratch of n floats.
void attendHead(const float* q, const float* keys, const float* vals, int n, int hd, float scale,
                float* p, float* out) {
  float peak = -INFINITY;
  for (int j = 0; j < n; ++j) {
    p[j] = dot(q, keys + static_cast<size_t>(j) * hd, hd) * scale;
    peak = std::max(peak, p[j]);
  }
  const float inv = 1.0f / expShiftSum(p, n, peak);
  std::fill(out, out + hd, 0.0f);
  for (int j = 0; j < n; ++j) axpy(p[j] * inv, vals + static_cast<size_t>(j) * hd, out, hd);
}

// Attention of every new position over the cache, which already holds them: query (b, i) at
// position pos0 + i sees its row's keys from max(pad, window start) through itself; a pad query
// sees itself only (the MLX path's mask). q (M, H, hd) -> att (M, H, hd); caches (B, Hkv, cap, hd).
// Work items are (b, KV head, i): the H / Hkv query heads of a KV head read its keys and values
// once; with fewer items than 4 per thread (batch 1) each head is its own item. prep(m), for each
// new position m, first finishes its query and writes its key and value into the caches (in the
// same region when there are several).
template <typename KV>
void chunkAttention(const ModelConfig& c, const Chunk& ch, const float* q, const KV* kc,
                    const KV* vc, size_t cap, float* att, const std::function<void(int)>& prep) {
  const int H = c.numHeads, Hkv = c.numKvHeads, hd = c.headDim, group = H / Hkv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int T = pool().size();
  const int G = ch.B * Hkv * ch.L >= 4 * T ? group : 1;  // query heads per item
  const int items = ch.B * (H / G) * ch.L;               // (b, head set, i), i fastest
  auto attendItem = [&](int it, std::vector<float>& p) {
    const int i = it % ch.L, bs = it / ch.L, b = bs / (H / G), h0 = bs % (H / G) * G;
    const int qpos = ch.pos0 + i, pad = ch.pad[b];
    int lo = qpos;
    if (qpos >= pad) lo = std::max(pad, c.slidingWindow > 0 ? qpos - c.slidingWindow + 1 : 0);
    const size_t m = static_cast<size_t>(b) * ch.L + i;
    const float* qv = q + (m * H + h0) * hd;
    const size_t base = ((static_cast<size_t>(b) * Hkv + h0 / group) * cap + lo) * hd;
    float* out = att + (m * H + h0) * hd;
    const int n = qpos - lo + 1;
    if (attendKvGroup(qv, G, kc + base, vc + base, n, hd, scale, p.data(), out)) return;
    if constexpr (std::is_same_v<KV, float>) {
      for (int g = 0; g < G; ++g)
        attendHead(qv + g * hd, kc + base, vc + base, n, hd, scale, p.data(), out + g * hd);
    } else {
      throw std::logic_error("decode_cpu: no kernel for a float16 cache here");  // halfCache
    }
  };
  // Runs of consecutive items (one claim each): one per thread up to 8, about 2^18 multiply-adds
  // of scores and weighted values each.
  const double work = 2.0 * items * G * (ch.pos0 + ch.L) * hd;
  const int runs = std::clamp(static_cast<int>(work / (1 << 18)), T, 8 * T);
  const int per = std::max(1, (items + runs - 1) / runs);
  const std::function<void(int)> attendRun = [&](int r) {
    thread_local std::vector<float> p;
    p.resize(std::max(p.size(), static_cast<size_t>(G) * (ch.pos0 + ch.L)));
    for (int it = r * per; it < std::min(items, (r + 1) * per); ++it) attendItem(it, p);
  };
  const int M = ch.B * ch.L;
  if (M == 1) prep(0);
  int prepRuns = 0;
  const std::function<void(int)> preps = M > 1 ? pool().runsOf(M, prep, &prepRuns) : nullptr;
  pool().runStages({{prepRuns, preps}, {(items + per - 1) / per, attendRun}});
}

// Block l over the chunk: x (M, D) in place; writes the chunk's keys and values into the caches.
template <typename KV>
void layerForward(const CpuDecodePlan& P, size_t l, const Chunk& ch, const RopeTable& rope, KV* kc,
                  KV* vc, size_t cap, Scratch& S, PhaseClock& mark) {
  const ModelConfig& c = P.model->config;
  const auto& W = P.layers[l];
  const int M = ch.B * ch.L, D = c.hiddenSize, H = c.numHeads, Hkv = c.numKvHeads;
  const int hd = c.headDim;
  // A decode step's cache slots, requested for writing now: their lines (cold, one per 16 floats)
  // then arrive while the q/k/v products run, not one by one in the copies below.
  for (int m = 0; ch.L == 1 && m < M; ++m) {
    const size_t row = static_cast<size_t>(m / ch.L) * Hkv, pos = ch.pos0 + m % ch.L;
    for (int hh = 0; hh < Hkv; ++hh) {
      const size_t dst = ((row + hh) * cap + pos) * hd;
      for (int i = 0; i < hd; i += 64 / static_cast<int>(sizeof(KV))) {
        __builtin_prefetch(kc + dst + i, 1, 3);
        __builtin_prefetch(vc + dst + i, 1, 3);
      }
    }
  }
  // Per position m: x += o when the previous block's MLP output is still to be added, then
  // h = rmsNorm(x) (run by the products' region, project's rowPrep).
  auto residualNorm = [&](const float* weight, bool residual) {
    return [&S, &c, D, weight, residual](int m) {
      float* xm = S.x.data() + static_cast<size_t>(m) * D;
      if (residual) {
        const float* om = S.o.data() + static_cast<size_t>(m) * D;
        for (int i = 0; i < D; ++i) xm[i] += om[i];
      }
      rmsNorm(xm, weight, c.rmsNormEps, 1, D, S.h.data() + static_cast<size_t>(m) * D);
    };
  };
  project({&W.proj[0], &W.proj[1], &W.proj[2]}, S.h.data(), M, {S.q.data(), S.k.data(), S.v.data()},
          P.int8, residualNorm(W.attnNorm, S.residualPending));
  S.residualPending = false;
  mark("attention.norm_and_qkv_proj");
  auto ropeAndCache = [&](int m) {
    const int b = m / ch.L, pos = ch.pos0 + m % ch.L;
    for (int hh = 0; hh < H; ++hh)
      rope.apply(S.q.data() + (static_cast<size_t>(m) * H + hh) * hd, m);
    for (int hh = 0; hh < Hkv; ++hh) {
      const size_t src = (static_cast<size_t>(m) * Hkv + hh) * hd;
      rope.apply(S.k.data() + src, m);
      const size_t dst = ((static_cast<size_t>(b) * Hkv + hh) * cap + pos) * hd;
      storeCacheRow(S.k.data() + src, kc + dst, hd);
      storeCacheRow(S.v.data() + src, vc + dst, hd);
    }
  };
  chunkAttention(c, ch, S.q.data(), kc, vc, cap, S.att.data(), ropeAndCache);
  mark("attention.rope_and_sdpa");
  project({&W.proj[3]}, S.att.data(), M, {S.o.data()}, P.int8);
  mark("attention.o_proj");
  project({&W.proj[4], &W.proj[5]}, S.h.data(), M, {S.g.data(), S.u.data()}, P.int8,
          residualNorm(W.mlpNorm, true));
  mark("mlp.norm_and_gate_up_proj");
  const int F = c.intermediateSize;
  project({&W.proj[6]}, S.g.data(), M, {S.o.data()}, P.int8, [&S, F](int m) {
    const size_t at = static_cast<size_t>(m) * F;
    siluMul(S.g.data() + at, S.u.data() + at, F);
  });
  S.residualPending = true;  // x += o: the next block's first region, or the end of forward()
  mark("mlp.swiglu_and_down_proj");
}

// tokens (B, L) row-major at positions cache.offset...: see CpuDecoder::prefill.
std::optional<mx::array> forward(CpuDecodePlan& P, const std::vector<int32_t>& tokens, int L,
                                 KvCache& cache, bool wantLogits, PhaseTimes* profile) {
  const ModelConfig& c = P.model->config;
  const int M = static_cast<int>(tokens.size());
  if (L <= 0 || M == 0 || M % L != 0) {
    throw std::invalid_argument("decode_cpu: " + std::to_string(M) +
                                " tokens are not whole rows of " + std::to_string(L));
  }
  Chunk ch;
  ch.B = M / L;
  ch.L = L;
  ch.pos0 = cache.offset;
  const int B = ch.B, D = c.hiddenSize, Hkv = c.numKvHeads, hd = c.headDim, V = c.vocabSize;
  if (!cache.padding.empty() && static_cast<int>(cache.padding.size()) != B) return std::nullopt;
  const mx::Dtype kvType = P.halfKv ? mx::float16 : mx::float32;
  reserveKvCache(cache, B, Hkv, hd, ch.pos0 + L, kvType);
  std::vector<void*> kc(P.layers.size()), vc(P.layers.size());
  for (size_t l = 0; l < P.layers.size(); ++l) {
    for (auto [side, ptrs] : {std::pair{&cache.keys, &kc}, std::pair{&cache.values, &vc}}) {
      mx::array& a = (*side)[l];
      if (a.ndim() != 4 || a.shape(0) != B || a.shape(2) != cache.capacity ||
          !writableInPlace(a, kvType))
        return std::nullopt;
      (*ptrs)[l] = a.data<void>();
    }
  }
  std::lock_guard<std::mutex> lock(poolLock());
  PhaseClock mark{profile};
  for (int b = 0; b < B; ++b) {
    ch.pad.push_back(cache.padding.empty() ? 0 : cache.padding[b]);
    for (int i = 0; i < L; ++i) ch.ropePos.push_back(ch.pos0 + i - ch.pad[b]);
  }
  const RopeTable rope(ch.ropePos, P.invFreq);
  Scratch S(M, c);
  for (int m = 0; m < M; ++m) {
    float* row = S.x.data() + static_cast<size_t>(m) * D;
    if (P.embed.q) {
      dequantRowScalar(P.embed, tokens[m], row);
    } else {
      std::memcpy(row, P.embed.w + static_cast<size_t>(tokens[m]) * D, D * sizeof(float));
    }
  }
  mark("embed");
  for (size_t l = 0; l < P.layers.size(); ++l)
    if (P.halfKv) {
      layerForward(P, l, ch, rope, static_cast<uint16_t*>(kc[l]), static_cast<uint16_t*>(vc[l]),
                   cache.capacity, S, mark);
    } else {
      layerForward(P, l, ch, rope, static_cast<float*>(kc[l]), static_cast<float*>(vc[l]),
                   cache.capacity, S, mark);
    }
  if (S.residualPending)
    for (size_t i = 0; i < S.x.size(); ++i) S.x[i] += S.o[i];
  cache.offset += L;
  if (!wantLogits) return mx::zeros({B, 0}, mx::float32);
  // The LM head for each row's last position only. (B, D) -> (B, V)
  for (int b = 0; b < B; ++b) {
    const float* last = S.x.data() + (static_cast<size_t>(b) * L + L - 1) * D;
    std::copy(last, last + D, S.o.begin() + static_cast<size_t>(b) * D);
  }
  rmsNorm(S.o.data(), P.norm, c.rmsNormEps, B, D, S.h.data());
  mark("final_norm");
  // Written in place into the returned array's buffer (MLX's allocator reuses freed buffers).
  mx::array logits(mx::allocator::malloc(sizeof(float) * static_cast<size_t>(B) * V), {B, V},
                   mx::float32);
  project({&P.head}, S.h.data(), B, {logits.data<float>()}, P.int8);
  mark("lm_head");
  return logits;
}

}  // namespace

std::optional<mx::array> CpuDecoder::step(const std::vector<int32_t>& tokens, KvCache& cache,
                                          PhaseTimes* profile) {
  return forward(*plan_, tokens, 1, cache, true, profile);
}

std::optional<mx::array> CpuDecoder::prefill(const std::vector<int32_t>& tokens, int L,
                                             KvCache& cache, bool logits, PhaseTimes* profile) {
  return forward(*plan_, tokens, L, cache, logits, profile);
}

const char* decodeKvCache(int headDim) {
  ModelConfig c;
  c.headDim = headDim;
  return halfCache(c, /*exact=*/false) ? "float16" : "float32";
}

DecodeInt8 decodeInt8() {
  const char* kernel = int8::amxAvailable() ? "amx" : int8::vnniAvailable() ? "vnni" : "none";
  const char* env = std::getenv("MEDTUNE_DECODE_INT8");
  const bool told = env && (std::string(env) == "0" || std::string(env) == "1");
  return {kernel, !told && int8Mode() == Int8::amx};
}

mx::array cpuDecodeMatmul(const Linear& lin, const mx::array& x, bool int8Wanted) {
  std::vector<mx::array> keep;
  auto w = view(lin, keep);
  if (!w) throw std::invalid_argument("cpuDecodeMatmul: unsupported weight layout");
  const Int8 int8 = !int8Wanted             ? Int8::off
                    : int8::amxAvailable()  ? Int8::amx
                    : int8::vnniAvailable() ? Int8::vnni
                                            : Int8::off;
  int8::TiledScales tiled;
  if (int8 != Int8::off && w->q) {
    tiled = int8::tileScales(w->scales, w->out);
    w->tiled = &tiled;
  }
  const int M = static_cast<int>(x.size() / lin.inDim);
  const float* xp = pointer<float>(x, mx::float32, keep);
  std::vector<float> y(static_cast<size_t>(M) * lin.outDim);
  {
    std::lock_guard<std::mutex> lock(poolLock());
    project({&*w}, xp, M, {y.data()}, int8);
  }
  return mx::array(y.data(), {M, lin.outDim}, mx::float32);
}

}  // namespace medtune
