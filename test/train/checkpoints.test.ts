// The checkpoint folder (src/train/checkpoints.ts): latest/ and best/ replaced whole and put back
// after a kill between renames, keep-K pruning, early stopping's counter, and exact resume — a
// tiny model's run SIGKILLed at several moments (mid-step, mid-checkpoint) and rerun ends with
// adapters byte-identical to an uninterrupted run's.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CheckpointBook,
  EarlyStopping,
  type CheckpointState,
} from "../../src/train/checkpoints.js";
import { listCheckpoints } from "../../src/train/trainer.js";

const state = (step: number): CheckpointState => ({
  step,
  microBatch: step,
  batchSize: 1,
  gradAccumulationSteps: 1,
  seed: 0,
  validLoss: null,
  bestValidLoss: null,
  evaluationsSinceBest: 0,
  config: {},
});

function fakeCheckpoint(dir: string, step: number) {
  const stem = join(dir, String(step).padStart(7, "0"));
  writeFileSync(`${stem}_adapters.safetensors`, `adapters ${step}`);
  writeFileSync(`${stem}_optimizer.safetensors`, `optimizer ${step}`);
  return {
    adapterFile: `${stem}_adapters.safetensors`,
    optimizerFile: `${stem}_optimizer.safetensors`,
  };
}

// A pid no process has (pids stay below 2^22 on Linux).
const DEAD = 4_194_999;

describe("CheckpointBook", () => {
  it("replaces latest/ and best/ whole, keeps the last K step-named pairs up to the published step", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-ckpt-"));
    const book = new CheckpointBook(dir, { keep: 2 });
    for (const step of [1, 2, 3, 4]) fakeCheckpoint(dir, step);
    book.publish("latest", fakeCheckpoint(dir, 3), state(3));
    expect(book.prune(3)).toEqual([1]);
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([2, 3, 4]); // 4 is not published yet
    book.publish("best", fakeCheckpoint(dir, 3), state(3));
    book.publish("latest", fakeCheckpoint(dir, 4), state(4));
    expect(readFileSync(join(dir, "latest", "adapters.safetensors"), "utf8")).toBe("adapters 4");
    expect(readFileSync(join(dir, "best", "optimizer.safetensors"), "utf8")).toBe("optimizer 3");
    expect(book.state("latest")?.step).toBe(4);
  });

  it("after a kill: a folder set aside comes back, a half-written one is removed", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-ckpt-"));
    mkdirSync(join(dir, `.latest-old-${DEAD}`));
    writeFileSync(join(dir, `.latest-old-${DEAD}`, "state.json"), JSON.stringify(state(7)));
    mkdirSync(join(dir, `.best-writing-${DEAD}`));
    const book = new CheckpointBook(dir, { keep: 1 });
    expect(book.state("latest")?.step).toBe(7);
    expect(existsSync(join(dir, `.best-writing-${DEAD}`))).toBe(false);
  });
});

describe("EarlyStopping", () => {
  it("stops after `patience` evaluations without a lower loss, counting across a resume", () => {
    const e = new EarlyStopping(2, null);
    expect(e.evaluated(2.0, 10)).toBe(false);
    expect(e.evaluated(1.5, 20)).toBe(false);
    expect(e.evaluated(1.6, 30)).toBe(false);
    expect([e.best, e.bestStep, e.since]).toEqual([1.5, 20, 1]);
    const resumed = new EarlyStopping(2, {
      ...state(30),
      bestValidLoss: 1.5,
      evaluationsSinceBest: 1,
    });
    expect(resumed.evaluated(1.7, 40)).toBe(true);
    expect(new EarlyStopping(null, null).evaluated(9, 1)).toBe(false);
  });
});

function runChild(dir: string, out: string, killAfter?: { checkpoint: number; delayMs: number }) {
  return new Promise<{ killed: boolean; stdout: string }>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/train/kill-child.ts", dir, out],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    let killing = false;
    child.stdout.on("data", (d: Buffer) => {
      stdout += String(d);
      if (killAfter && !killing && stdout.includes(`checkpoint ${killAfter.checkpoint}\n`)) {
        killing = true;
        setTimeout(() => child.kill("SIGKILL"), killAfter.delayMs);
      }
    });
    child.stderr.on("data", (d: Buffer) => (stderr += String(d)));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (signal === "SIGKILL") resolve({ killed: true, stdout });
      else if (code === 0) resolve({ killed: false, stdout });
      else reject(new Error(`child exited ${code}: ${stderr}`));
    });
  });
}

describe("exact resume after SIGKILL", () => {
  it("ends with adapters byte-identical to an uninterrupted run's", async () => {
    const root = mkdtempSync(join(tmpdir(), "medtune-kill-"));
    const ref = join(root, "ref.safetensors");
    await runChild(join(root, "ref"), ref);
    const expected = readFileSync(ref);
    // Kill points: right after a checkpoint event (the next step or the next write under way),
    // and a little later; each run is killed twice, then finishes.
    const points = [
      [
        { checkpoint: 1, delayMs: 0 },
        { checkpoint: 5, delayMs: 3 },
      ],
      [
        { checkpoint: 3, delayMs: 1 },
        { checkpoint: 8, delayMs: 0 },
      ],
      [
        { checkpoint: 2, delayMs: 7 },
        { checkpoint: 10, delayMs: 2 },
      ],
    ];
    let kills = 0;
    for (const [i, plan] of points.entries()) {
      const dir = join(root, `run${i}`);
      const out = join(root, `run${i}.safetensors`);
      for (const p of plan) if ((await runChild(dir, out, p)).killed) kills++;
      const last = await runChild(dir, out);
      expect(last.stdout).toContain("done");
      expect(readFileSync(out).equals(expected)).toBe(true);
      expect(JSON.parse(readFileSync(join(dir, "latest", "state.json"), "utf8")).step).toBe(12);
    }
    expect(kills).toBeGreaterThan(0);
  }, 600_000);
});
