// The compact CPU form of an MLX affine-quantized weight's per-group scales and biases (w = scale *
// q + bias per group of `groupSize` values). MLX holds both as float32 here: 8 bytes per group of
// 32 weights, half again the 4-bit data. GGUF stores them smaller — Q4_0 / Q8_0 one float16 scale
// (bias -2^(bits-1) * scale), Q4_1 a float16 scale and minimum — so on the CPU prepareCompute()
// stores what the values allow, checked element by element:
//   scales: float16 when every one converts exactly, else float32;
//   biases: none when every one is exactly -2^(bits-1) * scale (Linear::implicitBiases), else
//           float16 when exact, else float32.
// Q4_0 then costs 4.5 bits per weight, Q4_1 5 and Q8_0 8.5, as in the file. float16 -> float32 and
// -2^(bits-1) * scale are exact, so every reader below gives the float32 path's results bit for
// bit. Readers: MLX ops through Linear::affineScales() / affineBiases() (float32, made lazily);
// the CPU kernels (packed_matmul.cc, decode_cpu.cc) through GroupScales / RowScales.
#pragma once

#include <cstdint>
#include <vector>

#include "model.h"

namespace medtune {

// Stores l's scales and biases compactly (above) if l is quantized with float32 ones; else, or if
// already compact, leaves it alone. Returns the bytes saved.
size_t compactScales(Linear& l);

// The scales and biases of a packed weight (out, in) as raw pointers into evaluated,
// row-contiguous arrays: each of scales / biases either float32 or float16, biases possibly
// implicit. groups = in / groupSize values per row.
struct GroupScales {
  int groups = 0;
  int bits = 0;
  const float* s32 = nullptr;     // (out, groups) or null
  const uint16_t* s16 = nullptr;  // (out, groups) float16 bits, when s32 is null
  const float* b32 = nullptr;     // (out, groups) or null
  const uint16_t* b16 = nullptr;  // (out, groups) float16 bits, or null
  bool implicitBiases() const { return !b32 && !b16; }
};

// From evaluated arrays: scales (out, groups) float32 or float16; biases likewise, or null for
// implicit ones. Throws (naming the dtype) on anything else or a non-contiguous array.
GroupScales groupScales(const mx::array& scales, const mx::array* biases, int bits);

// Row o's scales and biases as float32 (groups values each): pointers into the stored arrays when
// those are float32, else converted into this object's own storage (a few hundred floats, on the
// stack for rows up to 16384 values at group 32).
class RowScales {
 public:
  RowScales(const GroupScales& g, int o);
  RowScales(const RowScales&) = delete;
  RowScales& operator=(const RowScales&) = delete;
  const float* s = nullptr;  // (groups)
  const float* b = nullptr;  // (groups)

 private:
  static constexpr int kInline = 512;
  float inline_[2 * kInline];
  std::vector<float> heap_;
};

}  // namespace medtune
