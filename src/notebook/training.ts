/**
 * Training awaited in a notebook cell, where Kernel → Interrupt pauses the run instead of killing
 * the cell's wait (notebooks/03_train.ipynb):
 *
 *   const training = medtune.trainInNotebook({ config: cfg, fresh: true, keepModel: true });
 *   await training.wait();                 // live progress; an interrupt pauses at a checkpoint
 *   const run = await training.finish();   // next cell: resumes a paused run, else the result
 *
 * Why SIGINT is taken over: Jupyter interrupts a tslab kernel with SIGINT, and tslab answers it by
 * failing the awaited cell at once while the work goes on behind it; runTraining's own SIGINT
 * handler (for Ctrl-C in the CLI) would stop the run. While wait() or finish() awaits the run, the
 * first SIGINT asks the session to pause at the next step boundary (the trainer writes a checkpoint
 * and keeps the model loaded) and the cell ends normally, saying so; a second SIGINT stops the run
 * and hands the interrupt back to tslab. The previous SIGINT listeners are restored afterwards.
 */
import { resolve } from "node:path";
import { ROOT } from "../paths.js";
import { loadTrainingConfig } from "../train/config.js";
import type { TrainingRunResult } from "../train/run.js";
import {
  startTraining,
  type StartTrainingOptions,
  type TrainingSession,
} from "../train/session.js";
import { liveTraining } from "./display.js";

type SigintListener = (...args: unknown[]) => void;

/**
 * Runs `work` with SIGINT meaning `onInterrupt()` (once; a second SIGINT calls `onSecond` and the
 * listeners that were there before). SIGINT listeners added meanwhile (runTraining's) are held
 * off; the earlier ones come back when `work` settles.
 */
export async function withInterruptAs<T>(
  work: () => Promise<T>,
  onInterrupt: () => void,
  onSecond: () => void = () => undefined,
): Promise<T> {
  const earlier = process.rawListeners("SIGINT") as SigintListener[];
  let interrupts = 0;
  const mine: SigintListener = (...args) => {
    if (++interrupts === 1) return onInterrupt();
    onSecond();
    for (const l of earlier) l(...args);
  };
  // Emitted before the listener is added, so it is removed on the next microtask.
  const holdOff = (event: string | symbol, listener: SigintListener) => {
    if (event === "SIGINT" && listener !== mine)
      queueMicrotask(() => process.removeListener("SIGINT", listener));
  };
  // Ours first, theirs off after: with no SIGINT listener at all, a SIGINT would end the process.
  process.on("SIGINT", mine);
  for (const l of earlier) process.removeListener("SIGINT", l);
  process.on("newListener", holdOff);
  try {
    return await work();
  } finally {
    process.removeListener("newListener", holdOff);
    for (const l of earlier) process.on("SIGINT", l);
    process.removeListener("SIGINT", mine);
  }
}

export interface NotebookTraining {
  /** The session once wait() started it (pause/resume/stop, state, events). */
  readonly session: TrainingSession | undefined;
  /** Steps done when an interrupt paused the run; undefined when it is not paused. */
  readonly pausedAt: number | undefined;
  /**
   * Starts the run (first call) and awaits it with a live display in this cell, until it ends or an
   * interrupt pauses it (the cell's output says which). Resolves with nothing, so a cell ending in
   * `await training.wait()` prints no result object; `finish()` gives the result.
   */
  wait(): Promise<void>;
  /** Resumes a paused run and awaits it as wait() does; the result. Paused again: an error that says so. */
  finish(): Promise<TrainingRunResult>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function trainInNotebook(o: StartTrainingOptions): NotebookTraining {
  let session: TrainingSession | undefined;
  let result: TrainingRunResult | undefined;
  let pausedAt: number | undefined;
  let display: ((e: { type: string }) => void) | undefined;
  let lastStep = 0; // the latest step reported or checkpointed (a pause writes a checkpoint)
  let sizes:
    | Promise<{ totalSteps: number; memoryLimitBytes: number | undefined; runName: string }>
    | undefined;

  const liveSizes = async () => {
    const cfg =
      typeof o.config === "string"
        ? await loadTrainingConfig(resolve(o.root ?? ROOT, o.config))
        : o.config;
    return {
      totalSteps: o.iters ?? cfg.iters ?? 0,
      memoryLimitBytes: cfg.memoryLimitBytes ?? undefined,
      runName: cfg.runName,
    };
  };

  /** Awaits the session until it is done or paused, with SIGINT meaning pause. */
  const awaitRun = async (s: TrainingSession): Promise<TrainingRunResult | undefined> => {
    const { runName, ...liveOptions } = await (sizes ??= liveSizes());
    const live = await liveTraining(liveOptions);
    display = live.onEvent;
    let settled = false;
    const done = s.result.finally(() => (settled = true));
    done.catch(() => undefined); // awaited below unless the run pauses (then a later call awaits it)
    try {
      await withInterruptAs(
        async () => {
          // The session says "paused" through its state; the result settles when it ends.
          while (!settled && s.state !== "paused") await Promise.race([done, sleep(100)]);
        },
        () => s.pause(),
        () => s.stop(),
      );
    } finally {
      live.finish();
      display = undefined;
    }
    if (s.state === "paused") {
      const steps = lastStep;
      pausedAt = steps;
      console.log(
        `paused at step ${steps} with a checkpoint (checkpoints/${runName}/latest); the model stays ` +
          "loaded: run the next cell to resume",
      );
      return undefined;
    }
    pausedAt = undefined;
    result = await done;
    console.log(
      `${result.done.iteration} steps (${result.stoppedBy ? `stopped by ${result.stoppedBy}` : result.done.stopReason}), ` +
        `final train loss ${result.done.trainLoss.toFixed(3)}`,
    );
    return result;
  };

  return {
    get session() {
      return session;
    },
    get pausedAt() {
      return pausedAt;
    },
    async wait() {
      if (result) return;
      session ??= startTraining({
        ...o,
        onEvent: (e) => {
          if (e.type === "progress" || e.type === "checkpoint")
            lastStep = Math.max(lastStep, e.iteration);
          display?.(e);
          o.onEvent?.(e);
        },
      });
      if (session.state === "paused") return;
      await awaitRun(session);
    },
    async finish() {
      if (result) return result;
      if (!session) throw new Error("trainInNotebook: wait() starts the run; call it first");
      session.resume();
      const r = await awaitRun(session);
      if (!r) throw new Error(`paused again at step ${pausedAt}: run this cell again to resume`);
      return r;
    },
  };
}
