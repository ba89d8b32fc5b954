// Adapter files: mlx-lm layout (adapters.safetensors; lora_a (in, r), lora_b (r, out), DoRA's
// magnitude as `.m` (out)) and PEFT layout (adapter_model.safetensors; lora_A.weight (r, in),
// lora_B.weight (out, r), DoRA's `.lora_magnitude_vector` (out)). JSON configs are written and
// read by TypeScript; this file moves tensors and checks them against the model.
#include "lora.h"

#include <stdexcept>

namespace medtune {

namespace {

struct Names {
  std::string a, b, m;
  bool transposed;  // PEFT stores the transposes of our (in, r) / (r, out)
};

Names fileNames(const Model& m, const std::string& name, AdapterFormat fmt) {
  // The module's path in the HF model: "model.layers.N.self_attn.q_proj" (llama family), or
  // BioGPT's own "biogpt.layers.N.fc1" (see model_gpt2.cc), so PEFT reads our files as its own.
  const std::string module =
      isGpt2Family(m.config.architecture) ? gpt2ModulePath(name) : "model." + name;
  if (fmt == AdapterFormat::kMlx)
    return {module + ".lora_a", module + ".lora_b", module + ".m", false};
  // PEFT's saved state dict drops the adapter name and DoRA's ".weight" suffix.
  const std::string p = "base_model.model." + module;
  return {p + ".lora_A.weight", p + ".lora_B.weight", p + ".lora_magnitude_vector", true};
}

}  // namespace

AdapterFormat parseAdapterFormat(const std::string& s) {
  if (s == "mlx" || s == "mlx-lm") return AdapterFormat::kMlx;
  if (s == "peft") return AdapterFormat::kPeft;
  throw std::invalid_argument("adapter format must be \"mlx\" or \"peft\", got \"" + s + "\"");
}

std::unordered_map<std::string, mx::array> adapterTensors(const Model& m, AdapterFormat fmt) {
  std::unordered_map<std::string, mx::array> out;
  for (const auto& kv : m.adapters) {
    Names n = fileNames(m, kv.first, fmt);
    out.insert_or_assign(n.a,
                         n.transposed ? mx::contiguous(mx::transpose(kv.second.a)) : kv.second.a);
    out.insert_or_assign(n.b,
                         n.transposed ? mx::contiguous(mx::transpose(kv.second.b)) : kv.second.b);
    if (kv.second.m) out.insert_or_assign(n.m, *kv.second.m);
  }
  return out;
}

void saveAdapters(const Model& m, const std::string& path, AdapterFormat fmt) {
  if (m.adapters.empty()) throw std::invalid_argument("saveAdapters: the model has no adapters");
  auto t = adapterTensors(m, fmt);
  for (auto& kv : t) mx::eval(kv.second);
  std::unordered_map<std::string, std::string> meta{
      {"format", fmt == AdapterFormat::kMlx ? "mlx" : "pt"}};
  saveSafetensorsAtomic(path, t, meta);
}

void loadAdapters(Model& m, const std::string& path, AdapterFormat fmt) {
  if (m.adapters.empty()) {
    throw std::invalid_argument(
        "loadAdapters: add adapters (the LoRA config) before loading weights");
  }
  validateSafetensors(path);
  mx::SafetensorsLoad l = [&]() {
    try {
      return mx::load_safetensors(path);
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ": " + e.what());
    }
  }();
  auto& t = l.first;
  std::map<std::string, LoraParams> loaded;
  size_t used = 0;
  for (const auto& kv : m.adapters) {
    Names n = fileNames(m, kv.first, fmt);
    auto fa = t.find(n.a);
    auto fb = t.find(n.b);
    if (fa == t.end() || fb == t.end()) {
      throw std::runtime_error(path + ": missing tensor '" + (fa == t.end() ? n.a : n.b) +
                               "' (the adapter config adapts " + kv.first + ")");
    }
    mx::array a = n.transposed ? mx::transpose(fa->second) : fa->second;
    mx::array b = n.transposed ? mx::transpose(fb->second) : fb->second;
    if (a.shape() != kv.second.a.shape() || b.shape() != kv.second.b.shape()) {
      throw std::runtime_error(
          path + ": adapter '" + kv.first + "' has shapes A " + shapeStr(a.shape()) + ", B " +
          shapeStr(b.shape()) + " but this model and config need A " +
          shapeStr(kv.second.a.shape()) + ", B " + shapeStr(kv.second.b.shape()) +
          " (wrong rank, or trained on another base model?)");
    }
    if (!mx::issubdtype(a.dtype(), mx::floating) || !mx::issubdtype(b.dtype(), mx::floating)) {
      throw std::runtime_error(path + ": adapter '" + kv.first + "' is not floating point");
    }
    LoraParams p{mx::contiguous(mx::astype(a, mx::float32)),
                 mx::contiguous(mx::astype(b, mx::float32)), kv.second.layer, kv.second.module};
    if (m.dora()) {
      auto fm = t.find(n.m);
      if (fm == t.end()) {
        throw std::runtime_error(path + ": missing DoRA magnitude '" + n.m +
                                 "' (the adapter config says DoRA; a plain LoRA file?)");
      }
      if (fm->second.shape() != kv.second.m->shape() ||
          !mx::issubdtype(fm->second.dtype(), mx::floating)) {
        throw std::runtime_error(path + ": DoRA magnitude '" + n.m + "' has shape " +
                                 shapeStr(fm->second.shape()) + " but this model needs " +
                                 shapeStr(kv.second.m->shape()));
      }
      p.m = mx::contiguous(mx::astype(fm->second, mx::float32));
      // ||W||^2 belongs to the base, not the file: keep the one computed at addAdapters.
      p.baseNormSq = kv.second.baseNormSq;
      ++used;
    }
    loaded.emplace(kv.first, std::move(p));
    used += 2;
  }
  if (used != t.size()) {
    for (const auto& kv : t) {
      bool known = false;
      for (const auto& ad : m.adapters) {
        Names n = fileNames(m, ad.first, fmt);
        if (kv.first == n.a || kv.first == n.b || (m.dora() && kv.first == n.m)) known = true;
      }
      if (!known) {
        throw std::runtime_error(path + ": unexpected tensor '" + kv.first +
                                 "' (not adapted by this config, DoRA without use_dora, or " +
                                 "another format)");
      }
    }
  }
  for (auto& kv : loaded) {
    mx::eval(kv.second.a, kv.second.b);
    if (kv.second.m) mx::eval(*kv.second.m);
  }
  m.adapters = std::move(loaded);
  m.refreshDoraNorms();
}

}  // namespace medtune
