// See model_bert.h. Shapes: B batch, L tokens, D hidden, H heads, hd = D / H.
#include "model_bert.h"

#include <cmath>
#include <stdexcept>
#include <unordered_map>

#include "model.h"  // validateSafetensors

namespace medtune {

namespace {

using TensorMap = std::unordered_map<std::string, mx::array>;

// Looks tensors up by their BertModel name, under the prefix the checkpoint uses ("" or "bert.").
struct TensorReader {
  TensorMap& tensors;
  std::string prefix;
  std::string file;
  mx::Dtype dtype;

  mx::array take(const std::string& name, const mx::Shape& shape) const {
    auto it = tensors.find(prefix + name);
    if (it == tensors.end()) throw fileError(file, "missing tensor '" + prefix + name + "'");
    if (it->second.shape() != shape) {
      throw fileError(file, "tensor '" + prefix + name + "' has shape " +
                                shapeStr(it->second.shape()) + ", expected " + shapeStr(shape) +
                                " (does config.json belong to these weights?)");
    }
    if (!mx::issubdtype(it->second.dtype(), mx::floating)) {
      throw fileError(file, "tensor '" + prefix + name + "' is not floating point");
    }
    return mx::astype(it->second, dtype);
  }
  BertDense dense(const std::string& name, int out, int in) const {
    return {take(name + ".weight", {out, in}), take(name + ".bias", {out})};
  }
  BertNorm norm(const std::string& name, int d) const {
    return {take(name + ".weight", {d}), take(name + ".bias", {d})};
  }
};

void checkConfig(const BertConfig& c, const std::string& source) {
  if (c.vocabSize <= 0 || c.hiddenSize <= 0 || c.intermediateSize <= 0 || c.numLayers <= 0 ||
      c.numHeads <= 0 || c.maxPositionEmbeddings <= 0 || c.typeVocabSize <= 0) {
    throw fileError(source, "config has a non-positive dimension");
  }
  if (c.hiddenSize % c.numHeads != 0) {
    throw fileError(source, "hidden_size " + std::to_string(c.hiddenSize) +
                                " is not a multiple of num_attention_heads " +
                                std::to_string(c.numHeads));
  }
  if (c.hiddenAct != "gelu" && c.hiddenAct != "gelu_new" && c.hiddenAct != "gelu_pytorch_tanh") {
    throw fileError(source, "unsupported hidden_act '" + c.hiddenAct +
                                "' (expected gelu, gelu_new or gelu_pytorch_tanh)");
  }
}

mx::array gelu(const mx::array& x, const std::string& kind) {
  if (kind == "gelu") {
    // Exact GELU: x Φ(x) = x (1 + erf(x / √2)) / 2.
    return x * (1.0f + mx::erf(x * static_cast<float>(M_SQRT1_2))) * 0.5f;
  }
  // Tanh approximation (gelu_new, gelu_pytorch_tanh).
  const float k = std::sqrt(2.0f / static_cast<float>(M_PI));
  return 0.5f * x * (1.0f + mx::tanh(k * (x + 0.044715f * x * x * x)));
}

mx::array layerNorm(const mx::array& x, const BertNorm& n, float eps) {
  return mx::fast::layer_norm(x, n.weight, n.bias, eps);
}

// x (B, L, D), keep (B, 1, 1, L) bool -> (B, L, D). Every query sees every real key.
mx::array attention(const BertLayer& l, const mx::array& x, const mx::array& keep, int heads) {
  const int B = x.shape(0), L = x.shape(1), D = x.shape(2), hd = D / heads;
  auto split = [&](const mx::array& t) {  // (B, L, D) -> (B, H, L, hd)
    return mx::transpose(mx::reshape(t, {B, L, heads, hd}), {0, 2, 1, 3});
  };
  mx::array q = split(l.query.apply(x));
  mx::array k = split(l.key.apply(x));
  mx::array v = split(l.value.apply(x));
  mx::array ctx = mx::fast::scaled_dot_product_attention(
      q, k, v, 1.0f / std::sqrt(static_cast<float>(hd)), "", keep);
  ctx = mx::reshape(mx::transpose(ctx, {0, 2, 1, 3}), {B, L, D});
  return l.attnOut.apply(ctx);
}

}  // namespace

mx::array BertDense::apply(const mx::array& x) const {
  return mx::add(mx::matmul(x, mx::transpose(weight)), bias);
}

mx::array BertModel::hidden(const mx::array& ids, const mx::array& typeIds,
                            const mx::array& mask) const {
  const int L = ids.shape(1);
  const float eps = config.layerNormEps;
  // Embeddings: word + absolute position + token type, then LayerNorm. (B, L, D)
  mx::array positions = mx::arange(0, L, mx::int32);
  mx::array x = mx::take(wordEmbeddings, ids, 0) + mx::take(positionEmbeddings, positions, 0) +
                mx::take(typeEmbeddings, typeIds, 0);
  x = layerNorm(x, embeddingNorm, eps);
  // Padding keys are hidden from every query: (B, 1, 1, L).
  mx::array keep = mx::expand_dims(mx::greater(mask, mx::array(0.0f)), {1, 2});
  for (const BertLayer& l : layers) {
    // Post-LN blocks: x = LN(x + attn(x)); x = LN(x + mlp(x)).
    x = layerNorm(x + attention(l, x, keep, config.numHeads), l.attnNorm, eps);
    mx::array h = l.output.apply(gelu(l.intermediate.apply(x), config.hiddenAct));
    x = layerNorm(x + h, l.outputNorm, eps);
  }
  return x;
}

BertEncodeResult BertModel::encode(const std::vector<int32_t>& ids,
                                   const std::vector<int32_t>& typeIds,
                                   const std::vector<float>& mask, int batch, int length,
                                   const BertEncodeOptions& opts) const {
  const size_t n = static_cast<size_t>(batch) * static_cast<size_t>(length);
  if (batch <= 0 || length <= 0 || ids.size() != n || mask.size() != n ||
      (!typeIds.empty() && typeIds.size() != n)) {
    throw std::invalid_argument("encode: ids, mask (and typeIds) must hold batch x length = " +
                                std::to_string(n) + " entries");
  }
  if (length > config.maxPositionEmbeddings) {
    throw std::invalid_argument("encode: " + std::to_string(length) +
                                " tokens exceed max_position_embeddings " +
                                std::to_string(config.maxPositionEmbeddings) + " of " + source);
  }
  for (int32_t id : ids) {
    if (id < 0 || id >= config.vocabSize) {
      throw std::invalid_argument("encode: token id " + std::to_string(id) +
                                  " is outside the vocabulary (" +
                                  std::to_string(config.vocabSize) + ")");
    }
  }
  for (int32_t t : typeIds) {
    if (t < 0 || t >= config.typeVocabSize) {
      throw std::invalid_argument("encode: token type id " + std::to_string(t) + " out of range");
    }
  }
  const mx::Shape shape{batch, length};
  mx::array idsA(ids.data(), shape, mx::int32);
  mx::array typesA =
      typeIds.empty() ? mx::zeros(shape, mx::int32) : mx::array(typeIds.data(), shape, mx::int32);
  mx::array maskA(mask.data(), shape, mx::float32);
  mx::array h = mx::astype(hidden(idsA, typesA, maskA), mx::float32);  // (B, L, D)

  std::optional<mx::array> pooled;
  if (opts.pooling == BertPooling::kMean) {
    // Mean over real tokens; the clamp keeps an all-padding row finite (sentence-transformers'
    // rule).
    mx::array m = mx::expand_dims(maskA, 2);  // (B, L, 1)
    pooled = mx::sum(h * m, 1) / mx::maximum(mx::sum(m, 1), mx::array(1e-9f));
  } else if (opts.pooling == BertPooling::kCls) {
    pooled = mx::squeeze(mx::slice(h, {0, 0, 0}, {batch, 1, h.shape(2)}), 1);
  }
  if (pooled && opts.normalize) {
    mx::array norm = mx::sqrt(mx::sum(mx::square(*pooled), 1, true));
    pooled = *pooled / mx::maximum(norm, mx::array(1e-12f));
  }
  std::vector<mx::array> outs;
  if (pooled) outs.push_back(*pooled);
  if (opts.returnHidden) outs.push_back(h);
  mx::eval(outs);

  BertEncodeResult r;
  auto copy = [](const mx::array& a) {
    mx::array c = mx::contiguous(a);
    c.eval();
    return std::vector<float>(c.data<float>(), c.data<float>() + c.size());
  };
  if (pooled) r.embeddings = copy(*pooled);
  if (opts.returnHidden) r.hidden = copy(h);
  return r;
}

BertModel loadBert(const BertConfig& c, const std::string& file, mx::Dtype dtype,
                   const std::string& source) {
  checkConfig(c, source);
  validateSafetensors(file);
  TensorMap tensors = [&]() {
    try {
      return mx::load_safetensors(file).first;
    } catch (const std::exception& e) {
      throw fileError(file, e.what());
    }
  }();
  // BertForMaskedLM / BertForPreTraining checkpoints keep the encoder under "bert.".
  const std::string prefix = tensors.count("embeddings.word_embeddings.weight")        ? ""
                             : tensors.count("bert.embeddings.word_embeddings.weight") ? "bert."
                                                                                       : "";
  TensorReader r{tensors, prefix, file, dtype};
  const int D = c.hiddenSize, F = c.intermediateSize;

  BertModel m;
  m.config = c;
  m.dtype = dtype;
  m.source = source;
  m.wordEmbeddings = r.take("embeddings.word_embeddings.weight", {c.vocabSize, D});
  m.positionEmbeddings =
      r.take("embeddings.position_embeddings.weight", {c.maxPositionEmbeddings, D});
  m.typeEmbeddings = r.take("embeddings.token_type_embeddings.weight", {c.typeVocabSize, D});
  m.embeddingNorm = r.norm("embeddings.LayerNorm", D);
  for (int i = 0; i < c.numLayers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    BertLayer l;
    l.query = r.dense(p + "attention.self.query", D, D);
    l.key = r.dense(p + "attention.self.key", D, D);
    l.value = r.dense(p + "attention.self.value", D, D);
    l.attnOut = r.dense(p + "attention.output.dense", D, D);
    l.attnNorm = r.norm(p + "attention.output.LayerNorm", D);
    l.intermediate = r.dense(p + "intermediate.dense", F, D);
    l.output = r.dense(p + "output.dense", D, F);
    l.outputNorm = r.norm(p + "output.LayerNorm", D);
    m.layers.push_back(std::move(l));
  }
  // Weights leave the file's buffers now, so load errors surface here rather than mid-encode.
  std::vector<mx::array> all{m.wordEmbeddings, m.positionEmbeddings, m.typeEmbeddings,
                             m.embeddingNorm.weight, m.embeddingNorm.bias};
  for (const BertLayer& l : m.layers) {
    for (const BertDense* d :
         {&l.query, &l.key, &l.value, &l.attnOut, &l.intermediate, &l.output}) {
      all.push_back(d->weight);
      all.push_back(d->bias);
    }
    for (const BertNorm* n : {&l.attnNorm, &l.outputNorm}) {
      all.push_back(n->weight);
      all.push_back(n->bias);
    }
  }
  try {
    mx::eval(all);
  } catch (const std::exception& e) {
    throw fileError(file, e.what());
  }
  return m;
}

}  // namespace medtune
