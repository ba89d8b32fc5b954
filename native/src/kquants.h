// GGUF tensor types beyond what mx::load_gguf reads (F32, F16, Q4_0, Q4_1, Q8_0): the K-quants
// (Q2_K … Q6_K, 256-weight super-blocks) and Q5_0 / Q5_1 (the 32-weight fallbacks llama.cpp
// writes in Q4_K_M / Q5_K_M files for rows that are not a multiple of 256).
//
// Types whose weights are per-32 affine groups (w = scale·level + bias: Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q4_K, Q5_K) are repacked exactly into MLX's affine quantization (group 32, 4/5/8 bits)
// and stay quantized; Q2_K, Q3_K and Q6_K scale 16-weight sub-blocks, which MLX's groups cannot
// express, so they are dequantized at load to the model dtype. The load notes say which.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mlx/mlx.h"

namespace medtune {

namespace mx = mlx::core;

// (elements, bytes) per block of the types this file adds; false for any other type.
bool kquantBlock(uint32_t type, uint64_t& elems, uint64_t& bytes);

// A GGUF's tensors and metadata in mx::load_gguf's form (quantized `<name>.weight` as packed
// uint32 plus `<prefix>.scales` / `.biases`). Files whose types mx::load_gguf reads go through it;
// files with any type from this file are read by our own reader. `notes` gets one line per tensor
// type: how many tensors, kept quantized (and how) or dequantized (and to what).
mx::GGUFLoad loadGgufTensors(const std::string& path, mx::Dtype dtype,
                             std::vector<std::string>& notes);

// JS: ggmlToFloat32(typeId, bytes: Uint8Array, rows, cols) -> Float32Array — one tensor through
// exactly the conversion the loader applies (repack + mx::dequantize for kept types), for tests.
Napi::Value GgmlToFloat32(const Napi::CallbackInfo& info);

}  // namespace medtune
