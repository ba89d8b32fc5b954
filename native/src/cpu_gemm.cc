// See cpu_gemm.h. Panel layout: (in, 64) row-major, so one k step of a tile loads up to four
// vectors of 16 x rows and broadcasts one value per W row; the accumulators are (W row, 16 x
// rows) vectors, up to 6 x 4 = 24 registers, and nothing is reduced across lanes.
#include "cpu_gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "cpu_features.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MEDTUNE_NO_SIMD)
#include <immintrin.h>
#define MEDTUNE_GEMM_AVX512 1
#define MEDTUNE_GEMM_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))
#endif

namespace medtune {

namespace {

bool avx512() {
#if defined(MEDTUNE_GEMM_AVX512)
  return cpuHasAvx512();
#else
  return false;
#endif
}

#if defined(MEDTUNE_GEMM_AVX512)

// R W rows x V vectors of 16 x rows, over the whole `in` dimension; yT as in gemmTile.
template <int R, int V>
MEDTUNE_GEMM_FN void tileAvx512(const float* const* rows, const float* panel, int in, float* yT) {
  __m512 acc[R][V];
  for (int n = 0; n < R; ++n)
    for (int j = 0; j < V; ++j) acc[n][j] = _mm512_setzero_ps();
  const float* w[R];
  for (int n = 0; n < R; ++n) w[n] = rows[n];
  // Fully unrolled over (n, j) so that the accumulators stay in registers at any -O level.
  for (int k = 0; k < in; ++k) {
    __m512 xv[V];
#pragma GCC unroll 4
    for (int j = 0; j < V; ++j)
      xv[j] = _mm512_loadu_ps(panel + static_cast<size_t>(k) * 64 + 16 * j);
#pragma GCC unroll 6
    for (int n = 0; n < R; ++n) {
      const __m512 wv = _mm512_set1_ps(w[n][k]);
#pragma GCC unroll 4
      for (int j = 0; j < V; ++j) acc[n][j] = _mm512_fmadd_ps(wv, xv[j], acc[n][j]);
    }
  }
  for (int n = 0; n < R; ++n)
    for (int j = 0; j < V; ++j) _mm512_storeu_ps(yT + n * 64 + 16 * j, acc[n][j]);
}

using TileFn = void (*)(const float* const*, const float*, int, float*);

template <int R>
TileFn tileFor(int V) {
  switch (V) {
    case 1:
      return tileAvx512<R, 1>;
    case 2:
      return tileAvx512<R, 2>;
    case 3:
      return tileAvx512<R, 3>;
    default:
      return tileAvx512<R, 4>;
  }
}

TileFn tileFor(int R, int V) {
  switch (R) {
    case 1:
      return tileFor<1>(V);
    case 2:
      return tileFor<2>(V);
    case 3:
      return tileFor<3>(V);
    case 4:
      return tileFor<4>(V);
    case 5:
      return tileFor<5>(V);
    default:
      return tileFor<6>(V);
  }
}

// exp(x) for 16 lanes: x = n ln2 + r (ln2 split in two for precision), a degree-6 polynomial in
// r, then 2^n through scalef; within ~2 ulp of std::exp over the clamped range.
MEDTUNE_GEMM_FN inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.7f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 e = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(e, n);
}

MEDTUNE_GEMM_FN float expShiftSumAvx512(float* p, int n, float shift) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 sum = _mm512_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(p + i), s));
    _mm512_storeu_ps(p + i, e);
    sum = _mm512_add_ps(sum, e);
  }
  if (i < n) {
    const __mmask16 k = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, p + i), s));
    _mm512_mask_storeu_ps(p + i, k, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(k, e));
  }
  return _mm512_reduce_add_ps(sum);
}

MEDTUNE_GEMM_FN void siluMulAvx512(float* g, const float* u, size_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 gv = _mm512_loadu_ps(g + i);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), gv));
    _mm512_storeu_ps(
        g + i, _mm512_mul_ps(_mm512_div_ps(gv, _mm512_add_ps(one, e)), _mm512_loadu_ps(u + i)));
  }
  for (; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

MEDTUNE_GEMM_FN void siluMulGradAvx512(const float* g, const float* u, const float* dy, float* dg,
                                       float* du, size_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 gv = _mm512_loadu_ps(g + i), d = _mm512_loadu_ps(dy + i);
    const __m512 sig =
        _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), gv))));
    const __m512 ds = _mm512_mul_ps(d, sig);  // dy * s
    _mm512_storeu_ps(du + i, _mm512_mul_ps(ds, gv));
    const __m512 slope = _mm512_fmadd_ps(gv, _mm512_sub_ps(one, sig), one);  // 1 + g (1 - s)
    _mm512_storeu_ps(dg + i, _mm512_mul_ps(_mm512_mul_ps(ds, _mm512_loadu_ps(u + i)), slope));
  }
  for (; i < n; ++i) {
    const float sig = 1.0f / (1.0f + std::exp(-g[i]));
    du[i] = dy[i] * sig * g[i];
    dg[i] = dy[i] * sig * u[i] * (1.0f + g[i] * (1.0f - sig));
  }
}

MEDTUNE_GEMM_FN float rowMaxAvx512(const float* p, int n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  int i = 0;
  for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(p + i));
  if (i < n)
    m = _mm512_mask_max_ps(
        m, static_cast<__mmask16>((1u << (n - i)) - 1), m,
        _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << (n - i)) - 1), p + i));
  return _mm512_reduce_max_ps(m);
}

// GELU and its derivative for 16 lanes. Erf form: Phi(x) = 0.5 (1 + erf(x / sqrt 2)), erf(z) for
// z >= 0 as 1 - poly(t) exp(-z^2), t = 1 / (1 + p z), sign restored; gelu = x Phi(x), gelu' =
// Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi). Tanh form: tanh(u) = 1 - 2 / (exp(2u) +
// 1).
struct Gelu16 {
  __m512 y, dydx;
};

MEDTUNE_GEMM_FN inline Gelu16 gelu16(__m512 x, bool tanhForm, bool wantGrad) {
  const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
  if (tanhForm) {
    const __m512 c = _mm512_set1_ps(0.7978845608028654f), k = _mm512_set1_ps(0.044715f);
    const __m512 x2 = _mm512_mul_ps(x, x);
    const __m512 u = _mm512_mul_ps(c, _mm512_fmadd_ps(_mm512_mul_ps(k, x2), x, x));
    const __m512 e = exp16(_mm512_add_ps(u, u));
    const __m512 t = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
    const __m512 phi = _mm512_mul_ps(half, _mm512_add_ps(one, t));
    Gelu16 r{_mm512_mul_ps(x, phi), _mm512_setzero_ps()};
    if (wantGrad) {
      const __m512 du =
          _mm512_mul_ps(c, _mm512_fmadd_ps(_mm512_set1_ps(3.0f * 0.044715f), x2, one));
      const __m512 sech2 = _mm512_fnmadd_ps(t, t, one);
      r.dydx = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_mul_ps(half, x), sech2), du, phi);
    }
    return r;
  }
  const __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f));
  const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), z, one));
  __m512 poly = _mm512_set1_ps(1.061405429f);
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(-1.453152027f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(1.421413741f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(-0.284496736f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(0.254829592f));
  poly = _mm512_mul_ps(poly, t);
  const __m512 g = exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(z, z)));  // exp(-x^2/2)
  const __m512 erfAbs = _mm512_fnmadd_ps(poly, g, one);
  const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 erf = _mm512_mask_sub_ps(erfAbs, neg, _mm512_setzero_ps(), erfAbs);
  const __m512 phi = _mm512_mul_ps(half, _mm512_add_ps(one, erf));
  Gelu16 r{_mm512_mul_ps(x, phi), _mm512_setzero_ps()};
  if (wantGrad)
    r.dydx = _mm512_fmadd_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.3989422804014327f)), g, phi);
  return r;
}

MEDTUNE_GEMM_FN void geluAvx512(const float* x, float* y, size_t n, bool tanhForm) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, k, gelu16(_mm512_maskz_loadu_ps(k, x + i), tanhForm, false).y);
  }
}

MEDTUNE_GEMM_FN void geluGradAvx512(const float* x, const float* dy, float* dx, size_t n,
                                    bool tanhForm) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (n - i)) - 1);
    const Gelu16 r = gelu16(_mm512_maskz_loadu_ps(k, x + i), tanhForm, true);
    _mm512_mask_storeu_ps(dx + i, k, _mm512_mul_ps(r.dydx, _mm512_maskz_loadu_ps(k, dy + i)));
  }
}

MEDTUNE_GEMM_FN void axpyAvx512(float a, const float* x, float* y, int n) {
  const __m512 av = _mm512_set1_ps(a);
  int i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

// The sums of 16 vectors as one vector: lane i = the sum of a[i]'s lanes. Four halving steps
// (within 128-bit lanes, then across them), 45 instructions instead of 16 full reductions.
MEDTUNE_GEMM_FN inline __m512 sum16(const __m512* a) {
  __m512 r[8], s[4], u[2];
  for (int i = 0; i < 8; ++i)  // per 128-bit lane: a[2i] pairs, a[2i+1] pairs
    r[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]),
                         _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
  for (int i = 0; i < 4; ++i)  // per 128-bit lane: the lane sums of a[4i .. 4i+3]
    s[i] = _mm512_add_ps(_mm512_shuffle_ps(r[2 * i], r[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(r[2 * i], r[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  for (int i = 0; i < 2; ++i)  // 128-bit lanes (0+1, 2+3) of s[2i], then of s[2i+1]
    u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

// 16 values of a cache row as float32: float32 rows, or float16 ones (a half-size KV cache).
MEDTUNE_GEMM_FN inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
MEDTUNE_GEMM_FN inline __m512 load16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// p[j] = scale * (q . keys[j]) for j < n; DV = hd / 16 vectors per row; T: the cache's element.
template <int DV, typename T>
MEDTUNE_GEMM_FN void scoresAvx512(const float* q, const T* keys, int n, float scale, float* p) {
  constexpr int hd = 16 * DV;
  __m512 qv[DV];
  for (int d = 0; d < DV; ++d) qv[d] = _mm512_loadu_ps(q + 16 * d);
  const __m512 sv = _mm512_set1_ps(scale);
  for (int j0 = 0; j0 < n; j0 += 16) {
    const int cnt = std::min(16, n - j0);
    // The next pass's keys: the cache rows stream from memory (pages defeat the prefetchers).
    const char* next = reinterpret_cast<const char*>(keys + static_cast<size_t>(j0 + 16) * hd);
    const int ahead = std::min(16, std::max(0, n - j0 - 16)) * hd * static_cast<int>(sizeof(T));
    for (int b = 0; b < ahead; b += 64) _mm_prefetch(next + b, _MM_HINT_T0);
    __m512 acc[16];
#pragma GCC unroll 16
    for (int jj = 0; jj < 16; ++jj) {
      const T* k = keys + static_cast<size_t>(j0 + std::min(jj, cnt - 1)) * hd;
      acc[jj] = _mm512_mul_ps(qv[0], load16(k));
#pragma GCC unroll 8
      for (int d = 1; d < DV; ++d) acc[jj] = _mm512_fmadd_ps(qv[d], load16(k + 16 * d), acc[jj]);
    }
    // Past n the last key is repeated (no reads past the rows) and masked off here.
    const __mmask16 keep = static_cast<__mmask16>((1u << cnt) - 1);
    _mm512_mask_storeu_ps(p + j0, keep, _mm512_mul_ps(sum16(acc), sv));
  }
}

// out (HB, hd) = p (HB rows of n, stride ldp) . vals (n, hd): each value row loaded once.
template <int DV, int HB, typename T>
MEDTUNE_GEMM_FN void weightedValuesAvx512(const float* p, int ldp, const T* vals, int n,
                                          float* out) {
  constexpr int hd = 16 * DV;
  __m512 acc[HB][DV];
  for (int h = 0; h < HB; ++h)
    for (int d = 0; d < DV; ++d) acc[h][d] = _mm512_setzero_ps();
  constexpr int kAhead = 8;  // value rows prefetched ahead
  for (int j = 0; j < n; ++j) {
    if (j + kAhead < n) {
      const char* next = reinterpret_cast<const char*>(vals + static_cast<size_t>(j + kAhead) * hd);
      for (int b = 0; b < hd * static_cast<int>(sizeof(T)); b += 64)
        _mm_prefetch(next + b, _MM_HINT_T0);
    }
    __m512 v[DV];
#pragma GCC unroll 8
    for (int d = 0; d < DV; ++d) v[d] = load16(vals + static_cast<size_t>(j) * hd + 16 * d);
#pragma GCC unroll 4
    for (int h = 0; h < HB; ++h) {
      const __m512 ph = _mm512_set1_ps(p[static_cast<size_t>(h) * ldp + j]);
#pragma GCC unroll 8
      for (int d = 0; d < DV; ++d) acc[h][d] = _mm512_fmadd_ps(ph, v[d], acc[h][d]);
    }
  }
  for (int h = 0; h < HB; ++h)
    for (int d = 0; d < DV; ++d) _mm512_storeu_ps(out + h * hd + 16 * d, acc[h][d]);
}

// p[i] = exp(p[i] - max p) / sum, in place.
MEDTUNE_GEMM_FN void softmaxAvx512(float* p, int n) {
  __m512 peak = _mm512_set1_ps(-INFINITY);
  int i = 0;
  for (; i + 16 <= n; i += 16) peak = _mm512_max_ps(peak, _mm512_loadu_ps(p + i));
  if (i < n) {
    const __mmask16 k = static_cast<__mmask16>((1u << (n - i)) - 1);
    peak = _mm512_mask_max_ps(peak, k, peak, _mm512_maskz_loadu_ps(k, p + i));
  }
  const float inv = 1.0f / expShiftSumAvx512(p, n, _mm512_reduce_max_ps(peak));
  for (i = 0; i < n; ++i) p[i] *= inv;
}

template <int DV, typename T>
MEDTUNE_GEMM_FN void attendAvx512(const float* q, int G, const T* keys, const T* vals, int n,
                                  float scale, float* p, float* out) {
  constexpr int hd = 16 * DV;
  for (int g = 0; g < G; ++g) {
    float* pg = p + static_cast<size_t>(g) * n;
    scoresAvx512<DV, T>(q + g * hd, keys, n, scale, pg);
    softmaxAvx512(pg, n);
  }
  // Heads in passes of up to 4, at most 16 accumulators (a head's sums do not depend on the pass).
  constexpr int most = std::max(1, std::min(4, 16 / DV));
  for (int g = 0; g < G;) {
    const int hb = std::min(most, G - g);
    const float* pg = p + static_cast<size_t>(g) * n;
    float* og = out + g * hd;
    switch (hb) {
      case 4:
        weightedValuesAvx512<DV, std::min(4, most), T>(pg, n, vals, n, og);
        break;
      case 3:
        weightedValuesAvx512<DV, std::min(3, most), T>(pg, n, vals, n, og);
        break;
      case 2:
        weightedValuesAvx512<DV, std::min(2, most), T>(pg, n, vals, n, og);
        break;
      default:
        weightedValuesAvx512<DV, 1, T>(pg, n, vals, n, og);
        break;
    }
    g += hb;
  }
}

// The largest of p[0..n) (n > 0), or NaN when any value is NaN.
MEDTUNE_GEMM_FN float maxOrNanAvx512(const float* p, int n) {
  __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
  __mmask16 nan = 0;
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 a = _mm512_loadu_ps(p + i), b = _mm512_loadu_ps(p + i + 16);
    nan |= _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q);
    m0 = _mm512_max_ps(m0, a);
    m1 = _mm512_max_ps(m1, b);
  }
  for (; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 a = _mm512_mask_loadu_ps(m0, k, p + i);
    nan |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
    m0 = _mm512_max_ps(m0, a);
  }
  return nan ? NAN : _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

// The first i with p[i] == peak (there is one).
MEDTUNE_GEMM_FN int firstEqualAvx512(const float* p, int n, float peak) {
  const __m512 v = _mm512_set1_ps(peak);
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_loadu_ps(p + i), v, _CMP_EQ_OQ);
    if (hit) return i + __builtin_ctz(hit);
  }
  for (; i < n; ++i)
    if (p[i] == peak) return i;
  return 0;
}

#endif

}  // namespace

int argmaxFirst(const float* p, int n) {
  if (n <= 0) return 0;
#if defined(MEDTUNE_GEMM_AVX512)
  if (avx512()) {
    const float peak = maxOrNanAvx512(p, n);
    if (!std::isnan(peak)) return firstEqualAvx512(p, n, peak);
  }
#endif
  return static_cast<int>(std::max_element(p, p + n) - p);
}

namespace {
template <typename T>
bool attendKvGroupT(const float* q, int G, const T* keys, const T* vals, int n, int hd, float scale,
                    float* p, float* out) {
#if defined(MEDTUNE_GEMM_AVX512)
  if (!avx512() || hd % 16 != 0 || hd > 128 || n <= 0) return false;
  if (sizeof(T) == 2 && !__builtin_cpu_supports("f16c")) return false;
  using Fn = void (*)(const float*, int, const T*, const T*, int, float, float*, float*);
  static const Fn fns[8] = {attendAvx512<1, T>, attendAvx512<2, T>, attendAvx512<3, T>,
                            attendAvx512<4, T>, attendAvx512<5, T>, attendAvx512<6, T>,
                            attendAvx512<7, T>, attendAvx512<8, T>};
  fns[hd / 16 - 1](q, G, keys, vals, n, scale, p, out);
  return true;
#else
  (void)q, (void)G, (void)keys, (void)vals, (void)n, (void)hd, (void)scale, (void)p, (void)out;
  return false;
#endif
}
}  // namespace

bool attendKvGroup(const float* q, int G, const float* keys, const float* vals, int n, int hd,
                   float scale, float* p, float* out) {
  return attendKvGroupT(q, G, keys, vals, n, hd, scale, p, out);
}
bool attendKvGroup(const float* q, int G, const uint16_t* keys, const uint16_t* vals, int n, int hd,
                   float scale, float* p, float* out) {
  return attendKvGroupT(q, G, keys, vals, n, hd, scale, p, out);
}

size_t gemmPanelsSize(int M, int in) {
  const size_t panels = (static_cast<size_t>(M) + kGemmPanelRows - 1) / kGemmPanelRows;
  return panels * static_cast<size_t>(in) * kGemmPanelRows;
}

void gemmPackPanels(const float* x, int M, int in, float* panels) {
  for (int m0 = 0; m0 < M; m0 += kGemmPanelRows) {
    float* panel = panels + static_cast<size_t>(m0 / kGemmPanelRows) * in * kGemmPanelRows;
    const int rows = std::min(kGemmPanelRows, M - m0);
    if (rows < kGemmPanelRows)
      std::memset(panel, 0, sizeof(float) * static_cast<size_t>(in) * kGemmPanelRows);
    for (int r = 0; r < rows; ++r) {
      const float* xr = x + static_cast<size_t>(m0 + r) * in;
      for (int k = 0; k < in; ++k) panel[static_cast<size_t>(k) * kGemmPanelRows + r] = xr[k];
    }
  }
}

void gemmTile(const float* const* rows, int nrows, const float* panel, int M, int in, float* yT) {
#if defined(MEDTUNE_GEMM_AVX512)
  if (avx512()) return tileFor(nrows, (M + 15) / 16)(rows, panel, in, yT);
#endif
  for (int n = 0; n < nrows; ++n) {
    for (int m = 0; m < M; ++m) {
      float s = 0.0f;
      for (int k = 0; k < in; ++k)
        s += rows[n][k] * panel[static_cast<size_t>(k) * kGemmPanelRows + m];
      yT[n * kGemmPanelRows + m] = s;
    }
  }
}

void gemmUnpack(const float* yT, int nout, int M, float* y, size_t ldy) {
  for (int m = 0; m < M; ++m) {
    float* ym = y + static_cast<size_t>(m) * ldy;
    for (int o = 0; o < nout; ++o) ym[o] = yT[static_cast<size_t>(o) * kGemmPanelRows + m];
  }
}

float expShiftSum(float* p, int n, float shift) {
#if defined(MEDTUNE_GEMM_AVX512)
  if (avx512()) return expShiftSumAvx512(p, n, shift);
#endif
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += p[i] = std::exp(p[i] - shift);
  return sum;
}

void siluMul(float* g, const float* u, size_t n) {
#if defined(MEDTUNE_GEMM_AVX512)
  if (avx512()) return siluMulAvx512(g, u, n);
#endif
  for (size_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void axpy(float a, const float* x, float* y, int n) {
#if defined(MEDTUNE_GEMM_AVX512)
  if (avx512()) return axpyAvx512(a, x, y, n);
#endif
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

void siluMulGrad(const float* g, const float* u, const float* dy, float* dg, float* du, size_t n) {
#if defined(MEDTUNE_GEMM_AVX512)
  if (avx512()) return siluMulGradAvx512(g, u, dy, dg, du, n);
#endif
  for (size_t i = 0; i < n; ++i) {
    const float sig = 1.0f / (1.0f + std::exp(-g[i]));
    du[i] = dy[i] * sig * g[i];
    dg[i] = dy[i] * sig * u[i] * (1.0f + g[i] * (1.0f - sig));
  }
}

namespace {

// gelu(x) and gelu'(x), scalar (the same formulas, std::erf / std::tanh).
std::pair<float, float> geluScalar(float x, bool tanhForm) {
  if (tanhForm) {
    const float c = 0.7978845608028654f, u = c * (x + 0.044715f * x * x * x);
    const float t = std::tanh(u), phi = 0.5f * (1.0f + t);
    return {x * phi, phi + 0.5f * x * (1.0f - t * t) * c * (1.0f + 3.0f * 0.044715f * x * x)};
  }
  const float phi = 0.5f * (1.0f + std::erf(x * 0.70710678118654752f));
  return {x * phi, phi + x * 0.3989422804014327f * std::exp(-0.5f * x * x)};
}

}  // namespace

void gelu(const float* x, float* y, size_t n, bool tanhForm) {
#if defined(MEDTUNE_GEMM_AVX512)
  if (avx512()) return geluAvx512(x, y, n, tanhForm);
#endif
  for (size_t i = 0; i < n; ++i) y[i] = geluScalar(x[i], tanhForm).first;
}

void geluGrad(const float* x, const float* dy, float* dx, size_t n, bool tanhForm) {
#if defined(MEDTUNE_GEMM_AVX512)
  if (avx512()) return geluGradAvx512(x, dy, dx, n, tanhForm);
#endif
  for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * geluScalar(x[i], tanhForm).second;
}

float rowMax(const float* p, int n) {
#if defined(MEDTUNE_GEMM_AVX512)
  if (avx512()) return rowMaxAvx512(p, n);
#endif
  float m = p[0];
  for (int i = 1; i < n; ++i) m = std::max(m, p[i]);
  return m;
}

}  // namespace medtune
