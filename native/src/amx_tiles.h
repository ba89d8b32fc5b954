// The 64-byte tile configuration AMX's LDTILECFG reads (palette 1: up to 8 tiles of at most 16 rows
// x 64 bytes), shared by the int8 decode tiles (int8_cpu.cc) and the bfloat16 training tiles
// (bf16_amx.cc); each sets the shapes of the tiles it uses.
#pragma once

#include <cstdint>

namespace medtune {

struct alignas(64) AmxTileConfig {
  uint8_t palette = 1, startRow = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};  // bytes per row of each tile
  uint8_t rows[16] = {};
};

}  // namespace medtune
