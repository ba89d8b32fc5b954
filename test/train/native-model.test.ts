// The native forward pass and LoRA on tiny random models: fresh adapters leave logits unchanged,
// LoRA gradients match central finite differences, checkpointed and plain backward agree, scoring
// agrees with the logits, the HF loader round-trips, and the architecture flags take effect.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Model } from "../../src/train/model.js";
import { TINY, ints, maxAbsDiff, tinyModel } from "./native-helpers.js";

const B = 2;
const L = 8;

function batch(seed: number) {
  const inputs = ints(B * L, TINY.vocabSize, seed);
  const targets = ints(B * L, TINY.vocabSize, seed + 7);
  const mask = new Float32Array(B * L).map((_, i) => (i % L >= 2 ? 1 : 0));
  return { inputs, targets, mask, shape: [B, L] as [number, number] };
}

describe("native model (tiny random llama)", () => {
  it("gives base logits exactly at step 0 with fresh adapters, and toggles adapters", () => {
    const m = tinyModel();
    const ids = ints(B * L, TINY.vocabSize, 3);
    const base = m.forward(ids, [B, L]);
    expect(base.length).toBe(B * L * TINY.vocabSize);
    m.addAdapters({ loraRank: 4, loraAlpha: 8, seed: 5 });
    expect(m.native.adapterNames()).toHaveLength(2 * 7);
    expect(maxAbsDiff(m.forward(ids, [B, L]), base)).toBe(0);
    // Non-zero B changes the output; disabling adapters restores the base without a reload.
    const w = m.native.getAdapterWeights();
    const name = "layers.1.self_attn.v_proj";
    m.native.setAdapterWeights({ [name]: { b: w[name]!.b.map((_, i) => 0.05 * Math.sin(i)) } });
    expect(maxAbsDiff(m.forward(ids, [B, L]), base)).toBeGreaterThan(1e-4);
    m.setAdaptersEnabled(false);
    expect(maxAbsDiff(m.forward(ids, [B, L]), base)).toBe(0);
    m.setAdaptersEnabled(true);
    m.dispose();
  });

  it("LoRA gradients match central finite differences (float32)", () => {
    const m = tinyModel(2);
    m.addAdapters({ loraRank: 2, loraAlpha: 4, seed: 9, loraKeys: ["q", "v", "down"] });
    // B = 0 makes dL/dA vanish; give B values so both A and B gradients are exercised.
    const w0 = m.native.getAdapterWeights();
    const init: Record<string, { b: Float32Array }> = {};
    for (const [n, w] of Object.entries(w0))
      init[n] = { b: w.b.map((_, i) => 0.1 * Math.cos(i * 1.7)) };
    m.native.setAdapterWeights(init);
    const b = batch(11);
    const { grads, lossSum } = m.native.lossAndGrad(b);
    expect(Number.isFinite(lossSum)).toBe(true);
    const weights = m.native.getAdapterWeights();
    const eps = 1e-2;
    let checked = 0;
    for (const name of [
      "layers.0.self_attn.q_proj",
      "layers.1.mlp.down_proj",
      "layers.1.self_attn.v_proj",
    ]) {
      for (const part of ["a", "b"] as const) {
        const g = grads[`${name}.lora_${part}`]!;
        // The largest-gradient coordinates, where finite differences are well above float noise.
        const order = Array.from(g.keys()).sort((i, j) => Math.abs(g[j]!) - Math.abs(g[i]!));
        for (const idx of order.slice(0, 3)) {
          const base = weights[name]![part];
          const plus = base.slice();
          plus[idx] = plus[idx]! + eps;
          m.native.setAdapterWeights({ [name]: { [part]: plus } });
          const lp = m.native.lossAndGrad(b).lossSum;
          const minus = base.slice();
          minus[idx] = minus[idx]! - eps;
          m.native.setAdapterWeights({ [name]: { [part]: minus } });
          const lm = m.native.lossAndGrad(b).lossSum;
          m.native.setAdapterWeights({ [name]: { [part]: base } });
          const fd = (lp - lm) / (2 * eps);
          expect(Math.abs(fd - g[idx]!)).toBeLessThan(2e-2 * Math.abs(g[idx]!) + 2e-3);
          checked++;
        }
      }
    }
    expect(checked).toBe(18);
    m.dispose();
  });

  it("gradient checkpointing gives the same loss and gradients", () => {
    const m = tinyModel(3);
    m.addAdapters({ loraRank: 4, seed: 1 });
    const w = m.native.getAdapterWeights();
    const upd: Record<string, { b: Float32Array }> = {};
    for (const [n, x] of Object.entries(w)) upd[n] = { b: x.b.map((_, i) => 0.02 * Math.sin(i)) };
    m.native.setAdapterWeights(upd);
    const b = batch(4);
    const plain = m.native.lossAndGrad(b);
    const ckpt = m.native.lossAndGrad({ ...b, gradientCheckpointing: true });
    expect(ckpt.lossSum).toBeCloseTo(plain.lossSum, 4);
    for (const [k, g] of Object.entries(plain.grads))
      expect(maxAbsDiff(ckpt.grads[k]!, g)).toBeLessThan(1e-5);
    m.dispose();
  });

  it("scores completions consistently with the logits", () => {
    const m = tinyModel(4);
    const prompt = [5, 6, 7];
    const completion = [8, 9];
    const [r] = m.score([
      { prompt, completion },
      { prompt: [1], completion: [2, 3, 4, 5, 6] },
    ]);
    const seq = Int32Array.from([...prompt, ...completion]);
    const logits = m.forward(seq, [1, seq.length]);
    const V = TINY.vocabSize;
    let sum = 0;
    for (let c = 0; c < completion.length; c++) {
      const row = logits.subarray((prompt.length - 1 + c) * V, (prompt.length + c) * V);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      const lp = row[completion[c]!]! - lse;
      expect(r!.tokenLogprobs[c]).toBeCloseTo(lp, 4);
      sum += lp;
    }
    expect(r!.sum).toBeCloseTo(sum, 4);
    m.dispose();
  });

  it("loads a Hugging Face directory written from the same weights", async () => {
    const m = tinyModel(5, { tieWordEmbeddings: false });
    const dir = mkdtempSync(join(tmpdir(), "medtune-hf-"));
    m.native.saveBaseWeights(join(dir, "model.safetensors"));
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({
        model_type: "llama",
        vocab_size: TINY.vocabSize,
        hidden_size: TINY.hiddenSize,
        intermediate_size: TINY.intermediateSize,
        num_hidden_layers: TINY.numLayers,
        num_attention_heads: TINY.numHeads,
        num_key_value_heads: TINY.numKvHeads,
        rms_norm_eps: 1e-5,
        rope_theta: 10000,
        tie_word_embeddings: false,
      }),
    );
    const hf = await Model.load(dir);
    const ids = ints(B * L, TINY.vocabSize, 8);
    expect(maxAbsDiff(hf.forward(ids, [B, L]), m.forward(ids, [B, L]))).toBe(0);
    hf.dispose();
    m.dispose();
  });

  it("QLoRA: a 4-bit base stays close to the float base and trains adapters", () => {
    const f = tinyModel(6);
    const q = Model.random(TINY, 6, { quantize: { bits: 4, groupSize: 32 } });
    const ids = ints(B * L, TINY.vocabSize, 2);
    const a = f.forward(ids, [B, L]);
    const b = q.forward(ids, [B, L]);
    // 4-bit weights carry ~10% error each; the logits stay correlated with the float ones.
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) {
      num += (a[i]! - b[i]!) ** 2;
      den += a[i]! ** 2;
    }
    expect(Math.sqrt(num / den)).toBeLessThan(0.3);
    expect(maxAbsDiff(a, b)).toBeGreaterThan(0);
    q.addAdapters({ loraRank: 4, seed: 1 });
    const g = q.native.lossAndGrad(batch(1));
    expect(Object.values(g.grads).some((x) => x.some((v) => v !== 0))).toBe(true);
    f.dispose();
    q.dispose();
  });

  it("mistral's sliding window and qwen2's biases change the forward pass", () => {
    const ids = ints(1 * 16, TINY.vocabSize, 12);
    const llama = tinyModel(7);
    const wide = tinyModel(7, { architecture: "mistral", slidingWindow: 64 });
    const narrow = tinyModel(7, { architecture: "mistral", slidingWindow: 4 });
    const full = llama.forward(ids, [1, 16]);
    expect(maxAbsDiff(wide.forward(ids, [1, 16]), full)).toBe(0);
    const win = narrow.forward(ids, [1, 16]);
    const V = TINY.vocabSize;
    // Positions < window see the same keys; later ones do not.
    expect(maxAbsDiff(win.subarray(0, 4 * V), full.subarray(0, 4 * V))).toBeLessThan(1e-5);
    expect(maxAbsDiff(win.subarray(8 * V), full.subarray(8 * V))).toBeGreaterThan(1e-4);
    const qwen = tinyModel(7, { architecture: "qwen2" });
    expect(qwen.config.attentionBias).toBe(true);
    expect(maxAbsDiff(qwen.forward(ids, [1, 16]), full)).toBeGreaterThan(0);
    for (const m of [llama, wide, narrow, qwen]) m.dispose();
  });

  it("rejects bad arguments with TypeErrors, not crashes", () => {
    const m = tinyModel(8);
    expect(() => m.forward(new Int32Array([1, 2, 999]), [1, 3])).toThrow(/outside the vocabulary/);
    expect(() => m.forward(new Int32Array([1, 2]), [1, 3])).toThrow(TypeError);
    expect(() => m.addAdapters({ loraRank: 4, loraKeys: ["nope"] })).toThrow(/unknown LoRA target/);
    m.dispose();
  });
});
