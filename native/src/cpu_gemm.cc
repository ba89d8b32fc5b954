// See cpu_gemm.h. Panel layout: (in, 64) row-major, so one k step of a tile loads up to four
// vectors of 16 x rows and broadcasts one value per W row; the accumulators are (W row, 16 x
// rows) vectors, up to 6 x 4 = 24 registers, and nothing is reduced across lanes.
#include "cpu_gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MEDTUNE_NO_SIMD)
#include <immintrin.h>
#define MEDTUNE_GEMM_AVX512 1
#define MEDTUNE_GEMM_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#endif

namespace medtune {

namespace {

bool avx512() {
#if defined(MEDTUNE_GEMM_AVX512)
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return yes;
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

MEDTUNE_GEMM_FN void axpyAvx512(float a, const float* x, float* y, int n) {
  const __m512 av = _mm512_set1_ps(a);
  int i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

#endif

}  // namespace

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

}  // namespace medtune
