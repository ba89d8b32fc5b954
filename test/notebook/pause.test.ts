// Kernel → Interrupt during a training cell, through the real jupyter_server and tslab kernel of
// the venv (as JupyterLab sends it: the server signals the kernel): the run pauses at a step
// boundary with a checkpoint and the cell ends without an error, saying so; the next cell resumes
// it, and it ends at the same step as an uninterrupted run, every step trained once.
// (It hung once in CI before the BLAS fork guard: run.json's `git rev-parse` forked the kernel while
// MLX multiplied; see native/src/blas_shim.cc and test/native/fork-guard.test.ts.)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundledModelPath, projectPaths, ROOT } from "../../src/paths.js";
import { descendants, openKernelSession, startJupyterServer } from "../../src/workbench/runner.js";
import { rec } from "../augment/helpers.js";

const HAVE_KERNEL = existsSync(
  join(projectPaths.venv(), "share", "jupyter", "kernels", "tslab", "kernel.json"),
);
const HAVE_DIST = existsSync(join(ROOT, "dist", "notebook", "training.js"));

const ITERS = 8;

describe.skipIf(!HAVE_KERNEL || !HAVE_DIST)("a kernel interrupt in 03_train's cells", () => {
  it("pauses the run at a checkpoint, the cell ends cleanly, the next cell resumes to the end", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-pause-"));
    mkdirSync(join(dir, "data"));
    writeFileSync(
      join(dir, "data", "train.jsonl"),
      [
        rec("a", "What class is warfarin?", "A vitamin K antagonist."),
        rec("b", "What class is atorvastatin?", "A statin (HMG-CoA reductase inhibitor)."),
      ]
        .map((r) => JSON.stringify(r))
        .join("\n") + "\n",
    );
    writeFileSync(
      join(dir, "train.yaml"),
      [
        `model: ${await bundledModelPath()}`,
        "trainData: data/train.jsonl",
        "runName: pause",
        "loraRank: 4",
        "loraLayers: 1",
        "batchSize: 1",
        "maxSeqLength: 48",
        `iters: ${ITERS}`,
        "saveEvery: 100",
        "evalEvery: 100",
        "reportEvery: 1",
      ].join("\n") + "\n",
    );
    const server = await startJupyterServer(dir);
    const opened = await openKernelSession(server, "pause.ipynb", "tslab").catch(async (e) => {
      await server.stop();
      throw e;
    });
    try {
      const kernel = opened.kernel;
      /** Runs one cell; its status and everything it printed or displayed, as text. */
      const cell = async (code: string, onOutput?: (text: string) => void) => {
        let out = "";
        const future = kernel.requestExecute({ code, stop_on_error: true });
        future.onIOPub = (msg) => {
          const text = JSON.stringify(msg.content);
          if (/stream|display_data|update_display_data|error/.test(msg.header.msg_type)) {
            out += text;
            onOutput?.(text);
          }
        };
        const reply = await future.done;
        return { status: reply.content.status, out };
      };

      const setup = await cell(
        `import * as medtune from ${JSON.stringify(join(ROOT, "dist", "index.js"))};\n` +
          `const root = ${JSON.stringify(dir)};\n` +
          `const cfg = await medtune.loadTrainingConfig(root + "/train.yaml");`,
      );
      expect(setup.status, setup.out).toBe("ok");

      // 03_train's training cell; interrupted through the server once the live display shows a step.
      let interrupted = false;
      const first = await cell(
        "const training = medtune.trainInNotebook({ config: cfg, root: root, fresh: true });\n" +
          "await training.wait();",
        (text) => {
          if (!interrupted && /step [1-9]\d* \//.test(text)) {
            interrupted = true;
            void kernel.interrupt();
          }
        },
      );
      expect(interrupted).toBe(true);
      expect(first.status, first.out).toBe("ok");
      expect(first.out).toMatch(/paused at step \d+ with a checkpoint/);
      expect(first.out).not.toMatch(/Interrupted asynchronously/);
      const pausedAt = Number(/paused at step (\d+)/.exec(first.out)![1]);
      expect(pausedAt).toBeGreaterThan(0);
      expect(pausedAt).toBeLessThan(ITERS);
      const state = JSON.parse(
        readFileSync(join(dir, "checkpoints", "pause", "latest", "state.json"), "utf8"),
      ) as { step: number };
      expect(state.step).toBe(pausedAt);

      // The resume cell; then the kernel still answers interrupts the usual way (tslab's own).
      const second = await cell(
        "const run = await training.finish();\n" +
          'console.log("RESULT " + JSON.stringify({ steps: run.done.iteration, reason: run.done.stopReason, stoppedBy: run.stoppedBy ?? null }));',
      );
      expect(second.status, second.out).toBe("ok");
      const result = JSON.parse(/RESULT (\{[^}]*\})/.exec(second.out)![1]!.replace(/\\"/g, '"'));
      expect(result).toEqual({ steps: ITERS, reason: "completed", stoppedBy: null });

      // Every step once, in order, across the pause (the metrics log of the whole run).
      const steps = readFileSync(
        join(dir, "logs", "training_logs", "pause", "metrics.jsonl"),
        "utf8",
      )
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; iteration: number })
        .filter((e) => e.type === "progress")
        .map((e) => e.iteration);
      expect(steps).toEqual(Array.from({ length: ITERS }, (_, i) => i + 1));

      // tslab's own interrupt is back once the run is over: it ends an awaited cell at once.
      const t0 = Date.now();
      setTimeout(() => void kernel.interrupt(), 2000);
      const after = await cell("await new Promise((r) => setTimeout(r, 120_000));");
      expect(after.status).toBe("error");
      expect(after.out).toMatch(/Interrupted asynchronously/);
      expect(Date.now() - t0).toBeLessThan(60_000);
    } finally {
      await opened.close();
      await server.stop();
    }
    expect(descendants(server.pid)).toEqual([]);
  }, 300_000);
});
