// Tiny random models and data for the native trainer tests: 2 layers, hidden 64, 4 heads, 2 KV
// heads, vocab 256 — small enough that every test runs in seconds on two CPU cores.
import { join } from "node:path";
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

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expectSameLength(a, b);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

function expectSameLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
}
