// The native training loop on a tiny random model: it overfits, gradient accumulation weights
// micro-batches by supervised tokens (2×B equals 1×2B), seeded runs repeat exactly, a run resumed
// from a checkpoint matches the uninterrupted run bit for bit, memory overruns surface as a coded
// error, cancel stops at a step boundary, and the event loop stays free while training.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { NativeProgressEvent, NativeTrainEvent } from "../../src/native/binding.js";
import {
  listCheckpoints,
  packBatches,
  packDataset,
  train,
  Trainer,
} from "../../src/train/trainer.js";
import { examples, maxAbsDiff, tinyModel } from "./native-helpers.js";

const DATA = examples(8, 1);

function flatWeights(m: ReturnType<typeof tinyModel>): Float32Array {
  const w = m.native.getAdapterWeights();
  const parts = Object.keys(w)
    .sort()
    .flatMap((k) => [w[k]!.a, w[k]!.b]);
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function losses(
  opts: Parameters<typeof train>[1],
  seed = 1,
): Promise<{ losses: number[]; weights: Float32Array }> {
  const m = tinyModel(seed);
  m.addAdapters({ loraRank: 4, loraAlpha: 8, seed: 2, loraDropout: 0.1 });
  const out: number[] = [];
  await train(
    m,
    { reportEvery: 1, ...opts },
    (e) => e.type === "progress" && out.push(e.trainLoss),
  );
  const weights = flatWeights(m);
  m.dispose();
  return { losses: out, weights };
}

describe("native trainer", () => {
  it("overfits 4 examples: loss falls below 10% of the start in 30 steps", async () => {
    const m = tinyModel(1);
    m.addAdapters({ loraRank: 8, loraAlpha: 16, seed: 1 });
    const events: NativeTrainEvent[] = [];
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
      (e) => events.push(e),
    );
    const progress = events.filter((e): e is NativeProgressEvent => e.type === "progress");
    expect(progress).toHaveLength(30);
    const first = progress[0]!.trainLoss;
    expect(done.trainLoss).toBeLessThan(0.1 * first);
    expect(done.stopReason).toBe("completed");
    expect(events[events.length - 1]!.type).toBe("done");
    const p = progress[0]!;
    expect(p.tokensPerSecond).toBeGreaterThan(0);
    expect(p.peakMemoryBytes).toBeGreaterThan(0);
    expect(p.learningRate).toBeCloseTo(1e-2 / 3, 8);
    m.dispose();
  });

  it("gradient accumulation: 2 micro-batches of 2 equal one batch of 4 (token-weighted)", async () => {
    const m = tinyModel(3);
    m.addAdapters({ loraRank: 4, seed: 4 });
    const w = m.native.getAdapterWeights();
    const init: Record<string, { b: Float32Array }> = {};
    for (const [n, x] of Object.entries(w)) init[n] = { b: x.b.map((_, i) => 0.05 * Math.sin(i)) };
    m.native.setAdapterWeights(init);
    // Examples have different lengths, so the micro-batches hold different token counts.
    const common = { train: DATA, iters: 3, learningRate: 5e-3, dropout: 0 };
    const a = tinyModel(3);
    a.addAdapters({ loraRank: 4, seed: 4 });
    a.native.setAdapterWeights(init);
    await train(a, {
      ...common,
      batches: [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
      ],
    });
    const b = tinyModel(3);
    b.addAdapters({ loraRank: 4, seed: 4 });
    b.native.setAdapterWeights(init);
    await train(b, {
      ...common,
      batches: [
        [0, 1],
        [2, 3],
        [4, 5],
        [6, 7],
      ],
      gradAccumulationSteps: 2,
    });
    expect(maxAbsDiff(flatWeights(a), flatWeights(b))).toBeLessThan(2e-5);
    expect(maxAbsDiff(flatWeights(a), flatWeights(m))).toBeGreaterThan(1e-4);
    for (const x of [m, a, b]) x.dispose();
  });

  it("is deterministic: the same seed gives identical losses step by step (with dropout)", async () => {
    const opts = {
      train: DATA,
      batches: [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7],
      ],
      iters: 6,
      learningRate: 5e-3,
      seed: 7,
    };
    const r1 = await losses(opts);
    const r2 = await losses(opts);
    expect(r1.losses).toHaveLength(6);
    expect(r1.losses).toEqual(r2.losses);
    expect(maxAbsDiff(r1.weights, r2.weights)).toBe(0);
    const r3 = await losses({ ...opts, seed: 8 });
    expect(r3.losses).not.toEqual(r1.losses);
  });

  it("resumes from adapters + optimizer state exactly as the uninterrupted run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-resume-"));
    const opts = {
      train: DATA,
      batches: [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7],
      ],
      iters: 8,
      learningRate: 5e-3,
      warmupSteps: 2,
      cycles: 2,
      minLearningRate: 1e-4,
      weightDecay: 0.01,
      gradClip: 1.0,
      gradAccumulationSteps: 2,
      seed: 3,
    };
    // The uninterrupted run, checkpointing every 3 steps (3, 6 and the last, 8).
    const m1 = tinyModel(1);
    m1.addAdapters({ loraRank: 4, loraAlpha: 8, seed: 2, loraDropout: 0.1 });
    const full: number[] = [];
    await train(
      m1,
      { ...opts, reportEvery: 1, saveEvery: 3, checkpointDir: dir },
      (e) => e.type === "progress" && full.push(e.trainLoss),
    );
    const fullWeights = flatWeights(m1);
    m1.dispose();
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([3, 6, 8]);
    const cfg = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
    expect(cfg.lora_parameters.rank).toBe(4);
    // A fresh process would do exactly this: same base, same adapter config, resume from step 3.
    const m2 = tinyModel(1);
    m2.addAdapters({ loraRank: 4, loraAlpha: 8, seed: 99, loraDropout: 0.1 });
    const rest: number[] = [];
    await train(
      m2,
      { ...opts, reportEvery: 1, resumeFrom: { dir, step: 3 } },
      (e) => e.type === "progress" && rest.push(e.trainLoss),
    );
    expect(rest).toEqual(full.slice(3));
    expect(maxAbsDiff(flatWeights(m2), fullWeights)).toBe(0);
    m2.dispose();
  });

  it("cancel stops at a step boundary and checkpoints the step reached", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-cancel-"));
    const m = tinyModel(1);
    m.addAdapters({ loraRank: 4, seed: 2 });
    const trainer = new Trainer(m, {
      train: DATA,
      batches: [[0, 1, 2, 3]],
      iters: 200,
      reportEvery: 1,
      checkpointDir: dir,
    });
    const done = await trainer.run((e) => {
      if (e.type === "progress" && e.iteration === 2) trainer.cancel();
    });
    expect(done.stopReason).toBe("cancelled");
    expect(done.iteration).toBeGreaterThanOrEqual(2);
    expect(done.iteration).toBeLessThan(200);
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([done.iteration]);
    m.dispose();
  });

  it("writes step-named checkpoints and reports eval loss", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-ckpt-"));
    const m = tinyModel(2);
    m.addAdapters({ loraRank: 4, seed: 1 });
    const events: NativeTrainEvent[] = [];
    await train(
      m,
      {
        train: DATA,
        valid: DATA.slice(0, 2),
        batches: [[0, 1, 2, 3]],
        validBatches: [[0, 1]],
        iters: 4,
        saveEvery: 2,
        evalEvery: 2,
        checkpointDir: dir,
        learningRate: 1e-3,
      },
      (e) => events.push(e),
    );
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([2, 4]);
    const evals = events.filter((e) => e.type === "eval");
    expect(evals.map((e) => e.iteration)).toEqual([2, 4]);
    expect(evals.every((e) => e.type === "eval" && e.validLoss > 0)).toBe(true);
    m.dispose();
  });

  it("surfaces a memory overrun as MEDTUNE_OUT_OF_MEMORY and stays usable", async () => {
    const m = tinyModel(4);
    m.addAdapters({ loraRank: 4, seed: 1 });
    const run = train(m, {
      train: DATA,
      batches: [[0, 1, 2, 3]],
      iters: 2,
      memoryLimitBytes: 1024,
    });
    await expect(run).rejects.toMatchObject({ code: "MEDTUNE_OUT_OF_MEMORY" });
    expect(m.native.busy).toBe(false);
    const ok = await train(m, { train: DATA, batches: [[0, 1]], iters: 1 });
    expect(ok.iteration).toBe(1);
    m.dispose();
  });

  it("keeps the event loop responsive and refuses concurrent use while busy", async () => {
    const m = tinyModel(5);
    m.addAdapters({ loraRank: 4, seed: 1 });
    const many = examples(16, 2, 60);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const run = train(m, {
      train: many,
      batches: [Array.from({ length: 16 }, (_, i) => i)],
      iters: 8,
    });
    expect(m.native.busy).toBe(true);
    expect(() => m.forward(new Int32Array([1]), [1, 1])).toThrow(/busy/);
    await run;
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(3);
    m.dispose();
  });

  it("packs datasets and batches into the native layout", () => {
    const d = packDataset(DATA.slice(0, 2));
    expect(Array.from(d.offsets)).toEqual([
      0,
      DATA[0]!.tokens.length,
      DATA[0]!.tokens.length + DATA[1]!.tokens.length,
    ]);
    expect(d.lossMask.length).toBe(d.tokens.length);
    const b = packBatches([[0, 1], [2]]);
    expect(Array.from(b.indices)).toEqual([0, 1, 2]);
    expect(Array.from(b.offsets)).toEqual([0, 2, 3]);
  });
});
