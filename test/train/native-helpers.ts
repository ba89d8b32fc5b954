// Tiny random models and data for the native trainer tests: 2 layers, hidden 64, 4 heads, 2 KV
// heads, vocab 256 — small enough that every test runs in seconds on two CPU cores.
import { join } from "node:path";
import { expect } from "vitest";
import type { NativeModelConfig } from "../../src/native/binding.js";
import { Model } from "../../src/train/model.js";
import type { TrainingExample } from "../../src/train/trainer.js";

/** The bundled GGUF (setup downloads it into models/base/): SmolLM2-135M-Instruct, Q4_1. */
export const BUNDLED_GGUF = join(
  import.meta.dirname,
  "..",
  "..",
  "models",
  "base",
  "SmolLM2-135M-Instruct.Q4_1.gguf",
);

export const TINY: NativeModelConfig = {
  architecture: "llama",
  vocabSize: 256,
  hiddenSize: 64,
  intermediateSize: 128,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  tieWordEmbeddings: true,
  ropeTheta: 10000,
};

export function tinyModel(seed = 1, config: Partial<NativeModelConfig> = {}): Model {
  return Model.random({ ...TINY, ...config }, seed);
}

/** Deterministic pseudo-random ints in [0, n). */
export function ints(count: number, n: number, seed: number): Int32Array {
  const out = new Int32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s % n;
  }
  return out;
}

/** Examples with a 4-token prompt (unsupervised) and a supervised answer; lengths vary. */
export function examples(count: number, seed: number, baseLen = 10): TrainingExample[] {
  return Array.from({ length: count }, (_, i) => {
    const len = baseLen + (i % 3);
    const tokens = ints(len, TINY.vocabSize, seed * 100 + i + 1);
    const supervised = new Uint8Array(len).map((_, j) => (j >= 4 ? 1 : 0));
    return { tokens, supervised };
  });
}

/** A smooth deterministic signal of amplitude up to `amp` (test inputs for kernels). */
export function wave(n: number, seed: number, amp: number): Float32Array {
  return new Float32Array(n).map((_, i) => amp * Math.sin(i * 0.731 + seed) * Math.cos(i * 0.117));
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expectSameLength(a, b);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

function expectSameLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
}

/**
 * One LoRA step (loss and gradients) of a model with nonzero B matrices, by default and then with
 * the environment variable `env` set to "mlx" (MLX's own ops instead of a medtune CPU kernel):
 * the loss within 1e-5 and every gradient within 1e-4, relative. Rows are masked for their first
 * `masked` positions.
 */
export function expectStepEqualsMlx(
  m: Model,
  env: string,
  [B, L]: [number, number],
  seed: number,
  masked = 2,
): void {
  m.addAdapters({ loraRank: 4, loraAlpha: 8, seed });
  const w = m.native.getAdapterWeights();
  const set: Record<string, { b: Float32Array }> = {};
  for (const [n, v] of Object.entries(w)) set[n] = { b: v.b.map((_, i) => Math.sin(i) * 0.05) };
  m.native.setAdapterWeights(set);
  const batch = {
    inputs: ints(B * L, TINY.vocabSize, seed + 2),
    targets: ints(B * L, TINY.vocabSize, seed + 3),
    mask: new Float32Array(B * L).map((_, i) => (i % L >= masked ? 1 : 0)),
    shape: [B, L] as [number, number],
  };
  const fused = m.native.lossAndGrad(batch);
  const before = process.env[env];
  process.env[env] = "mlx";
  try {
    const ref = m.native.lossAndGrad(batch);
    expect(Math.abs(fused.lossSum - ref.lossSum) / Math.abs(ref.lossSum)).toBeLessThan(1e-5);
    expect(Object.keys(ref.grads).length).toBeGreaterThan(0);
    for (const [n, g] of Object.entries(ref.grads)) {
      const s = maxAbs(g);
      expect(s, n).toBeGreaterThan(0);
      expect(maxAbsDiff(fused.grads[n]!, g) / s, n).toBeLessThan(1e-4);
    }
  } finally {
    if (before === undefined) delete process.env[env];
    else process.env[env] = before;
  }
}
