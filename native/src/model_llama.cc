// The llama-family forward pass: llama (Llama 2/3, SmolLM2, TinyLlama), mistral (sliding-window
// attention) and qwen2 (q/k/v biases) share one block — pre-RMSNorm, GQA attention with RoPE,
// SwiGLU MLP — and differ only in flags carried by ModelConfig. LoRA adds x A B * scale to any of
// the seven projections; gradients flow only through A and B (and DoRA's magnitude m).
#include <cmath>
#include <stdexcept>

#include "model.h"

namespace medtune {

const char* const kLoraModules[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                     "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                     "mlp.down_proj"};

uint64_t mixSeed(uint64_t a, uint64_t b) {
  // splitmix64 over the pair: cheap, and adjacent inputs give unrelated keys.
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

mx::array Linear::matmul(const mx::array& x) const {
  // The 4-bit weight is used as is (QLoRA keeps the base quantized, also through the backward),
  // except on CPU where prepareCompute() may have expanded it once into `dense`.
  return dense         ? mx::matmul(x, mx::transpose(*dense))
         : quantized() ? mx::quantized_matmul(x, *qweight, *scales, qbiases, true, groupSize, bits)
                       : mx::matmul(x, mx::transpose(*weight));
}

mx::array Linear::apply(const mx::array& x) const {
  mx::array y = matmul(x);
  if (bias) y = mx::add(y, *bias);
  return y;
}

mx::array Linear::denseWeight() const {
  if (dense) return *dense;
  if (!quantized()) return mx::astype(*weight, mx::float32);
  return mx::astype(mx::dequantize(*qweight, *scales, qbiases, groupSize, bits), mx::float32);
}

mx::array Linear::rows(const mx::array& ids) const {
  if (!quantized()) return mx::take(*weight, ids, 0);
  return mx::dequantize(
      mx::take(*qweight, ids, 0), mx::take(*scales, ids, 0),
      qbiases ? std::optional<mx::array>(mx::take(*qbiases, ids, 0)) : std::nullopt, groupSize,
      bits);
}

void Linear::quantize(int group, int nbits) {
  if (quantized()) return;
  if (inDim % group != 0) {
    throw std::invalid_argument("cannot quantize a (" + std::to_string(outDim) + ", " +
                                std::to_string(inDim) + ") weight with group size " +
                                std::to_string(group));
  }
  auto q = mx::quantize(*weight, group, nbits);
  mx::eval(q);
  qweight = q[0];
  dense.reset();
  scales = q[1];
  qbiases = q[2];
  groupSize = group;
  bits = nbits;
  weight.reset();
}

std::vector<mx::array> Linear::arrays() const {
  std::vector<mx::array> out;
  for (const auto* a : {&weight, &qweight, &scales, &qbiases, &bias}) {
    if (*a) out.push_back(**a);
  }
  return out;
}

void Model::finalize() {
  const ModelConfig& c = config;
  const RopeScaling& rs = c.ropeScaling;
  if (rs.type == "llama3") {
    // Llama 3.1: long wavelengths are stretched by `factor`, short ones kept, the band between
    // interpolated — expressed as per-dimension wavelengths for fast::rope's `freqs`.
    const float lowWavelen = rs.originalMaxPositionEmbeddings / rs.lowFreqFactor;
    const float highWavelen = rs.originalMaxPositionEmbeddings / rs.highFreqFactor;
    std::vector<float> f(c.headDim / 2);
    for (int i = 0; i < c.headDim / 2; ++i) {
      float period = std::pow(c.ropeTheta, 2.0f * i / c.headDim);
      float wavelen = 2.0f * static_cast<float>(M_PI) * period;
      if (wavelen > lowWavelen) {
        period *= rs.factor;
      } else if (wavelen > highWavelen) {
        float smooth = (rs.originalMaxPositionEmbeddings / wavelen - rs.lowFreqFactor) /
                       (rs.highFreqFactor - rs.lowFreqFactor);
        period = period / ((1.0f - smooth) / rs.factor + smooth);
      }
      f[i] = period;
    }
    ropeFreqs = mx::array(f.data(), {static_cast<int>(f.size())}, mx::float32);
    mx::eval(*ropeFreqs);
  }
}

const Linear& Model::module(int layer, const std::string& key) const {
  const Block& b = layers.at(layer);
  if (key == "self_attn.q_proj") return b.q;
  if (key == "self_attn.k_proj") return b.k;
  if (key == "self_attn.v_proj") return b.v;
  if (key == "self_attn.o_proj") return b.o;
  if (key == "mlp.gate_proj") return b.gate;
  if (key == "mlp.up_proj") return b.up;
  if (key == "mlp.down_proj") return b.down;
  throw std::invalid_argument("unknown LoRA module '" + key + "'");
}

std::vector<std::string> Model::adapterNames() const {
  std::vector<std::string> out;
  for (const auto& kv : adapters) out.push_back(kv.first);
  return out;
}

std::vector<std::string> Model::adapterParamNames() const {
  std::vector<std::string> out;
  for (const auto& kv : adapters) {
    out.push_back(kv.first + ".lora_a");
    out.push_back(kv.first + ".lora_b");
    if (dora()) out.push_back(kv.first + ".m");
  }
  return out;
}

std::vector<mx::array> Model::adapterParams() const {
  std::vector<mx::array> out;
  for (const auto& kv : adapters) {
    out.push_back(kv.second.a);
    out.push_back(kv.second.b);
    if (dora()) out.push_back(*kv.second.m);
  }
  return out;
}

void Model::setAdapterParams(const std::vector<mx::array>& params) {
  const size_t per = paramsPerAdapter();
  if (params.size() != adapters.size() * per) throw std::logic_error("adapter parameter count");
  size_t i = 0;
  for (auto& kv : adapters) {
    kv.second.a = params[i];
    kv.second.b = params[i + 1];
    if (per == 3) kv.second.m = params[i + 2];
    i += per;
  }
  refreshDoraNorms();
}

namespace {

mx::array doraWeightNorm(const Linear& lin, const mx::array& a, const mx::array& b,
                         const mx::array& baseNormSq, float scale) {
  // ||W + s (A B)^T||_row without the (out, in) sum:
  //   ||W_o||^2 + 2s sum_r (W A)_{o,r} B_{r,o} + s^2 sum_{r,r'} B_{r,o} (A^T A)_{r,r'} B_{r',o}.
  // W A runs through the frozen Linear itself (quantized kernel or float GEMM) at the dtype of
  // its weights, so it costs like a forward over r tokens. a (in, r), b (r, out) -> (out).
  const mx::Dtype wdt = lin.dense         ? mx::float32
                        : lin.quantized() ? lin.scales->dtype()
                                          : lin.weight->dtype();
  mx::array waT =
      mx::astype(lin.matmul(mx::astype(mx::transpose(a), wdt)), mx::float32);  // (r, out)
  mx::array cross = mx::sum(mx::multiply(waT, b), 0);                          // (out)
  mx::array gram = mx::matmul(mx::transpose(a), a);                            // (r, r)
  mx::array lowRank = mx::sum(mx::multiply(mx::matmul(gram, b), b), 0);        // (out)
  mx::array sq = mx::add(mx::add(baseNormSq, mx::multiply(mx::array(2.0f * scale), cross)),
                         mx::multiply(mx::array(scale * scale), lowRank));
  // Rounding can push a near-zero row below 0; the floor leaves every real norm untouched, so
  // fresh adapters still give m / ||V|| == 1 exactly.
  return mx::sqrt(mx::maximum(sq, mx::array(1e-30f)));
}

}  // namespace

void Model::refreshDoraNorms() {
  if (!dora()) return;
  for (auto& kv : adapters) {
    const std::string& name = kv.first;
    const size_t dot = name.find('.', 7);
    const Linear& lin = module(std::stoi(name.substr(7, dot - 7)), name.substr(dot + 1));
    kv.second.weightNorm =
        doraWeightNorm(lin, kv.second.a, kv.second.b, *kv.second.baseNormSq, lora->scale);
    mx::eval(*kv.second.weightNorm);
  }
}

void Model::addAdapters(const LoraConfig& cfg, uint64_t seed) {
  if (cfg.rank <= 0) throw std::invalid_argument("LoRA rank must be > 0");
  const int n = static_cast<int>(layers.size());
  const int first = cfg.numLayers < 0 ? 0 : std::max(0, n - cfg.numLayers);
  std::map<std::string, LoraParams> fresh;
  uint64_t id = 0;
  for (int l = first; l < n; ++l) {
    for (const std::string& key : cfg.keys) {
      const Linear& lin = module(l, key);
      // A ~ U(±1/sqrt(in)) as in mlx-lm / PEFT's kaiming-uniform; B = 0 so step 0 equals base.
      const float bound = 1.0f / std::sqrt(static_cast<float>(lin.inDim));
      mx::array a = mx::random::uniform(-bound, bound, {lin.inDim, cfg.rank}, mx::float32,
                                        mx::random::key(mixSeed(seed, ++id)));
      mx::array b = mx::zeros({cfg.rank, lin.outDim}, mx::float32);
      LoraParams p{a, b};
      if (cfg.dora) {
        // ||W||^2 per output row from the dequantized W, once: W is frozen. (out)
        p.baseNormSq = mx::sum(mx::square(lin.denseWeight()), 1);
        // m = ||W||_row, the same floor and sqrt as doraWeightNorm, so m / ||V|| is exactly 1.
        p.m = mx::sqrt(mx::maximum(*p.baseNormSq, mx::array(1e-30f)));
        mx::eval(*p.baseNormSq, *p.m);
      }
      mx::eval(p.a, p.b);
      fresh.emplace("layers." + std::to_string(l) + "." + key, std::move(p));
    }
  }
  lora = cfg;
  adapters = std::move(fresh);
  adaptersEnabled = true;
  refreshDoraNorms();
}

std::vector<mx::array> Model::baseArrays() const {
  std::vector<mx::array> out = embed.arrays();
  for (const Block& b : layers) {
    for (const Linear* l : {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down}) {
      for (auto& a : l->arrays()) out.push_back(a);
    }
    out.push_back(b.attnNorm);
    out.push_back(b.mlpNorm);
  }
  out.push_back(norm);
  if (lmHead) {
    for (auto& a : lmHead->arrays()) out.push_back(a);
  }
  return out;
}

namespace {

// One adapted projection's tensors as the forward sees them: the live adapter or the
// differentiated params for A, B (and DoRA's m); baseNormSq / weightNorm are never differentiated.
struct ModuleLora {
  mx::array a;                          // (in, r)
  mx::array b;                          // (r, out)
  std::optional<mx::array> m;           // DoRA magnitude (out)
  std::optional<mx::array> baseNormSq;  // DoRA ||W||^2 per row (out)
  std::optional<mx::array> weightNorm;  // DoRA ||V||_row precomputed for inference (out)
};

struct BlockLora {
  // Per module index in kLoraModules, or none.
  std::optional<ModuleLora> m[7];
};

mx::array project(const Linear& lin, const mx::array& x, const BlockLora& lora, int idx,
                  float scale, float dropout, bool training, uint64_t dropoutSeed) {
  const auto& ad = lora.m[idx];
  if (!ad) return lin.apply(x);
  const bool drop = training && dropout > 0.0f;
  mx::array xin = x;
  if (drop) {
    // Explicit key from (seed, module): the same step replays the same mask, also when a
    // checkpointed block recomputes its forward for the backward pass.
    mx::array keep = mx::random::bernoulli(mx::array(1.0f - dropout), x.shape(),
                                           mx::random::key(mixSeed(dropoutSeed, idx)));
    xin = mx::multiply(mx::where(keep, x, mx::zeros_like(x)),
                       mx::array(1.0f / (1.0f - dropout), x.dtype()));
  }
  // (B, L, in) @ (in, r) @ (r, out): the low-rank path never materialises a full delta-W.
  mx::array delta = mx::matmul(mx::matmul(mx::astype(xin, mx::float32), ad->a), ad->b);
  if (!ad->m) {
    mx::array y = lin.apply(x);
    return mx::add(y, mx::astype(mx::multiply(delta, mx::array(scale)), y.dtype()));
  }
  // DoRA, as PEFT computes it: with k = m / ||W + s (A B)^T||_row (out),
  //   y = base(x) + (k - 1) * (x_d W^T) + k * s * (x_d A B),   x_d = dropout(x),
  // which without dropout is k * (x V^T) + bias. Like PEFT (and mlx-lm), ||V|| is detached: a
  // constant in the backward, so gradients reach m and A, B only through k and x_d A B.
  mx::array base = lin.matmul(x);  // (B, L, out), no bias
  mx::array y = lin.bias ? mx::add(base, *lin.bias) : base;
  mx::array baseDrop = drop ? lin.matmul(xin) : base;
  mx::array norm =
      ad->weightNorm ? *ad->weightNorm
                     : mx::stop_gradient(doraWeightNorm(lin, ad->a, ad->b, *ad->baseNormSq, scale));
  mx::array k = mx::divide(*ad->m, norm);  // (out)
  mx::array corr =
      mx::add(mx::multiply(mx::subtract(k, mx::array(1.0f)), mx::astype(baseDrop, mx::float32)),
              mx::multiply(mx::multiply(k, mx::array(scale)), delta));
  return mx::add(y, mx::astype(corr, y.dtype()));
}

// Boolean attention mask for sliding windows: query i (absolute position offset + i) may see key
// j when j <= pos and pos - j < window. (Lq, Lk)
mx::array windowMask(int lq, int lk, int window) {
  const int offset = lk - lq;
  mx::array qpos = mx::reshape(mx::add(mx::arange(lq), mx::array(offset)), {lq, 1});
  mx::array kpos = mx::reshape(mx::arange(lk), {1, lk});
  return mx::logical_and(mx::less_equal(kpos, qpos),
                         mx::less(mx::subtract(qpos, kpos), mx::array(window)));
}

}  // namespace

mx::array Model::hidden(const mx::array& ids, const std::vector<mx::array>* params,
                        const ForwardOptions& opts) const {
  const ModelConfig& c = config;
  const int B = ids.shape(0);
  const int L = ids.shape(1);
  const int H = c.numHeads, Hkv = c.numKvHeads, hd = c.headDim;
  const bool useLora = adaptersEnabled && !adapters.empty() && lora.has_value();
  const float scale = lora ? lora->scale : 0.0f;
  const float dropout = lora ? lora->dropout : 0.0f;

  // Per-layer adapter lookup from either the live adapters or the differentiated params.
  std::vector<BlockLora> blockLora(layers.size());
  if (useLora) {
    const size_t per = paramsPerAdapter();
    size_t i = 0;
    for (const auto& kv : adapters) {
      // name: layers.<l>.<module>
      const std::string& name = kv.first;
      const size_t dot = name.find('.', 7);
      const int l = std::stoi(name.substr(7, dot - 7));
      const std::string key = name.substr(dot + 1);
      int idx = 0;
      while (idx < 7 && key != kLoraModules[idx]) ++idx;
      const LoraParams& lp = kv.second;
      if (params) {
        // Differentiated A, B: ||V|| is recomputed from them (detached) inside project().
        blockLora[l].m[idx] =
            ModuleLora{(*params)[i], (*params)[i + 1],
                       per == 3 ? std::optional<mx::array>((*params)[i + 2]) : std::nullopt,
                       lp.baseNormSq, std::nullopt};
      } else {
        blockLora[l].m[idx] = ModuleLora{lp.a, lp.b, lp.m, lp.baseNormSq, lp.weightNorm};
      }
      i += per;
    }
  }

  const int offset = opts.cache ? opts.cache->offset : 0;
  // (B, L, D)
  mx::array x = mx::astype(mx::reshape(embed.rows(mx::flatten(ids)), {B, L, c.hiddenSize}), dtype);

  for (size_t l = 0; l < layers.size(); ++l) {
    const Block* blkp = &layers[l];
    const BlockLora bl = blockLora[l];
    const uint64_t seed = mixSeed(opts.dropoutSeed, l);
    bool present[7];
    for (int m = 0; m < 7; ++m) present[m] = bl.m[m].has_value();
    const ModelConfig* cp = &c;
    const std::optional<mx::array> freqs = ropeFreqs;
    const bool training = opts.training;
    KvCache* cache = opts.cache;

    // The block as a function of (x, its adapter weights) so mx::checkpoint can recompute it.
    // Everything is captured by value: the backward pass may call it after hidden() returns.
    auto blockFn = [=](const std::vector<mx::array>& in) -> std::vector<mx::array> {
      const Block& blk = *blkp;
      const ModelConfig& c = *cp;
      // in = {x, then per present module A, B[, m]}; the constants come from `bl` (a copy).
      BlockLora lo;
      size_t j = 1;
      for (int m = 0; m < 7; ++m) {
        if (present[m]) {
          const ModuleLora& c = *bl.m[m];
          const bool hasM = c.m.has_value();
          lo.m[m] = ModuleLora{in[j], in[j + 1],
                               hasM ? std::optional<mx::array>(in[j + 2]) : std::nullopt,
                               c.baseNormSq, c.weightNorm};
          j += hasM ? 3 : 2;
        }
      }
      const mx::array& xin = in[0];
      auto proj = [&](const Linear& lin, const mx::array& v, int idx) {
        return project(lin, v, lo, idx, scale, dropout, training, seed);
      };
      // Attention. (B, L, D) -> (B, H, L, hd)
      mx::array h = mx::fast::rms_norm(xin, blk.attnNorm, c.rmsNormEps);
      mx::array q = mx::transpose(mx::reshape(proj(blk.q, h, 0), {B, L, H, hd}), {0, 2, 1, 3});
      mx::array k = mx::transpose(mx::reshape(proj(blk.k, h, 1), {B, L, Hkv, hd}), {0, 2, 1, 3});
      mx::array v = mx::transpose(mx::reshape(proj(blk.v, h, 2), {B, L, Hkv, hd}), {0, 2, 1, 3});
      const float ropeScale = c.ropeScaling.type == "linear" ? 1.0f / c.ropeScaling.factor : 1.0f;
      if (freqs) {
        q = mx::fast::rope(q, hd, false, std::nullopt, ropeScale, offset, freqs);
        k = mx::fast::rope(k, hd, false, std::nullopt, ropeScale, offset, freqs);
      } else {
        q = mx::fast::rope(q, hd, false, c.ropeTheta, ropeScale, offset);
        k = mx::fast::rope(k, hd, false, c.ropeTheta, ropeScale, offset);
      }
      if (cache) {
        // (B, Hkv, T, hd): append this call's keys/values to the cache.
        auto& ck = cache->keys[l];
        auto& cv = cache->values[l];
        if (ck.size() > 0) {
          k = mx::concatenate({ck, k}, 2);
          v = mx::concatenate({cv, v}, 2);
        }
        ck = k;
        cv = v;
      }
      const int lk = k.shape(2);
      const float attnScale = 1.0f / std::sqrt(static_cast<float>(hd));
      mx::array o = mx::array(0.0f);
      if (c.slidingWindow > 0 && lk > c.slidingWindow) {
        o = mx::fast::scaled_dot_product_attention(q, k, v, attnScale, "",
                                                   windowMask(L, lk, c.slidingWindow));
      } else {
        // "causal" aligns the mask bottom-right, so a cached prefix stays fully visible.
        o = mx::fast::scaled_dot_product_attention(q, k, v, attnScale, L > 1 ? "causal" : "");
      }
      // (B, H, L, hd) -> (B, L, D)
      o = mx::reshape(mx::transpose(o, {0, 2, 1, 3}), {B, L, H * hd});
      mx::array x2 = mx::add(xin, proj(blk.o, o, 3));
      // SwiGLU MLP.
      mx::array m = mx::fast::rms_norm(x2, blk.mlpNorm, c.rmsNormEps);
      mx::array g = proj(blk.gate, m, 4);
      mx::array u = proj(blk.up, m, 5);
      mx::array act = mx::multiply(mx::multiply(g, mx::sigmoid(g)), u);
      return {mx::add(x2, proj(blk.down, act, 6))};
    };

    std::vector<mx::array> in{x};
    for (int m = 0; m < 7; ++m) {
      if (bl.m[m]) {
        in.push_back(bl.m[m]->a);
        in.push_back(bl.m[m]->b);
        if (bl.m[m]->m) in.push_back(*bl.m[m]->m);
      }
    }
    if (opts.gradientCheckpointing && !opts.cache) {
      x = mx::checkpoint(blockFn)(in)[0];
    } else {
      x = blockFn(in)[0];
    }
  }
  if (opts.cache) opts.cache->offset += L;
  return mx::fast::rms_norm(x, norm, c.rmsNormEps);
}

mx::array Model::logits(const mx::array& h) const {
  const Linear& head = lmHead ? *lmHead : embed;
  return mx::astype(head.apply(h), mx::float32);
}

mx::array Model::forward(const mx::array& ids, const std::vector<mx::array>* params,
                         const ForwardOptions& opts) const {
  return logits(hidden(ids, params, opts));
}

}  // namespace medtune
