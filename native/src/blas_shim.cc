// Routes MLX's CPU matrix multiplies to OpenBLAS (see native/CMakeLists.txt for why and how).
//
// libmlx from the mlx-cpu wheel calls exactly three BLAS-3 routines: cblas_sgemm, cblas_dgemm and
// cblas_cgemm. Defining them here, in the addon, makes the dynamic linker bind libmlx's calls to
// these definitions (the addon precedes libmlx's own dependencies in the lookup scope), and each
// forwards to the prefixed entry point of the scipy-openblas32 wheel (32-bit integers, as CBLAS).
// medtune::sgemm (packed_matmul.cc's GEMMs over dequantized blocks) goes to the same BLAS.
// CBLAS constants: row-major 101, no transpose 111, transpose 112.
#if defined(MEDTUNE_OPENBLAS_SHIM)

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

__attribute__((visibility("default"))) void cblas_sgemm(int layout, int transa, int transb, int m,
                                                        int n, int k, float alpha, const float* a,
                                                        int lda, const float* b, int ldb,
                                                        float beta, float* c, int ldc) {
  scipy_cblas_sgemm(layout, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

__attribute__((visibility("default"))) void cblas_dgemm(int layout, int transa, int transb, int m,
                                                        int n, int k, double alpha, const double* a,
                                                        int lda, const double* b, int ldb,
                                                        double beta, double* c, int ldc) {
  scipy_cblas_dgemm(layout, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

__attribute__((visibility("default"))) void cblas_cgemm(int layout, int transa, int transb, int m,
                                                        int n, int k, const void* alpha,
                                                        const void* a, int lda, const void* b,
                                                        int ldb, const void* beta, void* c,
                                                        int ldc) {
  scipy_cblas_cgemm(layout, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // extern "C"

namespace medtune {
const char* blasName() { return scipy_openblas_get_config(); }
void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
  scipy_cblas_sgemm(101, transA ? 112 : 111, transB ? 112 : 111, M, N, K, alpha, A, lda, B, ldb,
                    beta, C, ldc);
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
  cblas_sgemm(101, transA ? 112 : 111, transB ? 112 : 111, M, N, K, alpha, A, lda, B, ldb, beta, C,
              ldc);
}
}  // namespace medtune

#endif
