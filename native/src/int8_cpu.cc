// See int8_cpu.h. Several positions run on the AMX tiles, with one tile configuration:
//   0, 1: C, 16 weight rows x 16 positions (int32); 2, 3: A, 16 rows x 32 codes (one block);
//   4, 5: B, 8 x 64 bytes (one block of 16 positions).
// Two sets, so block k + 1's product runs while block k's sums are scaled. One position (a batch-1
// decode step, which streams the weights from memory once) runs on AVX-512 VNNI: each row's block
// sums come from vpdpbusd and a reduction across 16 rows; integer sums are exact in any order, so
// the float steps that follow are the tiles' own.
#include "int8_cpu.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "amx_tiles.h"

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MEDTUNE_NO_SIMD)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define MEDTUNE_AMX 1
#define MEDTUNE_AMX_FN \
  __attribute__((      \
      target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,f16c,amx-tile,amx-int8")))
#endif

namespace medtune::int8 {

bool vnniAvailable() {
#if defined(MEDTUNE_AMX)
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("f16c") &&
                          __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

bool amxAvailable() {
#if defined(MEDTUNE_AMX)
  static const bool yes = [] {
    if (!vnniAvailable()) return false;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!(d & (1u << 24)) || !(d & (1u << 25))) return false;  // AMX-TILE, AMX-INT8
    // Linux hands out the 8 KiB tile state only on request (ARCH_REQ_XCOMP_PERM, XTILEDATA).
    constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return yes;
#else
  return false;
#endif
}

TiledScales tileScales(const GroupScales& g, int out) {
  TiledScales t;
  t.groups = g.groups;
  t.bits = g.bits;
  const size_t n = static_cast<size_t>((out + 15) / 16) * g.groups * 16;
  auto place = [&](const auto* src, auto& dst) {
    dst.assign(n, 0);
    for (int o = 0; o < out; ++o)
      for (int j = 0; j < g.groups; ++j)
        dst[(static_cast<size_t>(o / 16) * g.groups + j) * 16 + o % 16] =
            src[static_cast<size_t>(o) * g.groups + j];
  };
  if (g.s32) {
    place(g.s32, t.s32);
  } else {
    place(g.s16, t.s16);
  }
  if (g.b32) {
    place(g.b32, t.b32);
  } else if (g.b16) {
    place(g.b16, t.b16);
  }
  return t;
}

#if defined(MEDTUNE_AMX)

namespace {

constexpr int kBlock = 32;       // x values per int8 scale: the depth of one tile product
constexpr int kTile = 16;        // weight rows, and positions, per tile
constexpr int kBBytes = 8 * 64;  // one block's B operand for 16 positions

MEDTUNE_AMX_FN void configureTiles() {
  static const AmxTileConfig cfg = [] {
    AmxTileConfig c;
    const int shape[6][2] = {{16, 64}, {16, 64}, {16, 32}, {16, 32}, {8, 64}, {8, 64}};
    for (int t = 0; t < 6; ++t) {
      c.rows[t] = static_cast<uint8_t>(shape[t][0]);
      c.colsb[t] = static_cast<uint16_t>(shape[t][1]);
    }
    return c;
  }();
  _tile_loadconfig(&cfg);
}

// The codes of rows [o0, o0 + count) as bytes, (16, in), rows past count zero. 4-bit: each block's
// 16 packed bytes become [their low nibbles | their high nibbles] (values 0, 2, ..., 30 then 1, 3,
// ..., 31, the order quantize() gives x). Rows up to `ahead` are prefetched one tile early.
MEDTUNE_AMX_FN void unpackRows(const Weight& w, int o0, int count, int ahead, uint8_t* dst) {
  const size_t rowBytes = static_cast<size_t>(w.in) * w.bits / 8;
  const uint8_t* base = reinterpret_cast<const uint8_t*>(w.q);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i first = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  const __m512i second = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  for (int r = 0; r < kTile; ++r) {
    uint8_t* d = dst + static_cast<size_t>(r) * w.in;
    if (r >= count) {
      std::memset(d, 0, w.in);
      continue;
    }
    if (o0 + r + kTile < ahead) {  // the hardware prefetcher stops at page boundaries
      const uint8_t* next = base + static_cast<size_t>(o0 + r + kTile) * rowBytes;
      for (size_t i = 0; i < rowBytes; i += 64) _mm_prefetch(next + i, _MM_HINT_T0);
    }
    const uint8_t* src = base + static_cast<size_t>(o0 + r) * rowBytes;
    if (w.bits == 8) {
      std::memcpy(d, src, w.in);
      continue;
    }
    size_t i = 0;  // packed bytes
    for (; i + 64 <= rowBytes; i += 64) {
      const __m512i v = _mm512_loadu_si512(src + i);
      const __m512i lo = _mm512_and_si512(v, low4);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      _mm512_storeu_si512(d + 2 * i, _mm512_permutex2var_epi64(lo, first, hi));
      _mm512_storeu_si512(d + 2 * i + 64, _mm512_permutex2var_epi64(lo, second, hi));
    }
    for (; i < rowBytes; i += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
      const __m128i m = _mm_set1_epi8(0x0F);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 2 * i), _mm_and_si128(v, m));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 2 * i + 16),
                       _mm_and_si128(_mm_srli_epi16(v, 4), m));
    }
  }
}

// Scales (or biases) of group g for the 16 rows of tile t, as float32.
MEDTUNE_AMX_FN inline __m512 tiledScales(const TiledScales& ts, size_t t, int g) {
  const size_t at = (t * ts.groups + g) * 16;
  if (!ts.s32.empty()) return _mm512_loadu_ps(ts.s32.data() + at);
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ts.s16.data() + at)));
}
MEDTUNE_AMX_FN inline __m512 tiledBiases(const TiledScales& ts, size_t t, int g) {
  const size_t at = (t * ts.groups + g) * 16;
  if (!ts.b32.empty()) return _mm512_loadu_ps(ts.b32.data() + at);
  if (!ts.b16.empty())
    return _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ts.b16.data() + at)));
  return _mm512_mul_ps(tiledScales(ts, t, g),
                       _mm512_set1_ps(-static_cast<float>(1u << (ts.bits - 1))));
}

// Row r's codes of blocks k, k + 1 as 64 bytes whose 128-bit lanes hold blocks k, k + 1, k, k + 1:
// 4-bit [k's even values | k + 1's even | k's odd | k + 1's odd] (low, then high nibbles), 8-bit
// [k 0-15 | k + 1 0-15 | k 16-31 | k + 1 16-31]; a lone last block reads no further than its row.
template <int Bits, bool Lone>
MEDTUNE_AMX_FN inline __m512i pairCodes(const uint8_t* row, int k) {
  if constexpr (Bits == 4) {
    const __m256i v = Lone ? _mm256_maskz_loadu_epi8(0xffff, row + 16 * k)
                           : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 16 * k));
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, low4)),
                              _mm256_and_si256(_mm256_srli_epi16(v, 4), low4), 1);
  } else {
    const __m512i v = Lone ? _mm512_maskz_loadu_epi8(0xffffffffull, row + 32 * k)
                           : _mm512_loadu_si512(row + 32 * k);
    return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 4, 5, 2, 3, 6, 7), v);
  }
}

// The 16 rows' partial sums for blocks k, k + 1 (see blockSums).
template <int Bits, bool Lone>
MEDTUNE_AMX_FN inline void pairProducts(const uint8_t* const* rows, int k, __m512i xv,
                                        __m512i d[16]) {
#pragma GCC unroll 16
  for (int r = 0; r < 16; ++r)
    d[r] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), pairCodes<Bits, Lone>(rows[r], k), xv);
}

// Per 128-bit lane [a0 + a1, a2 + a3, b0 + b1, b2 + b3] (int32).
MEDTUNE_AMX_FN inline __m512i pairSums(__m512i a, __m512i b) {
  const __m512 x = _mm512_castsi512_ps(a), y = _mm512_castsi512_ps(b);
  return _mm512_add_epi32(_mm512_castps_si512(_mm512_shuffle_ps(x, y, 0x88)),
                          _mm512_castps_si512(_mm512_shuffle_ps(x, y, 0xdd)));
}

// d[r] (16 int32 lanes of row r: its 128-bit lanes are partial sums of blocks k, k + 1, k, k + 1)
// -> the blocks' exact sums for the 16 rows: *k0 = block k, *k1 = block k + 1.
MEDTUNE_AMX_FN inline void blockSums(const __m512i d[16], __m512i* k0, __m512i* k1) {
  __m512i l1[8], l2[4], l3[2];
  // l1[i], 128-bit lanes: (row 2i, k), (2i, k+1), (2i+1, k), (2i+1, k+1), four partials each.
  for (int i = 0; i < 8; ++i) {
    l1[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(d[2 * i], d[2 * i + 1], 0x44),
                             _mm512_shuffle_i32x4(d[2 * i], d[2 * i + 1], 0xee));
  }
  for (int i = 0; i < 4; ++i) l2[i] = pairSums(l1[2 * i], l1[2 * i + 1]);
  // l3[h], lane j: element e is l1[4h + e]'s lane j, whole.
  for (int h = 0; h < 2; ++h) l3[h] = pairSums(l2[2 * h], l2[2 * h + 1]);
  const __m512i even = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 16, 24, 17, 25, 18, 26, 19, 27);
  const __m512i odd = _mm512_setr_epi32(4, 12, 5, 13, 6, 14, 7, 15, 20, 28, 21, 29, 22, 30, 23, 31);
  *k0 = _mm512_permutex2var_epi32(l3[0], even, l3[1]);
  *k1 = _mm512_permutex2var_epi32(l3[0], odd, l3[1]);
}

// One position (M = 1): vectors across 16 rows.
template <int Bits>
MEDTUNE_AMX_FN void rowsOne(const Weight& w, const QuantizedX& x, float* y, int o0, int o1) {
  const int blocks = w.in / kBlock, groups = w.in / w.group, perGroup = w.group / kBlock;
  const size_t rowBytes = static_cast<size_t>(w.in) * Bits / 8;
  const uint8_t* base = reinterpret_cast<const uint8_t*>(w.q);
  thread_local std::vector<uint8_t> zeros;  // the rows past the weight's last
  if (zeros.size() < rowBytes) zeros.assign(rowBytes, 0);
  for (int o = o0 / kTile * kTile; o < o1; o += kTile) {  // the weight's tiles of 16 rows
    const size_t tile = o / kTile;
    const int lo = std::max(o, o0) - o, hi = std::min(o + kTile, o1) - o;  // rows to write
    const uint8_t* rows[kTile];
    for (int r = 0; r < kTile; ++r)
      rows[r] = o + r < w.out ? base + (o + r) * rowBytes : zeros.data();
    // The next tile's rows (contiguous) are requested a few lines per pair of blocks, spread over
    // this tile's work: all at once, the requests would stall on the core's few fill buffers.
    const uint8_t* next = base + (o + kTile) * rowBytes;
    const size_t nextLines =
        o + kTile < o1 ? (std::min(kTile, o1 - o - kTile) * rowBytes + 63) / 64 : 0;
    const size_t linesPerPair = (nextLines + (blocks + 1) / 2 - 1) / ((blocks + 1) / 2);
    size_t line = 0;
    __m512 acc = _mm512_setzero_ps();
    for (int k = 0; k < blocks; k += 2) {
      for (size_t e = std::min(nextLines, line + linesPerPair); line < e; ++line)
        _mm_prefetch(reinterpret_cast<const char*>(next) + 64 * line, _MM_HINT_T0);
      const bool lone = k + 1 == blocks;
      const __m512i xv = _mm512_loadu_si512(x.b.data() + 64 * (k / 2));
      __m512i d[16], sums[2];
      if (lone) {
        pairProducts<Bits, true>(rows, k, xv, d);
      } else {
        pairProducts<Bits, false>(rows, k, xv, d);
      }
      blockSums(d, &sums[0], &sums[1]);
      for (int j = 0; j < (lone ? 1 : 2); ++j) {
        const __m512 scale =
            _mm512_mul_ps(tiledScales(*w.scales, tile, (k + j) / perGroup),
                          _mm512_set1_ps(x.scale[static_cast<size_t>(k + j) * kTile]));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[j]), scale, acc);
      }
    }
    for (int g = 0; g < groups; ++g) {
      acc = _mm512_fmadd_ps(tiledBiases(*w.scales, tile, g),
                            _mm512_set1_ps(x.sums[static_cast<size_t>(g) * kTile]), acc);
    }
    _mm512_mask_storeu_ps(y + o, static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1)), acc);
  }
}

// Block k's codes of 16 weight rows (rows[r]: row r's packed bytes) as 16 rows of 32 bytes in
// turn, in unpackRows' order of values: the A operand of the block's tile product, contiguous.
template <int Bits>
MEDTUNE_AMX_FN inline void unpackBlock(const uint8_t* const* rows, int k, uint8_t* dst) {
  if constexpr (Bits == 4) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i first = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
    const __m512i second = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    auto packed = [&](int r) {
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[r] + 16 * k));
    };
#pragma GCC unroll 4
    for (int r = 0; r < kTile; r += 4) {  // four rows' 16 packed bytes, a 128-bit lane each
      __m512i v = _mm512_castsi128_si512(packed(r));
      v = _mm512_inserti32x4(v, packed(r + 1), 1);
      v = _mm512_inserti32x4(v, packed(r + 2), 2);
      v = _mm512_inserti32x4(v, packed(r + 3), 3);
      const __m512i lo = _mm512_and_si512(v, low4);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      _mm512_store_si512(dst + kBlock * r, _mm512_permutex2var_epi64(lo, first, hi));
      _mm512_store_si512(dst + kBlock * r + 64, _mm512_permutex2var_epi64(lo, second, hi));
    }
  } else {
#pragma GCC unroll 16
    for (int r = 0; r < kTile; ++r)
      _mm256_store_si256(
          reinterpret_cast<__m256i*>(dst + kBlock * r),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[r] + kBlock * k)));
  }
}

// 16 weight rows (weight tile `tile`) times 16 positions (xb, xs, sums: their tile of x): block
// k's product goes to tile set k % 2 from the codes at codes(k) (rows lda bytes apart); its sums
// are stored to memory as block k + 1's product is issued and read back one block later, when
// the tile stores have landed (5-7% less time than reading them at once). before(k) runs first
// in block k's turn. Then the biases; out (16 rows x 16 positions) gets the sums.
template <typename Codes, typename Before>
MEDTUNE_AMX_FN inline void tileProducts(const Weight& w, size_t tile, const int8_t* xb,
                                        const float* xs, const float* sums, Codes codes, int lda,
                                        Before before, float* out) {
  const int blocks = w.in / kBlock, groups = w.in / w.group, perGroup = w.group / kBlock;
  alignas(64) int32_t c[2][kTile * kTile];
  alignas(64) float row[kTile];
  __m512 acc[kTile];
  for (int r = 0; r < kTile; ++r) acc[r] = _mm512_setzero_ps();
  auto issue = [&](int k) MEDTUNE_AMX_FN {
    const uint8_t* a = codes(k);
    const int8_t* b = xb + static_cast<size_t>(k) * kBBytes;
    if (k % 2 == 0) {
      _tile_zero(0);
      _tile_loadd(2, a, lda);
      _tile_loadd(4, b, 64);
      _tile_dpbusd(0, 2, 4);
    } else {
      _tile_zero(1);
      _tile_loadd(3, a, lda);
      _tile_loadd(5, b, 64);
      _tile_dpbusd(1, 3, 5);
    }
  };
  auto readOut = [&](int k) MEDTUNE_AMX_FN {
    const int32_t* ck = c[k % 2];
    const __m512 sx = _mm512_loadu_ps(xs + static_cast<size_t>(k) * kTile);
    _mm512_store_ps(row, tiledScales(*w.scales, tile, k / perGroup));
#pragma GCC unroll 16
    for (int r = 0; r < kTile; ++r) {
      const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(row[r]), sx);
      acc[r] =
          _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(ck + kTile * r)), scale, acc[r]);
    }
  };
  issue(0);
  for (int k = 0; k < blocks; ++k) {
    before(k);
    if (k % 2 == 0) {
      _tile_stored(0, c[0], 64);
    } else {
      _tile_stored(1, c[1], 64);
    }
    if (k + 1 < blocks) issue(k + 1);
    if (k > 0) readOut(k - 1);
  }
  readOut(blocks - 1);
  for (int g = 0; g < groups; ++g) {
    const __m512 sum = _mm512_loadu_ps(sums + static_cast<size_t>(g) * kTile);
    _mm512_store_ps(row, tiledBiases(*w.scales, tile, g));
#pragma GCC unroll 16
    for (int r = 0; r < kTile; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(row[r]), sum, acc[r]);
  }
  for (int r = 0; r < kTile; ++r) _mm512_store_ps(out + kTile * r, acc[r]);
}

// out's rows [lo, hi) (weight rows o + lo ..) for its first `positions` positions (from m0) into y.
inline void storeTile(const float* out, int positions, int m0, int o, int lo, int hi, float* y,
                      int ldy) {
  for (int n = 0; n < positions; ++n) {
    float* dst = y + static_cast<size_t>(m0 + n) * ldy + o;
    for (int r = lo; r < hi; ++r) dst[r] = out[kTile * r + n];
  }
}

// Up to 16 positions (a batched decode step), where each block's codes serve one tile product:
// they are unpacked into a small ring two blocks ahead of it (the tile load then reads 8 whole
// lines, not 16 half-used ones), and the next weight tile's rows are requested a few lines per
// block. Against unpacking whole rows first (rowsMany), on weights streamed from memory: about 10%
// less time for 576 -> 3072 at 4 bits, 20% for the 8-bit 576 -> 49,152 head (microbenchmark).
template <int Bits>
MEDTUNE_AMX_FN void rowsFew(const Weight& w, const QuantizedX& x, float* y, int ldy, int o0,
                            int o1) {
  const int blocks = w.in / kBlock;
  const size_t rowBytes = static_cast<size_t>(w.in) * Bits / 8;
  const uint8_t* base = reinterpret_cast<const uint8_t*>(w.q);
  thread_local std::vector<uint8_t> zeros;  // the rows past the weight's last
  if (zeros.size() < rowBytes) zeros.assign(rowBytes, 0);
  constexpr int kRing = 4;  // block k + 2 is unpacked while k + 1's product is issued
  alignas(64) uint8_t ring[kRing][kTile * kBlock];
  alignas(64) float out[kTile * kTile];
  for (int o = o0 / kTile * kTile; o < o1; o += kTile) {  // the weight's tiles of 16 rows
    const uint8_t* rows[kTile];
    for (int r = 0; r < kTile; ++r)
      rows[r] = o + r < w.out ? base + (o + r) * rowBytes : zeros.data();
    const char* next = reinterpret_cast<const char*>(base + (o + kTile) * rowBytes);
    const size_t nextLines =
        o + kTile < o1 ? (std::min(kTile, o1 - o - kTile) * rowBytes + 63) / 64 : 0;
    const size_t perBlock = (nextLines + blocks - 1) / blocks;
    size_t line = 0;
    // 8-bit codes are the A operand as stored: a whole tile of rows is read in place.
    const bool inPlace = Bits == 8 && o + kTile <= w.out;
    if (!inPlace)
      for (int k = 0; k < std::min(2, blocks); ++k) unpackBlock<Bits>(rows, k, ring[k]);
    auto before = [&](int k) MEDTUNE_AMX_FN {
      for (size_t e = std::min(nextLines, line + perBlock); line < e; ++line)
        _mm_prefetch(next + 64 * line, _MM_HINT_T0);
      if (!inPlace && k + 2 < blocks) unpackBlock<Bits>(rows, k + 2, ring[(k + 2) % kRing]);
    };
    if (inPlace) {
      tileProducts(
          w, o / kTile, x.b.data(), x.scale.data(), x.sums.data(),
          [&](int k) MEDTUNE_AMX_FN { return rows[0] + kBlock * k; }, static_cast<int>(rowBytes),
          before, out);
    } else {
      tileProducts(
          w, o / kTile, x.b.data(), x.scale.data(), x.sums.data(),
          [&](int k) MEDTUNE_AMX_FN { return ring[k % kRing]; }, kBlock, before, out);
    }
    storeTile(out, x.M, 0, o, std::max(o, o0) - o, std::min(o + kTile, o1) - o, y, ldy);
  }
}

// More positions (a prompt chunk): a weight tile's rows are unpacked once into a buffer and serve
// every tile of 16 positions.
MEDTUNE_AMX_FN void rowsMany(const Weight& w, const QuantizedX& x, float* y, int ldy, int o0,
                             int o1) {
  const int blocks = w.in / kBlock, groups = w.in / w.group;
  const int tiles = (x.M + kTile - 1) / kTile;
  thread_local std::vector<uint8_t> codes;
  codes.resize(static_cast<size_t>(kTile) * w.in);
  alignas(64) float out[kTile * kTile];
  for (int o = o0 / kTile * kTile; o < o1; o += kTile) {  // the weight's tiles of 16 rows
    unpackRows(w, o, std::min(kTile, w.out - o), o1, codes.data());
    for (int t = 0; t < tiles; ++t) {
      tileProducts(
          w, o / kTile, x.b.data() + static_cast<size_t>(t) * blocks * kBBytes,
          x.scale.data() + static_cast<size_t>(t) * blocks * kTile,
          x.sums.data() + static_cast<size_t>(t) * groups * kTile,
          [&](int k) MEDTUNE_AMX_FN { return codes.data() + kBlock * k; }, w.in,
          [](int) MEDTUNE_AMX_FN {}, out);
      storeTile(out, std::min(kTile, x.M - kTile * t), kTile * t, o, std::max(o, o0) - o,
                std::min(o + kTile, o1) - o, y, ldy);
    }
  }
}

}  // namespace

void prepare(int M, int in, int bits, int group, QuantizedX& out) {
  if (!vnniAvailable()) throw std::logic_error("int8::prepare: no AVX-512 VNNI on this CPU");
  const int blocks = in / kBlock, groups = in / group, tiles = (M + kTile - 1) / kTile;
  out.M = M;
  out.in = in;
  out.bits = bits;
  out.group = group;
  out.b.assign(M == 1 ? static_cast<size_t>(blocks + 1) / 2 * 64
                      : static_cast<size_t>(tiles) * blocks * kBBytes,
               0);
  out.scale.assign(static_cast<size_t>(tiles) * blocks * kTile, 0.0f);
  out.sums.assign(static_cast<size_t>(tiles) * groups * kTile, 0.0f);
}

MEDTUNE_AMX_FN void quantizeBlocks(const float* x, int k0, int k1, QuantizedX& out) {
  const int in = out.in, group = out.group, bits = out.bits;
  const int blocks = in / kBlock, groups = in / group;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  alignas(16) int8_t q[kBlock];
  for (int m = 0; m < out.M; ++m) {
    const int t = m / kTile, n = m % kTile;
    const float* xm = x + static_cast<size_t>(m) * in;
    for (int k = k0; k < k1; ++k) {
      const __m512 a = _mm512_loadu_ps(xm + kBlock * k), c = _mm512_loadu_ps(xm + kBlock * k + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(c)));
      const size_t at = static_cast<size_t>(t) * blocks + k;
      out.scale[at * kTile + n] = amax / 127.0f;
      out.sums[(static_cast<size_t>(t) * groups + kBlock * k / group) * kTile + n] +=
          _mm512_reduce_add_ps(_mm512_add_ps(a, c));
      const __m512 first = bits == 4 ? _mm512_permutex2var_ps(a, even, c) : a;
      const __m512 second = bits == 4 ? _mm512_permutex2var_ps(a, odd, c) : c;
      const __m512 inv = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
      _mm_store_si128(reinterpret_cast<__m128i*>(q),
                      _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(first, inv))));
      _mm_store_si128(reinterpret_cast<__m128i*>(q + 16),
                      _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(second, inv))));
      if (out.M == 1) {  // 64 bytes per pair of blocks, in pairCodes' order
        int8_t* dst = out.b.data() + 64 * (k / 2) + 16 * (k % 2);
        std::memcpy(dst, q, 16);
        std::memcpy(dst + 32, q + 16, 16);
        continue;
      }
      int8_t* dst = out.b.data() + at * kBBytes + 4 * n;
      for (int r = 0; r < 8; ++r) std::memcpy(dst + 64 * r, q + 4 * r, 4);
    }
  }
}

void quantize(const float* x, int M, int in, int bits, int group, QuantizedX& out) {
  prepare(M, in, bits, group, out);
  quantizeBlocks(x, 0, in / kBlock, out);
}

MEDTUNE_AMX_FN void rows(const Weight& w, const QuantizedX& x, float* y, int ldy, int o0, int o1) {
  if (o0 >= o1 || x.M <= 0) return;
  if (x.M == 1) {
    if (!vnniAvailable()) throw std::logic_error("int8::rows: no AVX-512 VNNI on this CPU");
    return w.bits == 4 ? rowsOne<4>(w, x, y, o0, o1) : rowsOne<8>(w, x, y, o0, o1);
  }
  if (!amxAvailable()) throw std::logic_error("int8::rows: no AMX tiles on this CPU or OS");
  configureTiles();
  if (x.M <= kTile)
    return w.bits == 4 ? rowsFew<4>(w, x, y, ldy, o0, o1) : rowsFew<8>(w, x, y, ldy, o0, o1);
  rowsMany(w, x, y, ldy, o0, o1);
}

#else

// vnniAvailable() and amxAvailable() are false here: callers never get this far.
void prepare(int, int, int, int, QuantizedX&) {
  throw std::logic_error("int8::prepare: built without AMX");
}
void quantizeBlocks(const float*, int, int, QuantizedX&) {
  throw std::logic_error("int8::quantizeBlocks: built without AMX");
}
void quantize(const float*, int, int, int, int, QuantizedX&) {
  throw std::logic_error("int8::quantize: built without AMX");
}
void rows(const Weight&, const QuantizedX&, float*, int, int, int) {
  throw std::logic_error("int8::rows: built without AMX");
}

#endif

}  // namespace medtune::int8
