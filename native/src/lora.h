// Adapter tensor files in mlx-lm and PEFT layouts (see lora.cc).
#pragma once

#include <string>
#include <unordered_map>

#include "model.h"

namespace medtune {

enum class AdapterFormat { kMlx, kPeft };

AdapterFormat parseAdapterFormat(const std::string& s);
std::unordered_map<std::string, mx::array> adapterTensors(const Model& m, AdapterFormat fmt);
void saveAdapters(const Model& m, const std::string& path, AdapterFormat fmt);
// Replaces the weights of the model's current adapters; every tensor must be present and match.
void loadAdapters(Model& m, const std::string& path, AdapterFormat fmt);

}  // namespace medtune
