/**
 * GGUF tensor types: the parity fixtures' float weights are written here as llama-architecture
 * (and qwen2) GGUF files in F32, F16, Q8_0, Q4_0 and Q4_1 (test/train/weights-io.ts; Q/K rows
 * permuted the way llama.cpp's converter does) and must load to the same logits as:
 *   - transformers' reference, to 1e-4, for F32;
 *   - the same model rebuilt as a float HF checkpoint from the values the ggml block layout
 *     dequantizes to, to 1e-4, for every type (so the block decoding itself is exact), with the
 *     quantization error against transformers growing F32 < F16 < Q8_0 < Q4_x and bounded.
 * Unsupported types and truncated files are errors that name the tensor.
 *
 *   npx vitest run test/train/gguf-types.test.ts
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { Model } from "../../src/train/model.js";
import { maxAbsDiff } from "./native-helpers.js";
import {
  encode,
  fixtureInputs,
  GGML_TYPE_ID,
  PARITY_DIR,
  permuteForGguf,
  readSafetensors,
  referenceLogits,
  writeGguf,
  writeSafetensors,
  type GgmlType,
  type GgufTensor,
  type GgufValue,
  type Tensor,
} from "./weights-io.js";

const tmp = mkdtempSync(path.join(tmpdir(), "medtune-gguf-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface HfConfig {
  model_type: string;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim?: number;
  rms_norm_eps: number;
  rope_theta: number;
  max_position_embeddings: number;
  vocab_size: number;
  rope_scaling: {
    factor: number;
    low_freq_factor: number;
    high_freq_factor: number;
    original_max_position_embeddings: number;
  } | null;
}

const HF_TO_GGUF: [RegExp, string][] = [
  [/^model\.embed_tokens\.weight$/, "token_embd.weight"],
  [/^model\.norm\.weight$/, "output_norm.weight"],
  [/^lm_head\.weight$/, "output.weight"],
  [/^model\.layers\.(\d+)\.input_layernorm\.weight$/, "blk.$1.attn_norm.weight"],
  [/^model\.layers\.(\d+)\.post_attention_layernorm\.weight$/, "blk.$1.ffn_norm.weight"],
  [/^model\.layers\.(\d+)\.self_attn\.q_proj\.(weight|bias)$/, "blk.$1.attn_q.$2"],
  [/^model\.layers\.(\d+)\.self_attn\.k_proj\.(weight|bias)$/, "blk.$1.attn_k.$2"],
  [/^model\.layers\.(\d+)\.self_attn\.v_proj\.(weight|bias)$/, "blk.$1.attn_v.$2"],
  [/^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$/, "blk.$1.attn_output.weight"],
  [/^model\.layers\.(\d+)\.mlp\.gate_proj\.weight$/, "blk.$1.ffn_gate.weight"],
  [/^model\.layers\.(\d+)\.mlp\.up_proj\.weight$/, "blk.$1.ffn_up.weight"],
  [/^model\.layers\.(\d+)\.mlp\.down_proj\.weight$/, "blk.$1.ffn_down.weight"],
];

function ggufName(hf: string): string {
  for (const [re, to] of HF_TO_GGUF) if (re.test(hf)) return hf.replace(re, to);
  throw new Error(`no GGUF name for ${hf}`);
}

/** llama.cpp's rope_freqs for llama 3 scaling: per-dimension divisors of the RoPE frequency. */
function ropeFreqFactors(c: HfConfig, hd: number): Float32Array {
  const rs = c.rope_scaling!;
  const lowWavelen = rs.original_max_position_embeddings / rs.low_freq_factor;
  const highWavelen = rs.original_max_position_embeddings / rs.high_freq_factor;
  return Float32Array.from({ length: hd / 2 }, (_, i) => {
    const wavelen = 2 * Math.PI * c.rope_theta ** ((2 * i) / hd);
    if (wavelen < highWavelen) return 1;
    if (wavelen > lowWavelen) return rs.factor;
    const smooth =
      (rs.original_max_position_embeddings / wavelen - rs.low_freq_factor) /
      (rs.high_freq_factor - rs.low_freq_factor);
    return 1 / ((1 - smooth) / rs.factor + smooth);
  });
}

/**
 * Writes fixture `name` as a GGUF with every 2-D weight in `type` (norms and biases stay F32, as
 * llama.cpp keeps them), and returns the HF-named tensors holding the dequantized values.
 */
function toGguf(
  name: string,
  type: GgmlType,
  file: string,
  override: { tensor: string; typeId: number } | null = null,
): Map<string, Tensor> {
  const dir = path.join(PARITY_DIR, name);
  const c = JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8")) as HfConfig;
  const arch = c.model_type === "qwen2" ? "qwen2" : "llama";
  const hd = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const weights = readSafetensors(path.join(dir, "model.safetensors"));
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const f32 = (value: number): GgufValue => ({ type: "f32", value });
  const meta: Record<string, GgufValue> = {
    "general.architecture": { type: "string", value: arch },
    "general.name": { type: "string", value: `parity-${name}-${type}` },
    [`${arch}.context_length`]: u32(c.max_position_embeddings),
    [`${arch}.embedding_length`]: u32(c.hidden_size),
    [`${arch}.block_count`]: u32(c.num_hidden_layers),
    [`${arch}.feed_forward_length`]: u32(c.intermediate_size),
    [`${arch}.attention.head_count`]: u32(c.num_attention_heads),
    [`${arch}.attention.head_count_kv`]: u32(c.num_key_value_heads),
    [`${arch}.attention.key_length`]: u32(hd),
    [`${arch}.attention.value_length`]: u32(hd),
    [`${arch}.attention.layer_norm_rms_epsilon`]: f32(c.rms_norm_eps),
    [`${arch}.rope.freq_base`]: f32(c.rope_theta),
    [`${arch}.vocab_size`]: u32(c.vocab_size),
  };
  const tensors: GgufTensor[] = [];
  const dequantized = new Map<string, Tensor>();
  for (const [hf, t] of [...weights].sort(([a], [b]) => a.localeCompare(b))) {
    const gname = ggufName(hf);
    let w = t;
    // llama.cpp permutes Q/K of llama (not qwen2) for its interleaved RoPE; the loader undoes it.
    if (arch === "llama" && /attn_q\.weight$/.test(gname))
      w = permuteForGguf(t, c.num_attention_heads);
    if (arch === "llama" && /attn_k\.weight$/.test(gname))
      w = permuteForGguf(t, c.num_key_value_heads);
    const ttype: GgmlType = t.shape.length === 2 ? type : "F32";
    const enc = encode(ttype, w.data);
    const typeId = override?.tensor === gname ? override.typeId : GGML_TYPE_ID[ttype];
    tensors.push({ name: gname, shape: t.shape, typeId, bytes: enc.bytes });
    // The dequantized values in HF row order (the permutation only moves rows).
    let back: Tensor = { shape: t.shape, data: enc.dequantized };
    if (w !== t)
      back = unpermute(
        back,
        gname.includes("attn_q") ? c.num_attention_heads : c.num_key_value_heads,
      );
    dequantized.set(hf, back);
  }
  if (c.rope_scaling) {
    const f = ropeFreqFactors(c, hd);
    tensors.push({
      name: "rope_freqs.weight",
      shape: [f.length],
      typeId: 0,
      bytes: encode("F32", f).bytes,
    });
  }
  writeGguf(file, meta, tensors);
  return dequantized;
}

function unpermute(w: Tensor, heads: number): Tensor {
  // Inverse of permuteForGguf, written independently of the loader's reshape/swapaxes.
  const [rows, cols] = w.shape as [number, number];
  const hd = rows / heads;
  const out = new Float32Array(w.data.length);
  for (let r = 0; r < rows; r++) {
    const h = Math.floor(r / hd);
    const j = r % hd;
    const src = h * hd + 2 * (j % (hd / 2)) + Math.floor(j / (hd / 2));
    out.set(w.data.subarray(src * cols, (src + 1) * cols), r * cols);
  }
  return { shape: w.shape, data: out };
}

async function logits(source: string, name: string): Promise<Float32Array> {
  const model = await Model.load(source);
  try {
    const { ids, shape } = fixtureInputs(name);
    return model.forward(ids, shape);
  } finally {
    model.dispose();
  }
}

describe("GGUF tensor types against transformers", () => {
  const errors: Partial<Record<GgmlType, number>> = {};
  // Bounds on the quantization error against transformers' logits (|logits| ≤ 1.9 here; a random
  // tiny model has no redundancy, so errors are large). Measured: F16 1.6e-3, Q8_0 3.7e-2,
  // Q4_0/Q4_1 0.61/0.64 — each step ~16-25x the last, as the ggml step sizes predict (2^-11
  // relative, amax/127, amax/8). Bounds are ~2.5x the measurement; decoding exactness is the
  // 1e-4 check against the dequantized reference.
  const BOUND: Record<GgmlType, number> = {
    F32: 1e-4,
    F16: 4e-3,
    Q8_0: 0.1,
    Q4_0: 1.5,
    Q4_1: 1.5,
  };

  for (const type of ["F32", "F16", "Q8_0", "Q4_0", "Q4_1"] as const) {
    it(`llama ${type}: decodes exactly and stays within the quantization bound`, async () => {
      const file = path.join(tmp, `llama-${type}.gguf`);
      const deq = toGguf("llama", type, file);
      const got = await logits(file, "llama");
      // Reference from the dequantized values through the (transformers-verified) HF loader.
      const refDir = path.join(tmp, `llama-${type}-deq`);
      mkdirSync(refDir, { recursive: true });
      copyFileSync(path.join(PARITY_DIR, "llama", "config.json"), path.join(refDir, "config.json"));
      writeSafetensors(path.join(refDir, "model.safetensors"), deq);
      const exact = maxAbsDiff(got, await logits(refDir, "llama"));
      const vsHf = maxAbsDiff(got, referenceLogits("llama"));
      errors[type] = vsHf;
      console.log(
        `gguf llama ${type}: vs dequantized ${exact.toExponential(2)}, vs transformers ${vsHf.toExponential(2)}`,
      );
      expect(exact).toBeLessThanOrEqual(1e-4);
      expect(vsHf).toBeLessThanOrEqual(BOUND[type]);
    });
  }

  it("error grows with coarser types: F32 < F16 < Q8_0 < Q4_0, Q4_1", () => {
    const e = errors as Record<GgmlType, number>;
    expect(Object.keys(e)).toHaveLength(5);
    expect(e.F32).toBeLessThan(e.F16);
    expect(e.F16).toBeLessThan(e.Q8_0);
    expect(e.Q8_0).toBeLessThan(Math.min(e.Q4_0, e.Q4_1));
  });

  it("qwen2 (biases, tied embeddings, no Q/K permutation) as F32 GGUF matches transformers", async () => {
    const file = path.join(tmp, "qwen2-F32.gguf");
    toGguf("qwen2", "F32", file);
    const model = await Model.load(file);
    expect(model.config).toMatchObject({ architecture: "qwen2", tieWordEmbeddings: true });
    model.dispose();
    expect(maxAbsDiff(await logits(file, "qwen2"), referenceLogits("qwen2"))).toBeLessThanOrEqual(
      1e-4,
    );
  });

  it("llama 3 scaled RoPE from a rope_freqs tensor matches transformers", async () => {
    const file = path.join(tmp, "llama3-F32.gguf");
    toGguf("llama3_rope", "F32", file);
    expect(
      maxAbsDiff(await logits(file, "llama3_rope"), referenceLogits("llama3_rope")),
    ).toBeLessThanOrEqual(1e-4);
  });

  it("an unsupported tensor type is an error naming the tensor and the type", async () => {
    const file = path.join(tmp, "llama-iq2.gguf");
    // Bytes stay Q8_0-sized; the type check must come before any data is read. IQ2_XXS (16) is
    // one of the i-quants no loader here reads.
    toGguf("llama", "Q8_0", file, { tensor: "blk.1.ffn_down.weight", typeId: 16 });
    await expect(Model.load(file)).rejects.toThrow(
      /llama-iq2\.gguf: tensor 'blk\.1\.ffn_down\.weight' has type IQ2_XXS \(16\)/,
    );
  });

  it("a K-quant tensor whose rows are not whole 256-value blocks names the file once, the tensor and why", async () => {
    const file = path.join(tmp, "llama-q5k.gguf");
    toGguf("llama", "Q8_0", file, { tensor: "blk.1.ffn_down.weight", typeId: 13 });
    const err = await Model.load(file).then(
      () => undefined,
      (e: unknown) => String((e as Error).message),
    );
    expect(err).toMatch(
      /llama-q5k\.gguf: tensor 'blk\.1\.ffn_down\.weight' \(Q5_K\): row length 64 is not a multiple of its block \(256\)/,
    );
    expect(err!.split(file).length - 1).toBe(1);
  });

  it("a truncated GGUF is an error naming the file and tensor, not a crash", async () => {
    const file = path.join(tmp, "llama-trunc.gguf");
    toGguf("llama", "Q4_1", file);
    truncateSync(file, 4000);
    await expect(Model.load(file)).rejects.toThrow(
      /llama-trunc\.gguf: truncated GGUF file: tensor '/,
    );
    truncateSync(file, 20);
    await expect(Model.load(file)).rejects.toThrow(/llama-trunc\.gguf: truncated GGUF header/);
  });
});
