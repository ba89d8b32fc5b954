// One training run end to end (src/train/run.ts) on the bundled model: a preset and JSONL splits
// in a temp dir → adapters in both layouts, a step-named checkpoint, a metrics log; a second call
// resumes from the checkpoint; bad inputs name the file and line.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundledModelPath } from "../../src/paths.js";
import { parseTrainingConfig } from "../../src/train/config.js";
import { readTrainingRecords, runTraining } from "../../src/train/run.js";

const record = (id: string, q: string, a: string) =>
  JSON.stringify({
    id,
    instruction: q,
    input: "",
    output: a,
    metadata: {
      source: "hetionet",
      task: "hetionet.CtD",
      confidence: 1,
      citations: ["Hetionet:CtD"],
      license: "CC0-1.0",
      provenance: {},
    },
  });

async function workspace() {
  const dir = mkdtempSync(join(tmpdir(), "medtune-run-"));
  mkdirSync(join(dir, "data"));
  writeFileSync(
    join(dir, "data", "train.jsonl"),
    [
      record("a", "What does metformin treat?", "Metformin treats type 2 diabetes mellitus."),
      record("b", "What does imatinib treat?", "Imatinib treats chronic myeloid leukemia."),
      record(
        "c",
        "What does sildenafil treat?",
        "Sildenafil treats erectile dysfunction and pulmonary arterial hypertension.",
      ),
      JSON.stringify({
        id: "d",
        messages: [
          { role: "user", content: "Is aspirin an NSAID?" },
          { role: "assistant", content: "Yes." },
        ],
      }),
    ].join("\n") + "\n",
  );
  writeFileSync(
    join(dir, "data", "valid.jsonl"),
    record("v", "What does warfarin treat?", "Warfarin prevents venous thromboembolism.") + "\n",
  );
  const model = await bundledModelPath();
  const yaml = `model: ${model}
modelConfig: null
trainData: data/train.jsonl
validData: data/valid.jsonl
runName: unit
loraRank: 4
loraAlpha: 8
loraDropout: 0.0
loraKeys: [self_attn.q_proj, self_attn.v_proj]
loraLayers: 2
quantizeBits: null
learningRate: 1.0e-3
minLearningRate: 1.0e-4
warmupSteps: 1
schedule: cosine
cycles: 1
weightDecay: 0.0
gradClip: 1.0
batchSize: 2
gradAccumulationSteps: 1
maxSeqLength: 64
iters: 2
evalEvery: 2
evalBatches: 1
saveEvery: 1
reportEvery: 1
seed: 0
gradCheckpointing: false
memoryLimitBytes: null
`;
  return { dir, config: parseTrainingConfig(yaml, join(dir, "unit.yaml")) };
}

describe("runTraining", () => {
  it("trains, writes adapters in both layouts, checkpoints and metrics, then resumes", async () => {
    const { dir, config } = await workspace();
    const first = await runTraining(config, { baseDir: dir, resume: false });
    expect(first.done.iteration).toBe(2);
    expect(first.trainExamples).toBe(4);
    expect(Number.isFinite(first.done.trainLoss)).toBe(true);
    expect(existsSync(join(first.adapterDirs.mlx, "adapters.safetensors"))).toBe(true);
    expect(existsSync(join(first.adapterDirs.mlx, "adapter_config.json"))).toBe(true);
    expect(existsSync(join(first.adapterDirs.peft, "adapter_model.safetensors"))).toBe(true);
    expect(existsSync(join(dir, "checkpoints", "unit", "0000002_adapters.safetensors"))).toBe(true);
    const lines = readFileSync(first.metricsFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; run: string });
    expect(lines.filter((l) => l.type === "progress")).toHaveLength(2);
    expect(lines.some((l) => l.type === "eval")).toBe(true);
    expect(lines.every((l) => l.run === "unit")).toBe(true);

    const resumed = await runTraining(config, { baseDir: dir, iters: 3 });
    expect(resumed.resumedFromStep).toBe(2);
    expect(resumed.done.iteration).toBe(3);
    const progress = resumed.events.filter((e) => e.type === "progress");
    expect(progress.map((e) => e.iteration)).toEqual([3]);
  });

  it("says how to make missing training data", async () => {
    const { dir, config } = await workspace();
    await expect(
      runTraining({ ...config, trainData: "data/nope.jsonl" }, { baseDir: dir }),
    ).rejects.toThrow(/nope\.jsonl: training data not found — run `medtune ingest`/);
  });

  it("names the file and line of a malformed record", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-run-"));
    const file = join(dir, "bad.jsonl");
    writeFileSync(file, `${record("a", "q?", "a.")}\n{"id": "b", "instruction": 3}\n`);
    expect(() => readTrainingRecords(file)).toThrow(
      new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2`),
    );
  });
});
