// DoRA (weight-decomposed LoRA) on tiny random models: fresh adapters leave logits unchanged (float
// and 4-bit base), m starts at ||W||_row, gradients of m, A and B match central finite differences
// under PEFT's detached-norm convention, training overfits and resumes exactly, and adapters
// round-trip mlx-lm ↔ PEFT ↔ reload with identical logits.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { NativeProgressEvent } from "../../src/native/binding.js";
import { Model } from "../../src/train/model.js";
import { listCheckpoints, train } from "../../src/train/trainer.js";
import { TINY, examples, ints, maxAbsDiff, tinyModel } from "./native-helpers.js";
import { readSafetensors, type Tensor } from "./weights-io.js";

const B = 2;
const L = 8;
const DATA = examples(8, 1);

function batch(seed: number) {
  const inputs = ints(B * L, TINY.vocabSize, seed);
  const targets = ints(B * L, TINY.vocabSize, seed + 7);
  const mask = new Float32Array(B * L).map((_, i) => (i % L >= 2 ? 1 : 0));
  return { inputs, targets, mask, shape: [B, L] as [number, number] };
}

/** The model's float base weights by HF name, e.g. model.layers.0.self_attn.q_proj.weight. */
function baseWeights(m: Model): Map<string, Tensor> {
  const file = join(mkdtempSync(join(tmpdir(), "medtune-dora-w-")), "model.safetensors");
  m.native.saveBaseWeights(file);
  return readSafetensors(file);
}

/** ||W + s (A B)^T||_row in float64: W (out, in), a (in, r), b (r, out) -> (out). */
function rowNorms(w: Tensor, a: Float32Array, b: Float32Array, r: number, s: number): number[] {
  const [out, inDim] = w.shape as [number, number];
  return Array.from({ length: out }, (_, o) => {
    let sq = 0;
    for (let i = 0; i < inDim; i++) {
      let ab = 0;
      for (let k = 0; k < r; k++) ab += a[i * r + k]! * b[k * out + o]!;
      sq += (w.data[o * inDim + i]! + s * ab) ** 2;
    }
    return Math.sqrt(sq);
  });
}

/** Gives every adapter a non-zero B and a magnitude off ||W|| so all gradients are exercised. */
function perturb(m: Model): void {
  const w = m.native.getAdapterWeights();
  const upd: Record<string, { b: Float32Array; m: Float32Array }> = {};
  for (const [n, x] of Object.entries(w)) {
    upd[n] = {
      b: x.b.map((_, i) => 0.1 * Math.cos(i * 1.7)),
      m: x.m!.map((v, i) => v * (1 + 0.2 * Math.sin(i))),
    };
  }
  m.native.setAdapterWeights(upd);
}

function flatWeights(m: Model): Float32Array {
  const w = m.native.getAdapterWeights();
  const parts = Object.keys(w)
    .sort()
    .flatMap((k) => [w[k]!.a, w[k]!.b, w[k]!.m!]);
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe("DoRA (native)", () => {
  it("gives base logits exactly at step 0 and starts m at ||W||_row", () => {
    const m = tinyModel(1);
    const ids = ints(B * L, TINY.vocabSize, 3);
    const base = m.forward(ids, [B, L]);
    const spec = m.addAdapters({ loraRank: 4, loraAlpha: 8, seed: 5, dora: true });
    expect(spec.dora).toBe(true);
    expect(maxAbsDiff(m.forward(ids, [B, L]), base)).toBe(0);
    // PEFT's convention: the norm runs over the input dimension, one value per output feature.
    const w = baseWeights(m).get("model.layers.1.mlp.down_proj.weight")!;
    const ad = m.native.getAdapterWeights()["layers.1.mlp.down_proj"]!;
    expect(ad.m).toHaveLength(TINY.hiddenSize);
    const want = rowNorms(w, ad.a, ad.b, 4, 2);
    expect(maxAbsDiff(ad.m!, want)).toBeLessThan(1e-5 * Math.max(...want));
    // The magnitude alone rescales output rows; disabling adapters restores the base.
    m.native.setAdapterWeights({ "layers.1.mlp.down_proj": { m: ad.m!.map((v) => 1.5 * v) } });
    expect(maxAbsDiff(m.forward(ids, [B, L]), base)).toBeGreaterThan(1e-4);
    m.setAdaptersEnabled(false);
    expect(maxAbsDiff(m.forward(ids, [B, L]), base)).toBe(0);
    m.dispose();
  });

  it("on a 4-bit base: step 0 equals the quantized base; quantizing after DoRA is refused", () => {
    const q = Model.random(TINY, 6, { quantize: { bits: 4, groupSize: 32 } });
    const ids = ints(B * L, TINY.vocabSize, 2);
    const base = q.forward(ids, [B, L]);
    q.addAdapters({ loraRank: 4, seed: 1, dora: true });
    expect(maxAbsDiff(q.forward(ids, [B, L]), base)).toBe(0);
    perturb(q);
    const g = q.native.lossAndGrad(batch(1));
    expect(Object.keys(g.grads).filter((k) => k.endsWith(".m"))).toHaveLength(2 * 7);
    expect(Object.values(g.grads).every((x) => x.every(Number.isFinite))).toBe(true);
    const f = tinyModel(6);
    f.addAdapters({ loraRank: 4, dora: true });
    expect(() => f.native.quantize({ bits: 4, groupSize: 32 })).toThrow(/before adding DoRA/);
    q.dispose();
    f.dispose();
  });

  it("gradients of m, A and B match central finite differences (norm detached, as PEFT)", () => {
    const m = tinyModel(2);
    const r = 2;
    const spec = m.addAdapters({
      loraRank: r,
      loraAlpha: 4,
      seed: 9,
      loraKeys: ["q", "v", "down"],
      dora: true,
    });
    perturb(m);
    const W = baseWeights(m);
    const b = batch(11);
    const { grads } = m.native.lossAndGrad(b);
    const weights = m.native.getAdapterWeights();
    const eps = 1e-2;
    let checked = 0;
    // How far the plain finite difference (||V|| moving with A, B) strays from the gradient: it
    // must stray somewhere, or this test could not tell the two conventions apart.
    let plainGap = 0;
    for (const name of [
      "layers.0.self_attn.q_proj",
      "layers.1.mlp.down_proj",
      "layers.1.self_attn.v_proj",
    ]) {
      const w = W.get(`model.${name}.weight`)!;
      const cur = weights[name]!;
      const n0 = rowNorms(w, cur.a, cur.b, r, spec.loraScale);
      // The loss as a function of one coordinate, ||V|| held at its current value: moving A or B
      // changes ||V||, so m is moved with it to keep m / ||V|| fixed — the function whose
      // gradient the detached convention computes. For m itself nothing needs holding.
      const lossAt = (part: "a" | "b" | "m", idx: number, delta: number, hold = true): number => {
        const x = cur[part]!.slice();
        x[idx] = x[idx]! + delta;
        const upd: { a?: Float32Array; b?: Float32Array; m?: Float32Array } = { [part]: x };
        if (part !== "m" && hold) {
          const a = part === "a" ? x : cur.a;
          const bb = part === "b" ? x : cur.b;
          const n1 = rowNorms(w, a, bb, r, spec.loraScale);
          upd.m = cur.m!.map((v, o) => (v * n1[o]!) / n0[o]!);
        }
        m.native.setAdapterWeights({ [name]: upd });
        const l = m.native.lossAndGrad(b).lossSum;
        m.native.setAdapterWeights({ [name]: { a: cur.a, b: cur.b, m: cur.m } });
        return l;
      };
      for (const part of ["a", "b", "m"] as const) {
        const g = grads[`${name}.${part === "m" ? "m" : `lora_${part}`}`]!;
        const order = Array.from(g.keys()).sort((i, j) => Math.abs(g[j]!) - Math.abs(g[i]!));
        for (const idx of order.slice(0, 3)) {
          const fd = (lossAt(part, idx, eps) - lossAt(part, idx, -eps)) / (2 * eps);
          expect(Math.abs(fd - g[idx]!)).toBeLessThan(2e-2 * Math.abs(g[idx]!) + 2e-3);
          if (part !== "m") {
            const plain =
              (lossAt(part, idx, eps, false) - lossAt(part, idx, -eps, false)) / (2 * eps);
            plainGap = Math.max(plainGap, Math.abs(plain - g[idx]!) / Math.abs(g[idx]!));
          }
          checked++;
        }
      }
    }
    expect(checked).toBe(27);
    expect(plainGap).toBeGreaterThan(2e-2);
    m.dispose();
  });

  it("gradient checkpointing and the inference path agree with the training path", () => {
    const m = tinyModel(3);
    m.addAdapters({ loraRank: 4, seed: 1, dora: true });
    perturb(m);
    const b = batch(4);
    const plain = m.native.lossAndGrad(b);
    const ckpt = m.native.lossAndGrad({ ...b, gradientCheckpointing: true });
    expect(ckpt.lossSum).toBeCloseTo(plain.lossSum, 4);
    for (const [k, g] of Object.entries(plain.grads))
      expect(maxAbsDiff(ckpt.grads[k]!, g)).toBeLessThan(1e-5);
    // forward() reuses the precomputed ||V||; lossAndGrad recomputes it from A and B.
    const logits = m.forward(b.inputs, b.shape);
    const V = TINY.vocabSize;
    let sum = 0;
    for (let t = 0; t < B * L; t++) {
      const row = logits.subarray(t * V, (t + 1) * V);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      sum += b.mask[t]! * (lse - row[b.targets[t]!]!);
    }
    expect(sum).toBeCloseTo(plain.lossSum, 3);
    m.dispose();
  });

  it("overfits 4 examples: loss falls below 10% of the start in 30 steps", async () => {
    const m = tinyModel(1);
    m.addAdapters({ loraRank: 8, loraAlpha: 16, seed: 1, dora: true });
    const before = m.native.getAdapterWeights()["layers.0.self_attn.q_proj"]!.m!.slice();
    const progress: NativeProgressEvent[] = [];
    const done = await train(
      m,
      {
        train: DATA.slice(0, 4),
        batches: [[0, 1, 2, 3]],
        iters: 30,
        learningRate: 1e-2,
        warmupSteps: 3,
        reportEvery: 1,
      },
      (e) => e.type === "progress" && progress.push(e),
    );
    expect(progress).toHaveLength(30);
    expect(done.trainLoss).toBeLessThan(0.1 * progress[0]!.trainLoss);
    const after = m.native.getAdapterWeights()["layers.0.self_attn.q_proj"]!.m!;
    expect(maxAbsDiff(after, before)).toBeGreaterThan(1e-3);
    m.dispose();
  });

  it("resumes from adapters + optimizer state (m included) exactly as the uninterrupted run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-dora-resume-"));
    const opts = {
      train: DATA,
      batches: [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7],
      ],
      iters: 6,
      learningRate: 5e-3,
      warmupSteps: 2,
      weightDecay: 0.01,
      gradClip: 1.0,
      seed: 3,
      reportEvery: 1,
    };
    const m1 = tinyModel(1);
    m1.addAdapters({ loraRank: 4, loraAlpha: 8, seed: 2, loraDropout: 0.1, dora: true });
    const full: number[] = [];
    await train(
      m1,
      { ...opts, saveEvery: 3, checkpointDir: dir },
      (e) => e.type === "progress" && full.push(e.trainLoss),
    );
    const fullWeights = flatWeights(m1);
    m1.dispose();
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([3, 6]);
    const cfg = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
    expect(cfg.fine_tune_type).toBe("dora");
    const opt = readSafetensors(listCheckpoints(dir)[0]!.optimizerFile);
    expect(opt.get("m.layers.0.self_attn.q_proj.m")?.shape).toEqual([TINY.hiddenSize]);
    expect(opt.get("v.layers.0.self_attn.q_proj.m")?.shape).toEqual([TINY.hiddenSize]);

    const m2 = tinyModel(1);
    m2.addAdapters({ loraRank: 4, loraAlpha: 8, seed: 99, loraDropout: 0.1, dora: true });
    const rest: number[] = [];
    await train(
      m2,
      { ...opts, resumeFrom: { dir, step: 3 } },
      (e) => e.type === "progress" && rest.push(e.trainLoss),
    );
    expect(rest).toEqual(full.slice(3));
    expect(maxAbsDiff(flatWeights(m2), fullWeights)).toBe(0);
    // A LoRA model cannot silently take a DoRA optimizer state.
    const lora = tinyModel(1);
    lora.addAdapters({ loraRank: 4, loraAlpha: 8, seed: 2, loraDropout: 0.1 });
    await expect(train(lora, { ...opts, resumeFrom: { dir, step: 3 } })).rejects.toThrow(
      /unexpected tensor '[^']*\.m'|does not have/,
    );
    m2.dispose();
    lora.dispose();
  });

  it("round-trips mlx-lm -> PEFT -> mlx-lm with identical logits", () => {
    const m = tinyModel(1);
    m.addAdapters({
      loraRank: 4,
      loraAlpha: 8,
      seed: 3,
      loraKeys: ["q", "v", "up"],
      loraLayers: 1,
      dora: true,
    });
    perturb(m);
    const ids = ints(16, TINY.vocabSize, 4);
    const want = m.forward(ids, [2, 8]);
    const mlxDir = mkdtempSync(join(tmpdir(), "medtune-dora-mlx-"));
    const peftDir = mkdtempSync(join(tmpdir(), "medtune-dora-peft-"));
    m.saveAdapters(mlxDir, "mlx");
    const mlxCfg = JSON.parse(readFileSync(join(mlxDir, "adapter_config.json"), "utf8"));
    expect(mlxCfg.fine_tune_type).toBe("dora");
    const mlxT = readSafetensors(join(mlxDir, "adapters.safetensors"));
    expect(mlxT.get("model.layers.1.self_attn.q_proj.m")?.shape).toEqual([64]);
    expect(mlxT.get("model.layers.1.mlp.up_proj.m")?.shape).toEqual([TINY.intermediateSize]);

    const a = tinyModel(1);
    expect(a.loadAdapters(mlxDir).dora).toBe(true);
    expect(maxAbsDiff(a.forward(ids, [2, 8]), want)).toBe(0);
    a.saveAdapters(peftDir, "peft");
    const peftCfg = JSON.parse(readFileSync(join(peftDir, "adapter_config.json"), "utf8"));
    expect(peftCfg).toMatchObject({ peft_type: "LORA", use_dora: true, r: 4, lora_alpha: 8 });
    const peftT = readSafetensors(join(peftDir, "adapter_model.safetensors"));
    const key = "base_model.model.model.layers.1.self_attn.q_proj.lora_magnitude_vector";
    expect(peftT.get(key)?.shape).toEqual([64]);
    expect(
      maxAbsDiff(peftT.get(key)!.data, mlxT.get("model.layers.1.self_attn.q_proj.m")!.data),
    ).toBe(0);

    const b = tinyModel(1);
    b.loadAdapters(peftDir);
    expect(maxAbsDiff(b.forward(ids, [2, 8]), want)).toBe(0);
    b.saveAdapters(mlxDir, "mlx");
    const c = tinyModel(1);
    c.loadAdapters(mlxDir);
    expect(maxAbsDiff(c.forward(ids, [2, 8]), want)).toBe(0);

    // The config and the tensors must agree about DoRA, either way round.
    const cfgFile = join(peftDir, "adapter_config.json");
    writeFileSync(cfgFile, JSON.stringify({ ...peftCfg, use_dora: false }));
    const d = tinyModel(1);
    expect(() => d.loadAdapters(peftDir)).toThrow(/unexpected tensor '.*lora_magnitude_vector'/);
    const plain = tinyModel(1);
    plain.addAdapters({ loraRank: 4, loraAlpha: 8, loraKeys: ["q", "v", "up"], loraLayers: 1 });
    plain.saveAdapters(peftDir, "peft");
    writeFileSync(cfgFile, JSON.stringify({ ...peftCfg, use_dora: true }));
    expect(() => d.loadAdapters(peftDir)).toThrow(/missing DoRA magnitude/);
    expect(d.adapters).toBeUndefined();
    for (const x of [m, a, b, c, d, plain]) x.dispose();
  });
});
