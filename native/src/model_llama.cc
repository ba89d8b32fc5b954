// The llama-family forward pass: llama (Llama 2/3, SmolLM2, TinyLlama), mistral (sliding-window
// attention) and qwen2 (q/k/v biases) share one block — pre-RMSNorm, GQA attention with RoPE,
// SwiGLU MLP — and differ only in flags carried by ModelConfig. LoRA adds x A B * scale to any of
// the seven projections; gradients flow only through A and B (and DoRA's magnitude m).
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <stdexcept>

#include "attention_cpu.h"
#include "fused_cpu.h"
#include "model.h"
#include "packed_matmul.h"

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

namespace {

// Products with at most this many rows (decode) read the packed weight with MLX's kernel.
constexpr int kKernelMaxRows = 4;

int leadingRows(const mx::array& x) { return static_cast<int>(x.size() / x.shape(-1)); }

}  // namespace

mx::array Linear::matmul(const mx::array& x) const {
  // The 4-bit weight is used as is (QLoRA keeps the base quantized, also through the backward),
  // except on CPU where prepareCompute() may have expanded it once into `dense`, or marked it
  // `tiled`.
  // A product with a few rows (a decoded token) reads the packed bytes even when a float32 copy
  // exists: it is bound by weight reads, and 4-bit weights are an eighth of float32's.
  const bool fewRows = leadingRows(x) <= kKernelMaxRows;
  if (quantized() && (fewRows || (!tiled && !dense))) {
    auto [s, b] = affineParams();
    return mx::quantized_matmul(x, *qweight, s, b, true, groupSize, bits);
  }
  if (tiled) return packedMatmul(*this, x);
  return dense ? mx::matmul(x, mx::transpose(*dense)) : mx::matmul(x, mx::transpose(*weight));
}

mx::array Linear::matmulTransposed(const mx::array& g) const {
  if (tiled && leadingRows(g) > kKernelMaxRows) return packedMatmulTransposed(*this, g);
  if (dense) return mx::matmul(g, *dense);
  if (!quantized()) return mx::matmul(g, *weight);
  auto [s, b] = affineParams();
  return mx::quantized_matmul(g, *qweight, s, b, false, groupSize, bits);
}

mx::array Linear::apply(const mx::array& x) const {
  mx::array y = matmul(x);
  if (bias) y = mx::add(y, *bias);
  return y;
}

mx::array Linear::denseWeight() const {
  if (dense) return *dense;
  if (!quantized()) return mx::astype(*weight, mx::float32);
  auto [s, b] = affineParams();
  return mx::astype(mx::dequantize(*qweight, s, b, groupSize, bits), mx::float32);
}

mx::array Linear::rows(const mx::array& ids) const {
  if (!quantized()) return mx::take(*weight, ids, 0);
  auto [s, b] = affineParams(ids);  // (N, in / group)
  return mx::dequantize(mx::take(*qweight, ids, 0), s, b, groupSize, bits);
}

void Linear::quantize(int group, int nbits) {
  if (quantized() || !weight) return;  // no weight: a projection the architecture lacks
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
  if (key == "mlp.gate_proj") {
    if (!b.gate.weight && !b.gate.quantized()) {
      throw std::invalid_argument(config.architecture +
                                  " has no mlp.gate_proj (its MLP is fc1 -> GELU -> fc2: adapt "
                                  "mlp.up_proj for fc1, mlp.down_proj for fc2)");
    }
    return b.gate;
  }
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
                        : lin.quantized() ? lin.affineParams().first.dtype()
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
    const Linear& lin = module(kv.second.layer, kLoraModules[kv.second.module]);
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
      int idx = 0;
      while (idx < 7 && key != kLoraModules[idx]) ++idx;
      LoraParams p{a, b, l, idx};
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
  // GPT-2-style extras: learned positions and LayerNorm biases.
  for (const auto* a : {&positions, &normBias}) {
    if (*a) out.push_back(**a);
  }
  for (const Block& b : layers) {
    for (const auto* a : {&b.attnNormBias, &b.mlpNormBias}) {
      if (*a) out.push_back(**a);
    }
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

// silu(g) * u as one compiled kernel (shapeless: one compilation serves every shape): eager MLX
// would run sigmoid, two multiplies and their backward as separate passes over (B, L, F).
std::vector<mx::array> swigluFn(const std::vector<mx::array>& in) {
  return {mx::multiply(mx::multiply(in[0], mx::sigmoid(in[0])), in[1])};
}

mx::array swiglu(const mx::array& g, const mx::array& u) {
  if (fusedCpuOpsApply(g) && fusedCpuOpsApply(u)) return cpuSwiglu(g, u);  // fused_cpu.h
  static const auto compiled = mx::compile(swigluFn, /*shapeless=*/true);
  return compiled({g, u})[0];
}

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
  mx::array u = mx::matmul(mx::astype(xin, mx::float32), ad->a);  // (B, L, r)
  if (!ad->m) {
    // (B, L, in) @ (in, r) @ (r, out), the scale folded into B: the low-rank path never
    // materialises a full delta-W, and scaling the (r, out) B rather than the (B, L, out) delta
    // spares the forward and the backward a pass over every position's output each (the
    // backward's scaling of dB is then over r x out values).
    const mx::array y = lin.apply(x);
    const mx::array b = mx::multiply(ad->b, mx::array(scale));
    // addmm: the base output is the product's C (beta 1), so the low-rank product lands on it in
    // place (MLX donates y's buffer; it has no other use) instead of in a buffer of its own and
    // an add. MLX's CPU addmm takes float32 only.
    if (y.dtype() == mx::float32) {
      // As 2-D products: MLX would multiply a 3-D u batch by batch, in shorter products.
      const int out = y.shape(-1), r = u.shape(-1);
      const int rows = static_cast<int>(y.size() / out);
      return mx::reshape(mx::addmm(mx::reshape(y, {rows, out}), mx::reshape(u, {rows, r}), b),
                         y.shape());
    }
    return mx::add(y, mx::astype(mx::matmul(u, b), y.dtype()));
  }
  mx::array delta = mx::matmul(u, ad->b);
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

// Profiling barrier: with a PhaseTimes target, evaluates each marked array and books the time
// since the previous mark under that phase; without one it does nothing.
class Marker {
 public:
  explicit Marker(PhaseTimes* t) : t_(t), last_(std::chrono::steady_clock::now()) {}
  void operator()(const char* phase, const mx::array& a) { (*this)(phase, std::vector{a}); }
  // Every array a phase computes: marking only one would book the others' work to a later phase.
  void operator()(const char* phase, const std::vector<mx::array>& as) {
    if (!t_) return;
    mx::eval(as);
    auto now = std::chrono::steady_clock::now();
    (*t_)[phase] += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  PhaseTimes* t_;
  std::chrono::steady_clock::time_point last_;
};

// What one forward call's attention needs besides the block's weights.
struct AttentionContext {
  int offset = 0;                        // absolute position of the first query (cache offset)
  std::optional<mx::array> ropeOffsets;  // (B) int32: per-row positions of left-padded rows
  std::optional<mx::array> mask;         // (B|1, 1, L, Lk) bool; none = plain causal
  std::optional<mx::array> freqs;        // scaled RoPE wavelengths
  KvCache* cache = nullptr;
};

// Boolean attention mask, (B|1, 1, L, Lk): query i sits at position offset + i and may see key j
// when j <= pos, within the sliding window, and j is not left padding of its row (a pad query
// sees itself only, so its row of softmax stays finite and never reaches real tokens).
std::optional<mx::array> attentionMask(int L, int offset, int window,
                                       const std::vector<int>& padding) {
  const int lk = offset + L;
  const bool windowed = window > 0 && lk > window;
  if (!windowed && padding.empty()) return std::nullopt;
  mx::array qpos = mx::reshape(mx::add(mx::arange(L), mx::array(offset)), {L, 1});
  mx::array kpos = mx::reshape(mx::arange(lk), {1, lk});
  mx::array allowed = mx::less_equal(kpos, qpos);  // (L, Lk)
  if (windowed) {
    allowed = mx::logical_and(allowed, mx::less(mx::subtract(qpos, kpos), mx::array(window)));
  }
  if (padding.empty()) return allowed;
  const int B = static_cast<int>(padding.size());
  mx::array pad = mx::reshape(mx::array(padding.data(), {B}, mx::int32), {B, 1, 1});
  mx::array real = mx::logical_or(mx::greater_equal(kpos, pad), mx::equal(kpos, qpos));
  return mx::expand_dims(mx::logical_and(allowed, real), 1);  // (B, 1, L, Lk)
}

using Projection = std::function<mx::array(const Linear&, const mx::array&, int)>;

// Self-attention of block `layer`: h (B, L, D), already normalised -> (B, L, D) before the
// residual. Queries (B, H, L, hd) attend to keys/values (B, Hkv, Lk, hd), Lk = offset + L.
mx::array attention(const Block& blk, const ModelConfig& c, int layer, const mx::array& h,
                    const Projection& proj, const AttentionContext& ctx, Marker& mark) {
  const int B = h.shape(0), L = h.shape(1);
  const int H = c.numHeads, Hkv = c.numKvHeads, hd = c.headDim;
  mx::array q = mx::transpose(mx::reshape(proj(blk.q, h, 0), {B, L, H, hd}), {0, 2, 1, 3});
  mx::array k = mx::transpose(mx::reshape(proj(blk.k, h, 1), {B, L, Hkv, hd}), {0, 2, 1, 3});
  mx::array v = mx::transpose(mx::reshape(proj(blk.v, h, 2), {B, L, Hkv, hd}), {0, 2, 1, 3});
  mark("attention.qkv_proj", {q, k, v});
  const float ropeScale = c.ropeScaling.type == "linear" ? 1.0f / c.ropeScaling.factor : 1.0f;
  const std::optional<float> base = ctx.freqs ? std::nullopt : std::optional<float>(c.ropeTheta);
  if (ctx.ropeOffsets) {
    q = mx::fast::rope(q, hd, false, base, ropeScale, *ctx.ropeOffsets, ctx.freqs);
    k = mx::fast::rope(k, hd, false, base, ropeScale, *ctx.ropeOffsets, ctx.freqs);
  } else {
    q = mx::fast::rope(q, hd, false, base, ropeScale, ctx.offset, ctx.freqs);
    k = mx::fast::rope(k, hd, false, base, ropeScale, ctx.offset, ctx.freqs);
  }
  mark("attention.rope", k);
  if (ctx.cache) {
    // Write this call's L positions in place, then attend over everything written so far.
    const int end = ctx.offset + L;
    auto& ck = ctx.cache->keys[layer];
    auto& cv = ctx.cache->values[layer];
    ck = mx::slice_update(ck, k, mx::Shape{0, 0, ctx.offset, 0}, mx::Shape{B, Hkv, end, hd});
    cv = mx::slice_update(cv, v, mx::Shape{0, 0, ctx.offset, 0}, mx::Shape{B, Hkv, end, hd});
    k = mx::slice(ck, {0, 0, 0, 0}, {B, Hkv, end, hd});
    v = mx::slice(cv, {0, 0, 0, 0}, {B, Hkv, end, hd});
    mark("attention.kv_cache_write", v);
  }
  const float attnScale = 1.0f / std::sqrt(static_cast<float>(hd));
  // "causal" aligns the mask bottom-right, so a cached prefix stays fully visible. Without a
  // cache or mask (training, scoring) the CPU runs the fused kernels of attention_cpu.cc, which
  // never materialise the (B, H, L, L) scores; MLX's sdpa on the CPU would.
  const bool fused = !ctx.mask && !ctx.cache && L > 1 && cpuAttentionApplies(q, k, v);
  const std::string maskMode = ctx.mask || L == 1 ? "" : "causal";
  mx::array o =
      fused ? cpuCausalAttention(q, k, v, attnScale)
            : mx::fast::scaled_dot_product_attention(q, k, v, attnScale, maskMode, ctx.mask);
  mark("attention.sdpa", o);
  // (B, H, L, hd) -> (B, L, D)
  o = mx::reshape(mx::transpose(o, {0, 2, 1, 3}), {B, L, H * hd});
  mx::array out = proj(blk.o, o, 3);
  mark("attention.o_proj", out);
  return out;
}

// SwiGLU MLP: h (B, L, D), already normalised -> (B, L, D) before the residual; (B, L, F) inside.
mx::array mlp(const Block& blk, const mx::array& h, const Projection& proj, Marker& mark) {
  mx::array g = proj(blk.gate, h, 4);
  mx::array u = proj(blk.up, h, 5);
  mark("mlp.gate_up_proj", {g, u});
  mx::array act = swiglu(g, u);
  mark("mlp.swiglu", act);
  mx::array out = proj(blk.down, act, 6);
  mark("mlp.down_proj", out);
  return out;
}

}  // namespace

mx::array Model::hidden(const mx::array& ids, const std::vector<mx::array>* params,
                        const ForwardOptions& opts) const {
  if (isGpt2Family(config.architecture)) return gpt2Hidden(*this, ids, params, opts);
  const ModelConfig& c = config;
  const int B = ids.shape(0);
  const int L = ids.shape(1);
  const bool useLora = adaptersEnabled && !adapters.empty() && lora.has_value();
  const float scale = lora ? lora->scale : 0.0f;
  const float dropout = lora ? lora->dropout : 0.0f;
  auto mark = std::make_shared<Marker>(opts.profile);

  // Per-layer adapter lookup from either the live adapters or the differentiated params; layer
  // and module indices were resolved when the adapters were created.
  std::vector<BlockLora> blockLora(layers.size());
  if (useLora) {
    const size_t per = paramsPerAdapter();
    size_t i = 0;
    for (const auto& kv : adapters) {
      const LoraParams& lp = kv.second;
      if (params) {
        // Differentiated A, B: ||V|| is recomputed from them (detached) inside project().
        blockLora[lp.layer].m[lp.module] =
            ModuleLora{(*params)[i], (*params)[i + 1],
                       per == 3 ? std::optional<mx::array>((*params)[i + 2]) : std::nullopt,
                       lp.baseNormSq, std::nullopt};
      } else {
        blockLora[lp.layer].m[lp.module] =
            ModuleLora{lp.a, lp.b, lp.m, lp.baseNormSq, lp.weightNorm};
      }
      i += per;
    }
  }

  AttentionContext ctx;
  ctx.cache = opts.cache;
  ctx.freqs = ropeFreqs;
  if (opts.cache) {
    KvCache& kc = *opts.cache;
    if (!kc.padding.empty() && static_cast<int>(kc.padding.size()) != B) {
      throw std::logic_error("KV cache padding does not match the batch");
    }
    ctx.offset = kc.offset;
    reserveKvCache(kc, B, c.numKvHeads, c.headDim, kc.offset + L, dtype);
    if (!kc.padding.empty()) {
      // Row b's first real token sits at padding[b]: shift its positions so it sees 0, 1, ...
      std::vector<int32_t> pos(B);
      for (int b = 0; b < B; ++b) pos[b] = kc.offset - kc.padding[b];
      ctx.ropeOffsets = mx::array(pos.data(), {B}, mx::int32);
    }
  }
  ctx.mask = attentionMask(L, ctx.offset, c.slidingWindow,
                           opts.cache ? opts.cache->padding : std::vector<int>{});

  // (B, L, D)
  mx::array x = mx::astype(mx::reshape(embed.rows(mx::flatten(ids)), {B, L, c.hiddenSize}), dtype);
  (*mark)("embed", x);

  for (size_t l = 0; l < layers.size(); ++l) {
    const Block* blkp = &layers[l];
    const BlockLora bl = blockLora[l];
    const uint64_t seed = mixSeed(opts.dropoutSeed, l);
    bool present[7];
    for (int m = 0; m < 7; ++m) present[m] = bl.m[m].has_value();
    const ModelConfig* cp = &c;
    const bool training = opts.training;
    const int layer = static_cast<int>(l);

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
      Projection proj = [&](const Linear& lin, const mx::array& v, int idx) {
        return project(lin, v, lo, idx, scale, dropout, training, seed);
      };
      mx::array h = mx::fast::rms_norm(xin, blk.attnNorm, c.rmsNormEps);
      (*mark)("attention.rms_norm", h);
      mx::array x2 = mx::add(xin, attention(blk, c, layer, h, proj, ctx, *mark));
      mx::array m = mx::fast::rms_norm(x2, blk.mlpNorm, c.rmsNormEps);
      (*mark)("mlp.rms_norm", m);
      mx::array out = mx::add(x2, mlp(blk, m, proj, *mark));
      (*mark)("residual", out);
      return {out};
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
  mx::array out = mx::fast::rms_norm(x, norm, c.rmsNormEps);
  (*mark)("final_norm", out);
  return out;
}

mx::array Model::logits(const mx::array& h) const {
  return mx::astype(head().apply(h), mx::float32);
}

mx::array Model::lastLogits(const mx::array& h) const {
  const int B = h.shape(0), L = h.shape(1), D = h.shape(2);
  return logits(mx::reshape(mx::slice(h, {0, L - 1, 0}, {B, L, D}), {B, D}));
}

mx::array Model::forward(const mx::array& ids, const std::vector<mx::array>* params,
                         const ForwardOptions& opts) const {
  return logits(hidden(ids, params, opts));
}

mx::array adaptedProjection(const Linear& lin, const mx::array& x,
                            const std::optional<AdapterTensors>& ad, int module, float scale,
                            float dropout, bool training, uint64_t dropoutSeed) {
  BlockLora one;
  if (ad) one.m[module] = ModuleLora{ad->a, ad->b, ad->m, ad->baseNormSq, ad->weightNorm};
  return project(lin, x, one, module, scale, dropout, training, dropoutSeed);
}

std::optional<mx::array> causalAttentionMask(int L, int offset, const std::vector<int>& padding) {
  return attentionMask(L, offset, 0, padding);
}

KvCache KvCache::empty(size_t layers) {
  KvCache kc;
  for (size_t l = 0; l < layers; ++l) {
    kc.keys.push_back(mx::zeros({0}));
    kc.values.push_back(mx::zeros({0}));
  }
  return kc;
}

// Grows every block's cache to hold `needed` positions (in steps of KvCache::growBy), keeping
// what is written. Growth copies; a write within capacity does not.
void reserveKvCache(KvCache& kc, int B, int Hkv, int hd, int needed, mx::Dtype dt) {
  if (kc.capacity >= needed) return;
  const int cap = (needed + KvCache::growBy - 1) / KvCache::growBy * KvCache::growBy;
  for (auto* side : {&kc.keys, &kc.values}) {
    for (auto& a : *side) {
      mx::array fresh = mx::zeros({B, Hkv, cap, hd}, dt);
      if (kc.offset > 0) {
        const mx::Shape start{0, 0, 0, 0}, stop{B, Hkv, kc.offset, hd};
        fresh = mx::slice_update(fresh, mx::slice(a, start, stop), start, stop);
      }
      a = fresh;
    }
    mx::eval(*side);
  }
  kc.capacity = cap;
}

void KvCache::keepRows(const std::vector<int>& rows) {
  mx::array idx(rows.data(), {static_cast<int>(rows.size())}, mx::int32);
  for (auto* side : {&keys, &values}) {
    for (auto& a : *side) a = mx::take(a, idx, 0);
    mx::eval(*side);
  }
  if (!padding.empty()) {
    std::vector<int> kept;
    for (int r : rows) kept.push_back(padding[r]);
    padding = std::move(kept);
  }
}

KvCache KvCache::repeated(int n) const {
  KvCache kc = *this;
  for (auto* side : {&kc.keys, &kc.values}) {
    for (auto& a : *side) {
      mx::Shape s = a.shape();
      s[0] = n;
      a = mx::contiguous(mx::broadcast_to(a, s));
    }
    mx::eval(*side);
  }
  if (!padding.empty()) kc.padding.assign(n, padding[0]);
  return kc;
}

}  // namespace medtune
