// See skinny_gemm.h. Three kernels, by which side is short (s = min(M, N, K) <= 64):
//   narrow  N = s: rows of C in registers, B packed as (K, N rounded up to 16); when A is stored
//           transposed (x^T dU) a block of 16 rows of C is held column by column instead, since
//           then 16 consecutive m of one k lie side by side.
//   short K K = s: each row of C is a sum of K rows of B; A (and B when transposed) packed.
//   short M M = s: C's 16-column strips, each row's sum over all of K; A packed as (K, M).
#include "skinny_gemm.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "errors.h"
#include "mlx/mlx.h"
#include "tensor.h"
#include "thread_pool.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MEDTUNE_NO_SIMD)
#include <immintrin.h>
#define MEDTUNE_SKINNY 1
#define MEDTUNE_SKINNY_FN __attribute__((target("avx512f,avx512vl,avx512dq,fma")))
#endif

namespace medtune {

#if defined(MEDTUNE_SKINNY)

namespace {

constexpr int kShort = 64;                          // the longest short side taken
constexpr double kMinWork = double{1} * (1 << 21);  // M N K below this: BLAS, not worth a region

int roundUp(int n, int to) { return (n + to - 1) / to * to; }

// op(X)(r, c) of a row-major X with leading dimension ld.
struct Operand {
  const float* p;
  int64_t sr, sc;
  Operand(const float* x, int ld, bool trans) : p(x), sr(trans ? 1 : ld), sc(trans ? ld : 1) {}
  float at(int r, int c) const { return p[r * sr + c * sc]; }
};

// Lanes [0, n) of 16, n clamped to [0, 16].
inline __mmask16 lanes(int n) {
  return n <= 0 ? 0 : n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
}

struct Epilogue {
  float alpha, beta;
  // C[0, 16) masked = alpha acc + beta C.
  MEDTUNE_SKINNY_FN void store(float* c, __m512 acc, __mmask16 m) const {
    __m512 v = _mm512_mul_ps(acc, _mm512_set1_ps(alpha));
    if (beta != 0.0f) v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, c), _mm512_set1_ps(beta), v);
    _mm512_mask_storeu_ps(c, m, v);
  }
  float value(float acc, const float* c) const {
    return beta != 0.0f ? alpha * acc + beta * *c : alpha * acc;
  }
};

// fn(task) for task in [0, n): over the kernel pool, or in turn when already inside a pool task.
void shareOut(int n, const std::function<void(int)>& fn) {
  if (ThreadPool::inTask() || n <= 1) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  cpuKernelPool().parallelFor(n, [&](int i, int) { fn(i); });
}

// op(B) (K, N) as rows of ld = roundUp(N, 16) floats, zeros past N.
std::vector<float>& packRows(const Operand& b, int K, int N, int ld) {
  thread_local std::vector<float> buf;
  buf.assign(static_cast<size_t>(K) * ld, 0.0f);
  for (int k = 0; k < K; ++k) {
    float* d = buf.data() + static_cast<size_t>(k) * ld;
    for (int n = 0; n < N; ++n) d[n] = b.at(k, n);
  }
  return buf;
}

// ---- narrow: N <= 64 ----

// Rows [m0, m0 + R) of C: R x NV vectors of accumulators over all of K.
template <int R, int NV>
MEDTUNE_SKINNY_FN void narrowRows(const float* A, int64_t lda, const float* bp, int ldp, int K,
                                  int N, const Epilogue& ep, float* C, int64_t ldc, int m0) {
  __m512 acc[R][NV];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  const float* a = A + m0 * lda;
  for (int k = 0; k < K; ++k) {
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(bp + static_cast<size_t>(k) * ldp + 16 * v);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + k]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      ep.store(C + (m0 + r) * ldc + 16 * v, acc[r][v], lanes(N - 16 * v));
  }
}

template <int NV>
MEDTUNE_SKINNY_FN void narrowBlock(const float* A, int64_t lda, const float* bp, int ldp, int K,
                                   int N, const Epilogue& ep, float* C, int64_t ldc, int m0,
                                   int m1) {
  int m = m0;
  for (; m + 4 <= m1; m += 4) narrowRows<4, NV>(A, lda, bp, ldp, K, N, ep, C, ldc, m);
  for (; m < m1; ++m) narrowRows<1, NV>(A, lda, bp, ldp, K, N, ep, C, ldc, m);
}

// A stored transposed: A(m, k) = A[k * lda + m]. Rows [m0, m0 + 16) and columns [n0, n0 + 16)
// of C, held as 16 column vectors.
MEDTUNE_SKINNY_FN void narrowTransposedBlock(const float* A, int64_t lda, const float* bp, int ldp,
                                             int M, int K, int N, const Epilogue& ep, float* C,
                                             int64_t ldc, int m0, int n0) {
  __m512 acc[16];
#pragma GCC unroll 16
  for (int j = 0; j < 16; ++j) acc[j] = _mm512_setzero_ps();
  const __mmask16 rows = lanes(M - m0);
  for (int k = 0; k < K; ++k) {
    const __m512 a = _mm512_maskz_loadu_ps(rows, A + k * lda + m0);
    const float* b = bp + static_cast<size_t>(k) * ldp + n0;
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_fmadd_ps(a, _mm512_set1_ps(b[j]), acc[j]);
  }
  alignas(64) float t[16][16];  // t[j][i]: C(m0 + i, n0 + j)
#pragma GCC unroll 16
  for (int j = 0; j < 16; ++j) _mm512_store_ps(t[j], acc[j]);
  const int ni = std::min(16, N - n0), mi = std::min(16, M - m0);
  for (int i = 0; i < mi; ++i) {
    float* c = C + (m0 + i) * ldc + n0;
    for (int j = 0; j < ni; ++j) c[j] = ep.value(t[j][i], c + j);
  }
}

void narrow(bool transA, int M, int N, int K, const Epilogue& ep, const float* A, int lda,
            const Operand& b, float* C, int ldc) {
  const int ldp = roundUp(N, 16);
  const float* bp = packRows(b, K, N, ldp).data();
  if (transA) {
    const int mBlocks = (M + 15) / 16, nBlocks = ldp / 16;
    shareOut(mBlocks * nBlocks, [&](int i) {
      narrowTransposedBlock(A, lda, bp, ldp, M, K, N, ep, C, ldc, 16 * (i / nBlocks),
                            16 * (i % nBlocks));
    });
    return;
  }
  constexpr int kRows = 64;
  shareOut((M + kRows - 1) / kRows, [&](int i) {
    const int m0 = kRows * i, m1 = std::min(M, m0 + kRows);
    switch (ldp / 16) {
      case 1:
        narrowBlock<1>(A, lda, bp, ldp, K, N, ep, C, ldc, m0, m1);
        break;
      case 2:
        narrowBlock<2>(A, lda, bp, ldp, K, N, ep, C, ldc, m0, m1);
        break;
      case 3:
        narrowBlock<3>(A, lda, bp, ldp, K, N, ep, C, ldc, m0, m1);
        break;
      default:
        narrowBlock<4>(A, lda, bp, ldp, K, N, ep, C, ldc, m0, m1);
        break;
    }
  });
}

// ---- short K: K <= 64 ----

// Rows [m0, m1) of C = ap (M, K) times bp (K, N, leading dimension ldb), 64 columns at a time
// (B's strip stays in L1 while the rows pass).
MEDTUNE_SKINNY_FN void shortKBlock(const float* ap, int K, const float* bp, int64_t ldb, int N,
                                   const Epilogue& ep, float* C, int64_t ldc, int m0, int m1) {
  for (int n0 = 0; n0 < N; n0 += 64) {
    const __mmask16 m[4] = {lanes(N - n0), lanes(N - n0 - 16), lanes(N - n0 - 32),
                            lanes(N - n0 - 48)};
    for (int r = m0; r < m1; ++r) {
      __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                       _mm512_setzero_ps()};
      const float* a = ap + static_cast<size_t>(r) * K;
      for (int k = 0; k < K; ++k) {
        const __m512 x = _mm512_set1_ps(a[k]);
        const float* b = bp + k * ldb + n0;
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v)
          acc[v] = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m[v], b + 16 * v), acc[v]);
      }
#pragma GCC unroll 4
      for (int v = 0; v < 4; ++v) {
        if (m[v]) ep.store(C + r * ldc + n0 + 16 * v, acc[v], m[v]);
      }
    }
  }
}

void shortK(bool transA, bool transB, int M, int N, int K, const Epilogue& ep, const float* A,
            int lda, const float* B, int ldb, float* C, int ldc) {
  thread_local std::vector<float> aBuf;
  const float* ap = A;
  if (transA || lda != K) {
    const Operand a(A, lda, transA);
    aBuf.resize(static_cast<size_t>(M) * K);
    for (int m = 0; m < M; ++m) {
      for (int k = 0; k < K; ++k) aBuf[static_cast<size_t>(m) * K + k] = a.at(m, k);
    }
    ap = aBuf.data();
  }
  const float* bp = B;
  int64_t ld = ldb;
  if (transB) {
    ld = roundUp(N, 16);
    bp = packRows(Operand(B, ldb, true), K, N, static_cast<int>(ld)).data();
  }
  constexpr int kRows = 32;
  shareOut((M + kRows - 1) / kRows, [&](int i) {
    shortKBlock(ap, K, bp, ld, N, ep, C, ldc, kRows * i, std::min(M, kRows * (i + 1)));
  });
}

// ---- short M: M <= 64 ----

// Columns [n0, n0 + 16) of rows [m0, m0 + 16) of C: at (K, 16) holds op(A)^T's rows for them.
MEDTUNE_SKINNY_FN void shortMStrip(const float* at, int M, int K, const float* B, int64_t ldb,
                                   int N, const Epilogue& ep, float* C, int64_t ldc, int m0,
                                   int n0) {
  __m512 acc[16];
#pragma GCC unroll 16
  for (int r = 0; r < 16; ++r) acc[r] = _mm512_setzero_ps();
  const __mmask16 cols = lanes(N - n0);
  for (int k = 0; k < K; ++k) {
    const __m512 b = _mm512_maskz_loadu_ps(cols, B + k * ldb + n0);
    const float* a = at + static_cast<size_t>(k) * 16;
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r]), b, acc[r]);
  }
  for (int r = 0; r < std::min(16, M - m0); ++r) ep.store(C + (m0 + r) * ldc + n0, acc[r], cols);
}

// A stored transposed (u^T dY): A(m, k) = A[k * lda + m].
void shortM(int M, int N, int K, const Epilogue& ep, const float* A, int lda, const float* B,
            int ldb, float* C, int ldc) {
  // op(A)^T as (mBlocks, K, 16): block p, row k holds A(16 p .. 16 p + 15, k), zeros past M.
  const int mBlocks = (M + 15) / 16;
  thread_local std::vector<float> tBuf;
  tBuf.assign(static_cast<size_t>(mBlocks) * K * 16, 0.0f);
  for (int k = 0; k < K; ++k) {
    const float* a = A + static_cast<int64_t>(k) * lda;
    for (int m = 0; m < M; ++m) tBuf[(static_cast<size_t>(m / 16) * K + k) * 16 + m % 16] = a[m];
  }
  const float* at = tBuf.data();  // by pointer: in a worker, tBuf names the worker's own
  const int nStrips = (N + 15) / 16;
  shareOut(nStrips, [&](int s) {
    for (int p = 0; p < mBlocks; ++p) {
      shortMStrip(at + static_cast<size_t>(p) * K * 16, M - 16 * p, K, B, ldb, N, ep,
                  C + static_cast<int64_t>(16 * p) * ldc, ldc, 0, 16 * s);
    }
  });
}

bool haveAvx512() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vl");
  return yes;
}

}  // namespace

bool skinnySgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A,
                 int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  const int shortest = std::min({M, N, K});
  if (shortest <= 0 || shortest > kShort || !haveAvx512()) return false;
  if (static_cast<double>(M) * N * K < kMinWork) return false;
  const Epilogue ep{alpha, beta};
  if (N == shortest) {
    narrow(transA, M, N, K, ep, A, lda, Operand(B, ldb, transB), C, ldc);
  } else if (K == shortest) {
    shortK(transA, transB, M, N, K, ep, A, lda, B, ldb, C, ldc);
  } else if (transA && !transB) {
    shortM(M, N, K, ep, A, lda, B, ldb, C, ldc);
  } else {
    return false;  // a short M otherwise is a few rows of activations (decode): BLAS's GEMV
  }
  return true;
}

#else

bool skinnySgemm(bool, bool, int, int, int, float, const float*, int, const float*, int, float,
                 float*, int) {
  return false;
}

#endif

}  // namespace medtune

namespace medtune {

namespace mx = mlx::core;

void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc);  // blas_shim.cc: BLAS itself

// skinnyGemm(a, b, {transA, transB, alpha, beta, c}) -> {taken, skinny, blas}: op(a) op(b) times
// alpha plus beta c (c: (M, N), needed when beta is not 0) by skinnySgemm (taken: whether it
// applied; skinny is then its result) and by BLAS, for the tests.
Napi::Value SkinnyGemmHook(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 3 || !info[2].IsObject()) {
      throw ArgumentError("skinnyGemm(a, b, {transA, transB, alpha, beta, c})");
    }
    Napi::Object o = info[2].As<Napi::Object>();
    const bool ta = o.Get("transA").ToBoolean(), tb = o.Get("transB").ToBoolean();
    const float alpha = o.Get("alpha").ToNumber().FloatValue();
    const float beta = o.Get("beta").ToNumber().FloatValue();
    mx::array a = mx::contiguous(mx::astype(Tensor::ArrayOf(info[0]), mx::float32));
    mx::array b = mx::contiguous(mx::astype(Tensor::ArrayOf(info[1]), mx::float32));
    if (a.ndim() != 2 || b.ndim() != 2) throw ArgumentError("skinnyGemm: a and b must be 2-D");
    const int M = ta ? a.shape(1) : a.shape(0), K = ta ? a.shape(0) : a.shape(1);
    const int N = tb ? b.shape(0) : b.shape(1);
    if ((tb ? b.shape(1) : b.shape(0)) != K) throw ArgumentError("skinnyGemm: inner sizes differ");
    mx::array c0 = o.Has("c") && !o.Get("c").IsUndefined()
                       ? mx::contiguous(mx::astype(Tensor::ArrayOf(o.Get("c")), mx::float32))
                       : mx::zeros({M, N}, mx::float32);
    if (c0.shape() != mx::Shape{M, N}) throw ArgumentError("skinnyGemm: c must be (M, N)");
    mx::eval({a, b, c0});
    const auto run = [&](bool skinny, bool& taken) {
      std::vector<float> c(c0.data<float>(), c0.data<float>() + c0.size());
      const float *pa = a.data<float>(), *pb = b.data<float>();
      const int lda = a.shape(1), ldb = b.shape(1);
      taken = skinny ? skinnySgemm(ta, tb, M, N, K, alpha, pa, lda, pb, ldb, beta, c.data(), N)
                     : (sgemm(ta, tb, M, N, K, alpha, pa, lda, pb, ldb, beta, c.data(), N), true);
      return mx::array(c.data(), {M, N}, mx::float32);
    };
    bool taken = false, unused = false;
    mx::array skinny = run(true, taken), blas = run(false, unused);
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("taken", taken);
    r.Set("skinny", Tensor::Wrap(info.Env(), std::move(skinny)));
    r.Set("blas", Tensor::Wrap(info.Env(), std::move(blas)));
    return r;
  });
}

}  // namespace medtune
