// Memory of a training step and the dynamic micro-batch (src/train/memory.ts, src/train/run.ts):
// the estimate against a real step of the bundled model (within 25%); halved micro-batches with
// doubled accumulation give the same update; a run whose step crosses memoryLimitBytes halves its
// micro-batch (a "batch" event) and ends with the adapters of the run that had the memory; at
// micro-batch 1 the error names memoryLimitBytes.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadNative } from "../../src/native/loader.js";
import { bundledModelPath } from "../../src/paths.js";
import type { TrainingConfig } from "../../src/train/config.js";
import { LORA_MODULES } from "../../src/train/modules.js";
import {
  estimateStepPeakBytes,
  fusedCpuKernelsInUse,
  splitMicroBatches,
} from "../../src/train/memory.js";
import { Model } from "../../src/train/model.js";
import { runTraining } from "../../src/train/run.js";
import { train, Trainer } from "../../src/train/trainer.js";
import { examples, maxAbsDiff, tinyModel } from "./native-helpers.js";
import { readSafetensors } from "./weights-io.js";
import { hetionetRecord } from "./records.js";

describe("estimateStepPeakBytes", () => {
  it("is within 25% of a real step's peak on the bundled model (7 projections, rank 16)", async () => {
    const model = await Model.load(await bundledModelPath());
    try {
      model.addAdapters({ loraRank: 16, loraAlpha: 32, loraKeys: [...LORA_MODULES] });
      const mlx = loadNative();
      mlx.clearCache();
      const resident = mlx.memory().activeBytes;
      const [B, L] = [1, 128];
      const tokens = new Int32Array(B * L).map((_, i) => 100 + ((i * 7919) % 40000));
      const done = await train(model, {
        train: { tokens, offsets: Int32Array.of(0, L), lossMask: new Float32Array(L).fill(1) },
        batches: { indices: Int32Array.of(0), offsets: Int32Array.of(0, 1) },
        iters: 1,
        maxSeqLength: L,
      });
      const estimate = estimateStepPeakBytes({
        modelBytes: resident,
        config: model.config,
        batchSize: B,
        seqLength: L,
        fusedCpuKernels: fusedCpuKernelsInUse(),
      });
      // The step's own part (peak above the resident model) is what the formula models.
      const real = done.peakMemoryBytes - resident;
      const est = estimate - resident;
      expect(Math.abs(est - real) / real).toBeLessThan(0.25);
    } finally {
      model.dispose();
    }
  }, 600_000);
});

describe("splitMicroBatches", () => {
  it("halves in order and completes a one-example micro-batch with the filler", () => {
    expect(splitMicroBatches([[0, 1, 2], [3]], 9)).toEqual([[0, 1], [2], [3], [9]]);
  });

  it("keeps the update: B=2 × 1 and B=1 × 2 (with a filler) end with the same adapters", async () => {
    const data = examples(5, 3);
    const filler = { tokens: Int32Array.of(0, 0), supervised: new Uint8Array(2) };
    const batches = [[0, 1], [2, 3], [4]];
    const run = async (accum: number, b: number[][]) => {
      const m = tinyModel(7);
      m.addAdapters({ loraRank: 4, loraAlpha: 8, seed: 1 });
      await new Trainer(m, {
        train: [...data, filler],
        batches: b,
        iters: 3,
        gradAccumulationSteps: accum,
        maxSeqLength: 32,
        learningRate: 1e-2,
      }).run();
      const w = m.native.getAdapterWeights();
      m.dispose();
      return w;
    };
    const whole = await run(1, batches);
    const halves = await run(2, splitMicroBatches(batches, data.length));
    for (const [name, w] of Object.entries(whole)) {
      expect(maxAbsDiff(w.b, halves[name]!.b)).toBeLessThan(1e-5);
      expect(maxAbsDiff(w.a, halves[name]!.a)).toBeLessThan(1e-5);
    }
  });
});

const record = (id: string, q: string, a: string) => JSON.stringify(hetionetRecord(id, q, a));

async function workspace(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "medtune-memory-"));
  mkdirSync(join(dir, "data"));
  writeFileSync(
    join(dir, "data", "train.jsonl"),
    [
      record("a", "What does metformin treat?", "Type 2 diabetes mellitus."),
      record("b", "What does imatinib treat?", "Chronic myeloid leukemia."),
      record("c", "What does warfarin prevent?", "Venous thromboembolism."),
      record("d", "What does sildenafil treat?", "Erectile dysfunction."),
    ].join("\n") + "\n",
  );
  return dir;
}

describe("runTraining with memoryLimitBytes", () => {
  it("halves the micro-batch on the trainer's out-of-memory error and keeps the update", async () => {
    const dir = await workspace();
    const model = await bundledModelPath();
    const config = (batchSize: number, memoryLimitBytes: number | null, runName: string) => ({
      ...baseConfig(model),
      batchSize,
      memoryLimitBytes,
      runName,
    });
    const roomy = await runTraining({ config: config(2, null, "roomy"), root: dir });
    const single = await runTraining({ config: config(1, null, "single"), root: dir });
    const budget = Math.round((roomy.done.peakMemoryBytes + single.done.peakMemoryBytes) / 2);
    const tight = await runTraining({
      config: config(2, budget, "tight"),
      root: dir,
      memoryEstimate: false,
    });
    const batch = tight.events.filter((e) => e.type === "batch");
    expect(batch).toHaveLength(1);
    expect(batch[0]).toMatchObject({ reason: "out-of-memory", fromBatchSize: 2, batchSize: 1 });
    expect(tight.batchSize).toBe(1);
    expect(tight.gradAccumulationSteps).toBe(2);
    expect(tight.done.iteration).toBe(2);
    expect(tight.done.peakMemoryBytes).toBeLessThanOrEqual(budget);
    const a = readSafetensors(join(roomy.adapterDirs.mlx, "adapters.safetensors"));
    const b = readSafetensors(join(tight.adapterDirs.mlx, "adapters.safetensors"));
    expect(a.size).toBeGreaterThan(0);
    for (const [name, t] of a) expect(maxAbsDiff(t.data, b.get(name)!.data)).toBeLessThan(1e-4);

    // The estimate alone: a budget below one sequence's step fails at micro-batch 1, naming the key.
    await expect(
      runTraining({ config: config(2, single.done.peakMemoryBytes - 2 ** 20, "tiny"), root: dir }),
    ).rejects.toThrow(/memoryLimitBytes/);
  }, 600_000);
});

function baseConfig(model: string): TrainingConfig {
  return {
    model,
    modelConfig: null,
    trainData: "data/train.jsonl",
    validData: null,
    datasets: null,
    examples: null,
    systemPrompt: null,
    runName: "x",
    loraRank: 4,
    loraAlpha: 8,
    loraDropout: 0,
    loraKeys: [...LORA_MODULES],
    loraLayers: 2,
    rsLora: false,
    dora: false,
    quantizeBits: null,
    quantizeGroupSize: 64,
    learningRate: 1e-3,
    minLearningRate: 1e-4,
    warmupSteps: 0,
    schedule: "cosine",
    cycles: 1,
    weightDecay: 0,
    adamBeta1: 0.9,
    adamBeta2: 0.999,
    adamEps: 1e-8,
    gradClip: 1,
    batchSize: 2,
    gradAccumulationSteps: 1,
    maxSeqLength: 64,
    iters: 2,
    epochs: null,
    evalEvery: 10,
    evalBatches: 1,
    saveEvery: 1,
    keepCheckpoints: 3,
    patience: null,
    safetyProbeEvery: null,
    reportEvery: 1,
    seed: 0,
    gradCheckpointing: false,
    memoryLimitBytes: null,
    medicalAccuracyItems: 0,
    medicalAccuracyEveryEpoch: true,
  };
}
