// GGUF K-quants (Q2_K … Q6_K) and Q5_0 / Q5_1: block decoding, the exact repack of the per-32
// affine types into MLX's quantized layout, and a GGUF reader for files that hold them (see
// kquants.h). Block layouts are ggml's (ggml-common.h): all little-endian, f16 super-block
// scales; checked against gguf-py's reference dequantization by test/native/kquants.test.ts.
#include "kquants.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>

#include "errors.h"

namespace medtune {

namespace {

// ggml type ids (ggml.h's enum ggml_type).
enum GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
};

const char* typeName(uint32_t t) {
  switch (t) {
    case kF32:
      return "F32";
    case kF16:
      return "F16";
    case kQ4_0:
      return "Q4_0";
    case kQ4_1:
      return "Q4_1";
    case kQ5_0:
      return "Q5_0";
    case kQ5_1:
      return "Q5_1";
    case kQ8_0:
      return "Q8_0";
    case kQ2_K:
      return "Q2_K";
    case kQ3_K:
      return "Q3_K";
    case kQ4_K:
      return "Q4_K";
    case kQ5_K:
      return "Q5_K";
    case kQ6_K:
      return "Q6_K";
    default:
      return "unknown";
  }
}

// Geometry of every type the own reader handles: (elements, bytes) per block.
bool blockOf(uint32_t t, uint64_t& elems, uint64_t& bytes) {
  switch (t) {
    case kF32:
      elems = 1, bytes = 4;
      return true;
    case kF16:
      elems = 1, bytes = 2;
      return true;
    case kQ4_0:
      elems = 32, bytes = 18;
      return true;
    case kQ4_1:
      elems = 32, bytes = 20;
      return true;
    case kQ8_0:
      elems = 32, bytes = 34;
      return true;
    default:
      return kquantBlock(t, elems, bytes);
  }
}

bool mlxReads(uint32_t t) {
  return t == kF32 || t == kF16 || t == kQ4_0 || t == kQ4_1 || t == kQ8_0;
}

// Bits of MLX's affine layout a type repacks into exactly; 0 for the dequantized types.
int affineBits(uint32_t t) {
  switch (t) {
    case kQ4_0:
    case kQ4_1:
    case kQ4_K:
      return 4;
    case kQ5_0:
    case kQ5_1:
    case kQ5_K:
      return 5;
    case kQ8_0:
      return 8;
    default:
      return 0;
  }
}

float halfToFloat(const uint8_t* p) {
  const uint32_t h = p[0] | (p[1] << 8);
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400));
      bits = sign | ((112 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Q4_K / Q5_K: the 6-bit scale and min of sub-block j, packed in 12 bytes.
void scaleMinK4(int j, const uint8_t* q, int& sc, int& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// One 32-weight group in affine form: w[i] = scale · level[i] + bias.
struct AffineGroup {
  float scale = 0, bias = 0;
  uint8_t level[32];
};

// Group g of the block at p (g < 8 for the K-quants, 0 for the 32-weight types).
void affineGroup(uint32_t t, const uint8_t* p, int g, AffineGroup& out) {
  switch (t) {
    case kQ4_0:
    case kQ4_1:
    case kQ5_0:
    case kQ5_1: {
      // d [, m] [, qh u32], qs[16]: weight j in the low nibble of qs[j], j + 16 in the high one.
      const bool hasMin = t == kQ4_1 || t == kQ5_1;
      const bool five = t == kQ5_0 || t == kQ5_1;
      const float d = halfToFloat(p);
      const uint8_t* q = p + (hasMin ? 4 : 2);
      uint32_t qh = 0;
      if (five) {
        std::memcpy(&qh, q, 4);
        q += 4;
      }
      for (int j = 0; j < 16; ++j) {
        out.level[j] = (q[j] & 0xF) | (five ? ((qh >> j) & 1) << 4 : 0);
        out.level[j + 16] = (q[j] >> 4) | (five ? ((qh >> (j + 16)) & 1) << 4 : 0);
      }
      out.scale = d;
      out.bias = hasMin ? halfToFloat(p + 2) : (five ? -16.0f : -8.0f) * d;
      return;
    }
    case kQ8_0: {
      const float d = halfToFloat(p);
      for (int j = 0; j < 32; ++j)
        out.level[j] = static_cast<uint8_t>(static_cast<int8_t>(p[2 + j]) + 128);
      out.scale = d;
      out.bias = -128.0f * d;
      return;
    }
    case kQ4_K:
    case kQ5_K: {
      // d, dmin, scales[12], [qh[32],] qs[128]: group g takes nibble g%2 of qs[32·(g/2) + l]
      // and, for Q5_K, bit g of qh[l] as its fifth bit.
      const float d = halfToFloat(p), dmin = halfToFloat(p + 2);
      int sc = 0, m = 0;
      scaleMinK4(g, p + 4, sc, m);
      const uint8_t* qh = t == kQ5_K ? p + 16 : nullptr;
      const uint8_t* qs = p + (t == kQ5_K ? 48 : 16) + 32 * (g / 2);
      const int shift = 4 * (g % 2);
      for (int l = 0; l < 32; ++l) {
        out.level[l] = ((qs[l] >> shift) & 0xF) | (qh ? ((qh[l] >> g) & 1) << 4 : 0);
      }
      out.scale = d * static_cast<float>(sc);
      out.bias = -dmin * static_cast<float>(m);
      return;
    }
    default:
      throw std::logic_error("affineGroup: not an affine type");
  }
}

// Q2_K / Q3_K / Q6_K: one 256-weight super-block to floats (16-weight sub-block scales).
void dequantSuperBlock(uint32_t t, const uint8_t* p, float* y) {
  if (t == kQ2_K) {
    // scales[16] (low nibble scale, high nibble min), qs[64], d, dmin. Weight e: 2 bits at
    // shift 2·(j%4) of qs[32·(j/4) + l], j = e/32, l = e%32.
    const uint8_t* scales = p;
    const uint8_t* qs = p + 16;
    const float d = halfToFloat(p + 80), dmin = halfToFloat(p + 82);
    for (int e = 0; e < 256; ++e) {
      const int j = e / 32, l = e % 32;
      const int q = (qs[32 * (j / 4) + l] >> (2 * (j % 4))) & 3;
      const uint8_t sc = scales[e / 16];
      y[e] = d * static_cast<float>(sc & 0xF) * static_cast<float>(q) -
             dmin * static_cast<float>(sc >> 4);
    }
  } else if (t == kQ3_K) {
    // hmask[32], qs[64], scales[12] (16 six-bit scales, offset 32), d. Weight e: 2 low bits as
    // in Q2_K; bit j of hmask[l] clear means the level is 4 lower.
    const uint8_t* hmask = p;
    const uint8_t* qs = p + 32;
    const uint8_t* s = p + 96;
    const float d = halfToFloat(p + 108);
    int scale[16];
    for (int i = 0; i < 16; ++i) {
      const int low = (i < 8 ? s[i] : s[i - 8] >> 4) & 0xF;
      const int high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
      scale[i] = (low | (high << 4)) - 32;
    }
    for (int e = 0; e < 256; ++e) {
      const int j = e / 32, l = e % 32;
      int q = (qs[32 * (j / 4) + l] >> (2 * (j % 4))) & 3;
      if (!((hmask[l] >> j) & 1)) q -= 4;
      y[e] = d * static_cast<float>(scale[e / 16]) * static_cast<float>(q);
    }
  } else if (t == kQ6_K) {
    // ql[128], qh[64], scales[16] int8, d. Per 128-weight half h and 32-weight quarter k:
    // 4 low bits from nibble k/2 of ql[64h + 32·(k%2) + l], 2 high bits at shift 2k of qh[32h + l].
    const uint8_t* ql = p;
    const uint8_t* qh = p + 128;
    const int8_t* scales = reinterpret_cast<const int8_t*>(p + 192);
    const float d = halfToFloat(p + 208);
    for (int e = 0; e < 256; ++e) {
      const int h = e / 128, k = (e % 128) / 32, l = e % 32;
      const int lo = (ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0xF;
      const int hi = (qh[32 * h + l] >> (2 * k)) & 3;
      y[e] = d * static_cast<float>(scales[e / 16]) * static_cast<float>((lo | (hi << 4)) - 32);
    }
  } else {
    throw std::logic_error("dequantSuperBlock: not a 16-weight sub-block type");
  }
}

// Every f16 scale in a block must be finite: a NaN/Inf there poisons the whole row silently.
bool blockScalesFinite(uint32_t t, const uint8_t* p) {
  auto ok = [&](int off) { return std::isfinite(halfToFloat(p + off)); };
  switch (t) {
    case kQ4_0:
    case kQ5_0:
    case kQ8_0:
      return ok(0);
    case kQ4_1:
    case kQ5_1:
    case kQ4_K:
    case kQ5_K:
      return ok(0) && ok(2);
    case kQ2_K:
      return ok(80) && ok(82);
    case kQ3_K:
      return ok(108);
    case kQ6_K:
      return ok(208);
    default:
      return true;
  }
}

struct Converted {
  mx::array weight;                 // packed uint32 (rows, cols·bits/32) or float (rows, cols)
  std::optional<mx::array> scales;  // (rows, cols/32) float32 when kept quantized
  std::optional<mx::array> biases;
};

// One tensor's bytes (rows × cols, ggml row-major) to MLX: repacked affine or dequantized floats.
// `where` prefixes error messages (file and tensor).
Converted convertTensor(uint32_t t, const uint8_t* data, int64_t rows, int64_t cols,
                        const std::string& where) {
  uint64_t elems = 0, bytes = 0;
  if (!blockOf(t, elems, bytes)) throw std::runtime_error(where + ": unsupported type");
  if (cols % static_cast<int64_t>(elems) != 0) {
    throw std::runtime_error(where + ": row length " + std::to_string(cols) +
                             " is not a multiple of " + std::to_string(elems) + " (" + typeName(t) +
                             " block)");
  }
  const int64_t blocksPerRow = cols / static_cast<int64_t>(elems);
  const int64_t nBlocks = rows * blocksPerRow;
  if (t == kF32) {
    return {mx::array(reinterpret_cast<const float*>(data), mx::Shape{int(rows), int(cols)},
                      mx::float32)};
  }
  if (t == kF16) {
    return {mx::array(reinterpret_cast<const mx::float16_t*>(data), mx::Shape{int(rows), int(cols)},
                      mx::float16)};
  }
  for (int64_t b = 0; b < nBlocks; ++b) {
    if (!blockScalesFinite(t, data + b * bytes)) {
      throw std::runtime_error(where + ": block " + std::to_string(b) + " (row " +
                               std::to_string(b / blocksPerRow) + ") has a non-finite " +
                               typeName(t) + " scale");
    }
  }
  const int bits = affineBits(t);
  if (bits == 0) {
    std::vector<float> out(static_cast<size_t>(rows * cols));
    for (int64_t b = 0; b < nBlocks; ++b) dequantSuperBlock(t, data + b * bytes, &out[b * 256]);
    return {mx::array(out.data(), mx::Shape{int(rows), int(cols)}, mx::float32)};
  }
  // MLX affine layout: per row, each 32-weight group's levels as one little-endian bit stream of
  // `bits`-bit fields packed into uint32 words (bits words per group), plus a scale and bias.
  const int64_t groups = cols / 32;
  const int groupsPerBlock = static_cast<int>(elems / 32);
  std::vector<uint32_t> packed(static_cast<size_t>(rows * groups * bits), 0);
  std::vector<float> scales(static_cast<size_t>(rows * groups));
  std::vector<float> biases(scales.size());
  AffineGroup g;
  for (int64_t b = 0; b < nBlocks; ++b) {
    for (int k = 0; k < groupsPerBlock; ++k) {
      affineGroup(t, data + b * bytes, k, g);
      const int64_t gi = b * groupsPerBlock + k;
      scales[gi] = g.scale;
      biases[gi] = g.bias;
      uint32_t* w = &packed[gi * bits];
      for (int i = 0; i < 32; ++i) {
        const int bit = i * bits;
        w[bit / 32] |= static_cast<uint32_t>(g.level[i]) << (bit % 32);
        if (bit % 32 + bits > 32)
          w[bit / 32 + 1] |= static_cast<uint32_t>(g.level[i]) >> (32 - bit % 32);
      }
    }
  }
  return {mx::array(packed.data(), mx::Shape{int(rows), int(groups * bits)}, mx::uint32),
          mx::array(scales.data(), mx::Shape{int(rows), int(groups)}, mx::float32),
          mx::array(biases.data(), mx::Shape{int(rows), int(groups)}, mx::float32)};
}

const char* dtypeName(mx::Dtype d) {
  if (d == mx::float32) return "float32";
  if (d == mx::float16) return "float16";
  if (d == mx::bfloat16) return "bfloat16";
  return "the model dtype";
}

// ---------------------------------------------------------------------------------------------
// GGUF header (v2/v3): metadata in mx::load_gguf's form and tensor infos.

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // innermost (row length) first
  uint32_t type;
  uint64_t offset;  // from the data section
};

struct Header {
  std::unordered_map<std::string, mx::GGUFMetaData> meta;
  std::vector<TensorInfo> tensors;
  uint64_t dataStart = 0;
};

class Reader {
 public:
  Reader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw std::runtime_error(path + ": cannot open for reading");
  }
  std::runtime_error fail(const std::string& what) const {
    return std::runtime_error(path_ + ": " + what);
  }
  void read(void* p, uint64_t n) {
    if (!in_.read(static_cast<char*>(p), static_cast<std::streamsize>(n))) {
      throw fail("truncated GGUF header");
    }
  }
  template <typename T>
  T get() {
    T v;
    read(&v, sizeof(T));
    return v;
  }
  std::string str() {
    const uint64_t n = get<uint64_t>();
    if (n > (1u << 30)) throw fail("corrupt GGUF header (string length " + std::to_string(n) + ")");
    std::string s(n, '\0');
    read(s.data(), n);
    return s;
  }
  uint64_t tell() { return static_cast<uint64_t>(in_.tellg()); }
  std::ifstream& stream() { return in_; }

 private:
  std::string path_;
  std::ifstream in_;
};

template <typename T>
mx::array numbers(Reader& r, uint64_t n, mx::Dtype dtype) {
  std::vector<T> v(n);
  if (n) r.read(v.data(), n * sizeof(T));
  return mx::array(v.data(), mx::Shape{static_cast<int>(n)}, dtype);
}

// A scalar or an array of GGUF value type vt (0..12) as MLX's loader represents it.
mx::GGUFMetaData readValue(Reader& r, uint32_t vt, bool scalar, uint64_t n) {
  auto one = [&](mx::array a) -> mx::GGUFMetaData {
    return scalar ? mx::GGUFMetaData(mx::reshape(a, {})) : mx::GGUFMetaData(a);
  };
  switch (vt) {
    case 0:
      return one(numbers<uint8_t>(r, n, mx::uint8));
    case 1:
      return one(numbers<int8_t>(r, n, mx::int8));
    case 2:
      return one(numbers<uint16_t>(r, n, mx::uint16));
    case 3:
      return one(numbers<int16_t>(r, n, mx::int16));
    case 4:
      return one(numbers<uint32_t>(r, n, mx::uint32));
    case 5:
      return one(numbers<int32_t>(r, n, mx::int32));
    case 6:
      return one(numbers<float>(r, n, mx::float32));
    case 7:
      return one(numbers<uint8_t>(r, n, mx::bool_));
    case 10:
      return one(numbers<uint64_t>(r, n, mx::uint64));
    case 11:
      return one(numbers<int64_t>(r, n, mx::int64));
    case 12:
      return one(numbers<double>(r, n, mx::float64));
    case 8: {
      if (scalar) return r.str();
      std::vector<std::string> v(n);
      for (auto& s : v) s = r.str();
      return v;
    }
    default:
      throw r.fail("corrupt GGUF header (metadata value type " + std::to_string(vt) + ")");
  }
}

Header readHeader(const std::string& path) {
  Reader r(path);
  Header h;
  if (r.get<uint32_t>() != 0x46554747u) throw r.fail("not a GGUF file (bad magic)");
  const uint32_t version = r.get<uint32_t>();
  if (version < 2 || version > 3) {
    throw r.fail("unsupported GGUF version " + std::to_string(version) + " (supported: 2, 3)");
  }
  const uint64_t nTensors = r.get<uint64_t>();
  const uint64_t nKv = r.get<uint64_t>();
  uint64_t alignment = 32;
  for (uint64_t i = 0; i < nKv; ++i) {
    std::string key = r.str();
    const uint32_t vt = r.get<uint32_t>();
    mx::GGUFMetaData value;
    if (vt == 9) {
      const uint32_t et = r.get<uint32_t>();
      const uint64_t n = r.get<uint64_t>();
      if (et == 9) throw r.fail("metadata key '" + key + "' is a nested array (not supported)");
      value = readValue(r, et, false, n);
    } else {
      value = readValue(r, vt, true, 1);
    }
    if (key == "general.alignment" && vt == 4) {
      alignment = std::get<mx::array>(value).item<uint32_t>();
      if (alignment == 0) throw r.fail("corrupt GGUF header (general.alignment 0)");
    }
    h.meta.emplace(std::move(key), std::move(value));
  }
  for (uint64_t i = 0; i < nTensors; ++i) {
    TensorInfo t;
    t.name = r.str();
    const uint32_t nd = r.get<uint32_t>();
    if (nd == 0 || nd > 4) {
      throw r.fail("tensor '" + t.name + "' has " + std::to_string(nd) + " dimensions");
    }
    for (uint32_t d = 0; d < nd; ++d) t.dims.push_back(r.get<uint64_t>());
    t.type = r.get<uint32_t>();
    t.offset = r.get<uint64_t>();
    h.tensors.push_back(std::move(t));
  }
  h.dataStart = (r.tell() + alignment - 1) / alignment * alignment;
  return h;
}

// "<name>.weight" -> "<name>" (MLX's loader names scales/biases after the prefix).
std::string prefixOf(const std::string& name) {
  const std::string suffix = ".weight";
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return name.substr(0, name.size() - suffix.size());
  }
  return name;
}

std::vector<std::string> typeNotes(const std::map<uint32_t, int>& counts, mx::Dtype dtype) {
  std::vector<std::string> notes;
  for (const auto& [t, n] : counts) {
    std::string line =
        std::string(typeName(t)) + ": " + std::to_string(n) + (n == 1 ? " tensor " : " tensors ");
    const int bits = affineBits(t);
    if (t == kF32 || t == kF16) {
      line += "stored as floats";
    } else if (bits) {
      line += "kept quantized (MLX affine, " + std::to_string(bits) + " bits, group 32)";
    } else {
      line += "dequantized to " + std::string(dtypeName(dtype)) + " (no exact MLX layout)";
    }
    notes.push_back(line);
  }
  return notes;
}

}  // namespace

bool kquantBlock(uint32_t type, uint64_t& elems, uint64_t& bytes) {
  switch (type) {
    case kQ5_0:
      elems = 32, bytes = 22;
      return true;
    case kQ5_1:
      elems = 32, bytes = 24;
      return true;
    case kQ2_K:
      elems = 256, bytes = 84;
      return true;
    case kQ3_K:
      elems = 256, bytes = 110;
      return true;
    case kQ4_K:
      elems = 256, bytes = 144;
      return true;
    case kQ5_K:
      elems = 256, bytes = 176;
      return true;
    case kQ6_K:
      elems = 256, bytes = 210;
      return true;
    default:
      return false;
  }
}

mx::GGUFLoad loadGgufTensors(const std::string& path, mx::Dtype dtype,
                             std::vector<std::string>& notes) {
  Header h = readHeader(path);
  std::map<uint32_t, int> counts;
  bool own = false;
  for (const TensorInfo& t : h.tensors) {
    counts[t.type]++;
    own = own || !mlxReads(t.type);
  }
  notes = typeNotes(counts, dtype);
  if (!own) return mx::load_gguf(path);

  std::unordered_map<std::string, mx::array> arrays;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open for reading");
  std::vector<uint8_t> buf;
  for (const TensorInfo& t : h.tensors) {
    const std::string where = path + ": tensor '" + t.name + "' (" + typeName(t.type) + ")";
    uint64_t elems = 0, bytes = 0;
    if (!blockOf(t.type, elems, bytes)) {
      throw std::runtime_error(where + ": type " + std::to_string(t.type) + " is not supported");
    }
    const int64_t cols = static_cast<int64_t>(t.dims[0]);
    int64_t rows = 1;
    for (size_t d = 1; d < t.dims.size(); ++d) rows *= static_cast<int64_t>(t.dims[d]);
    if (cols % static_cast<int64_t>(elems) != 0) {
      throw std::runtime_error(where + ": row length " + std::to_string(cols) +
                               " is not a multiple of its block (" + std::to_string(elems) + ")");
    }
    buf.resize(static_cast<size_t>(rows * cols / static_cast<int64_t>(elems) * bytes));
    in.seekg(static_cast<std::streamoff>(h.dataStart + t.offset));
    if (!in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()))) {
      throw std::runtime_error(where + ": truncated data");
    }
    Converted c = convertTensor(t.type, buf.data(), rows, cols, where);
    // MLX order: outermost first; a 1-D tensor stays 1-D.
    mx::Shape shape;
    for (size_t d = t.dims.size(); d-- > 1;) shape.push_back(static_cast<int>(t.dims[d]));
    if (c.scales) {
      shape.push_back(c.weight.shape(1));
      arrays.insert_or_assign(t.name, mx::reshape(c.weight, shape));
      shape.back() = c.scales->shape(1);
      const std::string p = prefixOf(t.name);
      arrays.insert_or_assign(p + ".scales", mx::reshape(*c.scales, shape));
      arrays.insert_or_assign(p + ".biases", mx::reshape(*c.biases, shape));
    } else {
      shape.push_back(static_cast<int>(cols));
      mx::array w = mx::reshape(c.weight, shape);
      // Dequantized K-quants go to the model dtype now, so a float32 copy never piles up.
      if (!mlxReads(t.type) && dtype != mx::float32) w = mx::astype(w, dtype);
      mx::eval(w);
      arrays.insert_or_assign(t.name, w);
    }
  }
  return {std::move(arrays), std::move(h.meta)};
}

Napi::Value GgmlToFloat32(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsTypedArray() ||
        !info[2].IsNumber() || !info[3].IsNumber()) {
      throw ArgumentError("ggmlToFloat32(typeId, bytes: Uint8Array, rows, cols)");
    }
    const uint32_t type = info[0].As<Napi::Number>().Uint32Value();
    Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
    const int64_t rows = info[2].As<Napi::Number>().Int64Value();
    const int64_t cols = info[3].As<Napi::Number>().Int64Value();
    uint64_t elems = 0, blockBytes = 0;
    if (!blockOf(type, elems, blockBytes)) {
      throw ArgumentError("ggmlToFloat32: unsupported ggml type " + std::to_string(type));
    }
    if (rows <= 0 || cols <= 0 || cols % static_cast<int64_t>(elems) != 0 ||
        bytes.ByteLength() != rows * cols / static_cast<int64_t>(elems) * blockBytes) {
      throw ArgumentError("ggmlToFloat32: " + std::to_string(bytes.ByteLength()) +
                          " bytes do not hold " + std::to_string(rows) + " x " +
                          std::to_string(cols) + " " + typeName(type) + " values");
    }
    Converted c = convertTensor(type, bytes.Data(), rows, cols, "ggmlToFloat32");
    mx::array out =
        c.scales ? mx::dequantize(c.weight, *c.scales, c.biases, 32, affineBits(type)) : c.weight;
    out = mx::contiguous(mx::astype(out, mx::float32));
    mx::eval(out);
    Napi::Float32Array result = Napi::Float32Array::New(info.Env(), out.size());
    std::memcpy(result.Data(), out.data<float>(), out.size() * sizeof(float));
    return result;
  });
}

}  // namespace medtune
