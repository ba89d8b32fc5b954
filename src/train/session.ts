/**
 * Training under a notebook's control: `startTraining(cfg)` starts a run and returns its events as
 * an async iterator, with pause() (a checkpoint at the next step boundary, then the model is
 * released), resume() (continues from that checkpoint, same data order) and stop(); an AbortSignal
 * stops it too. `result` resolves with the run's result when it completes or is stopped.
 *
 *   const run = startTraining("configs/training_configs/quick_test.yaml");
 *   for await (const e of run.events) if (e.type === "eval") { console.log(e.validLoss); run.pause(); }
 *
 * runTraining is the same loop without the controls; both resume through the checkpoint folder.
 */
import type { TrainingConfig } from "./config.js";
import {
  runTraining,
  type RunEvent,
  type RunTrainingOptions,
  type TrainingRunResult,
} from "./run.js";

/** A run's events, plus where the controls took it. */
export type SessionEvent =
  RunEvent | { type: "paused"; iteration: number } | { type: "resumed"; iteration: number };

export type SessionState = "running" | "pausing" | "paused" | "stopped" | "done" | "failed";

export interface TrainingSession {
  readonly events: AsyncIterable<SessionEvent>;
  readonly result: Promise<TrainingRunResult>;
  readonly state: SessionState;
  /** Checkpoint at the next step boundary and release the model until resume(). */
  pause(): void;
  resume(): void;
  /** Stop at the next step boundary (with a checkpoint); result resolves with stoppedBy "abort". */
  stop(): void;
}

/** An unbounded queue that one consumer reads as an async iterator. */
class EventQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
  private closed = false;
  push(item: T): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: item, done: false });
    } else this.items.push(item);
  }
  close(): void {
    this.closed = true;
    this.waiting?.({ value: undefined, done: true });
    this.waiting = undefined;
  }
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiting = resolve));
      },
    };
  }
}

export function startTraining(
  config: TrainingConfig | string,
  opts: Omit<RunTrainingOptions, "keepModel"> = {},
): TrainingSession {
  const queue = new EventQueue<SessionEvent>();
  let state: SessionState = "running";
  let current: AbortController | undefined;
  let wake: (() => void) | undefined;
  let lastStep = 0;

  const stop = () => {
    if (state === "done" || state === "failed" || state === "stopped") return;
    state = "stopped";
    current?.abort();
    wake?.();
  };
  if (opts.signal?.aborted) state = "stopped";
  opts.signal?.addEventListener("abort", stop, { once: true });

  const loop = async (): Promise<TrainingRunResult> => {
    let first = true;
    let result: TrainingRunResult | undefined;
    for (;;) {
      current = new AbortController();
      if (state === "stopped") current.abort();
      result = await runTraining(config, {
        ...opts,
        resume: first ? opts.resume : true,
        signal: current.signal,
        onEvent: (e) => {
          if (e.type === "progress") lastStep = e.iteration;
          opts.onEvent?.(e);
          queue.push(e);
        },
      });
      first = false;
      if (state !== "pausing" || result.done.stopReason !== "cancelled") break;
      state = "paused";
      queue.push({ type: "paused", iteration: result.done.iteration });
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      if ((state as SessionState) !== "running") break; // stopped while paused
      queue.push({ type: "resumed", iteration: lastStep });
    }
    if (state === "running" || state === "pausing") state = "done";
    return result;
  };

  const result = loop().then(
    (r) => {
      opts.signal?.removeEventListener("abort", stop);
      queue.close();
      return r;
    },
    (e: unknown) => {
      state = "failed";
      opts.signal?.removeEventListener("abort", stop);
      queue.close();
      throw e;
    },
  );
  // A caller that only iterates events still sees the failure through `result`; no unhandled rejection.
  result.catch(() => undefined);

  return {
    events: queue,
    result,
    get state() {
      return state;
    },
    pause() {
      if (state !== "running") return;
      state = "pausing";
      current?.abort();
    },
    resume() {
      if (state !== "paused") return;
      state = "running";
      wake?.();
    },
    stop,
  };
}
