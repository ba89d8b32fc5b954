// A BERT-family encoder for sentence embeddings (all-MiniLM-L6-v2, BGE-base-en-v1.5): word +
// position + token-type embeddings, post-LayerNorm encoder blocks with a GELU MLP, bidirectional
// attention under a padding mask, then mean or CLS pooling and optional L2 normalisation. Inference
// only: no adapters, no gradients. The config comes from config.json parsed in TypeScript
// (src/models/embedder.ts); the weights from one Hugging Face model.safetensors.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mlx/mlx.h"

namespace medtune {

namespace mx = mlx::core;

struct BertConfig {
  int vocabSize = 0;
  int hiddenSize = 0;
  int intermediateSize = 0;
  int numLayers = 0;
  int numHeads = 0;
  int maxPositionEmbeddings = 512;
  int typeVocabSize = 2;
  float layerNormEps = 1e-12f;
  std::string hiddenAct = "gelu";  // gelu (erf) | gelu_new / gelu_pytorch_tanh (tanh approximation)
};

// y = x W^T + b with W (out, in).
struct BertDense {
  mx::array weight = mx::array(0.0f);
  mx::array bias = mx::array(0.0f);
  mx::array apply(const mx::array& x) const;
};

struct BertNorm {
  mx::array weight = mx::array(0.0f);
  mx::array bias = mx::array(0.0f);
};

struct BertLayer {
  BertDense query, key, value, attnOut, intermediate, output;
  BertNorm attnNorm, outputNorm;
};

enum class BertPooling { kNone, kMean, kCls };

struct BertEncodeOptions {
  BertPooling pooling = BertPooling::kMean;
  bool normalize = true;
  bool returnHidden = false;  // also hand back the last hidden state (parity tests)
};

struct BertEncodeResult {
  std::vector<float> embeddings;  // (B, D) pooled; empty with BertPooling::kNone
  std::vector<float> hidden;      // (B, L, D) when requested
};

class BertModel {
 public:
  BertConfig config;
  mx::Dtype dtype = mx::float32;
  std::string source;
  mx::array wordEmbeddings = mx::array(0.0f);      // (V, D)
  mx::array positionEmbeddings = mx::array(0.0f);  // (P, D)
  mx::array typeEmbeddings = mx::array(0.0f);      // (T, D)
  BertNorm embeddingNorm;
  std::vector<BertLayer> layers;

  // ids, typeIds (B, L) int32; mask (B, L) with 1 for real tokens -> last hidden state (B, L, D).
  mx::array hidden(const mx::array& ids, const mx::array& typeIds, const mx::array& mask) const;
  // Flat row-major inputs of shape (batch, length); typeIds may be empty (all zero).
  BertEncodeResult encode(const std::vector<int32_t>& ids, const std::vector<int32_t>& typeIds,
                          const std::vector<float>& mask, int batch, int length,
                          const BertEncodeOptions& opts) const;
};

// Reads `file` (safetensors; tensor names as BertModel writes them, with or without a "bert."
// prefix). Errors name the file and the missing or misshapen tensor.
BertModel loadBert(const BertConfig& config, const std::string& file, mx::Dtype dtype,
                   const std::string& source);

}  // namespace medtune
