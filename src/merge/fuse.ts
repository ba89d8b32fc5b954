/**
 * Fusing adapters into base weights, in float32 and the Hugging Face layout (W is (out, in)):
 *
 *   LoRA:  W' = W + s · (A B)^T                      A (in, r), B (r, out), s = alpha / r
 *   DoRA:  W' = m / ||W + s (A B)^T||_row · (W + s (A B)^T)     (PEFT's formula; m (out))
 *
 * The same norm floor as the native forward (sqrt(max(·, 1e-30))), so a fused DoRA layer equals
 * what native/src/model_llama.cc computes at inference. The low-rank product runs through the
 * native matmul (MLX), the elementwise work here.
 */
import type { NativeAdapterWeights, NativeModelHandle } from "../native/binding.js";
import { loadNative } from "../native/loader.js";

export interface AdapterDelta {
  /** "model.layers.<i>.<module>.weight" */
  hfName: string;
  weights: NativeAdapterWeights;
  scale: number;
}

/** The adapters of a loaded native model, keyed by the HF name of the weight they adapt. */
export function adapterDeltas(model: NativeModelHandle, scale: number): Map<string, AdapterDelta> {
  const out = new Map<string, AdapterDelta>();
  for (const [name, w] of Object.entries(model.getAdapterWeights()))
    out.set(`model.${name}.weight`, { hfName: `model.${name}.weight`, weights: w, scale });
  return out;
}

/** s · (A B)^T as (out, in), row-major. */
export function loraDelta(d: AdapterDelta): Float32Array {
  const [inDim, r] = d.weights.aShape as [number, number];
  const outDim = d.weights.bShape[1]!;
  const mlx = loadNative();
  const a = mlx.fromFloat32(d.weights.a, [inDim, r]);
  const b = mlx.fromFloat32(d.weights.b, [r, outDim]);
  const ab = mlx.matmul(a, b);
  const prod = ab.toFloat32Array(); // (in, out)
  a.dispose();
  b.dispose();
  ab.dispose();
  const out = new Float32Array(outDim * inDim);
  for (let i = 0; i < inDim; i++) {
    const row = i * outDim;
    for (let o = 0; o < outDim; o++) out[o * inDim + i] = d.scale * prod[row + o]!;
  }
  return out;
}

/** W (out, in) with the adapter fused in; W is overwritten and returned. */
export function fuseInto(w: Float32Array, d: AdapterDelta): Float32Array {
  const inDim = d.weights.aShape[0]!;
  const outDim = d.weights.bShape[1]!;
  if (w.length !== inDim * outDim)
    throw new Error(
      `${d.hfName}: adapter is (${inDim} → ${outDim}) but the base weight has ${w.length} values (another base model?)`,
    );
  const delta = loraDelta(d);
  for (let i = 0; i < w.length; i++) w[i] = w[i]! + delta[i]!;
  const m = d.weights.m;
  if (m) {
    for (let o = 0; o < outDim; o++) {
      let sq = 0;
      for (let i = 0; i < inDim; i++) sq += w[o * inDim + i]! ** 2;
      const k = m[o]! / Math.sqrt(Math.max(sq, 1e-30));
      for (let i = 0; i < inDim; i++) w[o * inDim + i] = w[o * inDim + i]! * k;
    }
  }
  return w;
}
