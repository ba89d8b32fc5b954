// A fork while MLX multiplies on another thread must not hang the process. OpenBLAS's fork handler
// joins its worker threads; with a threaded sgemm in flight that join never returned, so a notebook
// kernel that shelled out (git, for run.json) during training froze. The addon's BLAS shim now holds
// forks until no BLAS call is in flight (native/src/blas_shim.cc). The work runs in a child process
// with a deadline, so a regression fails this test instead of hanging the suite.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadNative } from "../../src/native/loader.js";
import { bundledModelPath } from "../../src/paths.js";

const ITERS = 4;
// A fork every 50 ms: enough to land on threaded products many times a step (the old addon hung
// within seconds), few enough that the test stays about a minute and a half on a loaded machine.
const PAUSE_MS = 50;
const DEADLINE_MS = 240_000;

const haveModel = await bundledModelPath().then(existsSync, () => false);
const openblas = haveModel && /openblas/i.test(loadNative().blas());

describe.skipIf(!openblas)("forks during training", () => {
  it(
    "every step trains while the JS thread forks child processes over and over",
    async () => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "test/native/fork-child.ts", String(ITERS), String(PAUSE_MS)],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => (out += String(d)));
      child.stderr.on("data", (d: Buffer) => (err += String(d)));
      const timer = setTimeout(() => child.kill("SIGKILL"), DEADLINE_MS);
      const code = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
      clearTimeout(timer);
      expect(
        code,
        `exit ${code} (null: killed at the ${DEADLINE_MS} ms deadline, a hang)\n${err}`,
      ).toBe(0);
      const result = JSON.parse(out.trim().split("\n").at(-1)!) as { steps: number; forks: number };
      expect(result.steps).toBe(ITERS);
      expect(result.forks).toBeGreaterThan(ITERS);
    },
    DEADLINE_MS + 30_000,
  );
});
