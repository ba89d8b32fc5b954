// y = x W^T and dx = g W with W packed (MLX affine 4/8-bit), as one MLX primitive each (see
// packed_matmul.h). Why blocks of rows: a block of 128-512 dequantized rows is a few hundred KB to
// a few MB of float32, cache-sized, and a GEMM over it still runs at BLAS speed for the hundreds of
// activation rows of a training step; dequantizing costs ~1 operation per weight against 2M
// (M activation rows) for the GEMM.
#include "packed_matmul.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "bf16_amx.h"
#include "cpu_features.h"
#include "mlx/backend/cpu/encoder.h"
#include "mlx/primitives.h"
#include "quant_compact.h"

// MEDTUNE_NO_SIMD builds the scalar kernel only (as on CPUs and compilers without AVX-512).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MEDTUNE_NO_SIMD)
#include <immintrin.h>
#define MEDTUNE_PACKED_AVX512 1
#define MEDTUNE_PACKED_AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#endif

namespace medtune {

namespace {

// The packed weight as raw pointers into evaluated, row-contiguous MLX arrays.
struct PackedView {
  int in = 0, out = 0, bits = 0, group = 0;
  const uint32_t* q = nullptr;  // (out, in * bits / 32)
  GroupScales scales;           // (out, in / group), float32 or compact (quant_compact.h)
};

// Float rows of W per block: about 1 MB of float32 (an L2's worth), 32 to 512 rows, a multiple
// of 16. MEDTUNE_PACKED_TILE_ROWS overrides it (measurements).
int blockRows(int in) {
  static const int forced = [] {
    const char* e = std::getenv("MEDTUNE_PACKED_TILE_ROWS");
    return e ? std::atoi(e) : 0;
  }();
  if (forced > 0) return forced;
  return std::clamp((262144 / std::max(in, 1)) / 16 * 16, 32, 512);
}

// ---- dequantization of rows [o0, o1) into dst ((o1 - o0), in) ----

void dequantRowsScalar(const PackedView& w, int o0, int o1, float* dst) {
  const size_t words = static_cast<size_t>(w.in) * w.bits / 32;
  const uint32_t mask = (1u << w.bits) - 1;
  for (int o = o0; o < o1; ++o) {
    const uint32_t* row = w.q + o * words;
    const RowScales sb(w.scales, o);  // (groups) each
    float* d = dst + static_cast<size_t>(o - o0) * w.in;
    for (int i = 0; i < w.in; ++i) {
      const size_t bit = static_cast<size_t>(i) * w.bits;
      d[i] = sb.s[i / w.group] * static_cast<float>((row[bit / 32] >> (bit % 32)) & mask) +
             sb.b[i / w.group];
    }
  }
}

bool haveAvx512() {
#if defined(MEDTUNE_PACKED_AVX512)
  return cpuHasAvx512();
#else
  return false;
#endif
}

#if defined(MEDTUNE_PACKED_AVX512)

MEDTUNE_PACKED_AVX512_FN void dequantRowsAvx512(const PackedView& w, int o0, int o1, float* dst) {
  const size_t rowBytes = static_cast<size_t>(w.in) * w.bits / 8;
  const int chunkBytes = 32 * w.bits / 8;
  for (int o = o0; o < o1; ++o) {
    const uint8_t* row = reinterpret_cast<const uint8_t*>(w.q) + o * rowBytes;
    const RowScales sb(w.scales, o, Avx512Tag{});  // (groups) each
    float* d = dst + static_cast<size_t>(o - o0) * w.in;
    for (int c = 0; c < w.in; c += 32) {
      __m512 v0, v1;
      dequant32Avx512(row + (c / 32) * chunkBytes, w.bits, _mm512_set1_ps(sb.s[c / w.group]),
                      _mm512_set1_ps(sb.b[c / w.group]), &v0, &v1);
      _mm512_storeu_ps(d + c, v0);
      _mm512_storeu_ps(d + c + 16, v1);
    }
  }
}

#endif

void dequantRows(const PackedView& w, int o0, int o1, float* dst) {
#if defined(MEDTUNE_PACKED_AVX512)
  // Whole 32-value chunks inside one group: every layout GGUF Q4_0 / Q4_1 / Q8_0 loads into.
  if (haveAvx512() && (w.bits == 4 || w.bits == 8) && w.group % 32 == 0) {
    dequantRowsAvx512(w, o0, o1, dst);
    return;
  }
#endif
  dequantRowsScalar(w, o0, o1, dst);
}

// The float block buffer, one per thread (MLX's CPU stream runs these on its own thread).
float* blockBuffer(size_t floats) {
  thread_local std::vector<float> buf;
  if (buf.size() < floats) buf.resize(floats);
  return buf.data();
}

// y (M, out) = x (M, in) W^T, one BLAS call per block of W's rows into y's matching columns.
void forwardBlocks(const PackedView& w, const float* x, int M, float* y) {
  const int T = blockRows(w.in);
  float* buf = blockBuffer(static_cast<size_t>(T) * w.in);
  for (int o0 = 0; o0 < w.out; o0 += T) {
    const int o1 = std::min(w.out, o0 + T);
    dequantRows(w, o0, o1, buf);  // (o1 - o0, in)
    sgemm(false, true, M, o1 - o0, w.in, 1.0f, x, w.in, buf, w.in, 0.0f, y + o0, w.out);
  }
}

// dx (M, in) = g (M, out) W, summed over blocks of W's rows: dx += g[:, o0:o1] W[o0:o1].
void transposedBlocks(const PackedView& w, const float* g, int M, float* dx) {
  const int T = blockRows(w.in);
  float* buf = blockBuffer(static_cast<size_t>(T) * w.in);
  for (int o0 = 0; o0 < w.out; o0 += T) {
    const int o1 = std::min(w.out, o0 + T);
    dequantRows(w, o0, o1, buf);  // (o1 - o0, in)
    sgemm(false, false, M, w.in, o1 - o0, 1.0f, g + o0, w.out, buf, w.in, o0 == 0 ? 0.0f : 1.0f, dx,
          w.in);
  }
}

// Inputs: a (M, K) float32, the packed weight (out, in) uint32, scales (out, in / group) float32 or
// float16, and biases alike unless implicit (quant_compact.h: then there is no fourth input).
// Forward: K = in, output (M, out); transposed: K = out, output (M, in).
class PackedMatmul : public mx::UnaryPrimitive {
 public:
  PackedMatmul(mx::Stream s, int in, int out, int bits, int group, bool transposed, bool bf16)
      : mx::UnaryPrimitive(s),
        in_(in),
        out_(out),
        bits_(bits),
        group_(group),
        transposed_(transposed),
        bf16_(bf16) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& output) override {
    for (const mx::array& a : inputs) {
      if (!a.flags().row_contiguous)
        throw std::runtime_error("packed matmul: an input is not row-contiguous");
    }
    output.set_data(mx::allocator::malloc(output.nbytes()));
    PackedView w{in_,
                 out_,
                 bits_,
                 group_,
                 inputs[1].data<uint32_t>(),
                 groupScales(inputs[2], inputs.size() > 3 ? &inputs[3] : nullptr, bits_)};
    const float* a = inputs[0].data<float>();
    float* y = output.data<float>();
    const int M = inputs[0].shape(0);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const mx::array& in : inputs) encoder.set_input_array(in);
    encoder.set_output_array(output);
    const bf16::PackedWeight tiles{w.q, w.in, w.out, w.bits, w.group, w.scales};
    const bool bf16 = bf16_ && bf16::supports(tiles);
    encoder.dispatch([w, tiles, bf16, a, y, M, transposed = transposed_]() {
      if (M == 0) return;
      if (bf16) {
        if (transposed) {
          bf16::transposed(tiles, a, M, y);
        } else {
          bf16::forward(tiles, a, M, y);
        }
      } else if (transposed) {
        transposedBlocks(w, a, M, y);
      } else {
        forwardBlocks(w, a, M, y);
      }
    });
  }

  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("packed matmul: CPU only (GPUs keep MLX's quantized kernels)");
  }

  // The backward through a (input 0) is the other direction over the same W; W is frozen.
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals,
                             const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums,
                             const std::vector<mx::array>&) override {
    std::vector<mx::array> grads;
    for (int i : argnums) {
      if (i != 0) throw std::invalid_argument("packed matmul: the packed weight is frozen");
      grads.push_back(apply(cotangents[0], primals, !transposed_));
    }
    return grads;
  }

  const char* name() const override { return "MedtunePackedMatmul"; }
  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const PackedMatmul&>(other);
    return in_ == o.in_ && out_ == o.out_ && bits_ == o.bits_ && group_ == o.group_ &&
           transposed_ == o.transposed_ && bf16_ == o.bf16_;
  }
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override {
    return {{inputs[0].shape(0), transposed_ ? in_ : out_}};
  }

  // a (M, K) float32 with the weight arrays of `primals` -> (M, in or out) float32.
  mx::array apply(const mx::array& a, const std::vector<mx::array>& primals,
                  bool transposed) const {
    auto p = std::make_shared<PackedMatmul>(mx::to_stream(mx::Device::cpu), in_, out_, bits_,
                                            group_, transposed, bf16_);
    std::vector<mx::array> inputs = primals;
    inputs[0] = mx::contiguous(a);
    return mx::array({a.shape(0), transposed ? in_ : out_}, mx::float32, p, std::move(inputs));
  }

 private:
  int in_, out_, bits_, group_;
  bool transposed_;
  bool bf16_;  // bfloat16 tile products (bf16_amx.h) where the shapes allow
};

// The weight arrays the primitive reads, row-contiguous: packed W, scales and, unless implicit,
// biases — float16 ones (compact) as they are, other types as float32.
std::vector<mx::array> packedInputs(const Linear& lin) {
  if (!lin.affine())
    throw std::invalid_argument("packed matmul: the weight is not MLX affine-quantized");
  if (lin.bits != 4 && lin.bits != 8)
    throw std::invalid_argument("packed matmul: " + std::to_string(lin.bits) +
                                "-bit weights are not supported (4 or 8)");
  auto prepared = [](const mx::array& a, mx::Dtype dt) {
    return mx::contiguous(a.dtype() == dt ? a : mx::astype(a, dt));
  };
  auto groupwise = [&prepared](const mx::array& a) {
    return prepared(a, a.dtype() == mx::float16 ? mx::float16 : mx::float32);
  };
  std::vector<mx::array> w = {prepared(*lin.qweight, mx::uint32), groupwise(*lin.scales)};
  if (lin.qbiases) w.push_back(groupwise(*lin.qbiases));
  return w;
}

thread_local bool inTraining = false;  // a TrainingProducts scope is open on this thread

// a (..., K) -> (..., in or out) through the primitive, in a's dtype.
mx::array packedProduct(const Linear& lin, const mx::array& a, bool transposed,
                        PackedPrecision precision) {
  const int K = transposed ? lin.outDim : lin.inDim;
  if (a.ndim() < 1 || a.shape(-1) != K)
    throw std::invalid_argument("packed matmul: input " + shapeStr(a.shape()) + " needs a last " +
                                "axis of " + std::to_string(K));
  const int M = static_cast<int>(a.size() / K);
  mx::array a2 = mx::contiguous(mx::reshape(mx::astype(a, mx::float32), {M, K}));  // (M, K)
  std::vector<mx::array> inputs = packedInputs(lin);
  inputs.insert(inputs.begin(), a2);
  const bool bf16 = precision == PackedPrecision::Bf16 ||
                    (precision == PackedPrecision::Default && inTraining && packedBf16().byDefault);
  if (bf16 && !bf16::amxAvailable())
    throw std::invalid_argument("packed matmul: bfloat16 products need AMX-BF16 on this CPU");
  auto p = std::make_shared<PackedMatmul>(mx::to_stream(mx::Device::cpu), lin.inDim, lin.outDim,
                                          lin.bits, lin.groupSize, transposed, bf16);
  mx::array y(mx::Shape{M, transposed ? lin.inDim : lin.outDim}, mx::float32, p,
              std::move(inputs));  // (M, in or out)
  mx::Shape shape = a.shape();
  shape.back() = transposed ? lin.inDim : lin.outDim;
  return mx::astype(mx::reshape(y, shape), a.dtype());
}

}  // namespace

PackedBf16 packedBf16() {
  // Read per product (a cheap getenv beside building the product), so a process can switch.
  const bool amx = bf16::amxAvailable();
  const char* e = std::getenv("MEDTUNE_PACKED_BF16");
  const std::string v = e ? e : "";
  PackedBf16 how{amx ? "amx" : "none", amx};
  if (v == "0") {
    how.byDefault = false;
  } else if (v == "1") {
    if (!amx)
      throw std::invalid_argument(
          "MEDTUNE_PACKED_BF16=1: this CPU has no AMX-BF16 tiles (or the OS did not grant them)");
  } else if (!v.empty()) {
    throw std::invalid_argument("MEDTUNE_PACKED_BF16='" + v + "': expected 0 or 1");
  }
  return how;
}

TrainingProducts::TrainingProducts() : outer_(inTraining) { inTraining = true; }
TrainingProducts::~TrainingProducts() { inTraining = outer_; }

mx::array packedMatmul(const Linear& lin, const mx::array& x, PackedPrecision precision) {
  return packedProduct(lin, x, false, precision);
}

mx::array packedMatmulTransposed(const Linear& lin, const mx::array& g, PackedPrecision precision) {
  return packedProduct(lin, g, true, precision);
}

}  // namespace medtune
