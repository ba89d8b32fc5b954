// The training step's speed paths give the reference results: cross-entropy in row chunks (no
// full (B, L, V) logits, its VJP precomputed in the forward) equals the CE over full logits with
// the same gradients, and the compiled element-wise kernels (SwiGLU, LoRA add, the AdamW update)
// equal eager MLX.
import { afterEach, describe, expect, it } from "vitest";
import { loadNative } from "../../src/native/loader.js";
import { train } from "../../src/train/trainer.js";
import { TINY, examples, ints, maxAbsDiff, tinyModel } from "./native-helpers.js";

const B = 3;
const L = 7;

function batch(seed: number) {
  const inputs = ints(B * L, TINY.vocabSize, seed);
  const targets = ints(B * L, TINY.vocabSize, seed + 7);
  // Some positions unsupervised, one row entirely padding-like (mask 0) at its end.
  const mask = new Float32Array(B * L).map((_, i) => (i % L >= 2 && i < B * L - 3 ? 1 : 0));
  return { inputs, targets, mask, shape: [B, L] as [number, number] };
}

function trainedModel() {
  const m = tinyModel(9);
  m.addAdapters({ loraRank: 4, loraAlpha: 8, seed: 3 });
  // Non-zero B so every adapter's gradient depends on the whole path.
  const w = m.native.getAdapterWeights();
  const set: Record<string, { b: Float32Array }> = {};
  for (const [name, v] of Object.entries(w))
    set[name] = { b: v.b.map((_, i) => Math.sin(i) * 0.05) };
  m.native.setAdapterWeights(set);
  return m;
}

afterEach(() => loadNative().setCompile(true));

describe("training step paths", () => {
  it("chunked cross-entropy equals the full one, loss and every gradient", () => {
    const m = trainedModel();
    const b = batch(4);
    const full = m.native.lossAndGrad({ ...b, crossEntropyChunk: 0 });
    for (const rows of [1, 5, 21, 256]) {
      const chunked = m.native.lossAndGrad({ ...b, crossEntropyChunk: rows });
      expect(chunked.lossSum).toBeCloseTo(full.lossSum, 4);
      expect(chunked.supervisedTokens).toBe(full.supervisedTokens);
      for (const [name, g] of Object.entries(full.grads)) {
        const scale = Math.max(...Array.from(g, Math.abs));
        expect(scale).toBeGreaterThan(0);
        expect(maxAbsDiff(chunked.grads[name]!, g) / scale).toBeLessThan(1e-4);
      }
    }
  });

  it("chunked cross-entropy also holds for an untied LM head and DoRA adapters", () => {
    const m = tinyModel(10, { tieWordEmbeddings: false });
    m.addAdapters({ loraRank: 2, seed: 1, dora: true });
    const b = batch(8);
    const full = m.native.lossAndGrad({ ...b, crossEntropyChunk: 0 });
    const chunked = m.native.lossAndGrad({ ...b, crossEntropyChunk: 4 });
    expect(chunked.lossSum).toBeCloseTo(full.lossSum, 4);
    for (const [name, g] of Object.entries(full.grads)) {
      expect(maxAbsDiff(chunked.grads[name]!, g)).toBeLessThan(1e-5);
    }
  });

  it("compiled kernels give the eager step's loss and gradients", () => {
    const m = trainedModel();
    const b = batch(12);
    const mlx = loadNative();
    mlx.setCompile(true);
    const compiled = m.native.lossAndGrad(b);
    mlx.setCompile(false);
    const eager = m.native.lossAndGrad(b);
    expect(compiled.lossSum).toBeCloseTo(eager.lossSum, 5);
    for (const [name, g] of Object.entries(eager.grads)) {
      expect(maxAbsDiff(compiled.grads[name]!, g)).toBeLessThan(1e-6);
    }
    // And the forward.
    mlx.setCompile(true);
    const f1 = m.forward(b.inputs, b.shape);
    mlx.setCompile(false);
    expect(maxAbsDiff(m.forward(b.inputs, b.shape), f1)).toBeLessThan(1e-5);
  });

  it("a compiled AdamW step trains to the same weights as the eager one", async () => {
    const mlx = loadNative();
    const run = async (compiled: boolean) => {
      mlx.setCompile(compiled);
      const m = tinyModel(11);
      m.addAdapters({ loraRank: 4, seed: 6 });
      await train(m, {
        train: examples(6, 3),
        batches: [
          [0, 1, 2],
          [3, 4, 5],
        ],
        iters: 4,
        learningRate: 1e-2,
        weightDecay: 0.1,
        gradClip: 1,
      });
      const w = m.native.getAdapterWeights();
      m.dispose();
      return Object.values(w).flatMap((v) => [...v.a, ...v.b]);
    };
    const compiled = await run(true);
    const eager = await run(false);
    expect(maxAbsDiff(compiled, eager)).toBeLessThan(1e-6);
    // Training moved the weights (B starts at 0).
    expect(Math.max(...compiled.map(Math.abs))).toBeGreaterThan(0);
  });
});
