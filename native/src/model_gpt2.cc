// The GPT-2-style forward pass, as BioGPT (Microsoft's biomedical GPT, HF model_type "biogpt")
// uses it: token embeddings scaled by sqrt(D) plus learned absolute positions, then pre-LayerNorm
// blocks (LayerNorm with bias -> multi-head attention, no RoPE -> residual; LayerNorm -> fc1 ->
// GELU -> fc2 -> residual), a final LayerNorm, and the LM head tied to the embedding. Every
// projection has a bias. Model::hidden dispatches here; the KV cache, the attention mask and the
// LoRA / DoRA projection are the llama forward's own (model.h), so generation, scoring and the
// train step work unchanged. Loading BioGPT's Hugging Face tensors lives here too.
//
// LoRA names: BioGPT's q/k/v_proj map onto self_attn.{q,k,v}_proj, out_proj onto
// self_attn.o_proj, fc1 onto mlp.up_proj and fc2 onto mlp.down_proj; mlp.gate_proj does not exist.
#include <cmath>
#include <stdexcept>

#include "attention_cpu.h"
#include "fused_cpu.h"
#include "model.h"

namespace medtune {

namespace {

// HF builds BioGPT's LayerNorms as nn.LayerNorm(D) and never passes config.layer_norm_eps, so
// every checkpoint runs with PyTorch's default epsilon.
constexpr float kLayerNormEps = 1e-5f;

// Indices in kLoraModules of the six projections a BioGPT block has.
enum Module { kQ = 0, kK = 1, kV = 2, kOut = 3, kFc1 = 5, kFc2 = 6 };

std::vector<mx::array> geluErfFn(const std::vector<mx::array>& in) {
  // 0.5 x (1 + erf(x / sqrt 2)): PyTorch's exact GELU ("gelu").
  const mx::array& x = in[0];
  return {mx::multiply(mx::multiply(x, mx::array(0.5f, x.dtype())),
                       mx::add(mx::array(1.0f, x.dtype()),
                               mx::erf(mx::multiply(x, mx::array(float(M_SQRT1_2), x.dtype())))))};
}

std::vector<mx::array> geluTanhFn(const std::vector<mx::array>& in) {
  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): "gelu_new" / "gelu_pytorch_tanh".
  const mx::array& x = in[0];
  const mx::Dtype t = x.dtype();
  mx::array inner = mx::multiply(
      mx::array(float(std::sqrt(2.0 / M_PI)), t),
      mx::add(x, mx::multiply(mx::array(0.044715f, t), mx::multiply(x, mx::multiply(x, x)))));
  return {mx::multiply(mx::multiply(x, mx::array(0.5f, t)),
                       mx::add(mx::array(1.0f, t), mx::tanh(inner)))};
}

}  // namespace

// The MLP activation as one compiled kernel (shapeless: one compilation serves every shape).
mx::array mlxGelu(const mx::array& x, bool tanhForm) {
  static const auto erfForm = mx::compile(geluErfFn, /*shapeless=*/true);
  static const auto tanhFormFn = mx::compile(geluTanhFn, /*shapeless=*/true);
  return tanhForm ? tanhFormFn({x})[0] : erfForm({x})[0];
}

namespace {

// medtune's fused kernel on the CPU (fused_cpu.h), else MLX's.
mx::array gelu(const mx::array& x, const std::string& act) {
  const bool tanhForm = act != "gelu";
  return fusedCpuOpsApply(x) ? cpuGelu(x, tanhForm) : mlxGelu(x, tanhForm);
}

using Adapters = std::optional<AdapterTensors>[7];

struct Gpt2Context {
  int offset = 0;                 // absolute position of the first query (cache offset)
  std::optional<mx::array> mask;  // (B|1, 1, L, Lk) bool; none = plain causal
  KvCache* cache = nullptr;
  float scale = 0.0f, dropout = 0.0f;
  bool training = false;
};

// Multi-head self-attention of block `layer`: h (B, L, D), already normalised -> (B, L, D).
// Queries (B, H, L, hd) attend to keys/values (B, H, Lk, hd), Lk = offset + L. Positions entered
// with the embedding, so there is no rotation here.
mx::array attention(const Block& blk, const ModelConfig& c, int layer, const mx::array& h,
                    const Adapters& ad, uint64_t seed, const Gpt2Context& ctx) {
  const int B = h.shape(0), L = h.shape(1), H = c.numHeads, hd = c.headDim;
  auto proj = [&](const Linear& lin, const mx::array& x, int idx) {
    return adaptedProjection(lin, x, ad[idx], idx, ctx.scale, ctx.dropout, ctx.training, seed);
  };
  auto heads = [&](const mx::array& y) {  // (B, L, D) -> (B, H, L, hd)
    return mx::transpose(mx::reshape(y, {B, L, H, hd}), {0, 2, 1, 3});
  };
  mx::array q = heads(proj(blk.q, h, kQ));
  mx::array k = heads(proj(blk.k, h, kK));
  mx::array v = heads(proj(blk.v, h, kV));
  if (ctx.cache) {
    // Write this call's L positions in place, then attend over everything written so far.
    const int end = ctx.offset + L;
    auto& ck = ctx.cache->keys[layer];
    auto& cv = ctx.cache->values[layer];
    ck = mx::slice_update(ck, k, mx::Shape{0, 0, ctx.offset, 0}, mx::Shape{B, H, end, hd});
    cv = mx::slice_update(cv, v, mx::Shape{0, 0, ctx.offset, 0}, mx::Shape{B, H, end, hd});
    k = mx::slice(ck, {0, 0, 0, 0}, {B, H, end, hd});
    v = mx::slice(cv, {0, 0, 0, 0}, {B, H, end, hd});
  }
  const float attnScale = 1.0f / std::sqrt(static_cast<float>(hd));
  // "causal" aligns the mask bottom-right, so a cached prefix stays fully visible. Without a
  // cache or mask the CPU runs the fused kernels of attention_cpu.cc (as model_llama.cc does).
  const bool fused = !ctx.mask && !ctx.cache && L > 1 && cpuAttentionApplies(q, k, v);
  const std::string maskMode = ctx.mask || L == 1 ? "" : "causal";
  mx::array o =
      fused ? cpuCausalAttention(q, k, v, attnScale)
            : mx::fast::scaled_dot_product_attention(q, k, v, attnScale, maskMode, ctx.mask);
  o = mx::reshape(mx::transpose(o, {0, 2, 1, 3}), {B, L, H * hd});  // (B, L, D)
  return proj(blk.o, o, kOut);
}

// fc1 -> GELU -> fc2: h (B, L, D) -> (B, L, F) -> (B, L, D), before the residual.
mx::array mlp(const Block& blk, const ModelConfig& c, const mx::array& h, const Adapters& ad,
              uint64_t seed, const Gpt2Context& ctx) {
  mx::array up =
      adaptedProjection(blk.up, h, ad[kFc1], kFc1, ctx.scale, ctx.dropout, ctx.training, seed);
  return adaptedProjection(blk.down, gelu(up, c.hiddenAct), ad[kFc2], kFc2, ctx.scale, ctx.dropout,
                           ctx.training, seed);
}

// Position of each query, (B|1, L) int32: offset + i, or for a left-padded row b of a cache its
// own count (offset - padding[b] + i), so each row sees the positions it would see alone. Pad
// queries would get negative positions; they are clamped to 0 (masked keys, discarded outputs).
mx::array queryPositions(int L, int offset, const std::vector<int>& padding) {
  mx::array pos = mx::reshape(mx::add(mx::arange(L, mx::int32), mx::array(offset)), {1, L});
  if (padding.empty()) return pos;
  const int B = static_cast<int>(padding.size());
  mx::array pad = mx::reshape(mx::array(padding.data(), {B}, mx::int32), {B, 1});
  return mx::maximum(mx::subtract(pos, pad), mx::array(0));
}

}  // namespace

bool isGpt2Family(const std::string& architecture) { return architecture == "biogpt"; }

std::string gpt2ModulePath(const std::string& adapterName) {
  // "layers.<i>.<kLoraModules name>" -> "biogpt.layers.<i>.<BioGPT module>"
  static const std::pair<const char*, const char*> kHfNames[] = {
      {"self_attn.q_proj", "self_attn.q_proj"},
      {"self_attn.k_proj", "self_attn.k_proj"},
      {"self_attn.v_proj", "self_attn.v_proj"},
      {"self_attn.o_proj", "self_attn.out_proj"},
      {"mlp.up_proj", "fc1"},
      {"mlp.down_proj", "fc2"}};
  const size_t dot = adapterName.find('.', adapterName.find('.') + 1);  // after "layers.<i>"
  const std::string key = adapterName.substr(dot + 1);
  for (const auto& [ours, hf] : kHfNames) {
    if (key == ours) return std::string("biogpt.") + adapterName.substr(0, dot + 1) + hf;
  }
  throw std::invalid_argument("BioGPT has no module for adapter '" + adapterName + "'");
}

mx::array gpt2Hidden(const Model& m, const mx::array& ids, const std::vector<mx::array>* params,
                     const ForwardOptions& opts) {
  const ModelConfig& c = m.config;
  const int B = ids.shape(0), L = ids.shape(1), D = c.hiddenSize;
  if (!m.positions) throw std::logic_error(c.architecture + " model has no position table");

  // Per-layer adapters from the live ones or the differentiated params (same order as
  // adapterParams(): A, B[, m] per adapter).
  std::vector<std::array<std::optional<AdapterTensors>, 7>> lora(m.layers.size());
  Gpt2Context ctx;
  if (m.adaptersEnabled && !m.adapters.empty() && m.lora) {
    ctx.scale = m.lora->scale;
    ctx.dropout = m.lora->dropout;
    const size_t per = m.paramsPerAdapter();
    size_t i = 0;
    for (const auto& kv : m.adapters) {
      const LoraParams& lp = kv.second;
      lora[lp.layer][lp.module] =
          params
              ? AdapterTensors{(*params)[i], (*params)[i + 1],
                               per == 3 ? std::optional<mx::array>((*params)[i + 2]) : std::nullopt,
                               lp.baseNormSq, std::nullopt}
              : AdapterTensors{lp.a, lp.b, lp.m, lp.baseNormSq, lp.weightNorm};
      i += per;
    }
  }
  ctx.training = opts.training;
  ctx.cache = opts.cache;
  std::vector<int> padding;
  if (opts.cache) {
    KvCache& kc = *opts.cache;
    if (!kc.padding.empty() && static_cast<int>(kc.padding.size()) != B) {
      throw std::logic_error("KV cache padding does not match the batch");
    }
    padding = kc.padding;
    ctx.offset = kc.offset;
    reserveKvCache(kc, B, c.numHeads, c.headDim, kc.offset + L, m.dtype);
  }
  const int maxPositions = m.positions->shape(0) - m.positionOffset;
  if (ctx.offset + L > maxPositions) {
    throw std::invalid_argument(
        "sequence of " + std::to_string(ctx.offset + L) + " tokens exceeds " + c.architecture +
        "'s " + std::to_string(maxPositions) + " learned positions (max_position_embeddings)");
  }
  ctx.mask = causalAttentionMask(L, ctx.offset, padding);

  // Token embeddings (scaled by sqrt(D) when the config says so) plus learned positions. (B, L, D)
  mx::array x = mx::reshape(m.embed.rows(mx::flatten(ids)), {B, L, D});
  if (c.scaleEmbedding) x = mx::multiply(x, mx::array(std::sqrt(static_cast<float>(D))));
  mx::array pos = mx::add(queryPositions(L, ctx.offset, padding), mx::array(m.positionOffset));
  x = mx::astype(mx::add(x, mx::take(*m.positions, pos, 0)), m.dtype);

  for (size_t l = 0; l < m.layers.size(); ++l) {
    const Block* blkp = &m.layers[l];
    const auto ad = lora[l];
    const uint64_t seed = mixSeed(opts.dropoutSeed, l);
    const ModelConfig* cp = &c;
    const int layer = static_cast<int>(l);
    // The block as a function of (x, its adapter weights) so mx::checkpoint can recompute it;
    // captured by value because the backward pass may call it after this function returns.
    auto blockFn = [=](const std::vector<mx::array>& in) -> std::vector<mx::array> {
      const Block& blk = *blkp;
      Adapters live;
      size_t j = 1;
      for (int k = 0; k < 7; ++k) {
        if (!ad[k]) continue;
        const bool hasM = ad[k]->m.has_value();
        live[k] = AdapterTensors{in[j], in[j + 1],
                                 hasM ? std::optional<mx::array>(in[j + 2]) : std::nullopt,
                                 ad[k]->baseNormSq, ad[k]->weightNorm};
        j += hasM ? 3 : 2;
      }
      const mx::array& xin = in[0];
      mx::array h = mx::fast::layer_norm(xin, blk.attnNorm, blk.attnNormBias, kLayerNormEps);
      mx::array x2 = mx::add(xin, attention(blk, *cp, layer, h, live, seed, ctx));
      mx::array f = mx::fast::layer_norm(x2, blk.mlpNorm, blk.mlpNormBias, kLayerNormEps);
      return {mx::add(x2, mlp(blk, *cp, f, live, seed, ctx))};
    };
    std::vector<mx::array> in{x};
    for (const auto& a : ad) {
      if (!a) continue;
      in.push_back(a->a);
      in.push_back(a->b);
      if (a->m) in.push_back(*a->m);
    }
    x = opts.gradientCheckpointing && !opts.cache ? mx::checkpoint(blockFn)(in)[0] : blockFn(in)[0];
  }
  if (opts.cache) opts.cache->offset += L;
  return mx::fast::layer_norm(x, m.norm, m.normBias, kLayerNormEps);
}

// ---------------------------------------------------------------------------------------------
// BioGPT's Hugging Face layout (BioGptForCausalLM.state_dict()).

namespace {

constexpr const char* kPrefix = "biogpt.";

// `name` -> a float array of `shape` in `dtype`, or an error naming the file and tensor.
mx::array takeTensor(std::unordered_map<std::string, mx::array>& t, const std::string& name,
                     const mx::Shape& shape, const std::string& file, mx::Dtype dtype) {
  auto it = t.find(name);
  if (it == t.end()) throw fileError(file, "missing tensor '" + name + "'");
  if (it->second.shape() != shape || !mx::issubdtype(it->second.dtype(), mx::floating)) {
    std::string got, want;
    for (int d : it->second.shape()) got += (got.empty() ? "" : ", ") + std::to_string(d);
    for (int d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
    throw fileError(file,
                    "tensor '" + name + "' has shape [" + got + "], expected float [" + want + "]");
  }
  return mx::astype(it->second, dtype);
}

Linear takeLinear(std::unordered_map<std::string, mx::array>& t, const std::string& name, int out,
                  int in, const std::string& file, mx::Dtype dtype, bool bias = true) {
  Linear l;
  l.inDim = in;
  l.outDim = out;
  l.weight = takeTensor(t, name + ".weight", {out, in}, file, dtype);
  if (bias) l.bias = takeTensor(t, name + ".bias", {out}, file, dtype);
  return l;
}

struct LayerNames {
  const char *q, *k, *v, *o, *fc1, *fc2, *attnNorm, *mlpNorm;
};
const LayerNames kNames{"self_attn.q_proj",
                        "self_attn.k_proj",
                        "self_attn.v_proj",
                        "self_attn.out_proj",
                        "fc1",
                        "fc2",
                        "self_attn_layer_norm",
                        "final_layer_norm"};

}  // namespace

void takeGpt2Weights(Model& m, std::unordered_map<std::string, mx::array>& t,
                     const std::string& source) {
  const ModelConfig& c = m.config;
  const int D = c.hiddenSize, F = c.intermediateSize, V = c.vocabSize;
  if (c.numKvHeads != c.numHeads || c.headDim * c.numHeads != D) {
    throw fileError(source, c.architecture +
                                " needs num_heads x head_dim == hidden_size and no "
                                "grouped KV heads");
  }
  const std::string p = kPrefix;
  const mx::Dtype dt = m.dtype;
  m.embed = takeLinear(t, p + "embed_tokens", V, D, source, dt, false);
  // BioGPT's table has max_position_embeddings + 2 rows: positions start at row 2.
  m.positionOffset = 2;
  m.positions = takeTensor(t, p + "embed_positions.weight",
                           {c.maxPositionEmbeddings + m.positionOffset, D}, source, dt);
  m.norm = takeTensor(t, p + "layer_norm.weight", {D}, source, dt);
  m.normBias = takeTensor(t, p + "layer_norm.bias", {D}, source, dt);
  // Tied checkpoints may omit output_projection.weight; HF ties it to the embedding either way.
  if (!c.tieWordEmbeddings) m.lmHead = takeLinear(t, "output_projection", V, D, source, dt, false);
  for (int l = 0; l < c.numLayers; ++l) {
    const std::string b = p + "layers." + std::to_string(l) + ".";
    Block blk;
    blk.q = takeLinear(t, b + kNames.q, D, D, source, dt);
    blk.k = takeLinear(t, b + kNames.k, D, D, source, dt);
    blk.v = takeLinear(t, b + kNames.v, D, D, source, dt);
    blk.o = takeLinear(t, b + kNames.o, D, D, source, dt);
    blk.up = takeLinear(t, b + kNames.fc1, F, D, source, dt);
    blk.down = takeLinear(t, b + kNames.fc2, D, F, source, dt);
    blk.attnNorm = takeTensor(t, b + kNames.attnNorm + ".weight", {D}, source, dt);
    blk.attnNormBias = takeTensor(t, b + kNames.attnNorm + ".bias", {D}, source, dt);
    blk.mlpNorm = takeTensor(t, b + kNames.mlpNorm + ".weight", {D}, source, dt);
    blk.mlpNormBias = takeTensor(t, b + kNames.mlpNorm + ".bias", {D}, source, dt);
    m.layers.push_back(std::move(blk));
  }
}

std::unordered_map<std::string, mx::array> gpt2HfWeights(const Model& m) {
  std::unordered_map<std::string, mx::array> out;
  auto put = [&](const std::string& name, const Linear& l) {
    if (l.quantized()) throw std::invalid_argument("hfWeights: '" + name + "' is quantized");
    out.insert_or_assign(name + ".weight", *l.weight);
    if (l.bias) out.insert_or_assign(name + ".bias", *l.bias);
  };
  const std::string p = kPrefix;
  put(p + "embed_tokens", m.embed);
  out.insert_or_assign(p + "embed_positions.weight", *m.positions);
  out.insert_or_assign(p + "layer_norm.weight", m.norm);
  out.insert_or_assign(p + "layer_norm.bias", *m.normBias);
  if (m.lmHead) put("output_projection", *m.lmHead);
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const std::string b = p + "layers." + std::to_string(l) + ".";
    const Block& blk = m.layers[l];
    put(b + kNames.q, blk.q);
    put(b + kNames.k, blk.k);
    put(b + kNames.v, blk.v);
    put(b + kNames.o, blk.o);
    put(b + kNames.fc1, blk.up);
    put(b + kNames.fc2, blk.down);
    out.insert_or_assign(b + kNames.attnNorm + ".weight", blk.attnNorm);
    out.insert_or_assign(b + kNames.attnNorm + ".bias", *blk.attnNormBias);
    out.insert_or_assign(b + kNames.mlpNorm + ".weight", blk.mlpNorm);
    out.insert_or_assign(b + kNames.mlpNorm + ".bias", *blk.mlpNormBias);
  }
  return out;
}

void randomGpt2Weights(Model& m, const std::function<mx::array(mx::Shape, float)>& normal) {
  const ModelConfig& c = m.config;
  const int D = c.hiddenSize, F = c.intermediateSize;
  auto lin = [&](int out, int in, bool bias) {
    Linear l;
    l.inDim = in;
    l.outDim = out;
    l.weight = normal({out, in}, 1.0f / std::sqrt(static_cast<float>(in)));
    if (bias) l.bias = normal({out}, 0.02f);
    return l;
  };
  auto ones = [&](int n) { return mx::add(mx::array(1.0f, m.dtype), normal({n}, 0.1f)); };
  m.embed = lin(c.vocabSize, D, false);
  m.positionOffset = 2;
  m.positions = normal({c.maxPositionEmbeddings + m.positionOffset, D}, 0.1f);
  m.norm = ones(D);
  m.normBias = normal({D}, 0.02f);
  if (!c.tieWordEmbeddings) m.lmHead = lin(c.vocabSize, D, false);
  for (int l = 0; l < c.numLayers; ++l) {
    Block b;
    b.q = lin(D, D, true);
    b.k = lin(D, D, true);
    b.v = lin(D, D, true);
    b.o = lin(D, D, true);
    b.up = lin(F, D, true);
    b.down = lin(D, F, true);
    b.attnNorm = ones(D);
    b.attnNormBias = normal({D}, 0.02f);
    b.mlpNorm = ones(D);
    b.mlpNormBias = normal({D}, 0.02f);
    m.layers.push_back(std::move(b));
  }
}

}  // namespace medtune
