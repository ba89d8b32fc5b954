// The shared model skeleton for the decoder-only families we train (llama, mistral, qwen2, and
// GPT-2-style biogpt): the config, a frozen Linear that is either float or MLX-quantized, LoRA
// adapters over chosen Linears, and the forward pass with optional KV cache. Loading lives in
// model_load.cc, the llama-family forward in model_llama.cc, BioGPT's in model_gpt2.cc, adapter
// files in lora.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mlx/mlx.h"

namespace medtune {

namespace mx = mlx::core;

struct RopeScaling {
  std::string type = "none";  // none | linear | llama3
  float factor = 1.0f;
  float lowFreqFactor = 1.0f;
  float highFreqFactor = 4.0f;
  int originalMaxPositionEmbeddings = 8192;
};

struct ModelConfig {
  std::string architecture = "llama";  // llama | mistral | qwen2 | biogpt
  int vocabSize = 0;
  int hiddenSize = 0;
  int intermediateSize = 0;
  int numLayers = 0;
  int numHeads = 0;
  int numKvHeads = 0;
  int headDim = 0;
  float rmsNormEps = 1e-5f;
  float ropeTheta = 10000.0f;
  bool tieWordEmbeddings = false;
  bool attentionBias = false;  // qwen2: q/k/v carry a bias
  int slidingWindow = 0;       // mistral; 0 = full causal attention
  int maxPositionEmbeddings = 2048;
  RopeScaling ropeScaling;
  // GPT-2-style families (biogpt, model_gpt2.cc): the MLP activation ("gelu": erf GELU,
  // "gelu_new" / "gelu_pytorch_tanh": its tanh form) and whether token embeddings are scaled by
  // sqrt(hiddenSize) before the learned positions are added.
  std::string hiddenAct = "silu";
  bool scaleEmbedding = false;
};

// A frozen projection y = x W^T + b, W stored (out, in) either as floats or MLX-quantized.
struct Linear {
  int inDim = 0;
  int outDim = 0;
  std::optional<mx::array> weight;   // (out, in) float
  std::optional<mx::array> qweight;  // (out, in * bits / 32) uint32
  std::optional<mx::array> scales;   // (out, in / group)
  std::optional<mx::array> qbiases;  // (out, in / group)
  int groupSize = 0;
  int bits = 0;
  // CPU only (prepareCompute, quant_compact.h): float32 scales / qbiases held compactly — float16
  // where exact, qbiases dropped when every bias is -2^(bits-1) * scale (implicitBiases). Read
  // them through affineParams(), never directly.
  bool compact = false;
  bool implicitBiases = false;
  std::optional<mx::array> bias;  // (out)
  // CPU only: the quantized W expanded once to float32 for compute (see prepareCompute).
  std::optional<mx::array> dense;  // (out, in) float32
  // CPU only, instead of `dense`: W stays packed; products with more than a few rows dequantize
  // it block by block into float32 for BLAS (forward and backward, packed_matmul.h), so weight
  // memory is the packed size. Fewer rows (decode) use MLX's quantized kernel directly.
  bool tiled = false;
  // CPU decode only (decode_cpu.cc): the scales and biases rearranged for its int8 kernels, made
  // on first use and kept with the arrays they came from (remade when those change).
  mutable std::shared_ptr<struct DecodeScales> decodeScales;

  bool quantized() const { return qweight.has_value(); }
  // MLX affine-quantized (scales and biases, stored or implicit): what the CPU kernels read.
  bool affine() const { return quantized() && (qbiases || implicitBiases); }
  // The scales and biases (out, in / group) as MLX's quantized ops take them: float32 when
  // compact (made lazily), else as stored; only rows `ids` (N) when given, (N, in / group).
  std::pair<mx::array, std::optional<mx::array>> affineParams(
      const std::optional<mx::array>& ids = std::nullopt) const;
  mx::array apply(const mx::array& x) const;
  // x W^T without the bias.
  mx::array matmul(const mx::array& x) const;
  // g W: (N, out) -> (N, in), the product a backward through this projection needs.
  mx::array matmulTransposed(const mx::array& g) const;
  // W (out, in) as float32, dequantized when needed.
  mx::array denseWeight() const;
  // Rows of W for an embedding lookup: ids (N) -> (N, in), dequantized when needed.
  mx::array rows(const mx::array& ids) const;
  // Quantize a float weight in place (QLoRA base).
  void quantize(int groupSize, int bits);
  std::vector<mx::array> arrays() const;
};

struct Block {
  Linear q, k, v, o, gate, up, down;
  mx::array attnNorm = mx::array(0.0f);  // (D)
  mx::array mlpNorm = mx::array(0.0f);   // (D)
  // LayerNorm biases (GPT-2-style blocks: biogpt); llama-family RMSNorm has none. BioGPT's
  // fc1 / fc2 live in `up` / `down` (no gate), its out_proj in `o`.
  std::optional<mx::array> attnNormBias;  // (D)
  std::optional<mx::array> mlpNormBias;   // (D)
};

// Adapter modules, named as in mlx-lm without the "model." prefix, e.g. "self_attn.q_proj".
extern const char* const kLoraModules[7];

struct LoraConfig {
  int rank = 8;
  float alpha = 16.0f;
  float scale = 2.0f;  // alpha / rank, or alpha / sqrt(rank) with rsLoRA
  float dropout = 0.0f;
  std::vector<std::string> keys;  // subset of kLoraModules
  int numLayers = -1;             // adapt the last N blocks; -1 = all
  bool dora = false;              // DoRA: also learn a per-output-row magnitude m (see project())
};

struct LoraParams {
  mx::array a;      // (in, r)
  mx::array b;      // (r, out)
  int layer = -1;   // block index, resolved from the name once when the adapter is created
  int module = -1;  // index in kLoraModules
  // DoRA only. m: trainable magnitude (out), initialised to ||W||_row so step 0 equals the base.
  // baseNormSq: ||W||^2 per output row (out), float32, from the frozen (dequantized) W once at
  // adapter creation — W never changes, so each step needs only the low-rank terms of ||V||.
  std::optional<mx::array> m;
  std::optional<mx::array> baseNormSq;
  // ||W + s (A B)^T||_row for the current A, B (out): inference reuses it instead of recomputing
  // it every decoded token. Kept current by Model::refreshDoraNorms().
  std::optional<mx::array> weightNorm;
};

// One pre-allocated (keys, values) pair per block, (B, Hkv, capacity, hd), written in place with
// slice_update: a decoded token costs one row write, not a copy of the whole cache. Rows of a
// batch may be left-padded: row b's real tokens start at padding[b]; its pad keys are masked and
// its RoPE positions are shifted so that every row sees the positions it would see alone.
struct KvCache {
  std::vector<mx::array> keys;
  std::vector<mx::array> values;
  int offset = 0;            // positions written (pad included)
  int capacity = 0;          // positions allocated
  std::vector<int> padding;  // per row; empty = no padding

  // Empty cache for `layers` blocks; capacity grows on demand in steps of `growBy`.
  static KvCache empty(size_t layers);
  // Keep only the given batch rows (finished sequences leave a batched generation).
  void keepRows(const std::vector<int>& rows);
  // Repeat a batch-1 cache n times (a shared prompt prefix for n continuations).
  KvCache repeated(int n) const;
  static constexpr int growBy = 256;
};

// Wall-clock seconds per named phase, filled when ForwardOptions::profile is set: the forward
// then evaluates after every step (a barrier per op), which is slower but attributes time truly.
using PhaseTimes = std::map<std::string, double>;

struct ForwardOptions {
  bool training = false;     // enables LoRA dropout
  uint64_t dropoutSeed = 0;  // mixed with layer/module ids for per-module keys
  bool gradientCheckpointing = false;
  KvCache* cache = nullptr;
  PhaseTimes* profile = nullptr;
};

class Model {
 public:
  ModelConfig config;
  Linear embed;  // (V, D): rows are token embeddings; tied models reuse it as the LM head
  std::vector<Block> layers;
  mx::array norm = mx::array(0.0f);
  std::optional<Linear> lmHead;
  mx::Dtype dtype = mx::float32;       // activations
  std::optional<mx::array> ropeFreqs;  // (hd/2) per-dimension wavelengths when scaled
  std::string source;                  // file or directory the weights came from
  std::vector<std::string> loadNotes;  // per tensor type: kept quantized / dequantized (GGUF)
  // GPT-2-style families: the learned position table as stored, (maxPositions + offset, D), where
  // position p reads row p + positionOffset (BioGPT keeps 2 unused rows in front), and the final
  // LayerNorm's bias.
  std::optional<mx::array> positions;
  int positionOffset = 0;
  std::optional<mx::array> normBias;  // (D)

  // Adapters: name "layers.<i>.<module>" -> params. Sorted so parameter order is stable.
  std::optional<LoraConfig> lora;
  std::map<std::string, LoraParams> adapters;
  bool adaptersEnabled = true;

  void finalize();  // derived state (rope freqs) after config + weights are set

  // ids (B, L) int32 -> logits (B, L, V) float32. `params` overrides the adapter weights (same
  // order as adapterParamNames(): a, b and with DoRA m, per module) so value_and_grad can
  // differentiate through them.
  mx::array forward(const mx::array& ids, const std::vector<mx::array>* params,
                    const ForwardOptions& opts) const;
  // Hidden states before the LM head: (B, L, D).
  mx::array hidden(const mx::array& ids, const std::vector<mx::array>* params,
                   const ForwardOptions& opts) const;
  mx::array logits(const mx::array& h) const;
  // Logits of the last position only: h (B, L, D) -> (B, V). Generation needs no other row.
  mx::array lastLogits(const mx::array& h) const;
  // The LM head's Linear (tied models reuse the embedding).
  const Linear& head() const { return lmHead ? *lmHead : embed; }

  std::vector<std::string> adapterNames() const;
  bool dora() const { return lora && lora->dora; }
  // Trainable tensors per adapted module: 2 (A, B), or 3 with DoRA (A, B, m).
  size_t paramsPerAdapter() const { return dora() ? 3 : 2; }
  // "<name>.lora_a", "<name>.lora_b"[, "<name>.m"] in adapterParams() order.
  std::vector<std::string> adapterParamNames() const;
  std::vector<mx::array> adapterParams() const;
  void setAdapterParams(const std::vector<mx::array>& params);
  void addAdapters(const LoraConfig& cfg, uint64_t seed);
  // Recomputes each DoRA adapter's weightNorm; call after A or B change outside forward().
  void refreshDoraNorms();
  const Linear& module(int layer, const std::string& key) const;
  std::vector<mx::array> baseArrays() const;
};

// One adapted projection's tensors, for forwards outside model_llama.cc: A (in, r), B (r, out),
// and with DoRA the magnitude m, ||W||^2 per row and (inference) ||V||_row, all (out).
struct AdapterTensors {
  mx::array a;
  mx::array b;
  std::optional<mx::array> m;
  std::optional<mx::array> baseNormSq;
  std::optional<mx::array> weightNorm;
};
// lin(x) plus its LoRA / DoRA term when `ad` is set, exactly as the llama-family blocks apply it
// (`module` indexes kLoraModules and keys the dropout mask).
mx::array adaptedProjection(const Linear& lin, const mx::array& x,
                            const std::optional<AdapterTensors>& ad, int module, float scale,
                            float dropout, bool training, uint64_t dropoutSeed);
// Causal attention mask over a cache offset and left padding (none when plain causal will do),
// and KV-cache growth: the llama forward's own helpers, shared.
std::optional<mx::array> causalAttentionMask(int L, int offset, const std::vector<int>& padding);
void reserveKvCache(KvCache& kc, int B, int Hkv, int hd, int needed, mx::Dtype dt);

// GPT-2-style forward (model_gpt2.cc): Model::hidden dispatches here for architecture "biogpt".
mx::array gpt2Hidden(const Model& m, const mx::array& ids, const std::vector<mx::array>* params,
                     const ForwardOptions& opts);
// True for the architectures gpt2Hidden serves.
bool isGpt2Family(const std::string& architecture);
// An adapter name ("layers.3.mlp.up_proj") as the module's path in the HF model
// ("biogpt.layers.3.fc1"): adapter files use the names PEFT gives BioGPT's modules.
std::string gpt2ModulePath(const std::string& adapterName);
// BioGPT's Hugging Face tensors (biogpt.layers.N.fc1 ...) into a Model; `t` as loaded.
void takeGpt2Weights(Model& m, std::unordered_map<std::string, mx::array>& t,
                     const std::string& source);
// The same names back, for export (floats only).
std::unordered_map<std::string, mx::array> gpt2HfWeights(const Model& m);
// Random weights of the GPT-2-style layout (tests).
void randomGpt2Weights(Model& m, const std::function<mx::array(mx::Shape, float)>& normal);

// Loading (model_load.cc).
Model loadGguf(const std::string& path, mx::Dtype dtype);
Model loadHf(const ModelConfig& cfg, const std::vector<std::string>& files, mx::Dtype dtype,
             const std::string& source);
Model createRandomModel(const ModelConfig& cfg, uint64_t seed, mx::Dtype dtype);
void quantizeBase(Model& m, int groupSize, int bits);
// How products with a quantized base run on the CPU device (MEDTUNE_CPU_QUANTIZED_MATMUL):
// Packed (default): W stays packed and multiplies through dequantized row blocks + BLAS
// (packed_matmul.h; Linear::tiled), scales and biases held compactly (quant_compact.h: float16
// as in GGUF, symmetric biases implicit), so weight memory is about the file size, at the
// expanded base's training speed within ~10% (npm run bench -- packed); Expand: a float32 copy
// once at load (~8x the 4-bit bytes); Kernel: MLX's quantized_matmul for every product (a scalar
// loop on CPU: slow). Metal and CUDA always use MLX's quantized kernels. Throws on an unknown
// value.
enum class CpuQuantizedCompute { Packed, Expand, Kernel };
CpuQuantizedCompute cpuQuantizedCompute();
// Prepares the quantized projections of `m` for CPU compute as cpuQuantizedCompute() says.
// Returns the bytes of the float32 copies it made.
size_t prepareCompute(Model& m);

// Checks a safetensors file's header against its size, throwing an error that names the file.
void validateSafetensors(const std::string& path);
// Atomic write: temp file in the same directory, then rename.
void saveSafetensorsAtomic(const std::string& path,
                           const std::unordered_map<std::string, mx::array>& arrays,
                           const std::unordered_map<std::string, std::string>& metadata);
// Base weights in Hugging Face naming (model.layers.0.self_attn.q_proj.weight ...); floats only.
std::unordered_map<std::string, mx::array> hfWeights(const Model& m);

uint64_t mixSeed(uint64_t a, uint64_t b);

// "<file>: <what>", the form every load error takes.
inline std::runtime_error fileError(const std::string& file, const std::string& what) {
  return std::runtime_error(file + ": " + what);
}
// "[2, 3, 4]" for error messages.
inline std::string shapeStr(const mx::Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace medtune
