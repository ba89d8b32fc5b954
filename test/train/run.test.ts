// One training run end to end (src/train/run.ts) on the bundled model: a preset and JSONL splits
// in a temp dir → adapters in both layouts, a step-named checkpoint, a metrics log; a second call
// resumes from the checkpoint; bad inputs name the file and line; an empty training split is an
// error before the model loads; `medtune train` stopped by SIGTERM writes a checkpoint, exits 143,
// and a rerun resumes from it; a killed run's temporaries are removed by the next one.
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundledModelPath, projectPaths } from "../../src/paths.js";
import { parseTrainingConfig } from "../../src/train/config.js";
import type { NativeProgressEvent as ProgressEvent } from "../../src/native/binding.js";
import {
  readTrainingRecords,
  runTraining,
  type CacheEvent,
  type SafetyEvent,
} from "../../src/train/run.js";
import { hetionetRecord } from "./records.js";

const record = (id: string, q: string, a: string) => JSON.stringify(hetionetRecord(id, q, a));

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
  return { dir, yaml, config: parseTrainingConfig(yaml, join(dir, "unit.yaml")) };
}

describe("runTraining", () => {
  it("trains, writes adapters in both layouts, checkpoints and metrics, then resumes", async () => {
    const { dir, config } = await workspace();
    const first = await runTraining({ config, root: dir, fresh: true });
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

    const resumed = await runTraining({ config, root: dir, iters: 3 });
    expect(resumed.resumedFromStep).toBe(2);
    expect(resumed.done.iteration).toBe(3);
    const progress = resumed.events.filter((e): e is ProgressEvent => e.type === "progress");
    // The second run read both splits from the tokenized cache the first one wrote.
    const cache = (r: typeof first) => r.events.filter((e): e is CacheEvent => e.type === "cache");
    expect(cache(first).map((e) => `${e.split} ${e.status}`)).toEqual(["train miss", "valid miss"]);
    expect(cache(resumed).map((e) => `${e.split} ${e.status}`)).toEqual(["train hit", "valid hit"]);
    expect(progress.map((e) => e.iteration)).toEqual([3]);
  }, 600_000); // two model loads and three steps: minutes on a loaded 2-core machine

  it("runs the safety probe between steps and resumes where it stopped", async () => {
    const { dir, config } = await workspace();
    const r = await runTraining({
      config: { ...config, runName: "probe", iters: 3, safetyProbeEvery: 1, validData: null },
      root: dir,
      fresh: true,
    });
    expect(r.done.iteration).toBe(3);
    expect(r.done.stopReason).toBe("completed");
    const safety = r.events.filter((e): e is SafetyEvent => e.type === "safety");
    expect(safety.length).toBeGreaterThanOrEqual(1);
    for (const s of safety) {
      expect(s.iteration).toBeLessThan(3);
      expect(s.meanSafetyScore).toBeGreaterThanOrEqual(0);
      expect(s.meanSafetyScore).toBeLessThanOrEqual(1);
    }
    // Every step trained exactly once across the probe's stop and resume.
    const steps = r.events
      .filter((e): e is ProgressEvent => e.type === "progress")
      .map((e) => e.iteration);
    expect(steps).toEqual([1, 2, 3]);
  }, 900_000);

  it("says how to make missing training data", async () => {
    const { dir, config } = await workspace();
    await expect(
      runTraining({ config: { ...config, trainData: "data/nope.jsonl" }, root: dir }),
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

  it("an empty training split is an error naming the file, before the model is loaded", async () => {
    const { dir, config } = await workspace();
    writeFileSync(join(dir, "data", "train.jsonl"), "\n");
    // A model path that does not exist: the data error must come first.
    const run = runTraining({
      config: { ...config, model: join(dir, "no-model.gguf") },
      root: dir,
    });
    await expect(run).rejects.toThrow(/train\.jsonl: no training records \(the file is empty\)/);
    await expect(run).rejects.toThrow(/medtune augment/);
    expect(existsSync(join(dir, "checkpoints"))).toBe(false);
  });

  it("removes the temporaries a killed run left in its checkpoint folder", async () => {
    const { dir, config } = await workspace();
    const ckpt = join(dir, "checkpoints", "unit");
    mkdirSync(ckpt, { recursive: true });
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!; // a pid that has exited
    const leftovers = [
      `0000001_adapters.safetensors.tmp-${dead}.safetensors`, // the native writer's name
      `adapter_config.json.tmp-${dead}-0a1b2c3d`, // fs-atomic's name
    ];
    for (const f of leftovers) writeFileSync(join(ckpt, f), "partial");
    const live = `adapter_config.json.tmp-${process.pid}-feedbeef`;
    writeFileSync(join(ckpt, live), "being written");
    await runTraining({ config: { ...config, iters: 1, evalEvery: 0 }, root: dir, fresh: true });
    const names = readdirSync(ckpt);
    for (const f of leftovers) expect(names).not.toContain(f);
    expect(names).toContain("0000001_adapters.safetensors");
  });
});

describe("medtune train and SIGTERM", () => {
  it("stops at the next step, writes a checkpoint, exits 143; a rerun resumes", async () => {
    const { dir, yaml } = await workspace();
    const runName = `test-sigterm-${process.pid}`;
    const made = [
      "checkpoints",
      "logs/training_logs",
      "logs/tensorboard",
      "models/lora_adapters",
    ].map((d) => join(projectPaths.root, d, runName));
    // Paths in a preset are relative to the project root: point them at the temp data.
    const file = join(dir, "sigterm.yaml");
    writeFileSync(
      file,
      yaml
        .replace("trainData: data/train.jsonl", `trainData: ${join(dir, "data", "train.jsonl")}`)
        .replace("validData: data/valid.jsonl", `validData: ${join(dir, "data", "valid.jsonl")}`)
        .replace("runName: unit", `runName: ${runName}`)
        .replace("iters: 2", "iters: 100000")
        .replace("saveEvery: 1", "saveEvery: 100000")
        .replace("evalEvery: 2", "evalEvery: 100000"),
    );
    const cli = ["--import", "tsx", join(projectPaths.root, "src", "cli.ts"), "train"];
    let out = "";
    try {
      const child = spawn(process.execPath, [...cli, "--config", file, "--fresh"], {
        cwd: projectPaths.root,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let err = "";
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          // After a few steps, as `timeout`, systemd or a scheduler would.
          if (/step +3 +loss/.test(out)) resolve();
        });
        child.on("exit", () => reject(new Error(`train exited early:\n${out}\n${err}`)));
      });
      child.kill("SIGTERM");
      const code = await exited;
      expect(code, `${out}\n${err}`).toBe(143);
      expect(out).toMatch(/cancelled: \d+ steps/);
      expect(out).toMatch(/stopped by SIGTERM; rerun to resume/);
      const step = Number(/cancelled: (\d+) steps/.exec(out)![1]);
      expect(step).toBeGreaterThanOrEqual(3);
      const ckpt = made[0]!;
      const stepFile = `${String(step).padStart(7, "0")}_adapters.safetensors`;
      expect(readdirSync(ckpt)).toContain(stepFile);
      expect(readdirSync(ckpt).filter((n) => n.includes(".tmp-"))).toEqual([]);

      const again = spawnSync(
        process.execPath,
        [...cli, "--config", file, "--iters", String(step + 1)],
        { cwd: projectPaths.root, encoding: "utf8", timeout: 300_000 },
      );
      expect(again.status, again.stderr).toBe(0);
      expect(again.stdout).toContain(`(resumed from step ${step})`);
      expect(again.stdout).toMatch(new RegExp(`completed: ${step + 1} steps`));
    } finally {
      for (const d of made) rmSync(d, { recursive: true, force: true });
      // The tokenized cache files it wrote into data/cache/tokenized (named in its cache lines).
      for (const m of out.matchAll(/tokenized \w+: cache \w+ .* (\S+\.tok)$/gm))
        rmSync(m[1]!, { force: true });
    }
  }, 600_000);
});
