// Routes MLX's CPU matrix multiplies to OpenBLAS (see native/CMakeLists.txt for why and how).
//
// libmlx from the mlx-cpu wheel calls exactly three BLAS-3 routines: cblas_sgemm, cblas_dgemm and
// cblas_cgemm. Defining them here, in the addon, makes the dynamic linker bind libmlx's calls to
// these definitions (the addon precedes libmlx's own dependencies in the lookup scope), and each
// forwards to the prefixed entry point of the scipy-openblas32 wheel (32-bit integers, as CBLAS).
// medtune::sgemm (packed_matmul.cc's GEMMs over dequantized blocks) goes through the same
// cblas_sgemm, so through the same BLAS and the fork guard below.
//
// Fork guard. OpenBLAS registers a fork handler that shuts its worker threads down (it joins
// them). A fork from one thread while another is inside a threaded sgemm hangs that join for good:
// the worker is mid-product, waiting on the calling thread, which waits on the worker. Node forks
// for every child_process call (libuv's uv_spawn), so `execFileSync("git", ...)` on the JS thread
// while a training job multiplies on MLX's thread froze the process (seen in a notebook kernel).
// So every BLAS call here is counted in flight, and our own fork handler, which runs before
// OpenBLAS's (handlers registered later run first; ours is registered at the first BLAS call,
// after OpenBLAS's own from its load), waits until none is in flight and holds new ones back
// until the fork is done. posix_spawn and vfork run no fork handlers and are unaffected.
// CBLAS constants: row-major 101, no transpose 111, transpose 112.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

#if defined(MEDTUNE_OPENBLAS_SHIM)

#include <pthread.h>

#include <condition_variable>
#include <mutex>
#include <new>

#include "skinny_gemm.h"

namespace {

struct ForkGuard {
  std::mutex mu;
  std::condition_variable cv;
  int inFlight = 0;      // BLAS calls running now
  bool forking = false;  // between our prepare and parent handlers
};

ForkGuard* guard() {
  static ForkGuard* g = new ForkGuard();  // never destroyed: handlers may run at exit
  return g;
}

void beforeFork() {
  ForkGuard& g = *guard();
  std::unique_lock<std::mutex> lock(g.mu);
  g.cv.wait(lock, [&] { return !g.forking && g.inFlight == 0; });
  g.forking = true;
}

void afterForkParent() {
  ForkGuard& g = *guard();
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.forking = false;
  }
  g.cv.notify_all();
}

// The child has one thread; the mutex may have been held by a thread that does not exist there.
void afterForkChild() { new (guard()) ForkGuard(); }

// Counts one BLAS call in flight for its scope.
class InFlight {
 public:
  InFlight() {
    static std::once_flag once;
    std::call_once(once, [] { pthread_atfork(beforeFork, afterForkParent, afterForkChild); });
    ForkGuard& g = *guard();
    std::unique_lock<std::mutex> lock(g.mu);
    g.cv.wait(lock, [&] { return !g.forking; });
    ++g.inFlight;
  }
  ~InFlight() {
    ForkGuard& g = *guard();
    bool last;
    {
      std::lock_guard<std::mutex> lock(g.mu);
      last = --g.inFlight == 0;
    }
    if (last) g.cv.notify_all();
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
};

}  // namespace

extern "C" {

// CBLAS enums are plain ints at the ABI level.
void scipy_cblas_sgemm(int layout, int transa, int transb, int m, int n, int k, float alpha,
                       const float* a, int lda, const float* b, int ldb, float beta, float* c,
                       int ldc);
void scipy_cblas_dgemm(int layout, int transa, int transb, int m, int n, int k, double alpha,
                       const double* a, int lda, const double* b, int ldb, double beta, double* c,
                       int ldc);
void scipy_cblas_cgemm(int layout, int transa, int transb, int m, int n, int k, const void* alpha,
                       const void* a, int lda, const void* b, int ldb, const void* beta, void* c,
                       int ldc);
char* scipy_openblas_get_config(void);

// MLX's GEMMs: those with a short side (LoRA's rank-r products) go to skinnySgemm, the rest to
// OpenBLAS.
__attribute__((visibility("default"))) void cblas_sgemm(int layout, int transa, int transb, int m,
                                                        int n, int k, float alpha, const float* a,
                                                        int lda, const float* b, int ldb,
                                                        float beta, float* c, int ldc) {
  if (layout == kRowMajor && medtune::skinnySgemm(transa == kTrans, transb == kTrans, m, n, k,
                                                  alpha, a, lda, b, ldb, beta, c, ldc)) {
    return;
  }
  InFlight call;
  scipy_cblas_sgemm(layout, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

__attribute__((visibility("default"))) void cblas_dgemm(int layout, int transa, int transb, int m,
                                                        int n, int k, double alpha, const double* a,
                                                        int lda, const double* b, int ldb,
                                                        double beta, double* c, int ldc) {
  InFlight call;
  scipy_cblas_dgemm(layout, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

__attribute__((visibility("default"))) void cblas_cgemm(int layout, int transa, int transb, int m,
                                                        int n, int k, const void* alpha,
                                                        const void* a, int lda, const void* b,
                                                        int ldb, const void* beta, void* c,
                                                        int ldc) {
  InFlight call;
  scipy_cblas_cgemm(layout, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // extern "C"

namespace medtune {
const char* blasName() { return scipy_openblas_get_config(); }

// packed_matmul.cc's GEMMs over dequantized weight blocks: straight to OpenBLAS (a block of weight
// rows is not a short side worth skinnySgemm's packing).
void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
  InFlight call;
  scipy_cblas_sgemm(kRowMajor, transA ? kTrans : kNoTrans, transB ? kTrans : kNoTrans, M, N, K,
                    alpha, A, lda, B, ldb, beta, C, ldc);
}
}  // namespace medtune

#else

// The BLAS libmlx links (a reference BLAS, or Accelerate on macOS) provides cblas_sgemm.
extern "C" void cblas_sgemm(int layout, int transa, int transb, int m, int n, int k, float alpha,
                            const float* a, int lda, const float* b, int ldb, float beta, float* c,
                            int ldc);

namespace medtune {
const char* blasName() { return "the MLX wheel's own BLAS"; }

void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(kRowMajor, transA ? kTrans : kNoTrans, transB ? kTrans : kNoTrans, M, N, K, alpha, A,
              lda, B, ldb, beta, C, ldc);
}
}  // namespace medtune

#endif
