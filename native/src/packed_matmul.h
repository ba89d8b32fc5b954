// Products with a frozen weight kept packed on the CPU (QLoRA's base, MLX affine 4/8-bit): one MLX
// primitive per product. Its CPU evaluation walks W in blocks of output rows, dequantizes each
// block into a thread-local float32 buffer (AVX-512 when the CPU has it, else a scalar loop) and
// hands it to BLAS (cblas_sgemm: OpenBLAS through blas_shim.cc), so weight memory stays the packed
// size while the arithmetic is the float GEMM's. On CPUs with AMX-BF16 the products run on bfloat16
// tiles instead by default (bf16_amx.h), also from the packed bytes. The backward through x is the
// transposed product over the same blocks; W gets no gradient (it is frozen).
#pragma once

#include "model.h"

namespace medtune {

// The products' arithmetic: float32 (BLAS over dequantized blocks) or bfloat16 tiles (bf16_amx.h:
// AMX, float32 sums) where the shapes allow. Default: bfloat16 for products made on a thread inside
// a TrainingProducts scope when packedBf16().byDefault, else float32.
enum class PackedPrecision { Default, Float32, Bf16 };

// Which bfloat16 kernel this CPU has ("amx" or "none") and whether training's products use it by
// default: where there is one, unless MEDTUNE_PACKED_BF16=0 (=1 insists: an error without AMX).
// Read at each product, so a process can switch.
struct PackedBf16 {
  const char* kernel;
  bool byDefault;
};
PackedBf16 packedBf16();

// While one is alive, the Default products this thread makes (and their backward, made with them)
// are training's: bfloat16 where packedBf16() says so. lossAndGrad and lossSum (train.cc) open
// one; inference (forward, logits, scoring, perplexity) stays float32.
class TrainingProducts {
 public:
  TrainingProducts();
  ~TrainingProducts();
  TrainingProducts(const TrainingProducts&) = delete;
  TrainingProducts& operator=(const TrainingProducts&) = delete;

 private:
  bool outer_;
};

// x (..., in) W^T -> (..., out) for a quantized `lin` (float32 sums, result in x's dtype). The
// precision carries into the backward.
mx::array packedMatmul(const Linear& lin, const mx::array& x,
                       PackedPrecision precision = PackedPrecision::Default);
// g (..., out) W -> (..., in), the product the backward through x needs.
mx::array packedMatmulTransposed(const Linear& lin, const mx::array& g,
                                 PackedPrecision precision = PackedPrecision::Default);

// Row-major C = alpha op(A) op(B) + beta C through the BLAS that serves MLX (blas_shim.cc).
void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace medtune
