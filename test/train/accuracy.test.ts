// Medical accuracy during training (src/train/accuracy.ts, src/train/run.ts): epoch-end steps, the
// fixed seeded item subset, a measurement on the bundled model checked against option scores
// computed here, and a two-epoch run that measures before step 1, at the first epoch's end and at
// the end, logs the figures to metrics.jsonl and TensorBoard, and trains every step exactly once.
//   npx vitest run test/train/accuracy.test.ts
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import type { InstructionRecord } from "../../src/data/record.js";
import { ChatPrompter, scoreOptions } from "../../src/evaluate/likelihood.js";
import type { NativeProgressEvent } from "../../src/native/binding.js";
import { bundledModelPath, projectPaths } from "../../src/paths.js";
import {
  epochEndSteps,
  measureMedicalAccuracy,
  planMedicalAccuracy,
  type AccuracyEvent,
} from "../../src/train/accuracy.js";
import { parseFlags } from "../../src/cli-flags.js";
import { overridesFromFlags, SPEC } from "../../src/train/cli.js";
import { loadTrainingConfig, parseTrainingConfig } from "../../src/train/config.js";
import { Model } from "../../src/train/model.js";
import { runTraining } from "../../src/train/run.js";

/** A Hetionet-style yes/no record with its fact, as ingest writes them. */
const yesNo = (id: string, drug: string, disease: string, yes: boolean): InstructionRecord => ({
  id,
  instruction: `Does ${drug} treat ${disease}?`,
  input: "",
  output: yes ? `Yes. ${drug} treats ${disease}.` : `No. ${drug} is not known to treat ${disease}.`,
  metadata: {
    source: "hetionet",
    task: `hetionet.CtD.${yes ? "yes" : "no"}`,
    confidence: 1,
    citations: ["Hetionet:CtD"],
    license: "CC0-1.0",
    provenance: {},
    facts: [{ subject: drug, relation: "treats", object: disease, negated: !yes }],
  },
});

const valid = [
  yesNo("v1", "Metformin", "type 2 diabetes mellitus", true),
  yesNo("v2", "Imatinib", "chronic myeloid leukemia", true),
  yesNo("v3", "Warfarin", "psoriasis", false),
  yesNo("v4", "Atorvastatin", "migraine", false),
];

describe("epochEndSteps", () => {
  it("puts epoch k's end in step ⌈k × micro-batches per epoch / accumulation⌉, before the last", () => {
    expect(epochEndSteps(25, 2, 50)).toEqual([13, 25, 38]);
    expect(epochEndSteps(2, 1, 4)).toEqual([2]);
    expect(epochEndSteps(50, 2, 25)).toEqual([]); // one epoch: only the run's end
  });
});

describe("planMedicalAccuracy", () => {
  it("picks a fixed seeded subset (yes/no: half the items, as evaluate's knowledge task); chat records and 0 give none", () => {
    const chat = { id: "c", messages: [{ role: "user", content: "hi" }] };
    const a = planMedicalAccuracy([...valid, chat], 6, 7);
    expect(a).toHaveLength(3);
    expect(planMedicalAccuracy([...valid, chat], 6, 7)).toEqual(a);
    for (const p of a) {
      expect(p.item.options).toEqual(["Yes", "No"]);
      const r = valid.find((v) => v.id === p.item.id)!;
      expect(p.item.answer).toBe(r.output.startsWith("Yes") ? 0 : 1);
    }
    expect(planMedicalAccuracy(valid, 0, 7)).toEqual([]);
  });
});

describe("medical accuracy settings", () => {
  it("are preset keys with a range, and a --no- flag turns the per-epoch measurement off", async () => {
    expect(() =>
      parseTrainingConfig("model: m\ntrainData: t\niters: 1\nmedicalAccuracyItems: -2", "p.yaml"),
    ).toThrow(/p\.yaml:4 medicalAccuracyItems: expected an integer ≥ 0, got -2/);
    const preset = await loadTrainingConfig(
      join(projectPaths.configs, "training_configs", "quick_test.yaml"),
    );
    expect(preset.medicalAccuracyItems).toBe(16);
    expect(preset.medicalAccuracyEveryEpoch).toBe(true);
    const p = parseFlags(["--preset", "quick_test", "--no-medical-accuracy-every-epoch"], SPEC);
    expect(p.kind).toBe("ok");
    if (p.kind === "ok")
      expect(overridesFromFlags(p.values)).toEqual({ medicalAccuracyEveryEpoch: false });
  });
});

describe("measureMedicalAccuracy", () => {
  it("counts an item correct when its gold option has the highest log-prob", async () => {
    const model = await Model.load(await bundledModelPath());
    try {
      const chat = await ChatPrompter.forModel(model.source);
      const items = planMedicalAccuracy(valid, 8, 0); // the 4 yes/no records
      const r = await measureMedicalAccuracy(model, chat, items, { iteration: 3, epoch: 1.5 });
      let correct = 0;
      let gold = 0;
      for (const { item } of items) {
        const ids = item.options.map((o) => chat.completion(item.question, o));
        const s = await scoreOptions(model, chat.prompt(item.question), ids);
        const lp = s.map((x) => x.logprob);
        if (lp.indexOf(Math.max(...lp)) === item.answer) correct++;
        const z = lp.reduce((acc, x) => acc + Math.exp(x - Math.max(...lp)), 0);
        gold += Math.exp(lp[item.answer]! - Math.max(...lp)) / z;
      }
      expect(r).toMatchObject({ type: "accuracy", iteration: 3, epoch: 1.5, items: 4, correct });
      expect(r.accuracy).toBe(correct / 4);
      expect(r.meanGoldProbability).toBeCloseTo(gold / 4, 3);
      expect(r.seconds).toBeGreaterThan(0);
    } finally {
      model.dispose();
    }
  }, 300_000);
});

describe("runTraining medical accuracy", () => {
  it("measures before training, at the first epoch's end and at the end, in the result, metrics and TensorBoard", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-accuracy-"));
    mkdirSync(join(dir, "data"));
    const train = [
      yesNo("t1", "Sildenafil", "erectile dysfunction", true),
      yesNo("t2", "Aspirin", "glaucoma", false),
      yesNo("t3", "Levothyroxine", "hypothyroidism", true),
      yesNo("t4", "Omeprazole", "asthma", false),
    ];
    const jsonl = (rs: InstructionRecord[]) => rs.map((r) => JSON.stringify(r)).join("\n") + "\n";
    writeFileSync(join(dir, "data", "train.jsonl"), jsonl(train));
    writeFileSync(join(dir, "data", "valid.jsonl"), jsonl(valid));
    const config = parseTrainingConfig(
      [
        `model: ${await bundledModelPath()}`,
        "trainData: data/train.jsonl",
        "validData: data/valid.jsonl",
        "runName: accuracy",
        "loraRank: 4",
        "loraLayers: 1",
        "batchSize: 2",
        "maxSeqLength: 64",
        "epochs: 2 # 2 micro-batches per epoch: epoch 1 ends at step 2 of 4",
        "saveEvery: 1",
        "evalEvery: 2",
        "reportEvery: 1",
        "medicalAccuracyItems: 6 # yes/no only here: 3 items",
      ].join("\n"),
    );
    const r = await runTraining({ config, root: dir, fresh: true });
    expect(r.done).toMatchObject({ iteration: 4, stopReason: "completed" });
    expect(r.medicalAccuracy.map((e) => [e.iteration, e.epoch, e.items])).toEqual([
      [0, 0, 3],
      [2, 1, 3],
      [4, 2, 3],
    ]);
    for (const e of r.medicalAccuracy) expect(e.correct).toBe(Math.round(e.accuracy * 3));
    const steps = r.events
      .filter((e): e is NativeProgressEvent => e.type === "progress")
      .map((e) => e.iteration);
    expect(steps).toEqual([1, 2, 3, 4]); // stopped and resumed for the measurement, exactly
    const logged = readFileSync(r.metricsFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as AccuracyEvent | { type: string })
      .filter((e): e is AccuracyEvent => e.type === "accuracy");
    expect(logged.map((e) => e.accuracy)).toEqual(r.medicalAccuracy.map((e) => e.accuracy));

    const python = resolve(".venv/bin/python");
    if (existsSync(python)) {
      const read = spawnSync(
        python,
        [
          "-c",
          [
            "import json, sys",
            "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator",
            "ea = EventAccumulator(sys.argv[1]); ea.Reload()",
            "print(json.dumps([[s.step, s.value] for s in ea.Scalars('accuracy/medical')]))",
          ].join("\n"),
          join(dir, "logs", "tensorboard", "accuracy"),
        ],
        { encoding: "utf8" },
      );
      expect(read.status, read.stderr).toBe(0);
      const points = JSON.parse(read.stdout.trim().split("\n").at(-1)!) as number[][];
      expect(points.map((p) => p[0])).toEqual([0, 2, 4]);
      points.forEach((p, i) => expect(p[1]).toBeCloseTo(r.medicalAccuracy[i]!.accuracy, 5));
    }
  }, 600_000);
});
