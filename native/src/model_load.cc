// Building a Model from files: GGUF (F32, F16, Q4_0, Q4_1, Q8_0 via mx::load_gguf; Q5_0, Q5_1 and
// the K-quants through kquants.cc; hyperparameters from <arch>.* metadata) and Hugging Face
// safetensors (config parsed by TypeScript), plus random tiny models for tests, QLoRA base
// quantization, and safe safetensors read/write.
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <stdexcept>

#include "kquants.h"
#include "model.h"
#include "quant_compact.h"

namespace medtune {

namespace {

using TensorMap = std::unordered_map<std::string, mx::array>;

// Takes `<prefix>.weight` (+ scales/biases when quantized, + bias) as a Linear of (out, in).
Linear takeLinear(TensorMap& t, const std::string& prefix, int out, int in, bool required,
                  const std::string& file, const std::string& weightSuffix,
                  const std::string& biasSuffix, mx::Dtype dtype) {
  Linear lin;
  lin.inDim = in;
  lin.outDim = out;
  auto w = t.find(prefix + weightSuffix);
  if (w == t.end()) {
    if (!required) return lin;
    throw fileError(file, "missing tensor '" + prefix + weightSuffix + "'");
  }
  auto sc = t.find(prefix + ".scales");
  if (sc != t.end()) {
    // MLX affine quantization: packed uint32 rows, per-group scales and biases.
    const mx::array& qw = w->second;
    if (qw.ndim() != 2 || qw.shape(0) != out || sc->second.ndim() != 2 ||
        sc->second.shape(0) != out || sc->second.shape(1) == 0) {
      throw fileError(file, "tensor '" + prefix + weightSuffix + "' has shape " +
                                shapeStr(qw.shape()) + ", expected " + std::to_string(out) +
                                " rows");
    }
    lin.bits = qw.shape(1) * 32 / in;
    lin.groupSize = in / sc->second.shape(1);
    if (lin.bits * in != qw.shape(1) * 32 || lin.groupSize * sc->second.shape(1) != in) {
      throw fileError(file, "quantized tensor '" + prefix + weightSuffix + "' " +
                                shapeStr(qw.shape()) + " does not pack " + std::to_string(in) +
                                " columns");
    }
    lin.qweight = qw;
    lin.scales = mx::astype(sc->second, dtype);
    auto qb = t.find(prefix + ".biases");
    if (qb != t.end()) lin.qbiases = mx::astype(qb->second, dtype);
  } else {
    if (w->second.shape() != mx::Shape{out, in}) {
      throw fileError(file, "tensor '" + prefix + weightSuffix + "' has shape " +
                                shapeStr(w->second.shape()) + ", expected " + shapeStr({out, in}));
    }
    if (!mx::issubdtype(w->second.dtype(), mx::floating)) {
      throw fileError(file, "tensor '" + prefix + weightSuffix + "' has unsupported type");
    }
    lin.weight = mx::astype(w->second, dtype);
  }
  auto b = t.find(prefix + biasSuffix);
  if (b != t.end()) {
    if (b->second.shape() != mx::Shape{out}) {
      throw fileError(file, "tensor '" + prefix + biasSuffix + "' has shape " +
                                shapeStr(b->second.shape()) + ", expected [" + std::to_string(out) +
                                "]");
    }
    lin.bias = mx::astype(b->second, dtype);
  }
  return lin;
}

mx::array takeVector(TensorMap& t, const std::string& key, int n, const std::string& file,
                     mx::Dtype dtype) {
  auto it = t.find(key);
  if (it == t.end()) throw fileError(file, "missing tensor '" + key + "'");
  if (it->second.shape() != mx::Shape{n}) {
    throw fileError(file, "tensor '" + key + "' has shape " + shapeStr(it->second.shape()) +
                              ", expected [" + std::to_string(n) + "]");
  }
  return mx::astype(it->second, dtype);
}

// llama.cpp's converter interleaves each head's rotary halves (for its "normal" RoPE); undo it so
// the weights, and adapters trained on them, match the Hugging Face layout and rotate_half RoPE.
// Rows only move, so quantized rows, scales and biases are permuted alike.
mx::array unpermuteRows(const mx::array& w, int heads) {
  const int out = w.shape(0);
  const int cols = w.shape(1);
  mx::array r = mx::reshape(w, {heads, out / heads / 2, 2, cols});
  return mx::reshape(mx::swapaxes(r, 1, 2), {out, cols});
}

void unpermute(Linear& lin, int heads) {
  for (auto* a : {&lin.weight, &lin.qweight, &lin.scales, &lin.qbiases}) {
    if (*a) *a = unpermuteRows(**a, heads);
  }
  if (lin.bias) lin.bias = mx::flatten(unpermuteRows(mx::reshape(*lin.bias, {-1, 1}), heads));
}

void checkConfig(const ModelConfig& c, const std::string& source) {
  if (c.vocabSize <= 0 || c.hiddenSize <= 0 || c.intermediateSize <= 0 || c.numLayers <= 0 ||
      c.numHeads <= 0 || c.numKvHeads <= 0 || c.headDim <= 0) {
    throw fileError(source, "config has a non-positive dimension");
  }
  if (c.numHeads % c.numKvHeads != 0) {
    throw fileError(source, "num_attention_heads (" + std::to_string(c.numHeads) +
                                ") is not a multiple of num_key_value_heads (" +
                                std::to_string(c.numKvHeads) + ")");
  }
  if (c.architecture != "llama" && c.architecture != "mistral" && c.architecture != "qwen2" &&
      !isGpt2Family(c.architecture)) {
    throw fileError(source, "unsupported architecture '" + c.architecture +
                                "' (supported: llama, mistral, qwen2, biogpt)");
  }
}

void evalModel(Model& m) {
  std::vector<mx::array> all = m.baseArrays();
  mx::eval(all);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// One transformer block, whatever the file format: only the tensor names differ.

namespace {

struct BlockNames {
  const char *q, *k, *v, *o, *gate, *up, *down, *attnNorm, *mlpNorm;
};

const BlockNames kGgufBlockNames{"attn_q",      "attn_k",           "attn_v",
                                 "attn_output", "ffn_gate",         "ffn_up",
                                 "ffn_down",    "attn_norm.weight", "ffn_norm.weight"};
const BlockNames kHfBlockNames{
    "self_attn.q_proj", "self_attn.k_proj",       "self_attn.v_proj",
    "self_attn.o_proj", "mlp.gate_proj",          "mlp.up_proj",
    "mlp.down_proj",    "input_layernorm.weight", "post_attention_layernorm.weight"};

// Projections (out, in) with optional biases, and the two RMSNorm weights, of the block whose
// tensor names start with `prefix`.
Block takeBlock(TensorMap& tensors, const std::string& prefix, const BlockNames& n,
                const ModelConfig& c, const std::string& file, mx::Dtype dtype) {
  const int D = c.hiddenSize, F = c.intermediateSize, hd = c.headDim;
  auto lin = [&](const char* name, int out, int in) {
    return takeLinear(tensors, prefix + name, out, in, true, file, ".weight", ".bias", dtype);
  };
  Block blk;
  blk.q = lin(n.q, c.numHeads * hd, D);
  blk.k = lin(n.k, c.numKvHeads * hd, D);
  blk.v = lin(n.v, c.numKvHeads * hd, D);
  blk.o = lin(n.o, D, c.numHeads * hd);
  blk.gate = lin(n.gate, F, D);
  blk.up = lin(n.up, F, D);
  blk.down = lin(n.down, D, F);
  blk.attnNorm = takeVector(tensors, prefix + n.attnNorm, D, file, dtype);
  blk.mlpNorm = takeVector(tensors, prefix + n.mlpNorm, D, file, dtype);
  return blk;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// GGUF

namespace {

double metaNumber(const std::unordered_map<std::string, mx::GGUFMetaData>& meta,
                  const std::string& key, const std::string& file, std::optional<double> dflt) {
  auto it = meta.find(key);
  if (it == meta.end()) {
    if (dflt) return *dflt;
    throw fileError(file, "missing metadata key '" + key + "'");
  }
  const mx::array* a = std::get_if<mx::array>(&it->second);
  if (!a || a->size() != 1) throw fileError(file, "metadata key '" + key + "' is not a number");
  return mx::astype(*a, mx::float64, mx::Device::cpu).item<double>();
}

// ggml tensor types by id (ggml.h's enum ggml_type), for error messages.
const char* ggmlTypeName(uint32_t t) {
  static const char* const names[] = {
      "F32",   "F16",        "Q4_0",       "Q4_1",       "Q4_2",     "Q4_3",     "Q5_0",
      "Q5_1",  "Q8_0",       "Q8_1",       "Q2_K",       "Q3_K",     "Q4_K",     "Q5_K",
      "Q6_K",  "Q8_K",       "IQ2_XXS",    "IQ2_XS",     "IQ3_XXS",  "IQ1_S",    "IQ4_NL",
      "IQ3_S", "IQ2_S",      "IQ4_XS",     "I8",         "I16",      "I32",      "I64",
      "F64",   "IQ1_M",      "BF16",       "Q4_0_4_4",   "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",
      "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4"};
  return t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

// The tensor types whose loading we have verified against dequantized references
// (test/train/gguf-types.test.ts; K-quants and Q5_0/Q5_1, read by kquants.cc:
// test/native/kquants.test.ts), as (elements, bytes) per block. mx::load_gguf turns any other type
// into float16 through gguflib or fails with a message that names neither the tensor nor the
// type, so those are refused up front.
bool ggmlBlock(uint32_t t, uint64_t& elems, uint64_t& bytes) {
  switch (t) {
    case 0:
      elems = 1, bytes = 4;
      return true;  // F32
    case 1:
      elems = 1, bytes = 2;
      return true;  // F16
    case 2:
      elems = 32, bytes = 18;
      return true;  // Q4_0: f16 d, 16 B nibbles
    case 3:
      elems = 32, bytes = 20;
      return true;  // Q4_1: f16 d, f16 m, 16 B nibbles
    case 8:
      elems = 32, bytes = 34;
      return true;  // Q8_0: f16 d, 32 int8
    default:
      return kquantBlock(t, elems, bytes);  // Q5_0, Q5_1, Q2_K … Q6_K (kquants.cc)
  }
}

// Reads a GGUF header (v2/v3) far enough to check every tensor's type and that its bytes lie
// inside the file, before gguflib maps it: a truncated file would otherwise be read past its end.
void checkGgufTensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fileError(path, "cannot open for reading");
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  auto fail = [&](const std::string& what) { return fileError(path, what); };
  auto u32 = [&]() {
    uint32_t v = 0;
    if (!in.read(reinterpret_cast<char*>(&v), 4)) throw fail("truncated GGUF header");
    return v;
  };
  auto u64 = [&]() {
    uint64_t v = 0;
    if (!in.read(reinterpret_cast<char*>(&v), 8)) throw fail("truncated GGUF header");
    return v;
  };
  auto str = [&]() {
    const uint64_t n = u64();
    if (n > size) throw fail("corrupt GGUF header (string length " + std::to_string(n) + ")");
    std::string s(n, '\0');
    if (!in.read(s.data(), static_cast<std::streamsize>(n))) throw fail("truncated GGUF header");
    return s;
  };
  // Bytes of a scalar metadata value by GGUF value type; 0 for string/array.
  auto scalarBytes = [&](uint32_t vt) -> uint64_t {
    static const uint64_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (vt > 12) throw fail("corrupt GGUF header (metadata value type " + std::to_string(vt) + ")");
    return sizes[vt];
  };
  std::function<void(uint32_t)> skipValue = [&](uint32_t vt) {
    if (vt == 8) {
      str();
    } else if (vt == 9) {
      const uint32_t et = u32();
      const uint64_t n = u64();
      if (et == 8 || et == 9) {
        for (uint64_t i = 0; i < n; ++i) skipValue(et);
      } else {
        in.seekg(static_cast<std::streamoff>(n * scalarBytes(et)), std::ios::cur);
      }
    } else {
      in.seekg(static_cast<std::streamoff>(scalarBytes(vt)), std::ios::cur);
    }
  };
  if (u32() != 0x46554747u) throw fail("not a GGUF file (bad magic)");
  const uint32_t version = u32();
  if (version < 2 || version > 3) {
    throw fail("unsupported GGUF version " + std::to_string(version) + " (supported: 2, 3)");
  }
  const uint64_t nTensors = u64();
  const uint64_t nKv = u64();
  uint64_t alignment = 32;
  for (uint64_t i = 0; i < nKv; ++i) {
    const std::string key = str();
    const uint32_t vt = u32();
    if (key == "general.alignment" && vt == 4) {
      alignment = u32();
      if (alignment == 0) throw fail("corrupt GGUF header (general.alignment 0)");
    } else {
      skipValue(vt);
    }
    if (!in) throw fail("truncated GGUF header");
  }
  struct Info {
    std::string name;
    uint64_t offset, bytes;
  };
  std::vector<Info> infos;
  for (uint64_t i = 0; i < nTensors; ++i) {
    std::string name = str();
    const uint32_t nd = u32();
    if (nd > 4) throw fail("tensor '" + name + "' has " + std::to_string(nd) + " dimensions");
    uint64_t count = 1;
    for (uint32_t d = 0; d < nd; ++d) count *= u64();
    const uint32_t type = u32();
    const uint64_t offset = u64();
    uint64_t elems = 0, bytes = 0;
    if (!ggmlBlock(type, elems, bytes)) {
      throw fail(
          "tensor '" + name + "' has type " + ggmlTypeName(type) + " (" + std::to_string(type) +
          "), which is not supported (F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, "
          "Q5_K, Q6_K)");
    }
    infos.push_back({std::move(name), offset, count / elems * bytes});
  }
  const uint64_t header = static_cast<uint64_t>(in.tellg());
  const uint64_t dataStart = (header + alignment - 1) / alignment * alignment;
  for (const Info& t : infos) {
    if (dataStart + t.offset + t.bytes > size) {
      throw fail("truncated GGUF file: tensor '" + t.name + "' needs bytes up to " +
                 std::to_string(dataStart + t.offset + t.bytes) + " but the file has " +
                 std::to_string(size));
    }
  }
}

}  // namespace

Model loadGguf(const std::string& path, mx::Dtype dtype) {
  checkGgufTensors(path);
  std::vector<std::string> loadNotes;
  mx::GGUFLoad loaded = [&]() {
    try {
      return loadGgufTensors(path, dtype, loadNotes);
    } catch (const std::exception& e) {
      // The K-quant reader's messages already start with the file.
      const std::string what = e.what();
      if (what.rfind(path + ": ", 0) == 0) throw std::runtime_error(what);
      throw fileError(path, what);
    }
  }();
  auto& tensors = loaded.first;
  auto& meta = loaded.second;
  auto archIt = meta.find("general.architecture");
  const std::string* arch =
      archIt == meta.end() ? nullptr : std::get_if<std::string>(&archIt->second);
  if (!arch) throw fileError(path, "missing metadata key 'general.architecture'");
  if (*arch != "llama" && *arch != "qwen2") {
    throw fileError(path, "unsupported architecture '" + *arch +
                              "' (general.architecture; supported: llama, qwen2)");
  }
  const std::string p = *arch + ".";
  ModelConfig c;
  c.architecture = *arch;
  c.hiddenSize = static_cast<int>(metaNumber(meta, p + "embedding_length", path, {}));
  c.numLayers = static_cast<int>(metaNumber(meta, p + "block_count", path, {}));
  c.intermediateSize = static_cast<int>(metaNumber(meta, p + "feed_forward_length", path, {}));
  c.numHeads = static_cast<int>(metaNumber(meta, p + "attention.head_count", path, {}));
  c.numKvHeads =
      static_cast<int>(metaNumber(meta, p + "attention.head_count_kv", path, c.numHeads));
  c.headDim = static_cast<int>(
      metaNumber(meta, p + "attention.key_length", path, c.hiddenSize / std::max(1, c.numHeads)));
  c.rmsNormEps =
      static_cast<float>(metaNumber(meta, p + "attention.layer_norm_rms_epsilon", path, 1e-5));
  c.ropeTheta = static_cast<float>(metaNumber(meta, p + "rope.freq_base", path, 10000.0));
  c.maxPositionEmbeddings = static_cast<int>(metaNumber(meta, p + "context_length", path, 2048));
  auto emb = tensors.find("token_embd.weight");
  if (emb == tensors.end()) throw fileError(path, "missing tensor 'token_embd.weight'");
  c.vocabSize = static_cast<int>(metaNumber(meta, p + "vocab_size", path, emb->second.shape(0)));
  c.attentionBias = tensors.count("blk.0.attn_q.bias") > 0;
  auto rsType = meta.find(p + "rope.scaling.type");
  if (rsType != meta.end()) {
    const std::string* t = std::get_if<std::string>(&rsType->second);
    if (t && *t == "linear") {
      c.ropeScaling.type = "linear";
      c.ropeScaling.factor =
          static_cast<float>(metaNumber(meta, p + "rope.scaling.factor", path, 1.0));
    } else if (t && *t != "none") {
      throw fileError(path, "unsupported rope scaling '" + *t + "' (" + p + "rope.scaling.type)");
    }
  }
  checkConfig(c, path);
  const bool hasOutput = tensors.count("output.weight") > 0;
  c.tieWordEmbeddings = !hasOutput;

  Model m;
  m.config = c;
  m.dtype = dtype;
  m.source = path;
  m.loadNotes = std::move(loadNotes);
  const int D = c.hiddenSize, hd = c.headDim;
  m.embed =
      takeLinear(tensors, "token_embd", c.vocabSize, D, true, path, ".weight", ".bias", dtype);
  m.norm = takeVector(tensors, "output_norm.weight", D, path, dtype);
  if (hasOutput) {
    m.lmHead = takeLinear(tensors, "output", c.vocabSize, D, true, path, ".weight", ".bias", dtype);
  }
  for (int l = 0; l < c.numLayers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    Block blk = takeBlock(tensors, b, kGgufBlockNames, c, path, dtype);
    if (c.architecture == "llama") {
      unpermute(blk.q, c.numHeads);
      unpermute(blk.k, c.numKvHeads);
    }
    m.layers.push_back(std::move(blk));
  }
  // llama 3.x GGUFs carry the scaled-RoPE factors as a tensor: wavelengths multiply by them.
  auto rf = tensors.find("rope_freqs.weight");
  if (rf != tensors.end()) {
    mx::array base = mx::power(mx::array(c.ropeTheta),
                               mx::divide(mx::arange(0, hd, 2, mx::float32), mx::array(float(hd))));
    m.ropeFreqs = mx::multiply(base, mx::astype(rf->second, mx::float32));
  }
  m.finalize();
  evalModel(m);
  prepareCompute(m);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Hugging Face

Model loadHf(const ModelConfig& c, const std::vector<std::string>& files, mx::Dtype dtype,
             const std::string& source) {
  checkConfig(c, source);
  TensorMap tensors;
  std::unordered_map<std::string, std::string> origin;
  for (const std::string& f : files) {
    validateSafetensors(f);
    mx::SafetensorsLoad l = [&]() {
      try {
        return mx::load_safetensors(f);
      } catch (const std::exception& e) {
        throw fileError(f, e.what());
      }
    }();
    for (auto& kv : l.first) {
      origin[kv.first] = f;
      tensors.insert_or_assign(kv.first, kv.second);
    }
  }
  Model m;
  m.config = c;
  m.dtype = dtype;
  m.source = source;
  if (isGpt2Family(c.architecture)) {
    takeGpt2Weights(m, tensors, source);
    m.finalize();
    evalModel(m);
    prepareCompute(m);
    return m;
  }
  const int D = c.hiddenSize;
  m.embed = takeLinear(tensors, "model.embed_tokens", c.vocabSize, D, true, source, ".weight",
                       ".bias", dtype);
  m.norm = takeVector(tensors, "model.norm.weight", D, source, dtype);
  if (!c.tieWordEmbeddings) {
    m.lmHead =
        takeLinear(tensors, "lm_head", c.vocabSize, D, true, source, ".weight", ".bias", dtype);
  }
  for (int l = 0; l < c.numLayers; ++l) {
    const std::string b = "model.layers." + std::to_string(l) + ".";
    Block blk = takeBlock(tensors, b, kHfBlockNames, c, source, dtype);
    if (c.attentionBias && !blk.q.bias) {
      throw fileError(source,
                      "missing tensor '" + b + "self_attn.q_proj.bias' (qwen2 needs q/k/v biases)");
    }
    m.layers.push_back(std::move(blk));
  }
  m.finalize();
  evalModel(m);
  prepareCompute(m);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Random tiny models (tests)

Model createRandomModel(const ModelConfig& c, uint64_t seed, mx::Dtype dtype) {
  checkConfig(c, "createRandomModel");
  Model m;
  m.config = c;
  m.dtype = dtype;
  m.source = "random:" + std::to_string(seed);
  uint64_t id = 0;
  auto normal = [&](mx::Shape s, float std) {
    return mx::astype(
        mx::multiply(mx::random::normal(s, mx::float32, mx::random::key(mixSeed(seed, ++id))),
                     mx::array(std)),
        dtype);
  };
  auto lin = [&](int out, int in, bool bias) {
    Linear l;
    l.inDim = in;
    l.outDim = out;
    l.weight = normal({out, in}, 1.0f / std::sqrt(static_cast<float>(in)));
    if (bias) l.bias = normal({out}, 0.02f);
    return l;
  };
  auto ones = [&](int n) { return mx::astype(mx::add(mx::array(1.0f), normal({n}, 0.1f)), dtype); };
  const int D = c.hiddenSize, F = c.intermediateSize, hd = c.headDim;
  if (isGpt2Family(c.architecture)) {
    randomGpt2Weights(m, normal);
    evalModel(m);
    prepareCompute(m);
    return m;
  }
  m.embed = lin(c.vocabSize, D, false);
  m.norm = ones(D);
  if (!c.tieWordEmbeddings) m.lmHead = lin(c.vocabSize, D, false);
  for (int l = 0; l < c.numLayers; ++l) {
    Block b;
    b.q = lin(c.numHeads * hd, D, c.attentionBias);
    b.k = lin(c.numKvHeads * hd, D, c.attentionBias);
    b.v = lin(c.numKvHeads * hd, D, c.attentionBias);
    b.o = lin(D, c.numHeads * hd, false);
    b.gate = lin(F, D, false);
    b.up = lin(F, D, false);
    b.down = lin(D, F, false);
    b.attnNorm = ones(D);
    b.mlpNorm = ones(D);
    m.layers.push_back(std::move(b));
  }
  m.finalize();
  evalModel(m);
  prepareCompute(m);
  return m;
}

void quantizeBase(Model& m, int groupSize, int bits) {
  for (Block& b : m.layers) {
    for (Linear* l : {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down})
      l->quantize(groupSize, bits);
  }
  m.embed.quantize(groupSize, bits);
  if (m.lmHead) m.lmHead->quantize(groupSize, bits);
  prepareCompute(m);
}

// How CPU products read a quantized base: MEDTUNE_CPU_QUANTIZED_MATMUL = packed (default; also
// "tiled", its earlier name), expand (a float32 copy) or kernel (also "1": MLX's kernel).
CpuQuantizedCompute cpuQuantizedCompute() {
  const char* e = std::getenv("MEDTUNE_CPU_QUANTIZED_MATMUL");
  const std::string v = e ? e : "";
  if (v.empty() || v == "packed" || v == "tiled") return CpuQuantizedCompute::Packed;
  if (v == "expand") return CpuQuantizedCompute::Expand;
  if (v == "kernel" || v == "1") return CpuQuantizedCompute::Kernel;
  throw std::invalid_argument("MEDTUNE_CPU_QUANTIZED_MATMUL='" + v +
                              "': expected packed, expand or kernel");
}

size_t prepareCompute(Model& m) {
  if (mx::default_device() != mx::Device::cpu) return 0;
  const CpuQuantizedCompute how = cpuQuantizedCompute();
  if (how == CpuQuantizedCompute::Kernel) return 0;
  size_t bytes = 0;
  auto expand = [&](Linear& l) {
    if (!l.quantized() || l.dense) return;
    // The packed primitive reads 4- and 8-bit weights; other widths get the float32 copy.
    if (how == CpuQuantizedCompute::Packed && (l.bits == 4 || l.bits == 8) && l.affine()) {
      l.tiled = true;
      compactScales(l);
      return;
    }
    l.dense = l.denseWeight();
    mx::eval(*l.dense);
    bytes += l.dense->nbytes();
  };
  for (Block& b : m.layers) {
    for (Linear* l : {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down}) expand(*l);
  }
  // The output projection (tied to the embedding or not); embedding lookups stay row-wise, from
  // the packed table with compact scales.
  expand(m.lmHead ? *m.lmHead : m.embed);
  if (how == CpuQuantizedCompute::Packed) compactScales(m.embed);
  return bytes;
}

std::unordered_map<std::string, mx::array> hfWeights(const Model& m) {
  if (isGpt2Family(m.config.architecture)) return gpt2HfWeights(m);
  std::unordered_map<std::string, mx::array> out;
  auto put = [&](const std::string& name, const Linear& l) {
    if (l.quantized()) throw std::invalid_argument("hfWeights: '" + name + "' is quantized");
    out.insert_or_assign(name + ".weight", *l.weight);
    if (l.bias) out.insert_or_assign(name + ".bias", *l.bias);
  };
  put("model.embed_tokens", m.embed);
  out.insert_or_assign("model.norm.weight", m.norm);
  if (m.lmHead) put("lm_head", *m.lmHead);
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const std::string b = "model.layers." + std::to_string(l) + ".";
    const Block& blk = m.layers[l];
    put(b + "self_attn.q_proj", blk.q);
    put(b + "self_attn.k_proj", blk.k);
    put(b + "self_attn.v_proj", blk.v);
    put(b + "self_attn.o_proj", blk.o);
    put(b + "mlp.gate_proj", blk.gate);
    put(b + "mlp.up_proj", blk.up);
    put(b + "mlp.down_proj", blk.down);
    out.insert_or_assign(b + "input_layernorm.weight", blk.attnNorm);
    out.insert_or_assign(b + "post_attention_layernorm.weight", blk.mlpNorm);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// safetensors safety

void validateSafetensors(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) throw fileError(path, "cannot open (no such file)");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fileError(path, "cannot open for reading");
  unsigned char len8[8];
  if (size < 8 || !in.read(reinterpret_cast<char*>(len8), 8)) {
    throw fileError(path,
                    "truncated safetensors file (" + std::to_string(size) + " bytes, no header)");
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len8[i];
  if (n == 0 || n > size - 8 || n > (100u << 20)) {
    throw fileError(path, "corrupt safetensors header (header length " + std::to_string(n) +
                              " but file has " + std::to_string(size) + " bytes)");
  }
  std::string header(n, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(n))) {
    throw fileError(path, "truncated safetensors header");
  }
  // Every tensor's byte range must lie inside the file: scan "data_offsets":[begin,end].
  uint64_t maxEnd = 0;
  size_t pos = 0;
  while ((pos = header.find("\"data_offsets\"", pos)) != std::string::npos) {
    size_t br = header.find('[', pos);
    size_t comma = header.find(',', br);
    size_t close = header.find(']', comma);
    if (br == std::string::npos || comma == std::string::npos || close == std::string::npos) {
      throw fileError(path, "corrupt safetensors header (bad data_offsets)");
    }
    uint64_t end = std::stoull(header.substr(comma + 1, close - comma - 1));
    maxEnd = std::max(maxEnd, end);
    pos = close;
  }
  if (header.front() != '{' || header.find_last_of('}') == std::string::npos) {
    throw fileError(path, "corrupt safetensors header (not a JSON object)");
  }
  if (8 + n + maxEnd > size) {
    throw fileError(path, "truncated safetensors file: tensor data needs " +
                              std::to_string(8 + n + maxEnd) + " bytes but the file has " +
                              std::to_string(size));
  }
}

void saveSafetensorsAtomic(const std::string& path,
                           const std::unordered_map<std::string, mx::array>& arrays,
                           const std::unordered_map<std::string, std::string>& metadata) {
  // mx::save_safetensors appends ".safetensors" to names lacking it, so the temp name keeps it.
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + ".safetensors";
  try {
    mx::save_safetensors(tmp, arrays, metadata);
  } catch (const std::exception& e) {
    std::remove(tmp.c_str());
    throw fileError(path, std::string("cannot write: ") + e.what());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw fileError(path, "cannot rename temporary file into place");
  }
}

}  // namespace medtune
