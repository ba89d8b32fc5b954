// Products with a frozen weight kept packed on the CPU (QLoRA's base, MLX affine 4/8-bit): one MLX
// primitive per product. Its CPU evaluation walks W in blocks of output rows, dequantizes each
// block into a thread-local float32 buffer (AVX-512 when the CPU has it, else a scalar loop) and
// hands it to BLAS (cblas_sgemm: OpenBLAS through blas_shim.cc), so weight memory stays the packed
// size while the arithmetic is the float GEMM's. The backward through x is the transposed product
// over the same blocks; W gets no gradient (it is frozen).
#pragma once

#include "model.h"

namespace medtune {

// x (..., in) W^T -> (..., out) for a quantized `lin` (float32 compute, result in x's dtype).
mx::array packedMatmul(const Linear& lin, const mx::array& x);
// g (..., out) W -> (..., in), the product the backward through x needs.
mx::array packedMatmulTransposed(const Linear& lin, const mx::array& g);

// Row-major C = alpha op(A) op(B) + beta C through the BLAS that serves MLX (blas_shim.cc).
void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace medtune
