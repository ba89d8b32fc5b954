// Row-major float32 products with one short side, the shapes of LoRA's low-rank path (rank r at
// most 64): x A (N = r), u B (K = r), and in the backward dY B^T (N = r), dU A^T (K = r),
// x^T dU (N = r) and u^T dY (M = r). BLAS packs both operands for every call and, on these shapes,
// spends more time in its copies than in its kernel; on a 2-core machine those products ran on one
// thread while the other core waited. Here the long operand is read as it lies, only the short one
// is packed (a few KiB), and the work is shared over cpuKernelPool() by blocks of output. Each
// output's sum runs over k in order whatever the split, so results do not depend on the threads.
#pragma once

namespace medtune {

// C (M, N) = alpha op(A) op(B) + beta C (op: transposed when trans*; C is not read when beta is 0),
// row-major with leading dimensions lda, ldb, ldc, as CBLAS. Returns false, doing nothing, unless
// one of M, N, K is at most 64, the product is large enough to be worth sharing out, and the CPU
// has AVX-512 (blas_shim.cc then calls BLAS).
bool skinnySgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A,
                 int lda, const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace medtune
