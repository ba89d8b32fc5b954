// See bf16_amx.h. One tile configuration: eight tiles of 16 rows x 64 bytes. Tiles 0-3 accumulate
// a 2 x 2 block of float32 outputs (32 x 32), 4-5 hold two A operands (16 rows x 32 bfloat16
// values) and 6-7 two B operands (16 pairs of depth x 16 columns, the pairs interleaved: row r,
// column j holds depth 2r and 2r + 1 of column j, the layout tdpbf16ps reads).
//   forward  y = x W^T: A = 16 weight rows as they are (row-major bfloat16), B = 16 positions of
//            x, made once per product; the outputs come out as y^T and are transposed on store.
//   backward dx = g W: A = 16 rows of g as they are, B = 16 input columns of two weight rows,
//            interleaved; the outputs come out as dx.
// So neither direction transposes a weight block: the forward transposes x and y once each, the
// backward only interleaves two dequantized rows.
#include "bf16_amx.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "amx_tiles.h"
#include "int8_cpu.h"
#include "thread_pool.h"

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MEDTUNE_NO_SIMD)
#include <cpuid.h>
#include <immintrin.h>
#define MEDTUNE_BF16_AMX 1
#define MEDTUNE_BF16_FN                                                         \
  __attribute__((                                                               \
      target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,f16c,amx-tile," \
             "amx-bf16")))
#endif

namespace medtune::bf16 {

bool amxAvailable() {
#if defined(MEDTUNE_BF16_AMX)
  static const bool yes = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 22))) return false;  // AMX-BF16
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a & (1u << 5))) return false;   // AVX512-BF16
    return int8::amxAvailable();  // AMX-TILE, and the OS's grant of the tile state
  }();
  return yes;
#else
  return false;
#endif
}

bool supports(const PackedWeight& w) {
  return w.q && (w.bits == 4 || w.bits == 8) && w.in > 0 && w.out > 0 && w.in % 32 == 0 &&
         w.out % 32 == 0 && w.group > 0 && w.group % 32 == 0 && w.in % w.group == 0;
}

#if defined(MEDTUNE_BF16_AMX)

namespace {

constexpr int kTile = 16;         // rows of a tile; columns of an output tile
constexpr int kDepth = 32;        // bfloat16 values per A row: the depth of one tile product
constexpr int kTileValues = 512;  // bfloat16 values in one A or B tile (1 KiB)
constexpr int kBlock = 64;        // weight rows (forward) or input columns (backward) per task
// Backward depth per panel: 64 columns x 512 x 2 B = 64 KiB, 32 KiB per pair of column tiles.
constexpr int kPanelDepth = 512;

MEDTUNE_BF16_FN void configureTiles() {
  static const AmxTileConfig cfg = [] {
    AmxTileConfig c;
    for (int t = 0; t < 8; ++t) {
      c.rows[t] = kTile;
      c.colsb[t] = 64;
    }
    return c;
  }();
  _tile_loadconfig(&cfg);
}

// 32 float32 values (lo: 0-15, hi: 16-31) rounded to bfloat16 (to nearest even), in order.
MEDTUNE_BF16_FN inline __m512i toBf16(__m512 lo, __m512 hi) {
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
}

// Values [c, c + 32) of weight row o as bfloat16 (c a multiple of 32: one group's scale and bias).
MEDTUNE_BF16_FN inline __m512i weights32(const PackedWeight& w, int o, int c) {
  const size_t rowBytes = static_cast<size_t>(w.in) * w.bits / 8;
  const uint8_t* p = reinterpret_cast<const uint8_t*>(w.q) + static_cast<size_t>(o) * rowBytes +
                     static_cast<size_t>(c) * w.bits / 8;
  const GroupScales& g = w.scales;
  const size_t at = static_cast<size_t>(o) * g.groups + c / w.group;
  const float s = g.s32 ? g.s32[at] : _cvtsh_ss(g.s16[at]);
  const float b = g.b32   ? g.b32[at]
                  : g.b16 ? _cvtsh_ss(g.b16[at])
                          : s * -static_cast<float>(1u << (g.bits - 1));  // implicit biases
  __m512 v0, v1;
  dequant32Avx512(p, w.bits, _mm512_set1_ps(s), _mm512_set1_ps(b), &v0, &v1);
  return toBf16(v0, v1);
}

// r[i] element j <- r[j] element i (16 x 16 32-bit values): at each scale b = 8, 4, 2, 1 the
// off-diagonal b x b blocks of every 2b x 2b block trade places.
MEDTUNE_BF16_FN inline void transpose16(__m512i r[16]) {
  static const auto idx = [] {
    struct {
      alignas(64) int32_t keep[4][16];   // row i (bit b clear): its own j, the partner's j ^ b
      alignas(64) int32_t trade[4][16];  // row i | b: the partner's j ^ b, its own j
    } t;
    for (int s = 0; s < 4; ++s) {
      const int b = 8 >> s;
      for (int j = 0; j < 16; ++j) {
        t.keep[s][j] = (j & b) ? 16 + (j ^ b) : j;
        t.trade[s][j] = (j & b) ? 16 + j : (j ^ b);
      }
    }
    return t;
  }();
  // Unrolled whole, so r[] stays in registers (a loop here kept it on the stack).
#pragma GCC unroll 4
  for (int s = 0; s < 4; ++s) {
    const int b = 8 >> s;
    const __m512i keep = _mm512_load_si512(idx.keep[s]), trade = _mm512_load_si512(idx.trade[s]);
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) {
      if (i & b) continue;
      const __m512i a = r[i], c = r[i | b];
      r[i] = _mm512_permutex2var_epi32(a, keep, c);
      r[i | b] = _mm512_permutex2var_epi32(a, trade, c);
    }
  }
}

// C tiles 0-3 += the 2 x 2 products of A rows a0, a1 (16 rows each, aStride bytes apart, 32 values
// per depth block) with B tiles b0, b1 (1 KiB per depth block), over `blocks` depth blocks:
// tile 0 = (a0, b0), 1 = (a0, b1), 2 = (a1, b0), 3 = (a1, b1).
MEDTUNE_BF16_FN inline void products2x2(const uint16_t* a0, const uint16_t* a1, int aStride,
                                        const uint16_t* b0, const uint16_t* b1, int blocks) {
  for (int k = 0; k < blocks; ++k) {
    _tile_loadd(4, a0 + kDepth * k, aStride);
    _tile_loadd(5, a1 + kDepth * k, aStride);
    _tile_loadd(6, b0 + static_cast<size_t>(k) * kTileValues, 64);
    _tile_loadd(7, b1 + static_cast<size_t>(k) * kTileValues, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
}

// Position tiles [t0, t1) of x (M, in) as B operands: tile t, depth block k at
// dst + (t * blocks + k) * 512; row r holds values 2r, 2r + 1 of the block for each of positions
// 16t..16t+15 in turn (zeros past M).
MEDTUNE_BF16_FN void packPositions(const float* x, int M, int in, int t0, int t1, uint16_t* dst) {
  const int blocks = in / kDepth;
  for (int t = t0; t < t1; ++t) {
    for (int k = 0; k < blocks; ++k) {
      __m512i r[kTile];
#pragma GCC unroll 16
      for (int p = 0; p < kTile; ++p) {
        const int m = kTile * t + p;
        const float* src = x + static_cast<size_t>(m) * in + kDepth * k;
        r[p] = m < M ? toBf16(_mm512_loadu_ps(src), _mm512_loadu_ps(src + 16))
                     : _mm512_setzero_si512();
      }
      transpose16(r);
      uint16_t* d = dst + (static_cast<size_t>(t) * blocks + k) * kTileValues;
#pragma GCC unroll 16
      for (int j = 0; j < kTile; ++j) _mm512_storeu_si512(d + 2 * kTile * j, r[j]);
    }
  }
}

// Rows [m0, m1) of a (M, K) as bfloat16 rows of dst (K each); rows past M zero.
MEDTUNE_BF16_FN void packRows(const float* a, int M, int K, int m0, int m1, uint16_t* dst) {
  for (int m = m0; m < m1; ++m) {
    uint16_t* d = dst + static_cast<size_t>(m) * K;
    const float* src = a + static_cast<size_t>(m) * K;
    for (int k = 0; k < K; k += kDepth) {
      _mm512_storeu_si512(d + k,
                          m < M ? toBf16(_mm512_loadu_ps(src + k), _mm512_loadu_ps(src + k + 16))
                                : _mm512_setzero_si512());
    }
  }
}

// Weight rows [o0, o1) times position tiles [t0, t1) (t1 - t0 even, tiles packed by
// packPositions) into y (M, out).
MEDTUNE_BF16_FN void forwardTask(const PackedWeight& w, const uint16_t* xb, int M, float* y, int o0,
                                 int o1, int t0, int t1) {
  const int blocks = w.in / kDepth;
  thread_local std::vector<uint16_t> rows;  // (o1 - o0, in) bfloat16
  rows.resize(static_cast<size_t>(o1 - o0) * w.in);
  for (int o = o0; o < o1; ++o) {
    uint16_t* d = rows.data() + static_cast<size_t>(o - o0) * w.in;
    for (int k = 0; k < blocks; ++k)
      _mm512_storeu_si512(d + kDepth * k, weights32(w, o, kDepth * k));
  }
  configureTiles();
  const int stride = w.in * 2;
  alignas(64) float c[4][kTile * kTile];
  // Weight rows outer: a pair of row tiles (32 x in bfloat16, 36 KiB at in = 576) stays in L1
  // while the positions stream past.
  for (int o = o0; o < o1; o += 2 * kTile) {
    const uint16_t* a0 = rows.data() + static_cast<size_t>(o - o0) * w.in;
    const uint16_t* a1 = a0 + static_cast<size_t>(kTile) * w.in;
    for (int t = t0; t < t1; t += 2) {
      const uint16_t* b0 = xb + static_cast<size_t>(t) * blocks * kTileValues;
      const uint16_t* b1 = b0 + static_cast<size_t>(blocks) * kTileValues;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      products2x2(a0, a1, stride, b0, b1, blocks);
      _tile_stored(0, c[0], 64);
      _tile_stored(1, c[1], 64);
      _tile_stored(2, c[2], 64);
      _tile_stored(3, c[3], 64);
      // c[q] (i, j): weight row o + 16 (q / 2) + i, position 16 (t + q % 2) + j.
      for (int q = 0; q < 4; ++q) {
        __m512i r[kTile];
#pragma GCC unroll 16
        for (int i = 0; i < kTile; ++i) r[i] = _mm512_load_si512(c[q] + kTile * i);
        transpose16(r);
        const int m0 = kTile * (t + q % 2), col = o + kTile * (q / 2);
        for (int j = 0; j < kTile && m0 + j < M; ++j)
          _mm512_storeu_si512(y + static_cast<size_t>(m0 + j) * w.out + col, r[j]);
      }
    }
  }
}

// Input columns [c0, c1) of dx for the 32-row blocks [b0, b1) of gb ((M rounded up to 32, out)
// bfloat16, from packRows). Rows of the block past the last whole one go to tail (32, in).
MEDTUNE_BF16_FN void transposedTask(const PackedWeight& w, const uint16_t* gb, int M, float* dx,
                                    float* tail, int c0, int c1, int b0, int b1) {
  const int K = w.out, tiles = (c1 - c0) / kTile, whole = M / (2 * kTile) * (2 * kTile);
  const int kSpan = std::min(K, kPanelDepth);
  thread_local std::vector<uint16_t> panel;
  panel.resize(static_cast<size_t>(tiles) * (kSpan / kDepth) * kTileValues);
  static const auto interleave = [] {
    struct {
      alignas(64) int16_t first[32], second[32];  // (lo[j], hi[j]) for j = 0..15, then 16..31
    } t;
    for (int j = 0; j < 32; ++j) {
      t.first[j] = static_cast<int16_t>((j & 1) * 32 + j / 2);
      t.second[j] = static_cast<int16_t>((j & 1) * 32 + 16 + j / 2);
    }
    return t;
  }();
  const __m512i first = _mm512_load_si512(interleave.first);
  const __m512i second = _mm512_load_si512(interleave.second);
  for (int k0 = 0; k0 < K; k0 += kSpan) {
    const int kBlocks = std::min(kSpan, K - k0) / kDepth;
    // Pair p of weight rows (k0 + 2p, k0 + 2p + 1) is row p % 16 of depth block p / 16.
    for (int p = 0; p < kBlocks * kTile; ++p) {
      for (int c = c0; c < c1; c += 2 * kTile) {
        const __m512i lo = weights32(w, k0 + 2 * p, c), hi = weights32(w, k0 + 2 * p + 1, c);
        const int t = (c - c0) / kTile;
        uint16_t* d = panel.data() + (static_cast<size_t>(t) * kBlocks + p / kTile) * kTileValues +
                      2 * kTile * (p % kTile);
        _mm512_storeu_si512(d, _mm512_permutex2var_epi16(lo, first, hi));
        _mm512_storeu_si512(d + static_cast<size_t>(kBlocks) * kTileValues,
                            _mm512_permutex2var_epi16(lo, second, hi));
      }
    }
    configureTiles();
    // Column pair outer: its 32 KiB of panel stays in L1 while the rows of g stream past.
    const int ld = w.in * 4;
    for (int c = c0; c < c1; c += 2 * kTile) {
      const uint16_t* p0 =
          panel.data() + static_cast<size_t>((c - c0) / kTile) * kBlocks * kTileValues;
      const uint16_t* p1 = p0 + static_cast<size_t>(kBlocks) * kTileValues;
      for (int blk = b0; blk < b1; ++blk) {
        const int m = 2 * kTile * blk;
        float* dst = m < whole ? dx + static_cast<size_t>(m) * w.in : tail;
        const uint16_t* a0 = gb + static_cast<size_t>(m) * K + k0;
        const uint16_t* a1 = a0 + static_cast<size_t>(kTile) * K;
        float* d00 = dst + c;
        float* d01 = d00 + kTile;
        float* d10 = d00 + static_cast<size_t>(kTile) * w.in;
        float* d11 = d10 + kTile;
        if (k0 == 0) {
          _tile_zero(0);
          _tile_zero(1);
          _tile_zero(2);
          _tile_zero(3);
        } else {
          _tile_loadd(0, d00, ld);
          _tile_loadd(1, d01, ld);
          _tile_loadd(2, d10, ld);
          _tile_loadd(3, d11, ld);
        }
        products2x2(a0, a1, K * 2, p0, p1, kBlocks);
        _tile_stored(0, d00, ld);
        _tile_stored(1, d01, ld);
        _tile_stored(2, d10, ld);
        _tile_stored(3, d11, ld);
      }
    }
  }
}

// Tasks: `blocks` blocks of the weight side times chunks of `units` units of 32 positions, chunk by
// chunk (task i: chunk i / blocks, block i % blocks), so the threads sweep the weight blocks over
// one chunk while its activations stay in L2. A chunk holds as many units as fit kChunkBytes of
// bfloat16 activations (`depth` values a position), and there are chunks enough for every thread
// to have work. Each task dequantizes its weight block once per chunk: big chunks dequantize less.
constexpr size_t kChunkBytes = size_t{1} << 20;
struct Split {
  int blocks, chunks, units;
  Split(int blocks_, int units_, int threads, int depth) : blocks(blocks_), units(units_) {
    const int perChunk = static_cast<int>(
        std::max<size_t>(1, kChunkBytes / (size_t{2} * 2 * kTile * static_cast<size_t>(depth))));
    chunks = std::max((units + perChunk - 1) / perChunk, (4 * threads + blocks - 1) / blocks);
    chunks = std::clamp(chunks, 1, std::max(units, 1));
  }
  int tasks() const { return blocks * chunks; }
  int block(int i) const { return i % blocks; }
  int u0(int i) const {
    return static_cast<int>(static_cast<int64_t>(i / blocks) * units / chunks);
  }
  int u1(int i) const {
    return static_cast<int>(static_cast<int64_t>(i / blocks + 1) * units / chunks);
  }
};

}  // namespace

void forward(const PackedWeight& w, const float* x, int M, float* y) {
  if (!amxAvailable() || !supports(w)) throw std::logic_error("bf16::forward: unsupported");
  if (M <= 0) return;
  ThreadPool& pool = cpuKernelPool();
  const int pairs = (M + 2 * kTile - 1) / (2 * kTile);  // position tiles, two at a time
  // The calling thread's buffer, by pointer: in the workers, the name would be their own.
  thread_local std::vector<uint16_t> xbStore;
  xbStore.resize(static_cast<size_t>(2 * pairs) * w.in * kTile);
  uint16_t* xb = xbStore.data();
  pool.parallelFor(pairs, [&](int p, int) { packPositions(x, M, w.in, 2 * p, 2 * p + 2, xb); });
  const Split split((w.out + kBlock - 1) / kBlock, pairs, pool.size(), w.in);
  pool.parallelFor(split.tasks(), [&](int i, int) {
    const int o0 = kBlock * split.block(i), o1 = std::min(w.out, o0 + kBlock);
    forwardTask(w, xb, M, y, o0, o1, 2 * split.u0(i), 2 * split.u1(i));
  });
}

void transposed(const PackedWeight& w, const float* g, int M, float* dx) {
  if (!amxAvailable() || !supports(w)) throw std::logic_error("bf16::transposed: unsupported");
  if (M <= 0) return;
  ThreadPool& pool = cpuKernelPool();
  const int rowBlocks = (M + 2 * kTile - 1) / (2 * kTile), padded = 2 * kTile * rowBlocks;
  // The calling thread's buffers, by pointer: in the workers, the names would be their own.
  thread_local std::vector<uint16_t> gbStore;
  thread_local std::vector<float> tailStore;
  gbStore.resize(static_cast<size_t>(padded) * w.out);
  tailStore.resize(static_cast<size_t>(2 * kTile) * w.in);
  uint16_t* gb = gbStore.data();
  float* tail = tailStore.data();
  pool.parallelFor(rowBlocks, [&](int b, int) {
    packRows(g, M, w.out, 2 * kTile * b, 2 * kTile * (b + 1), gb);
  });
  const Split split((w.in + kBlock - 1) / kBlock, rowBlocks, pool.size(),
                    std::min(w.out, kPanelDepth));
  pool.parallelFor(split.tasks(), [&](int i, int) {
    const int c0 = kBlock * split.block(i), c1 = std::min(w.in, c0 + kBlock);
    transposedTask(w, gb, M, dx, tail, c0, c1, split.u0(i), split.u1(i));
  });
  const int whole = M / (2 * kTile) * (2 * kTile);
  std::copy(tail, tail + static_cast<size_t>(M - whole) * w.in,
            dx + static_cast<size_t>(whole) * w.in);
}

#else

void forward(const PackedWeight&, const float*, int, float*) {
  throw std::logic_error("bf16::forward: built without AMX");
}
void transposed(const PackedWeight&, const float*, int, float*) {
  throw std::logic_error("bf16::transposed: built without AMX");
}

#endif

}  // namespace medtune::bf16
