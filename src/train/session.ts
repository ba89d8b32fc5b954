/**
 * Training under a notebook's control: `startTraining(options)` starts a run and returns its
 * events as an async iterator, with pause() (the trainer stops at the next step boundary with a
 * checkpoint; the model stays loaded), resume() (continues from that checkpoint, same data order,
 * nothing reloaded from disk) and stop(); an AbortSignal stops it too. `result` resolves with the
 * run's result when it completes or is stopped.
 *
 *   const run = startTraining({ config: "configs/training_configs/quick_test.yaml" });
 *   for await (const e of run.events) if (e.type === "eval") { console.log(e.validLoss); run.pause(); }
 *
 * Options are runTraining's (src/train/run.ts); a preset path or TrainingConfig alone is accepted
 * too (a TrainingConfig never has a `config` key, so the three cannot be confused).
 */
import type { TrainingConfig } from "./config.js";
import {
  runTraining,
  type RunControl,
  type RunEvent,
  type RunTrainingOptions,
  type TrainingRunResult,
} from "./run.js";

export type StartTrainingOptions = Omit<RunTrainingOptions, "control">;

/** A run's events, plus where the controls took it. */
export type SessionEvent =
  RunEvent | { type: "paused"; iteration: number } | { type: "resumed"; iteration: number };

export type SessionState = "running" | "pausing" | "paused" | "stopped" | "done" | "failed";

export interface TrainingSession {
  readonly events: AsyncIterable<SessionEvent>;
  readonly result: Promise<TrainingRunResult>;
  readonly state: SessionState;
  /** Checkpoint at the next step boundary and wait (model loaded) until resume() or stop(). */
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
  options: StartTrainingOptions | TrainingConfig | string,
): TrainingSession {
  const opts: StartTrainingOptions =
    typeof options === "string" || !("config" in options) ? { config: options } : options;
  const queue = new EventQueue<SessionEvent>();
  let state: SessionState = "running";
  let pausedAt = 0;
  let wake: ((goOn: boolean) => void) | undefined;
  const abort = new AbortController();

  const stop = () => {
    if (state === "done" || state === "failed" || state === "stopped") return;
    state = "stopped";
    abort.abort();
    wake?.(false);
  };
  if (opts.signal?.aborted) stop();
  opts.signal?.addEventListener("abort", stop, { once: true });

  const control: RunControl = {
    pauseRequested: () => state === "pausing",
    paused: (iteration) => {
      state = "paused";
      pausedAt = iteration;
      queue.push({ type: "paused", iteration });
      return new Promise<boolean>((resolve) => (wake = resolve)).finally(() => (wake = undefined));
    },
  };

  const result = runTraining({
    ...opts,
    signal: abort.signal,
    control,
    onEvent: (e) => {
      opts.onEvent?.(e);
      queue.push(e);
    },
  }).then(
    (r) => {
      if (state === "running" || state === "pausing") state = "done";
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
      control.interrupt?.();
    },
    resume() {
      if (state === "pausing") state = "running"; // not stopped yet: it just goes on
      if (state !== "paused") return;
      state = "running";
      queue.push({ type: "resumed", iteration: pausedAt });
      wake?.(true);
    },
    stop,
  };
}
