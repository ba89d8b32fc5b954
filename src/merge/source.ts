/**
 * A base model's weights as merge/export sees them, from a GGUF file or a Hugging Face directory:
 * every tensor under both names (HF `model.layers.0.self_attn.q_proj.weight`, GGUF
 * `blk.0.attn_q.weight`), its stored type and raw bytes, and its float32 values in the Hugging Face
 * layout. Also the two config dialects: HF config.json ↔ GGUF `<arch>.*` metadata.
 *
 * llama.cpp's converter permutes the rows of llama q/k projections (interleaved rotary halves);
 * the native loader undoes it, so adapters live in the HF layout. `float32()` always returns the
 * HF layout; `toGgufRows` / `toHfRows` move rows between the two.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { NativeModelConfig } from "../native/binding.js";
import { hfConfigToNative, hfWeightFiles } from "../train/model.js";
import {
  GGML,
  ggmlTypeName,
  gv,
  metadataValues,
  readGguf,
  type GgmlTypeName,
  type GgufEntry,
  type GgufFile,
} from "./gguf.js";
import { dequantize } from "./quants.js";
import { readSafetensorsFile, type SafetensorsFile } from "./safetensors.js";

export interface SourceTensor {
  hfName: string;
  ggufName: string;
  /** HF order: (out, in) for matrices, (n) for vectors. */
  shape: number[];
  /** How the source stores it: a ggml type (GGUF) or a safetensors dtype mapped to ggml names. */
  type: GgmlTypeName;
  /** Bytes as stored (for a GGUF source: GGUF row order). */
  raw(): Uint8Array;
  /** float32 in the HF layout. */
  float32(): Float32Array;
  /** True when the GGUF rows of this tensor are permuted relative to HF (llama q/k). */
  permuted: boolean;
}

export interface ModelSource {
  kind: "gguf" | "hf";
  path: string;
  config: NativeModelConfig;
  /** GGUF architecture name (llama, qwen2). */
  ggufArch: string;
  tensors: SourceTensor[];
  gguf?: GgufFile;
  /** The HF config.json object (read, or built from GGUF metadata). */
  hfConfig: Record<string, unknown>;
}

const BLOCK_NAMES: [hf: string, gguf: string][] = [
  ["input_layernorm", "attn_norm"],
  ["post_attention_layernorm", "ffn_norm"],
  ["self_attn.q_proj", "attn_q"],
  ["self_attn.k_proj", "attn_k"],
  ["self_attn.v_proj", "attn_v"],
  ["self_attn.o_proj", "attn_output"],
  ["mlp.gate_proj", "ffn_gate"],
  ["mlp.up_proj", "ffn_up"],
  ["mlp.down_proj", "ffn_down"],
];
const TOP_NAMES: [string, string][] = [
  ["model.embed_tokens.weight", "token_embd.weight"],
  ["model.norm.weight", "output_norm.weight"],
  ["lm_head.weight", "output.weight"],
];

export function ggufToHfName(name: string): string | undefined {
  for (const [h, g] of TOP_NAMES) if (g === name) return h;
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(name);
  if (!m) return undefined;
  const pair = BLOCK_NAMES.find(([, g]) => g === m[2]);
  return pair ? `model.layers.${m[1]}.${pair[0]}.${m[3]}` : undefined;
}

export function hfToGgufName(name: string): string | undefined {
  for (const [h, g] of TOP_NAMES) if (h === name) return g;
  const m = /^model\.layers\.(\d+)\.([a-z_.]+)\.(weight|bias)$/.exec(name);
  if (!m) return undefined;
  const pair = BLOCK_NAMES.find(([h]) => h === m[2]);
  return pair ? `blk.${m[1]}.${pair[1]}.${m[3]}` : undefined;
}

/** Heads whose rows llama.cpp interleaves for a tensor (0 = not permuted). */
function permutedHeads(hfName: string, cfg: NativeModelConfig, arch: string): number {
  if (arch !== "llama") return 0;
  if (/self_attn\.q_proj\./.test(hfName)) return cfg.numHeads;
  if (/self_attn\.k_proj\./.test(hfName)) return cfg.numKvHeads ?? cfg.numHeads;
  return 0;
}

/** HF rows → GGUF rows: (heads, 2, hd/2, cols) → (heads, hd/2, 2, cols). */
export function toGgufRows(
  x: Float32Array,
  rows: number,
  cols: number,
  heads: number,
): Float32Array {
  return moveRows(x, rows, cols, heads, true);
}

/** GGUF rows → HF rows (the inverse of toGgufRows). */
export function toHfRows(x: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  return moveRows(x, rows, cols, heads, false);
}

function moveRows(
  x: Float32Array,
  rows: number,
  cols: number,
  heads: number,
  toGguf: boolean,
): Float32Array {
  const out = new Float32Array(x.length);
  const hd = rows / heads;
  const half = hd / 2;
  for (let h = 0; h < heads; h++)
    for (let s = 0; s < 2; s++)
      for (let i = 0; i < half; i++) {
        const hfRow = h * hd + s * half + i;
        const ggRow = h * hd + 2 * i + s;
        const [from, to] = toGguf ? [hfRow, ggRow] : [ggRow, hfRow];
        out.set(x.subarray(from * cols, from * cols + cols), to * cols);
      }
  return out;
}

const num = (meta: Record<string, unknown>, key: string, file: string, dflt?: number): number => {
  const v = meta[key];
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (dflt !== undefined) return dflt;
  throw new Error(`${file}: GGUF metadata lacks "${key}"`);
};

/** Native config of a GGUF file, from its `<arch>.*` metadata. */
export function ggufConfig(g: GgufFile): { config: NativeModelConfig; arch: string } {
  const meta = metadataValues(g.metadata);
  const arch = String(meta["general.architecture"] ?? "");
  if (arch !== "llama" && arch !== "qwen2")
    throw new Error(`${g.path}: general.architecture "${arch}" is not supported (llama, qwen2)`);
  const k = (s: string) => `${arch}.${s}`;
  const heads = num(meta, k("attention.head_count"), g.path);
  const hidden = num(meta, k("embedding_length"), g.path);
  const tokens = meta["tokenizer.ggml.tokens"];
  const embd = g.tensors.find((t) => t.name === "token_embd.weight");
  const config: NativeModelConfig = {
    architecture: arch,
    vocabSize: num(
      meta,
      k("vocab_size"),
      g.path,
      embd?.dims[1] ?? (Array.isArray(tokens) ? tokens.length : undefined),
    ),
    hiddenSize: hidden,
    intermediateSize: num(meta, k("feed_forward_length"), g.path),
    numLayers: num(meta, k("block_count"), g.path),
    numHeads: heads,
    numKvHeads: num(meta, k("attention.head_count_kv"), g.path, heads),
    headDim: num(meta, k("attention.key_length"), g.path, hidden / heads),
    rmsNormEps: num(meta, k("attention.layer_norm_rms_epsilon"), g.path, 1e-5),
    ropeTheta: num(meta, k("rope.freq_base"), g.path, 10000),
    tieWordEmbeddings: !g.tensors.some((t) => t.name === "output.weight"),
    attentionBias: g.tensors.some((t) => t.name === "blk.0.attn_q.bias"),
    maxPositionEmbeddings: num(meta, k("context_length"), g.path, 2048),
  };
  return { config, arch };
}

/** A Hugging Face config.json for a native config (what transformers and our loader read). */
export function hfConfigJson(
  cfg: NativeModelConfig,
  extra: { bosTokenId?: number; eosTokenId?: number; torchDtype?: string } = {},
): Record<string, unknown> {
  const arch = cfg.architecture;
  if (arch === "biogpt") {
    throw new Error("merge/export of BioGPT models is not supported (llama, mistral, qwen2 only)");
  }
  const cls = {
    llama: "LlamaForCausalLM",
    mistral: "MistralForCausalLM",
    qwen2: "Qwen2ForCausalLM",
  }[arch];
  const out: Record<string, unknown> = {
    architectures: [cls],
    model_type: arch,
    hidden_act: "silu",
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    num_key_value_heads: cfg.numKvHeads ?? cfg.numHeads,
    head_dim: cfg.headDim ?? cfg.hiddenSize / cfg.numHeads,
    rms_norm_eps: cfg.rmsNormEps ?? 1e-5,
    rope_theta: cfg.ropeTheta ?? 10000,
    max_position_embeddings: cfg.maxPositionEmbeddings ?? 2048,
    vocab_size: cfg.vocabSize,
    tie_word_embeddings: cfg.tieWordEmbeddings ?? false,
    attention_bias: cfg.attentionBias ?? arch === "qwen2",
    torch_dtype: extra.torchDtype ?? "float16",
  };
  if (arch === "mistral") out.sliding_window = cfg.slidingWindow || null;
  if (extra.bosTokenId !== undefined) out.bos_token_id = extra.bosTokenId;
  if (extra.eosTokenId !== undefined) out.eos_token_id = extra.eosTokenId;
  return out;
}

/** `<arch>.*` metadata for a native config (HF → GGUF). Mistral is written as llama, as llama.cpp does. */
export function ggufArchMetadata(cfg: NativeModelConfig): Map<string, GgufEntry> {
  const arch = cfg.architecture === "qwen2" ? "qwen2" : "llama";
  const heads = cfg.numHeads;
  const hd = cfg.headDim ?? cfg.hiddenSize / heads;
  const m = new Map<string, GgufEntry>();
  m.set("general.architecture", gv.str(arch));
  m.set(`${arch}.vocab_size`, gv.u32(cfg.vocabSize));
  m.set(`${arch}.context_length`, gv.u32(cfg.maxPositionEmbeddings ?? 2048));
  m.set(`${arch}.embedding_length`, gv.u32(cfg.hiddenSize));
  m.set(`${arch}.block_count`, gv.u32(cfg.numLayers));
  m.set(`${arch}.feed_forward_length`, gv.u32(cfg.intermediateSize));
  m.set(`${arch}.rope.dimension_count`, gv.u32(hd));
  m.set(`${arch}.attention.head_count`, gv.u32(heads));
  m.set(`${arch}.attention.head_count_kv`, gv.u32(cfg.numKvHeads ?? heads));
  m.set(`${arch}.attention.layer_norm_rms_epsilon`, gv.f32(cfg.rmsNormEps ?? 1e-5));
  m.set(`${arch}.rope.freq_base`, gv.f32(cfg.ropeTheta ?? 10000));
  if (hd !== cfg.hiddenSize / heads) {
    m.set(`${arch}.attention.key_length`, gv.u32(hd));
    m.set(`${arch}.attention.value_length`, gv.u32(hd));
  }
  const rs = cfg.ropeScaling;
  if (rs && rs.type === "linear") {
    m.set(`${arch}.rope.scaling.type`, gv.str("linear"));
    m.set(`${arch}.rope.scaling.factor`, gv.f32(rs.factor ?? 1));
  }
  return m;
}

const SAFETENSORS_TO_GGML: Record<string, GgmlTypeName> = { F32: "F32", F16: "F16", BF16: "BF16" };

/** Opens a `.gguf` file or an HF directory as a ModelSource. */
export function openModelSource(path: string): ModelSource {
  if (!existsSync(path)) throw new Error(`${path}: base model not found`);
  return statSync(path).isDirectory() ? openHf(path) : openGguf(path);
}

function openGguf(path: string): ModelSource {
  const g = readGguf(path);
  const { config, arch } = ggufConfig(g);
  const tensors: SourceTensor[] = [];
  for (const t of g.tensors) {
    const hfName = ggufToHfName(t.name);
    if (!hfName) continue; // rope_freqs and other llama.cpp-only tensors are carried by name
    const type = ggmlTypeName(t.type);
    const shape = [...t.dims].reverse();
    const heads = permutedHeads(hfName, config, arch);
    const n = shape.reduce((a, b) => a * b, 1);
    tensors.push({
      hfName,
      ggufName: t.name,
      shape,
      type,
      permuted: heads > 0,
      raw: () => g.tensorBytes(t),
      float32: () => {
        const x = dequantize(type, g.tensorBytes(t), n);
        return heads > 0 ? toHfRows(x, shape[0]!, shape[1] ?? 1, heads) : x;
      },
    });
  }
  const meta = metadataValues(g.metadata);
  const id = (k: string) => (typeof meta[k] === "number" ? (meta[k] as number) : undefined);
  return {
    kind: "gguf",
    path,
    config,
    ggufArch: arch,
    tensors,
    gguf: g,
    hfConfig: hfConfigJson(config, {
      bosTokenId: id("tokenizer.ggml.bos_token_id"),
      eosTokenId: id("tokenizer.ggml.eos_token_id"),
    }),
  };
}

function openHf(dir: string): ModelSource {
  const cfgFile = join(dir, "config.json");
  let hfConfig: Record<string, unknown>;
  try {
    hfConfig = JSON.parse(readFileSync(cfgFile, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${cfgFile}: cannot read config (${(e as Error).message})`);
  }
  const config = hfConfigToNative(hfConfig, cfgFile);
  const arch = config.architecture === "qwen2" ? "qwen2" : "llama";
  const files: SafetensorsFile[] = hfWeightFiles(dir).map(readSafetensorsFile);
  const tensors: SourceTensor[] = [];
  for (const f of files) {
    for (const e of f.tensors.values()) {
      const ggufName = hfToGgufName(e.name);
      if (!ggufName) continue;
      const type = SAFETENSORS_TO_GGML[e.dtype];
      if (!type)
        throw new Error(`${f.path}: tensor ${e.name} is ${e.dtype}; expected F32, F16 or BF16`);
      tensors.push({
        hfName: e.name,
        ggufName,
        shape: e.shape,
        type,
        permuted: permutedHeads(e.name, config, arch) > 0,
        raw: () => f.bytes(e.name),
        float32: () => f.float32(e.name),
      });
    }
  }
  if (config.tieWordEmbeddings) {
    const i = tensors.findIndex((t) => t.hfName === "lm_head.weight");
    if (i >= 0) tensors.splice(i, 1);
  }
  return { kind: "hf", path: dir, config, ggufArch: arch, tensors, hfConfig };
}

/** ggml block size of a type (1 for float types). */
export function blockOf(type: GgmlTypeName): number {
  return GGML[type].block;
}

export function headsFor(t: SourceTensor, src: ModelSource): number {
  return permutedHeads(t.hfName, src.config, src.ggufArch);
}
