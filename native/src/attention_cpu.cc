// See attention_cpu.h. Two MLX primitives run on the CPU stream:
//   CausalAttention     (q, k, v)             -> (o (B, H, L, hd), lse (B, H, L))
//   CausalAttentionGrad (q, k, v, o, lse, do) -> (dq, dk, dv)
// Both split work into 64-query x 64-key blocks. Every block product has the form
// C (M, N) (+)= A (M, K) B (K, N) with B's rows contiguous and N a multiple of 16, which one
// register-tiled AVX-512 kernel (4 rows x up to 64 columns of accumulators) covers; A may be read
// transposed (P^T dO, dS^T Q) through its strides. Keys are packed once per (batch, kv head):
// K^T in (hd, 64) blocks for the scores, V (and K for dQ) as zero-padded rows.
#include "attention_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "errors.h"
#include "mlx/backend/cpu/encoder.h"
#include "mlx/primitives.h"
#include "tensor.h"
#include "thread_pool.h"

// MEDTUNE_NO_SIMD builds the scalar kernels only (as on CPUs and compilers without AVX-512).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MEDTUNE_NO_SIMD)
// GCC 12's _mm512_max_ps / _mm512_min_ps read an undefined vector on purpose: a false
// -Wuninitialized (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#define MEDTUNE_AVX512 1
#define MEDTUNE_AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#endif

namespace medtune {

namespace {

constexpr int kBlock = 64;  // queries and keys per block
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

int roundUp(int n, int to) { return (n + to - 1) / to * to; }

// Shapes of one attention call: q (B, H, L, hd), k and v (B, Hkv, Lk, hd).
struct Dims {
  int B = 0, H = 0, Hkv = 0, L = 0, Lk = 0, hd = 0;
  float scale = 1.0f;
  int offset() const { return Lk - L; }  // query i sits at position offset + i
  int group() const { return H / Hkv; }  // query heads per kv head
  int keyBlocks() const { return (Lk + kBlock - 1) / kBlock; }
  int queryBlocks() const { return (L + kBlock - 1) / kBlock; }
  // Keys of block starting at k0 that query row i sees: [0, limit).
  int visible(int i, int k0) const {
    return std::clamp(offset() + i - k0 + 1, 0, std::min(kBlock, Lk - k0));
  }
};

// A float32 (B, heads, rows, hd) array as a pointer and element strides (any layout MLX gives).
struct View {
  const float* p = nullptr;
  int64_t sb = 0, sh = 0, sl = 0, sd = 0;
  // Row (b, h, l) copied into dst[0, hd) times `mul`.
  void copyRow(int b, int h, int l, int hd, float mul, float* dst) const {
    const float* src = p + b * sb + h * sh + l * sl;
    for (int d = 0; d < hd; ++d) dst[d] = src[d * sd] * mul;
  }
};

View viewOf(const mx::array& a) {
  const auto& s = a.strides();
  return View{a.data<float>(), static_cast<int64_t>(s[0]), static_cast<int64_t>(s[1]),
              static_cast<int64_t>(s[2]), static_cast<int64_t>(s[3])};
}

// ---- kernels ----

// The three inner operations, scalar or AVX-512.
struct Kernels {
  // C (M, N) = [C +] A (M, K) B (K, N); A(m, k) = A[m * sam + k * sak], B and C row-major.
  void (*gemm)(const float* A, int64_t sam, int64_t sak, const float* B, int ldb, float* C, int ldc,
               int M, int N, int K, bool accumulate);
  // One query row of scaled scores s[0, kBlock), keys [limit, kBlock) masked: folds the row into
  // the running max m and sum l, leaves exp(s - m) in s (0 where masked) and returns the factor
  // the row's output accumulator must be rescaled by.
  float (*softmaxRow)(float* s, int limit, float& m, float& l);
  // Backward for one row: s (scaled scores) -> P = exp(s - lse), dp (dO . V) -> dS = P (dp - D).
  void (*gradRow)(float* s, float* dp, int limit, float lse, float dsum);
};

void gemmScalar(const float* A, int64_t sam, int64_t sak, const float* B, int ldb, float* C,
                int ldc, int M, int N, int K, bool accumulate) {
  for (int m = 0; m < M; ++m) {
    float* c = C + static_cast<int64_t>(m) * ldc;
    if (!accumulate) std::fill(c, c + N, 0.0f);
    for (int k = 0; k < K; ++k) {
      const float a = A[m * sam + k * sak];
      const float* b = B + static_cast<int64_t>(k) * ldb;
      for (int n = 0; n < N; ++n) c[n] += a * b[n];
    }
  }
}

float softmaxRowScalar(float* s, int limit, float& m, float& l) {
  if (limit == 0) {
    std::fill(s, s + kBlock, 0.0f);
    return 1.0f;
  }
  float mb = s[0];
  for (int c = 1; c < limit; ++c) mb = std::max(mb, s[c]);
  const float mNew = std::max(m, mb);
  const float alpha = std::exp(m - mNew);
  float sum = 0.0f;
  for (int c = 0; c < limit; ++c) sum += (s[c] = std::exp(s[c] - mNew));
  std::fill(s + limit, s + kBlock, 0.0f);
  l = l * alpha + sum;
  m = mNew;
  return alpha;
}

void gradRowScalar(float* s, float* dp, int limit, float lse, float dsum) {
  for (int c = 0; c < limit; ++c) {
    s[c] = std::exp(s[c] - lse);
    dp[c] = s[c] * (dp[c] - dsum);
  }
  std::fill(s + limit, s + kBlock, 0.0f);
  std::fill(dp + limit, dp + kBlock, 0.0f);
}

#if defined(MEDTUNE_AVX512)

bool haveAvx512() { return cpuHasAvx512(); }

// exp(x) for 16 lanes: x = n ln2 + r with |r| <= ln2 / 2, exp(r) by its degree-7 Taylor polynomial
// (error < 1e-8 relative), times 2^n. Inputs below -104 (masked -inf included) give 0.
MEDTUNE_AVX512_FN inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(88.5f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// Lanes of the 16-wide chunk starting at column c that lie below `limit`.
inline __mmask16 laneMask(int limit, int c) {
  const int n = limit - c;
  return n <= 0 ? 0 : n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
}

// 4 rows x 16*NV columns of C held in registers across the whole K loop.
template <int NV>
MEDTUNE_AVX512_FN inline void tile4(const float* A, int64_t sam, int64_t sak, const float* B,
                                    int ldb, float* C, int ldc, int K, bool accumulate) {
  __m512 c[4][NV];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      c[r][v] = accumulate ? _mm512_loadu_ps(C + r * ldc + 16 * v) : _mm512_setzero_ps();
    }
  }
  for (int k = 0; k < K; ++k) {
    const float* b = B + static_cast<int64_t>(k) * ldb;
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
    const float* a = A + k * sak;
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r * sam]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[r][v] = _mm512_fmadd_ps(ar, bv[v], c[r][v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(C + r * ldc + 16 * v, c[r][v]);
  }
}

// M a multiple of 4, N of 16 (callers pad blocks to both).
MEDTUNE_AVX512_FN void gemmAvx512(const float* A, int64_t sam, int64_t sak, const float* B, int ldb,
                                  float* C, int ldc, int M, int N, int K, bool accumulate) {
  for (int n0 = 0; n0 < N; n0 += 64) {
    const int nv = std::min(4, (N - n0) / 16);
    for (int m = 0; m < M; m += 4) {
      const float* a = A + m * sam;
      float* c = C + static_cast<int64_t>(m) * ldc + n0;
      switch (nv) {
        case 4:
          tile4<4>(a, sam, sak, B + n0, ldb, c, ldc, K, accumulate);
          break;
        case 3:
          tile4<3>(a, sam, sak, B + n0, ldb, c, ldc, K, accumulate);
          break;
        case 2:
          tile4<2>(a, sam, sak, B + n0, ldb, c, ldc, K, accumulate);
          break;
        default:
          tile4<1>(a, sam, sak, B + n0, ldb, c, ldc, K, accumulate);
          break;
      }
    }
  }
}

MEDTUNE_AVX512_FN float softmaxRowAvx512(float* s, int limit, float& m, float& l) {
  if (limit == 0) {
    std::fill(s, s + kBlock, 0.0f);
    return 1.0f;
  }
  __m512 mv = _mm512_set1_ps(kNegInf);
  for (int c = 0; c < kBlock; c += 16) {
    mv =
        _mm512_max_ps(mv, _mm512_mask_loadu_ps(_mm512_set1_ps(kNegInf), laneMask(limit, c), s + c));
  }
  const float mNew = std::max(m, _mm512_reduce_max_ps(mv));
  const float alpha = std::exp(m - mNew);
  const __m512 shift = _mm512_set1_ps(mNew);
  __m512 sum = _mm512_setzero_ps();
  for (int c = 0; c < kBlock; c += 16) {
    const __m512 p = _mm512_maskz_mov_ps(laneMask(limit, c),
                                         exp16(_mm512_sub_ps(_mm512_loadu_ps(s + c), shift)));
    _mm512_storeu_ps(s + c, p);
    sum = _mm512_add_ps(sum, p);
  }
  l = l * alpha + _mm512_reduce_add_ps(sum);
  m = mNew;
  return alpha;
}

MEDTUNE_AVX512_FN void gradRowAvx512(float* s, float* dp, int limit, float lse, float dsum) {
  const __m512 lv = _mm512_set1_ps(lse), dv = _mm512_set1_ps(dsum);
  for (int c = 0; c < kBlock; c += 16) {
    const __mmask16 k = laneMask(limit, c);
    const __m512 p = _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_loadu_ps(s + c), lv)));
    _mm512_storeu_ps(s + c, p);
    _mm512_storeu_ps(dp + c, _mm512_mul_ps(p, _mm512_sub_ps(_mm512_loadu_ps(dp + c), dv)));
  }
}

#endif  // MEDTUNE_AVX512

// AVX-512 when the CPU has it and the head size is whole 16-float vectors.
Kernels kernelsFor(int hd) {
#if defined(MEDTUNE_AVX512)
  if (haveAvx512() && hd % 16 == 0) return Kernels{gemmAvx512, softmaxRowAvx512, gradRowAvx512};
#endif
  return Kernels{gemmScalar, softmaxRowScalar, gradRowScalar};
}

ThreadPool& attentionPool() { return cpuKernelPool(); }

// Per-thread scratch, grown on demand and kept across calls.
float* scratch(std::vector<float>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// ---- key packing ----

// Keys of (b, g) as K^T blocks: kt[kb] (hd, kBlock), column j = key kb*64 + j, zero past Lk.
void packKeysTransposed(const Dims& d, const View& k, int b, int g, float* kt) {
  const int nkb = d.keyBlocks();
  std::fill(kt, kt + static_cast<size_t>(nkb) * d.hd * kBlock, 0.0f);
  std::vector<float> row(d.hd);
  for (int j = 0; j < d.Lk; ++j) {
    k.copyRow(b, g, j, d.hd, 1.0f, row.data());
    float* blk = kt + static_cast<size_t>(j / kBlock) * d.hd * kBlock + j % kBlock;
    for (int x = 0; x < d.hd; ++x) blk[x * kBlock] = row[x];
  }
}

// Rows of (b, h) as (roundUp(n, kBlock), hd), times `mul`, zero past n.
void packRows(const Dims& d, const View& a, int b, int h, int n, float mul, float* dst) {
  for (int i = 0; i < n; ++i) a.copyRow(b, h, i, d.hd, mul, dst + static_cast<size_t>(i) * d.hd);
  std::fill(dst + static_cast<size_t>(n) * d.hd,
            dst + static_cast<size_t>(roundUp(n, kBlock)) * d.hd, 0.0f);
}

// ---- forward ----

struct ForwardArgs {
  Dims d;
  View q;
  const float* kt;  // (B, Hkv, keyBlocks, hd, 64)
  const float* vp;  // (B, Hkv, roundUp(Lk, 64), hd)
  float* o;         // (B, H, L, hd)
  float* lse;       // (B, H, L)
};

// Output rows [q0, q0 + 64) of head (b, h).
void forwardBlock(const ForwardArgs& a, const Kernels& kn, int b, int h, int qb) {
  const Dims& d = a.d;
  const int hd = d.hd, g = h / d.group(), q0 = qb * kBlock;
  const int n = std::min(kBlock, d.L - q0), rows = roundUp(n, 4);
  thread_local std::vector<float> buf;
  float* qs = scratch(buf, static_cast<size_t>(kBlock) * (2 * hd + kBlock + 2));
  float* acc = qs + kBlock * hd;  // (64, hd)
  float* s = acc + kBlock * hd;   // (64, 64) scores, then probabilities
  float* m = s + kBlock * kBlock;
  float* l = m + kBlock;
  for (int r = 0; r < rows; ++r) {
    if (r < n) {
      a.q.copyRow(b, h, q0 + r, hd, d.scale, qs + r * hd);
    } else {
      std::fill(qs + r * hd, qs + (r + 1) * hd, 0.0f);
    }
  }
  std::fill(acc, acc + rows * hd, 0.0f);
  std::fill(m, m + kBlock, kNegInf);
  std::fill(l, l + kBlock, 0.0f);
  const size_t bg = static_cast<size_t>(b) * d.Hkv + g;
  const float* kt = a.kt + bg * d.keyBlocks() * hd * kBlock;
  const float* vp = a.vp + bg * roundUp(d.Lk, kBlock) * hd;
  const int kEnd = std::min(d.Lk, d.offset() + q0 + n);  // past the last row's last key
  for (int k0 = 0; k0 < kEnd; k0 += kBlock) {
    kn.gemm(qs, hd, 1, kt + static_cast<size_t>(k0) * hd, kBlock, s, kBlock, rows, kBlock, hd,
            false);
    for (int r = 0; r < rows; ++r) {
      float* sr = s + r * kBlock;
      if (r >= n) {
        std::fill(sr, sr + kBlock, 0.0f);
        continue;
      }
      const float alpha = kn.softmaxRow(sr, d.visible(q0 + r, k0), m[r], l[r]);
      if (alpha != 1.0f) {
        for (float *x = acc + r * hd, *e = x + hd; x < e; ++x) *x *= alpha;
      }
    }
    const int nk = std::min(kBlock, d.Lk - k0);
    kn.gemm(s, kBlock, 1, vp + static_cast<size_t>(k0) * hd, hd, acc, hd, rows, hd, nk, true);
  }
  const size_t bh = static_cast<size_t>(b) * d.H + h;
  for (int r = 0; r < n; ++r) {
    const float inv = 1.0f / l[r];
    float* out = a.o + (bh * d.L + q0 + r) * hd;
    for (int x = 0; x < hd; ++x) out[x] = acc[r * hd + x] * inv;
    a.lse[bh * d.L + q0 + r] = m[r] + std::log(l[r]);
  }
}

void runForward(const Dims& d, const View& q, const View& k, const View& v, float* o, float* lse) {
  const Kernels kn = kernelsFor(d.hd);
  const int nkb = d.keyBlocks(), lkp = roundUp(d.Lk, kBlock);
  const size_t pairs = static_cast<size_t>(d.B) * d.Hkv;
  std::vector<float> kt(pairs * nkb * d.hd * kBlock), vp(pairs * lkp * d.hd);
  ThreadPool& pool = attentionPool();
  pool.parallelFor(static_cast<int>(pairs), [&](int i, int) {
    const int b = i / d.Hkv, g = i % d.Hkv;
    packKeysTransposed(d, k, b, g, kt.data() + i * nkb * d.hd * kBlock);
    packRows(d, v, b, g, d.Lk, 1.0f, vp.data() + i * lkp * d.hd);
  });
  const ForwardArgs args{d, q, kt.data(), vp.data(), o, lse};
  // Latest query blocks (the most keys) first, so the short ones fill in at the end.
  const int heads = d.B * d.H, nqb = d.queryBlocks();
  pool.parallelFor(heads * nqb, [&](int i, int) {
    const int qb = nqb - 1 - i / heads, bh = i % heads;
    forwardBlock(args, kn, bh / d.H, bh % d.H, qb);
  });
}

// ---- backward ----

struct BackwardArgs {
  Dims d;
  View q, k, v, dout;
  const float* o;    // (B, H, L, hd)
  const float* lse;  // (B, H, L)
  float *dq, *dk, *dv;
};

// Per-task buffers of the backward pass for one (batch, kv head).
struct GradScratch {
  float *kt, *vt, *kp, *dk, *dv;  // keys/values packed; dK, dV accumulators (lkp, hd)
  float *qs, *dop, *dq, *dsum;    // one query head: q * scale, dO, dQ accumulator, rowsum(dO o)
  float *s, *dp;                  // (64, 64) blocks
};

GradScratch gradScratch(const Dims& d) {
  const size_t hd = d.hd, lkp = roundUp(d.Lk, kBlock), lqp = roundUp(d.L, kBlock);
  thread_local std::vector<float> buf;
  float* p = scratch(buf, 5 * lkp * hd + 3 * lqp * hd + lqp + 2 * kBlock * kBlock);
  GradScratch g;
  for (float** slot : {&g.kt, &g.vt, &g.kp, &g.dk, &g.dv}) *slot = p, p += lkp * hd;
  for (float** slot : {&g.qs, &g.dop, &g.dq}) *slot = p, p += lqp * hd;
  g.dsum = p, p += lqp;
  g.s = p, p += kBlock * kBlock;
  g.dp = p;
  return g;
}

// Adds query head h's contributions to g.dk, g.dv and writes its dq.
void backwardHead(const BackwardArgs& a, const Kernels& kn, const GradScratch& g, int b, int h) {
  const Dims& d = a.d;
  const int hd = d.hd, nqb = d.queryBlocks();
  const size_t bh = static_cast<size_t>(b) * d.H + h;
  packRows(d, a.q, b, h, d.L, d.scale, g.qs);
  packRows(d, a.dout, b, h, d.L, 1.0f, g.dop);
  std::fill(g.dq, g.dq + static_cast<size_t>(roundUp(d.L, kBlock)) * hd, 0.0f);
  const float* lse = a.lse + bh * d.L;
  for (int i = 0; i < d.L; ++i) {
    const float* o = a.o + (bh * d.L + i) * hd;
    const float* dout = g.dop + static_cast<size_t>(i) * hd;
    float sum = 0.0f;
    for (int x = 0; x < hd; ++x) sum += o[x] * dout[x];
    g.dsum[i] = sum;
  }
  for (int k0 = 0; k0 < d.Lk; k0 += kBlock) {
    const int nk = std::min(kBlock, d.Lk - k0), kRows = roundUp(nk, 4);
    const size_t ko = static_cast<size_t>(k0) * hd;
    for (int qb = std::max(0, k0 - d.offset()) / kBlock; qb < nqb; ++qb) {
      const int q0 = qb * kBlock, n = std::min(kBlock, d.L - q0), rows = roundUp(n, 4);
      const size_t qo = static_cast<size_t>(q0) * hd;
      kn.gemm(g.qs + qo, hd, 1, g.kt + ko, kBlock, g.s, kBlock, rows, kBlock, hd, false);
      kn.gemm(g.dop + qo, hd, 1, g.vt + ko, kBlock, g.dp, kBlock, rows, kBlock, hd, false);
      for (int r = 0; r < rows; ++r) {
        float *sr = g.s + r * kBlock, *dpr = g.dp + r * kBlock;
        if (r < n) {
          kn.gradRow(sr, dpr, d.visible(q0 + r, k0), lse[q0 + r], g.dsum[q0 + r]);
        } else {
          std::fill(sr, sr + kBlock, 0.0f);
          std::fill(dpr, dpr + kBlock, 0.0f);
        }
      }
      // dV += P^T dO, dK += dS^T (q * scale), dQ += dS K (scaled at the end).
      kn.gemm(g.s, 1, kBlock, g.dop + qo, hd, g.dv + ko, hd, kRows, hd, rows, true);
      kn.gemm(g.dp, 1, kBlock, g.qs + qo, hd, g.dk + ko, hd, kRows, hd, rows, true);
      kn.gemm(g.dp, kBlock, 1, g.kp + ko, hd, g.dq + qo, hd, rows, hd, nk, true);
    }
  }
  float* dq = a.dq + bh * d.L * hd;
  for (size_t x = 0, e = static_cast<size_t>(d.L) * hd; x < e; ++x) dq[x] = g.dq[x] * d.scale;
}

// One task per (batch, kv head): it owns dk, dv of that head and dq of the query heads sharing
// it, so no two threads write the same gradient.
void backwardGroup(const BackwardArgs& a, const Kernels& kn, int b, int kvh) {
  const Dims& d = a.d;
  const GradScratch g = gradScratch(d);
  const size_t lkp = roundUp(d.Lk, kBlock), hd = d.hd;
  packKeysTransposed(d, a.k, b, kvh, g.kt);
  packKeysTransposed(d, a.v, b, kvh, g.vt);
  packRows(d, a.k, b, kvh, d.Lk, 1.0f, g.kp);
  std::fill(g.dk, g.dk + lkp * hd, 0.0f);
  std::fill(g.dv, g.dv + lkp * hd, 0.0f);
  for (int h = kvh * d.group(); h < (kvh + 1) * d.group(); ++h) backwardHead(a, kn, g, b, h);
  const size_t off = (static_cast<size_t>(b) * d.Hkv + kvh) * d.Lk * hd;
  std::memcpy(a.dk + off, g.dk, d.Lk * hd * sizeof(float));
  std::memcpy(a.dv + off, g.dv, d.Lk * hd * sizeof(float));
}

void runBackward(const BackwardArgs& a) {
  const Kernels kn = kernelsFor(a.d.hd);
  attentionPool().parallelFor(a.d.B * a.d.Hkv,
                              [&](int i, int) { backwardGroup(a, kn, i / a.d.Hkv, i % a.d.Hkv); });
}

// ---- MLX primitives ----

Dims dimsOf(const mx::array& q, const mx::array& k, float scale) {
  return Dims{q.shape(0), q.shape(1), k.shape(1), q.shape(2), k.shape(2), q.shape(3), scale};
}

void allocate(std::vector<mx::array>& outputs) {
  for (auto& out : outputs) out.set_data(mx::allocator::malloc(out.nbytes()));
}

class CausalAttentionGrad : public mx::Primitive {
 public:
  CausalAttentionGrad(mx::Stream s, float scale) : mx::Primitive(s), scale_(scale) {}
  // inputs q, k, v, o, lse, dO -> dq, dk, dv
  void eval_cpu(const std::vector<mx::array>& in, std::vector<mx::array>& out) override {
    allocate(out);
    BackwardArgs a{dimsOf(in[0], in[1], scale_),
                   viewOf(in[0]),
                   viewOf(in[1]),
                   viewOf(in[2]),
                   viewOf(in[5]),
                   in[3].data<float>(),
                   in[4].data<float>(),
                   out[0].data<float>(),
                   out[1].data<float>(),
                   out[2].data<float>()};
    auto& enc = mx::cpu::get_command_encoder(stream());
    for (const auto& x : in) enc.set_input_array(x);
    for (auto& x : out) enc.set_output_array(x);
    enc.dispatch([a]() { runBackward(a); });
  }
  void eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) override {
    throw std::runtime_error("medtune CPU attention backward has no GPU kernel");
  }
  const char* name() const override { return "MedtuneCausalAttentionGrad"; }
  bool is_equivalent(const mx::Primitive& other) const override {
    return scale_ == static_cast<const CausalAttentionGrad&>(other).scale_;
  }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& in) override {
    return {in[0].shape(), in[1].shape(), in[2].shape()};
  }

 private:
  float scale_;
};

class CausalAttention : public mx::Primitive {
 public:
  CausalAttention(mx::Stream s, float scale) : mx::Primitive(s), scale_(scale) {}
  // inputs q, k, v -> o, lse
  void eval_cpu(const std::vector<mx::array>& in, std::vector<mx::array>& out) override {
    allocate(out);
    const Dims d = dimsOf(in[0], in[1], scale_);
    const View q = viewOf(in[0]), k = viewOf(in[1]), v = viewOf(in[2]);
    float *o = out[0].data<float>(), *lse = out[1].data<float>();
    auto& enc = mx::cpu::get_command_encoder(stream());
    for (const auto& x : in) enc.set_input_array(x);
    for (auto& x : out) enc.set_output_array(x);
    enc.dispatch([=]() { runForward(d, q, k, v, o, lse); });
  }
  void eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) override {
    throw std::runtime_error("medtune CPU attention has no GPU kernel");
  }
  // The lse output is internal (only this VJP reads it): its cotangent is ignored.
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals,
                             const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums,
                             const std::vector<mx::array>& outputs) override {
    const mx::array dout = mx::astype(cotangents[0], mx::float32, stream());
    auto grads =
        mx::array::make_arrays({primals[0].shape(), primals[1].shape(), primals[2].shape()},
                               {mx::float32, mx::float32, mx::float32},
                               std::make_shared<CausalAttentionGrad>(stream(), scale_),
                               {primals[0], primals[1], primals[2], outputs[0], outputs[1], dout});
    std::vector<mx::array> out;
    for (int i : argnums) out.push_back(grads[i]);
    return out;
  }
  const char* name() const override { return "MedtuneCausalAttention"; }
  bool is_equivalent(const mx::Primitive& other) const override {
    return scale_ == static_cast<const CausalAttention&>(other).scale_;
  }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& in) override {
    return {in[0].shape(), {in[0].shape(0), in[0].shape(1), in[0].shape(2)}};
  }

 private:
  float scale_;
};

// Read on every call (once per layer of a forward), so tests can switch it within a process.
bool switchedOff() {
  const char* s = std::getenv("MEDTUNE_CPU_ATTENTION");
  return s && std::string(s) == "mlx";
}

}  // namespace

bool cpuAttentionApplies(const mx::array& q, const mx::array& k, const mx::array& v) {
  if (switchedOff() || mx::default_device().type != mx::Device::cpu) return false;
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4) return false;
  if (q.dtype() != mx::float32 || k.dtype() != mx::float32 || v.dtype() != mx::float32) {
    return false;
  }
  const int Hkv = k.shape(1);
  return k.shape() == v.shape() && q.shape(0) == k.shape(0) && q.shape(3) == k.shape(3) &&
         Hkv > 0 && q.shape(1) % Hkv == 0 && k.shape(2) >= q.shape(2) && q.shape(2) > 0;
}

mx::array cpuCausalAttention(const mx::array& q, const mx::array& k, const mx::array& v,
                             float scale) {
  if (!cpuAttentionApplies(q, k, v)) {
    throw std::invalid_argument(
        "cpuCausalAttention: expected float32 q (B, H, L, hd), k and v "
        "(B, Hkv, Lk >= L, hd) on the CPU device");
  }
  const mx::Stream s = mx::default_stream(mx::Device::cpu);
  auto outs = mx::array::make_arrays({q.shape(), {q.shape(0), q.shape(1), q.shape(2)}},
                                     {mx::float32, mx::float32},
                                     std::make_shared<CausalAttention>(s, scale), {q, k, v});
  return outs[0];
}

}  // namespace medtune

namespace medtune {

// causalAttention(q, k, v, {scale, mode}): o and, for the cotangent cos(0, 1, ...) of o, dq, dk,
// dv, through the fused primitives (mode "fused") or MLX's sdpa and its VJP (mode "mlx").
Napi::Value CausalAttentionHook(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 4 || !info[3].IsObject()) {
      throw ArgumentError("causalAttention(q, k, v, {scale, mode})");
    }
    Napi::Object opts = info[3].As<Napi::Object>();
    const float scale = opts.Get("scale").ToNumber().FloatValue();
    const std::string mode = opts.Get("mode").ToString().Utf8Value();
    if (mode != "fused" && mode != "mlx") {
      throw ArgumentError("causalAttention: mode must be fused or mlx");
    }
    const mx::array q = Tensor::ArrayOf(info[0]), k = Tensor::ArrayOf(info[1]),
                    v = Tensor::ArrayOf(info[2]);
    if (!cpuAttentionApplies(q, k, v)) {
      throw ArgumentError(
          "causalAttention: expected float32 q (B, H, L, hd), k and v (B, Hkv, Lk >= L, hd) on "
          "the CPU device, MEDTUNE_CPU_ATTENTION not mlx");
    }
    auto fn = [&](const std::vector<mx::array>& in) -> std::vector<mx::array> {
      if (mode == "fused") return {cpuCausalAttention(in[0], in[1], in[2], scale)};
      return {mx::fast::scaled_dot_product_attention(in[0], in[1], in[2], scale,
                                                     in[0].shape(2) > 1 ? "causal" : "")};
    };
    mx::array cot = mx::cos(
        mx::reshape(mx::astype(mx::arange(static_cast<int>(q.size())), mx::float32), q.shape()));
    auto [outs, grads] = mx::vjp(fn, {q, k, v}, {cot});
    mx::eval({outs[0], grads[0], grads[1], grads[2]});
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("o", Tensor::Wrap(info.Env(), outs[0]));
    r.Set("dq", Tensor::Wrap(info.Env(), grads[0]));
    r.Set("dk", Tensor::Wrap(info.Env(), grads[1]));
    r.Set("dv", Tensor::Wrap(info.Env(), grads[2]));
    return r;
  });
}

}  // namespace medtune
