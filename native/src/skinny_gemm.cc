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

#include "cpu_features.h"
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

// Depth per pass of the transposed kernels below. Their long operand is read a 64-byte row
// segment per k, rows lda floats apart. Over all of K for one 16-wide block that is a cache miss
// per row, which no prefetcher follows; a task instead covers a run of blocks and sweeps them
// kDepthBlock rows at a time (the sums parked in memory between passes), so each row is read
// along as the blocks advance. 32 was the best of 8..128 on the LoRA shapes (2048 positions,
// 576..1536 wide: 80-85 GFLOP/s on 2 threads, against 30 at 128).
constexpr int kDepthBlock = 32;

// 16 x 16 float32 sums held as 16 vectors, parked at `part` (1 KiB) between passes.
MEDTUNE_SKINNY_FN inline void loadAcc(__m512 acc[16], const float* part, bool first) {
#pragma GCC unroll 16
  for (int j = 0; j < 16; ++j)
    acc[j] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(part + 16 * j);
}
MEDTUNE_SKINNY_FN inline void parkAcc(const __m512 acc[16], float* part) {
#pragma GCC unroll 16
  for (int j = 0; j < 16; ++j) _mm512_storeu_ps(part + 16 * j, acc[j]);
}

// The sums both transposed kernels make: for tiles (i, j), i in [i0, i1), j in [0, nj), 16 x 16
// sums parked at part + ((i - i0) nj + j) 256, row t lane l = sum over k of s(j, k)[t] v(k, i)[l],
// where v(k, i) is the 16 floats at v + k ldv + 16 i (lanes from vLen - 16 i on read as 0) and
// s(j, k) a pointer to 16 floats. k runs in order, kDepthBlock rows at a time over all the tiles.
template <class Scalars>
MEDTUNE_SKINNY_FN void outerSums(const float* v, int64_t ldv, int vLen, const Scalars& s, int nj,
                                 int K, int i0, int i1, float* part) {
  for (int k0 = 0; k0 < K; k0 += kDepthBlock) {
    const int k1 = std::min(K, k0 + kDepthBlock);
    for (int i = i0; i < i1; ++i) {
      const __mmask16 valid = lanes(vLen - 16 * i);
      for (int j = 0; j < nj; ++j) {
        float* pt = part + (static_cast<size_t>(i - i0) * nj + j) * 256;
        __m512 acc[16];
        loadAcc(acc, pt, k0 == 0);
        for (int k = k0; k < k1; ++k) {
          const __m512 x = _mm512_maskz_loadu_ps(valid, v + k * ldv + 16 * i);
          const float* w = s(j, k);
#pragma GCC unroll 16
          for (int t = 0; t < 16; ++t) acc[t] = _mm512_fmadd_ps(x, _mm512_set1_ps(w[t]), acc[t]);
        }
        parkAcc(acc, pt);
      }
    }
  }
}

// A stored transposed: A(m, k) = A[k * lda + m]. Rows of C for the 16-row blocks [p0, p1), every
// column: block p, columns [n0, n0 + 16) are held as 16 column vectors (one per n, over 16 m).
MEDTUNE_SKINNY_FN void narrowTransposedRun(const float* A, int64_t lda, const float* bp, int ldp,
                                           int M, int K, int N, const Epilogue& ep, float* C,
                                           int64_t ldc, int p0, int p1) {
  const int chunks = ldp / 16;
  thread_local std::vector<float> partBuf;
  partBuf.resize(static_cast<size_t>(p1 - p0) * chunks * 256);
  float* part = partBuf.data();
  const auto row = [&](int c, int k) { return bp + static_cast<size_t>(k) * ldp + 16 * c; };
  outerSums(A, lda, M, row, chunks, K, p0, p1, part);
  // part block (p, c) holds [j][i] = C(16 p + i, 16 c + j).
  for (int p = p0; p < p1; ++p) {
    for (int i = 0; i < std::min(16, M - 16 * p); ++i) {
      float* row = C + (16 * p + i) * ldc;
      for (int n = 0; n < N; ++n) {
        const float* blk = part + (static_cast<size_t>(p - p0) * chunks + n / 16) * 256;
        row[n] = ep.value(blk[16 * (n % 16) + i], row + n);
      }
    }
  }
}

void narrow(bool transA, int M, int N, int K, const Epilogue& ep, const float* A, int lda,
            const Operand& b, float* C, int ldc) {
  const int ldp = roundUp(N, 16);
  const float* bp = packRows(b, K, N, ldp).data();
  if (transA) {
    const int mBlocks = (M + 15) / 16, tasks = std::min(mBlocks, 4 * cpuKernelPool().size());
    shareOut(tasks, [&](int i) {
      narrowTransposedRun(A, lda, bp, ldp, M, K, N, ep, C, ldc, mBlocks * i / tasks,
                          mBlocks * (i + 1) / tasks);
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

// Columns [16 s0, 16 s1) of C, every row: at (mBlocks, K, 16) holds op(A)^T by blocks of 16 rows.
// Each strip s and row block p sums as 16 row vectors (one per m, over 16 n).
MEDTUNE_SKINNY_FN void shortMRun(const float* at, int M, int K, const float* B, int64_t ldb, int N,
                                 const Epilogue& ep, float* C, int64_t ldc, int s0, int s1) {
  const int mBlocks = (M + 15) / 16;
  thread_local std::vector<float> partBuf;
  partBuf.resize(static_cast<size_t>(s1 - s0) * mBlocks * 256);
  float* part = partBuf.data();
  const auto rows = [&](int p, int k) { return at + (static_cast<size_t>(p) * K + k) * 16; };
  outerSums(B, ldb, N, rows, mBlocks, K, s0, s1, part);
  for (int s = s0; s < s1; ++s) {
    const __mmask16 cols = lanes(N - 16 * s);
    for (int p = 0; p < mBlocks; ++p) {
      const float* pt = part + (static_cast<size_t>(s - s0) * mBlocks + p) * 256;
      for (int r = 0; r < std::min(16, M - 16 * p); ++r) {
        ep.store(C + (16 * p + r) * ldc + 16 * s, _mm512_loadu_ps(pt + 16 * r), cols);
      }
    }
  }
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
  const int strips = (N + 15) / 16, tasks = std::min(strips, 4 * cpuKernelPool().size());
  shareOut(tasks, [&](int i) {
    shortMRun(at, M, K, B, ldb, N, ep, C, ldc, strips * i / tasks, strips * (i + 1) / tasks);
  });
}

bool haveAvx512() { return cpuHasAvx512(); }

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
