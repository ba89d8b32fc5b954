/**
 * Writers for merged models: a GGUF file (F16, Q8_0, Q4_0, Q4_1, Q4_K_M or Q5_K_M, with the source's
 * architecture, tokenizer and chat template metadata) and a Hugging Face directory (config.json,
 * model.safetensors or shards + index, tokenizer.json, tokenizer_config.json with the chat
 * template, generation_config.json).
 *
 * Which type each GGUF tensor gets (`planGgufTypes`): tensors the adapter changed are written in
 * the requested type; untouched tensors that the source already stores quantized keep their bytes
 * (requantizing them would only add error) unless `requantizeAll`; 1-D tensors (norms, biases)
 * stay F32. Q4_K_M follows llama.cpp's recipe: Q6_K for the output matrix (the token embedding
 * when tied) and for attn_v / ffn_down in the layers that "use more bits", Q4_K elsewhere (Q5_K
 * for Q5_K_M); rows that are not a multiple of 256 fall back to Q5_0 (for Q4_K), Q5_1 (for Q5_K)
 * and Q8_0 (for Q6_K) as llama.cpp does.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ggufTokenizerFiles } from "../train/tokenizer.js";
import {
  GGML,
  gv,
  metadataValues,
  writeGguf,
  type GgmlTypeName,
  type GgufEntry,
  type GgufTensorOut,
} from "./gguf.js";
import { quantize } from "./quants.js";
import { encodeFloats, writeShardedSafetensors, type SafetensorsDtype } from "./safetensors.js";
import {
  ggufArchMetadata,
  headsFor,
  toGgufRows,
  type ModelSource,
  type SourceTensor,
} from "./source.js";
import { hfTokenizerToGguf } from "./tokenizer-gguf.js";

export type MergeFormat = "hf" | "gguf";
export type QuantizeType = "none" | "q8_0" | "q4_0" | "q4_1" | "q4_k_m" | "q5_k_m";
export const QUANTIZE_TYPES: readonly QuantizeType[] = [
  "none",
  "q8_0",
  "q4_0",
  "q4_1",
  "q4_k_m",
  "q5_k_m",
];

/** llama.cpp's LLAMA_FTYPE for general.file_type. */
const FILE_TYPE: Record<QuantizeType, number> = {
  none: 1,
  q8_0: 7,
  q4_0: 2,
  q4_1: 3,
  q4_k_m: 15,
  q5_k_m: 17,
};

/** Float32 weights (HF layout) of a tensor the adapter changed, or undefined when untouched. */
export type FusedLookup = (t: SourceTensor) => Float32Array | undefined;

const isFloat = (t: GgmlTypeName) => t === "F32" || t === "F16" || t === "BF16";

/** llama.cpp's layer choice for extra bits: the first and last eighth, and every third between. */
export function useMoreBits(layer: number, layers: number): boolean {
  // Integer division, as in llama.cpp's C++.
  const eighth = Math.floor(layers / 8);
  return layer < eighth || layer >= Math.floor((7 * layers) / 8) || (layer - eighth) % 3 === 2;
}

function fallback(type: GgmlTypeName, rowLength: number): GgmlTypeName {
  if (rowLength % GGML[type].block === 0) return type;
  if (type === "Q4_K") return rowLength % 32 === 0 ? "Q5_0" : "F16";
  if (type === "Q5_K") return rowLength % 32 === 0 ? "Q5_1" : "F16";
  if (type === "Q6_K") return rowLength % 32 === 0 ? "Q8_0" : "F16";
  return rowLength % GGML[type].block === 0 ? type : "F16";
}

/** The requested type of a 2-D tensor under a quantization recipe. */
export function targetType(t: SourceTensor, q: QuantizeType, src: ModelSource): GgmlTypeName {
  const row = t.shape[t.shape.length - 1]!;
  if (q === "none") return isFloat(t.type) ? t.type : "F16";
  if (q !== "q4_k_m" && q !== "q5_k_m") return fallback(q.toUpperCase() as GgmlTypeName, row);
  const layers = src.config.numLayers;
  const layer = /^blk\.(\d+)\./.exec(t.ggufName);
  const isOutput =
    t.ggufName === "output.weight" ||
    (t.ggufName === "token_embd.weight" &&
      !src.tensors.some((x) => x.ggufName === "output.weight"));
  let type: GgmlTypeName = q === "q4_k_m" ? "Q4_K" : "Q5_K";
  if (isOutput) type = "Q6_K";
  else if (
    layer &&
    /\.(attn_v|ffn_down)\.weight$/.test(t.ggufName) &&
    useMoreBits(Number(layer[1]), layers)
  )
    type = "Q6_K";
  return fallback(type, row);
}

export interface TensorPlan {
  tensor: SourceTensor;
  type: GgmlTypeName;
  /** Bytes copied from the source unchanged. */
  copied: boolean;
  fused: boolean;
}

export function planGgufTypes(
  src: ModelSource,
  touched: ReadonlySet<string>,
  q: QuantizeType,
  requantizeAll = false,
): TensorPlan[] {
  return src.tensors.map((t) => {
    const fused = touched.has(t.hfName);
    if (t.shape.length === 1) {
      // Norms and biases: F32 as llama.cpp's converter writes them (a GGUF source's bytes kept).
      const copied = !fused && src.kind === "gguf";
      return { tensor: t, type: copied ? t.type : "F32", copied, fused };
    }
    if (!fused && src.kind === "gguf" && (!isFloat(t.type) || q === "none") && !requantizeAll)
      return { tensor: t, type: t.type, copied: true, fused };
    if (!fused && q === "none") return { tensor: t, type: t.type, copied: !t.permuted, fused };
    let type = targetType(t, q, src);
    // llama.cpp's Q5_0 fallback assumes a float source. A fused tensor of a ≤ 5-bit base is
    // already on a coarse grid, and a second 5-bit rounding cost +15% perplexity on the bundled
    // model in llama.cpp (measured: README, merge); Q8_0 keeps it within noise.
    if (fused && (type === "Q5_0" || type === "Q5_1") && !isFloat(t.type)) type = "Q8_0";
    return { tensor: t, type, copied: false, fused };
  });
}

/** Bytes of one planned tensor in the GGUF row order. */
function ggufTensorBytes(p: TensorPlan, src: ModelSource, fused: FusedLookup): Uint8Array {
  const t = p.tensor;
  if (p.copied && src.kind === "gguf") return t.raw();
  if (p.copied && !t.permuted && p.type === t.type) return t.raw();
  let x = fused(t) ?? t.float32();
  const heads = headsFor(t, src);
  if (heads > 0) x = toGgufRows(x, t.shape[0]!, t.shape[1]!, heads);
  return quantize(p.type, x);
}

export interface GgufExportOptions {
  quantize: QuantizeType;
  requantizeAll?: boolean;
  name?: string;
  onTensor?: (index: number, count: number, name: string) => void;
}

/** Metadata for the exported GGUF: the source's (GGUF) or built from config + tokenizer (HF). */
export function exportMetadata(
  src: ModelSource,
  q: QuantizeType,
  name?: string,
): Map<string, GgufEntry> {
  let meta: Map<string, GgufEntry>;
  if (src.gguf) {
    meta = new Map(src.gguf.metadata);
  } else {
    meta = ggufArchMetadata(src.config);
    for (const [k, v] of hfTokenizerToGguf(src.path)) meta.set(k, v);
  }
  meta.delete("general.alignment");
  meta.set("general.type", gv.str("model"));
  if (name) meta.set("general.name", gv.str(name));
  meta.set("general.file_type", gv.u32(FILE_TYPE[q]));
  meta.set("general.quantization_version", gv.u32(2));
  return meta;
}

/** Writes the merged GGUF; returns the tensor plan (what was copied, fused, requantized). */
export async function writeGgufExport(
  path: string,
  src: ModelSource,
  fused: FusedLookup,
  touched: ReadonlySet<string>,
  opts: GgufExportOptions,
): Promise<TensorPlan[]> {
  const plan = planGgufTypes(src, touched, opts.quantize, opts.requantizeAll);
  const extra: GgufTensorOut[] = [];
  // llama.cpp-only tensors (rope_freqs) travel unchanged.
  if (src.gguf) {
    const known = new Set(src.tensors.map((t) => t.ggufName));
    for (const t of src.gguf.tensors)
      if (!known.has(t.name))
        extra.push({
          name: t.name,
          dims: t.dims,
          type: Object.keys(GGML).find(
            (k) => GGML[k as GgmlTypeName].id === t.type,
          ) as GgmlTypeName,
          bytes: () => src.gguf!.tensorBytes(t),
        });
  }
  const tensors: GgufTensorOut[] = [
    ...plan.map((p) => ({
      name: p.tensor.ggufName,
      dims: [...p.tensor.shape].reverse(),
      type: p.type,
      bytes: () => ggufTensorBytes(p, src, fused),
    })),
    ...extra,
  ];
  await writeGguf(path, exportMetadata(src, opts.quantize, opts.name), tensors, (i, name) =>
    opts.onTensor?.(i + 1, tensors.length, name),
  );
  return plan;
}

export interface HfExportOptions {
  dtype: SafetensorsDtype;
  shardBytes?: number;
  onTensor?: (index: number, count: number, name: string) => void;
}

/** Writes a Hugging Face directory (weights dequantized to `dtype`); returns the files written. */
export async function writeHfExport(
  dir: string,
  src: ModelSource,
  fused: FusedLookup,
  touched: ReadonlySet<string>,
  opts: HfExportOptions,
): Promise<string[]> {
  if (src.gguf?.tensors.some((t) => t.name === "rope_freqs.weight"))
    throw new Error(
      `${src.path}: carries scaled-RoPE factors (rope_freqs, Llama 3.x); writing them back as config.json rope_scaling is not supported — export GGUF only`,
    );
  let done = 0;
  const count = src.tensors.length;
  const tensors = src.tensors.map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const keep = !touched.has(t.hfName) && t.type === opts.dtype;
    return {
      name: t.hfName,
      dtype: opts.dtype,
      shape: t.shape,
      nbytes: n * (opts.dtype === "F32" ? 4 : 2),
      bytes: () =>
        keep && src.kind === "hf" ? t.raw() : encodeFloats(opts.dtype, fused(t) ?? t.float32()),
    };
  });
  const files = await writeShardedSafetensors(dir, tensors, {
    shardBytes: opts.shardBytes,
    onTensor: (name) => opts.onTensor?.(++done, count, name),
  });
  const torchDtype = { F32: "float32", F16: "float16", BF16: "bfloat16" }[opts.dtype];
  const config = { ...src.hfConfig, torch_dtype: torchDtype };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  files.push("config.json", ...writeHfTokenizer(dir, src, config));
  return files;
}

function writeHfTokenizer(
  dir: string,
  src: ModelSource,
  config: Record<string, unknown>,
): string[] {
  const written: string[] = [];
  if (src.gguf) {
    const meta = metadataValues(src.gguf.metadata);
    if (meta["tokenizer.ggml.tokens"] !== undefined) {
      const { tokenizerJson, tokenizerConfig } = ggufTokenizerFiles(meta, src.path);
      writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizerJson) + "\n");
      writeFileSync(
        join(dir, "tokenizer_config.json"),
        JSON.stringify(tokenizerConfig, null, 2) + "\n",
      );
      written.push("tokenizer.json", "tokenizer_config.json");
    }
  } else {
    for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) {
      if (existsSync(join(src.path, f))) {
        copyFileSync(join(src.path, f), join(dir, f));
        written.push(f);
      }
    }
  }
  const genSrc = src.kind === "hf" ? join(src.path, "generation_config.json") : "";
  if (genSrc && existsSync(genSrc)) {
    writeFileSync(join(dir, "generation_config.json"), readFileSync(genSrc));
  } else {
    const gen: Record<string, unknown> = { _from_model_config: true };
    if (config.bos_token_id !== undefined) gen.bos_token_id = config.bos_token_id;
    if (config.eos_token_id !== undefined) gen.eos_token_id = config.eos_token_id;
    writeFileSync(join(dir, "generation_config.json"), JSON.stringify(gen, null, 2) + "\n");
  }
  written.push("generation_config.json");
  return written;
}
