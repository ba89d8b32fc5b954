// Control from code (src/train/session.ts) on the bundled model: pause at a step boundary (a
// checkpoint, a "paused" event), resume to the end with the same steps; every report carries a
// monitor sample; the log folder describes the run (run.json). The monitor's temperature reads
// thermal zones or says "unavailable".
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundledModelPath } from "../../src/paths.js";
import { parseTrainingConfig } from "../../src/train/config.js";
import { readTemperature, type MonitorEvent } from "../../src/train/monitor.js";
import type { NativeProgressEvent as ProgressEvent } from "../../src/native/binding.js";
import type { RunInfo } from "../../src/train/run-info.js";
import { startTraining, type SessionEvent } from "../../src/train/session.js";

describe("readTemperature", () => {
  it("takes the hottest readable zone in °C, or says unavailable", () => {
    const root = mkdtempSync(join(tmpdir(), "medtune-thermal-"));
    expect(readTemperature(root)).toBe("unavailable");
    for (const [zone, milli] of [
      ["thermal_zone0", "41000"],
      ["thermal_zone1", "57500"],
    ]) {
      mkdirSync(join(root, zone as string));
      writeFileSync(join(root, zone as string, "temp"), `${milli}\n`);
    }
    expect(readTemperature(root)).toBe(57.5);
    expect(readTemperature(join(root, "none"))).toBe("unavailable");
  });
});

const record = (id: string, q: string, a: string) =>
  JSON.stringify({
    id,
    instruction: q,
    input: "",
    output: a,
    metadata: {
      source: "drugbank",
      task: "t",
      confidence: 1,
      citations: [],
      license: "x",
      provenance: {},
    },
  });

describe("startTraining", () => {
  it("pauses at a step boundary with a checkpoint, resumes, and ends where it would have", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-session-"));
    mkdirSync(join(dir, "data"));
    writeFileSync(
      join(dir, "data", "train.jsonl"),
      [
        record("a", "What class is warfarin?", "A vitamin K antagonist."),
        record("b", "What class is atorvastatin?", "A statin (HMG-CoA reductase inhibitor)."),
      ].join("\n") + "\n",
    );
    const cfg = parseTrainingConfig(
      [
        `model: ${await bundledModelPath()}`,
        "trainData: data/train.jsonl",
        "runName: session",
        "loraRank: 4",
        "loraLayers: 1",
        "batchSize: 1",
        "maxSeqLength: 48",
        "iters: 3",
        "saveEvery: 1",
        "evalEvery: 1",
        "reportEvery: 1",
      ].join("\n"),
    );
    const run = startTraining({ config: cfg, root: dir, fresh: true });
    const seen: SessionEvent[] = [];
    for await (const e of run.events) {
      seen.push(e);
      if (e.type === "progress" && e.iteration === 1) run.pause();
      if (e.type === "paused") {
        expect(run.state).toBe("paused");
        expect(existsSync(join(dir, "checkpoints", "session", "latest", "state.json"))).toBe(true);
        run.resume();
      }
    }
    const result = await run.result;
    expect(run.state).toBe("done");
    expect(result.done.iteration).toBe(3);
    const paused = seen.find((e) => e.type === "paused");
    expect(paused).toBeDefined();
    expect(seen.some((e) => e.type === "resumed")).toBe(true);
    // Paused in place: the data was loaded (and the model with it) once, not again on resume.
    expect(seen.filter((e) => e.type === "cache")).toHaveLength(1);
    // Every step trained once: progress 1, (pause), then the rest.
    const steps = seen
      .filter((e): e is ProgressEvent => e.type === "progress")
      .map((e) => e.iteration);
    expect(new Set(steps)).toEqual(new Set([1, 2, 3]));
    const monitors = seen.filter((e): e is MonitorEvent => e.type === "monitor");
    expect(monitors.length).toBe(steps.length);
    for (const m of monitors) {
      expect(m.rssBytes).toBeGreaterThan(0);
      expect(m.mlxPeakBytes).toBeGreaterThan(0);
      expect(m.systemFreeBytes).toBeGreaterThan(0);
      expect(
        m.temperatureCelsius === "unavailable" || typeof m.temperatureCelsius === "number",
      ).toBe(true);
      expect(m.etaSeconds).toBeGreaterThanOrEqual(0);
    }
    const info = JSON.parse(
      readFileSync(join(dir, "logs", "training_logs", "session", "run.json"), "utf8"),
    ) as RunInfo;
    expect(info.gitCommit).toMatch(/^[0-9a-f]{40}$/);
    expect(info.config.runName).toBe("session");
    expect(Object.values(info.model.sha256)[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(info.data[0]?.examples).toBe(2);
  }, 900_000);
});
