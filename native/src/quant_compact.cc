// See quant_compact.h: the compact scales / biases of a packed weight, made once at
// prepareCompute() and read back as float32 by MLX ops (Linear::affineParams) and the CPU kernels
// (RowScales).
#include "quant_compact.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace medtune {

namespace {

// Symmetric types' bias per unit of scale: -2^(bits-1) (GGUF Q4_0: -8, Q8_0: -128).
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
  if (borrow(g, at)) return;  // float32 as stored
  float* sBuf = storage(g.groups);
  float* bBuf = sBuf + (g.groups + 15) / 16 * 16;
  if (!s) {
    for (int i = 0; i < g.groups; ++i) sBuf[i] = halfToFloat(g.s16[at + i]);
    s = sBuf;
  }
  if (!b) {
    const float k = implicitBiasFactor(g.bits);
    for (int i = 0; i < g.groups; ++i) bBuf[i] = g.b16 ? halfToFloat(g.b16[at + i]) : s[i] * k;
    b = bBuf;
  }
}

}  // namespace medtune
