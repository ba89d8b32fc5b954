/**
 * Adapter files beyond merging: a LoRA GGUF that llama.cpp applies at load (`--lora FILE`,
 * node-llama-cpp's `lora` context option), and mlx-lm ↔ PEFT conversion.
 *
 * LoRA GGUF layout (as llama.cpp's adapter loader checks it): general.type "adapter",
 * adapter.type "lora", adapter.lora.alpha; per adapted weight `<gguf name>.lora_a` with ggml dims
 * [in, r] (PEFT's lora_A (r, in)) and `.lora_b` with dims [r, out] (lora_B (out, r)). llama.cpp
 * scales by alpha / r, so alpha is written as scale · r (exact for rsLoRA too). lora_b rows of
 * llama q/k are permuted like the base weights. DoRA has no llama.cpp form and is refused.
 */
import { mkdirSync } from "node:fs";
import type { AdapterFileFormat } from "../native/binding.js";
import { Model, type AdapterSpec } from "../train/model.js";
import { gv, writeGguf, type GgufTensorOut } from "./gguf.js";
import { quantize } from "./quants.js";
import { hfToGgufName, toGgufRows, type ModelSource } from "./source.js";

/** Writes `model`'s adapters as a llama.cpp LoRA GGUF at `path`; returns the tensor count. */
export async function writeLoraGguf(path: string, model: Model, src: ModelSource): Promise<number> {
  const spec = model.adapters;
  if (!spec) throw new Error("writeLoraGguf: the model has no adapters");
  if (spec.dora)
    throw new Error(
      "DoRA adapters have no llama.cpp LoRA GGUF form (llama.cpp applies only W + s·BA); export the merged model instead",
    );
  const tensors: GgufTensorOut[] = [];
  const weights = model.native.getAdapterWeights();
  for (const name of Object.keys(weights).sort()) {
    const w = weights[name]!;
    const gguf = hfToGgufName(`model.${name}.weight`);
    if (!gguf) throw new Error(`adapter ${name} has no GGUF tensor name`);
    const [inDim, r] = w.aShape as [number, number];
    const outDim = w.bShape[1]!;
    // lora_A (r, in) and lora_B (out, r): transposes of our (in, r) / (r, out).
    const aT = transpose(w.a, inDim, r);
    let bT = transpose(w.b, r, outDim);
    const heads = /self_attn\.q_proj/.test(name)
      ? src.config.numHeads
      : /self_attn\.k_proj/.test(name)
        ? (src.config.numKvHeads ?? src.config.numHeads)
        : 0;
    if (heads > 0 && src.ggufArch === "llama") bT = toGgufRows(bT, outDim, r, heads);
    const b = bT;
    tensors.push({
      name: `${gguf}.lora_a`,
      dims: [inDim, r],
      type: "F32",
      bytes: () => quantize("F32", aT),
    });
    tensors.push({
      name: `${gguf}.lora_b`,
      dims: [r, outDim],
      type: "F32",
      bytes: () => quantize("F32", b),
    });
  }
  const meta = new Map([
    ["general.architecture", gv.str(src.ggufArch)],
    ["general.type", gv.str("adapter")],
    ["adapter.type", gv.str("lora")],
    ["adapter.lora.alpha", gv.f32(spec.loraScale * spec.loraRank)],
  ]);
  await writeGguf(path, meta, tensors);
  return tensors.length;
}

function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j]!;
  return out;
}

export interface ConvertAdaptersOptions {
  /** Directory with adapter_config.json and adapters.safetensors (mlx) or adapter_model.safetensors (PEFT). */
  adapters: string;
  /** The base model the adapters were trained on (GGUF file or HF directory): shapes are checked against it. */
  base: string;
  to: AdapterFileFormat;
  outDir: string;
}

/** Rewrites adapters in the other layout (mlx-lm ↔ PEFT), checked against the base model's shapes. */
export async function convertAdapters(o: ConvertAdaptersOptions): Promise<AdapterSpec> {
  const model = await Model.load(o.base);
  try {
    const spec = model.loadAdapters(o.adapters);
    mkdirSync(o.outDir, { recursive: true });
    model.saveAdapters(o.outDir, o.to);
    return spec;
  } finally {
    model.dispose();
  }
}
