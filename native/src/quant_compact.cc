// See quant_compact.h: the compact scales / biases of a packed weight, made once at
// prepareCompute() and read back as float32 by MLX ops (Linear::affineParams) and the CPU kernels
// (RowScales).
#include "quant_compact.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MEDTUNE_NO_SIMD)
#include <immintrin.h>
#define MEDTUNE_COMPACT_AVX512 1
#define MEDTUNE_COMPACT_AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl")))
#endif

namespace medtune {

namespace {

// The bias every group of a symmetric type has: -2^(bits-1) * scale (GGUF Q4_0: -8 s, Q8_0: -128
// s).
float implicitBiasFactor(int bits) { return -static_cast<float>(1u << (bits - 1)); }

// float16 bits -> float32, exactly (normals, subnormals, zeros, infinities, NaNs).
float halfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0) {
    const float f = std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal
    return sign ? -f : f;
  }
  const uint32_t bits =
      sign | (exponent == 0x1fu ? 0x7f800000u : (exponent + 112u) << 23) | (mantissa << 13);
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

bool haveAvx512() {
#if defined(MEDTUNE_COMPACT_AVX512)
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return yes;
#else
  return false;
#endif
}

#if defined(MEDTUNE_COMPACT_AVX512)
MEDTUNE_COMPACT_AVX512_FN void halvesToFloatsAvx512(const uint16_t* h, int n, float* dst) {
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(dst + i,
                     _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i))));
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h + i)));
  }
}
#endif

void halvesToFloats(const uint16_t* h, int n, float* dst) {
#if defined(MEDTUNE_COMPACT_AVX512)
  if (haveAvx512()) return halvesToFloatsAvx512(h, n, dst);
#endif
  for (int i = 0; i < n; ++i) dst[i] = halfToFloat(h[i]);
}

// a as float16 and whether that is exact for every element (an unevaluated flag).
std::pair<mx::array, mx::array> asHalf(const mx::array& a) {
  mx::array h = mx::astype(a, mx::float16);
  return {h, mx::all(mx::equal(mx::astype(h, mx::float32), a))};
}

}  // namespace

size_t compactScales(Linear& l) {
  if (!l.quantized() || l.compact || !l.qbiases || l.scales->dtype() != mx::float32 ||
      l.qbiases->dtype() != mx::float32) {
    return 0;
  }
  const mx::array s = *l.scales;   // (out, groups) float32
  const mx::array b = *l.qbiases;  // (out, groups) float32
  const size_t before = s.nbytes() + b.nbytes();
  mx::array implicit =
      mx::all(mx::equal(b, mx::multiply(s, mx::array(implicitBiasFactor(l.bits)))));
  auto [s16, sExact] = asHalf(s);
  auto [b16, bExact] = asHalf(b);
  mx::eval({implicit, sExact, bExact, s16, b16});
  if (sExact.item<bool>()) l.scales = s16;
  if (implicit.item<bool>()) {
    l.qbiases.reset();
    l.implicitBiases = true;
  } else if (bExact.item<bool>()) {
    l.qbiases = b16;
  }
  l.compact = true;
  return before - l.scales->nbytes() - (l.qbiases ? l.qbiases->nbytes() : 0);
}

std::pair<mx::array, std::optional<mx::array>> Linear::affineParams(
    const std::optional<mx::array>& ids) const {
  auto rowsOf = [&ids](const mx::array& a) { return ids ? mx::take(a, *ids, 0) : a; };
  auto widened = [this](const mx::array& a) { return compact ? mx::astype(a, mx::float32) : a; };
  mx::array s = widened(rowsOf(*scales));  // (out or N, groups)
  if (implicitBiases) return {s, mx::multiply(s, mx::array(implicitBiasFactor(bits)))};
  if (!qbiases) return {s, std::nullopt};
  return {s, widened(rowsOf(*qbiases))};
}

GroupScales groupScales(const mx::array& scales, const mx::array* biases, int bits) {
  auto check = [](const mx::array& a, const char* what) {
    if (a.dtype() != mx::float32 && a.dtype() != mx::float16)
      throw std::invalid_argument(std::string("packed weight: ") + what +
                                  " must be float32 or float16");
    if (!a.flags().row_contiguous)
      throw std::invalid_argument(std::string("packed weight: ") + what + " not row-contiguous");
  };
  check(scales, "scales");
  GroupScales g;
  g.groups = scales.shape(-1);
  g.bits = bits;
  if (scales.dtype() == mx::float32) {
    g.s32 = scales.data<float>();
  } else {
    g.s16 = reinterpret_cast<const uint16_t*>(scales.data<mx::float16_t>());
  }
  if (biases) {
    check(*biases, "biases");
    if (biases->dtype() == mx::float32) {
      g.b32 = biases->data<float>();
    } else {
      g.b16 = reinterpret_cast<const uint16_t*>(biases->data<mx::float16_t>());
    }
  }
  return g;
}

RowScales::RowScales(const GroupScales& g, int o) {
  const size_t at = static_cast<size_t>(o) * g.groups;
  float* buf = inline_;
  if (g.groups > kInline) {
    heap_.resize(2 * static_cast<size_t>(g.groups));
    buf = heap_.data();
  }
  float* sBuf = buf;
  float* bBuf = buf + std::max(g.groups, kInline);
  if (g.s32) {
    s = g.s32 + at;
  } else {
    halvesToFloats(g.s16 + at, g.groups, sBuf);
    s = sBuf;
  }
  if (g.b32) {
    b = g.b32 + at;
  } else if (g.b16) {
    halvesToFloats(g.b16 + at, g.groups, bBuf);
    b = bBuf;
  } else {
    const float k = implicitBiasFactor(g.bits);
    for (int i = 0; i < g.groups; ++i) bBuf[i] = s[i] * k;
    b = bBuf;
  }
}

}  // namespace medtune
