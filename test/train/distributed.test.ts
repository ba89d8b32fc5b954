// Data-parallel training over MLX's ring backend on localhost: 2 ranks end with the same adapters
// (to float tolerance) as one process training the same global batch, rank 0 alone writes the
// checkpoints (recording the world size), a failing rank takes the others down with an error that
// names it, and no rank outlives the launcher; `medtune train --ranks 2` on the bundled model ends
// with the adapters of the same command run alone.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundledModelPath, projectPaths } from "../../src/paths.js";
import {
  joinGroup,
  launchRanks,
  RankFailedError,
  readHostfile,
  type RankExit,
} from "../../src/train/distributed.js";
import { readSafetensors } from "./weights-io.js";
import { hetionetRecord } from "./records.js";

const CHILD = [process.execPath, "--import", "tsx", "test/train/distributed-child.ts"];

interface ChildResult {
  weights: number[];
  losses: number[];
  validLosses: number[];
  tokensPerSecond: number[];
  seconds: number;
  done: { worldSize: number; rank: number; iteration: number };
}

const read = (file: string) => JSON.parse(readFileSync(file, "utf8")) as ChildResult;
const maxAbsDiff = (a: readonly number[], b: readonly number[]) => {
  expect(a.length).toBe(b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - (b[i] as number))), 0);
};
const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function expectAllGone(ranks: readonly RankExit[]): void {
  for (const r of ranks) expect(alive(r.pid), `rank ${r.rank} (pid ${r.pid})`).toBe(false);
}

/** The safetensors header's __metadata__ of `file`. */
function metadata(file: string): Record<string, string> {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as {
    __metadata__?: Record<string, string>;
  };
  return header.__metadata__ ?? {};
}

function runSingle(dir: string): Promise<void> {
  return launchRanks({
    ranks: 1,
    command: [...CHILD, dir],
    rankArgs: () => [],
    onOutput: () => {},
  }).then((r) => expect(r.exitCode).toBe(0));
}

describe("distributed training (ring backend, localhost)", () => {
  it("2 ranks end with the adapters of 1 process training the same global batch", async () => {
    const single = mkdtempSync(join(tmpdir(), "medtune-dist1-"));
    const double = mkdtempSync(join(tmpdir(), "medtune-dist2-"));
    await runSingle(single);
    const r = await launchRanks({ ranks: 2, command: [...CHILD, double], onOutput: () => {} });
    expect(r.exitCode).toBe(0);
    expect(r.ranks.map((x) => x.exitCode)).toEqual([0, 0]);
    expectAllGone(r.ranks);

    const one = read(join(single, "result-single.json"));
    const [r0, r1] = [read(join(double, "result-0.json")), read(join(double, "result-1.json"))];
    expect(one.done.worldSize).toBe(1);
    expect([r0.done.worldSize, r1.done.worldSize]).toEqual([2, 2]);
    expect([r0.done.rank, r1.done.rank]).toEqual([0, 1]);
    // The ranks apply the same summed update: bit-identical to each other.
    expect(maxAbsDiff(r0.weights, r1.weights)).toBe(0);
    // Against one process only the order of the gradient sum differs (float32 rounding).
    const diff = maxAbsDiff(one.weights, r0.weights);
    expect(diff).toBeLessThan(1e-5);
    expect(maxAbsDiff(one.losses, r0.losses)).toBeLessThan(1e-5);
    expect(maxAbsDiff(one.validLosses, r0.validLosses)).toBeLessThan(1e-5);
    expect(r0.losses).toHaveLength(4);
    expect(r1.losses).toEqual(r0.losses); // the global mean on every rank
    // Rank 0 wrote the checkpoints, and they record the world size.
    const opt = metadata(join(double, "checkpoints", "0000004_optimizer.safetensors"));
    expect(opt.worldSize).toBe("2");
    expect(metadata(join(single, "checkpoints", "0000004_optimizer.safetensors")).worldSize).toBe(
      "1",
    );
    console.log(
      `2 ranks vs 1 process: max |Δ adapter| ${diff.toExponential(2)}; losses 1 process ` +
        `${one.losses.map((x) => x.toFixed(6)).join(", ")} | 2 ranks ${r0.losses.map((x) => x.toFixed(6)).join(", ")}; ` +
        `mean tokens/s ${mean(one.tokensPerSecond).toFixed(0)} (1 process) vs ${mean(r0.tokensPerSecond).toFixed(0)} (2 ranks, global)`,
    );
  }, 120_000);

  it("a run checkpointed by 2 ranks resumes in 1 process (the world size may change)", async () => {
    const single = mkdtempSync(join(tmpdir(), "medtune-dist1-"));
    const mixed = mkdtempSync(join(tmpdir(), "medtune-distmix-"));
    await runSingle(single);
    const first = await launchRanks({
      ranks: 2,
      command: [...CHILD, mixed],
      env: { ...process.env, MEDTUNE_TEST_STOP_AT: "2" },
      onOutput: () => {},
    });
    expect(first.exitCode).toBe(0);
    expect(read(join(mixed, "result-0.json")).done.iteration).toBe(2);
    expect(metadata(join(mixed, "checkpoints", "0000002_optimizer.safetensors")).worldSize).toBe(
      "2",
    );
    const r = await launchRanks({
      ranks: 1,
      command: [...CHILD, mixed, "--resume"],
      rankArgs: () => [],
      onOutput: () => {},
    });
    expect(r.exitCode).toBe(0);
    const resumed = read(join(mixed, "result-single.json"));
    expect(resumed.done.iteration).toBe(4);
    expect(resumed.losses).toHaveLength(2); // steps 3 and 4
    const diff = maxAbsDiff(read(join(single, "result-single.json")).weights, resumed.weights);
    expect(diff).toBeLessThan(1e-5);
  }, 120_000);

  it("a failing rank stops the others with an error naming it, leaving no process behind", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-distfail-"));
    const err = await launchRanks({
      ranks: 2,
      command: [...CHILD, dir],
      env: { ...process.env, MEDTUNE_TEST_FAIL_RANK: "1" },
      onOutput: () => {},
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RankFailedError);
    const e = err as RankFailedError;
    expect(e.message).toMatch(/rank 1 of 2 was killed by SIGKILL, so the other ranks were stopped/);
    expect(e.message).toMatch(/simulated failure after step 1/);
    expect(e.ranks).toHaveLength(2);
    expectAllGone(e.ranks);
  }, 120_000);

  it("reads the ring hostfile and names the bad entry", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-hosts-"));
    const good = join(dir, "good.json");
    writeFileSync(good, JSON.stringify([["10.0.0.1:5000"], ["10.0.0.2:5000", "10.0.1.2:5000"]]));
    expect(readHostfile(good)).toHaveLength(2);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify([["10.0.0.1:5000"], ["10.0.0.2"]]));
    expect(() => readHostfile(bad)).toThrow(
      /bad\.json: entry 1 \(rank 1\) must be a non-empty list of "ip:port"/,
    );
    writeFileSync(bad, "{");
    expect(() => readHostfile(bad)).toThrow(/bad\.json: cannot read the hostfile as JSON/);
    expect(() => joinGroup({ hostfile: good, rank: 2 })).toThrow(
      /the rank must be an integer in \[0, 2\)/,
    );
  });

  it("`medtune train --ranks 2` on the bundled model equals the same command run alone", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-dist-cli-"));
    mkdirSync(join(dir, "data"));
    const rec = (id: string, q: string, a: string) => JSON.stringify(hetionetRecord(id, q, a));
    writeFileSync(
      join(dir, "data", "train.jsonl"),
      [
        rec("a", "What does metformin treat?", "Metformin treats type 2 diabetes mellitus."),
        rec("b", "What does imatinib treat?", "Imatinib treats chronic myeloid leukemia."),
        rec("c", "What does warfarin prevent?", "Warfarin prevents venous thromboembolism."),
        rec(
          "d",
          "What does sildenafil treat?",
          "Sildenafil treats pulmonary arterial hypertension.",
        ),
      ].join("\n") + "\n",
    );
    const tag = `${process.pid}-${Date.now()}`;
    const runs = { one: `dist-cli-one-${tag}`, two: `dist-cli-two-${tag}` };
    const model = await bundledModelPath();
    const yaml = (runName: string) => `model: ${model}
trainData: ${join(dir, "data", "train.jsonl")}
validData: null
runName: ${runName}
loraRank: 4
loraAlpha: 8
loraKeys: [self_attn.q_proj, self_attn.v_proj]
loraLayers: 2
learningRate: 1.0e-3
warmupSteps: 1
batchSize: 1
gradAccumulationSteps: 2
maxSeqLength: 64
iters: 2
evalEvery: 2
saveEvery: 1
reportEvery: 1
`;
    const made = Object.values(runs).flatMap((r) =>
      ["checkpoints", "logs/training_logs", "logs/tensorboard", "models/lora_adapters"].map((d) =>
        join(projectPaths.root, d, r),
      ),
    );
    const cli = ["--import", "tsx", join(projectPaths.root, "src", "cli.ts"), "train"];
    const run = (name: keyof typeof runs, extra: string[]) => {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, yaml(runs[name]));
      const r = spawnSync(process.execPath, [...cli, "--config", file, "--fresh", ...extra], {
        cwd: projectPaths.root,
        encoding: "utf8",
        timeout: 400_000,
      });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      return r.stdout;
    };
    try {
      run("one", []);
      const out = run("two", ["--ranks", "2"]);
      expect(out).toMatch(/step +2 +loss/); // rank 0's lines reach the terminal
      expect(out).toMatch(/completed: 2 steps/);
      const adapters = (r: string) =>
        readSafetensors(
          join(projectPaths.root, "models/lora_adapters", r, "mlx", "adapters.safetensors"),
        );
      const [a, b] = [adapters(runs.one), adapters(runs.two)];
      let diff = 0;
      for (const [k, t] of a) {
        const u = b.get(k);
        expect(u, k).toBeDefined();
        diff = Math.max(diff, maxAbsDiff([...t.data], [...u!.data]));
      }
      expect(diff).toBeLessThan(1e-4);
      // Not vacuous: the run moved the adapters (LoRA B starts at zero).
      const moved = [...b].filter(([k]) => k.endsWith("lora_b"));
      expect(moved.length).toBeGreaterThan(0);
      expect(moved.some(([, t]) => t.data.some((x) => x !== 0))).toBe(true);
      const state = JSON.parse(
        readFileSync(
          join(projectPaths.root, "checkpoints", runs.two, "latest", "state.json"),
          "utf8",
        ),
      ) as { worldSize?: number; step: number };
      expect(state).toMatchObject({ worldSize: 2, step: 2 });
      console.log(
        `medtune train --ranks 2 vs alone (bundled model): max |Δ adapter| ${diff.toExponential(2)}`,
      );
    } finally {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    }
  }, 900_000);
});
