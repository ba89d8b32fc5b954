/**
 * The run's checkpoint folder in the layout of the design: checkpoints/<run>/latest/ and best/
 * (lowest validation loss), each a complete, self-describing copy of one step-named checkpoint
 * the trainer wrote (adapters, AdamW moments + step, adapter_config.json, state.json with the
 * data position, RNG rule, batch and resolved config); the step-named pairs beyond the last K are
 * removed.
 *
 *   const book = new CheckpointBook(dir, { keep: 3 });
 *   book.publish("latest", { step, adapterFile, optimizerFile }, state);
 *
 * Each folder is replaced whole: written as .<name>-writing-<pid>, the old one renamed aside, the
 * new one renamed in, the old one removed. A kill between the two renames leaves the old folder
 * aside, which the next CheckpointBook puts back; a kill while writing leaves a folder the next one
 * removes. The trainer resumes from the newest complete step-named pair, which these never touch
 * except to prune.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { processAlive, removeStaleTemporariesIn, writeFileAtomicSync } from "../fs-atomic.js";
import { listCheckpoints } from "./trainer.js";

export type CheckpointSlot = "latest" | "best";

/** What state.json of a checkpoint folder holds beside the tensors. */
export interface CheckpointState {
  /** Optimizer steps done. */
  step: number;
  /** Next micro-batch of the run's order: step × gradAccumulationSteps. */
  microBatch: number;
  batchSize: number;
  gradAccumulationSteps: number;
  /** Dropout masks come from (seed, micro-batch index) in the trainer: the seed is the RNG state. */
  seed: number;
  validLoss: number | null;
  bestValidLoss: number | null;
  /** Evaluations since the best one (early stopping's counter). */
  evaluationsSinceBest: number;
  config: unknown;
  /**
   * Ranks that trained it (1 alone; also in the optimizer file's metadata). A run may resume with
   * another world size: each step is the same global batch however many ranks share it.
   */
  worldSize?: number;
}

const WRITING = /^\.(latest|best)-(writing|old)-(\d+)$/;

export class CheckpointBook {
  constructor(
    readonly dir: string,
    readonly opts: { keep: number },
  ) {
    mkdirSync(dir, { recursive: true });
    removeStaleTemporariesIn(dir); // the trainer's half-written step files
    // Leftovers of a killed run: a half-written folder goes, a folder set aside comes back.
    for (const name of readdirSync(dir)) {
      const m = WRITING.exec(name);
      if (!m || processAlive(Number(m[3]))) continue;
      const slot = join(dir, m[1] as string);
      if (m[2] === "old" && !existsSync(slot)) renameSync(join(dir, name), slot);
      else rmSync(join(dir, name), { recursive: true, force: true });
    }
  }

  /** The state.json of latest/ or best/, if there is one. */
  state(slot: CheckpointSlot): CheckpointState | null {
    try {
      return JSON.parse(
        readFileSync(join(this.dir, slot, "state.json"), "utf8"),
      ) as CheckpointState;
    } catch {
      return null;
    }
  }

  /** Copy one step-named checkpoint into latest/ or best/, replacing the folder whole. */
  publish(
    slot: CheckpointSlot,
    files: { adapterFile: string; optimizerFile: string },
    state: CheckpointState,
  ): string {
    const target = join(this.dir, slot);
    const writing = join(this.dir, `.${slot}-writing-${process.pid}`);
    const old = join(this.dir, `.${slot}-old-${process.pid}`);
    rmSync(writing, { recursive: true, force: true });
    mkdirSync(writing);
    copyFileSync(files.adapterFile, join(writing, "adapters.safetensors"));
    copyFileSync(files.optimizerFile, join(writing, "optimizer.safetensors"));
    const config = join(this.dir, "adapter_config.json");
    if (existsSync(config)) copyFileSync(config, join(writing, "adapter_config.json"));
    writeFileAtomicSync(join(writing, "state.json"), `${JSON.stringify(state, null, 2)}\n`);
    if (existsSync(target)) renameSync(target, old);
    renameSync(writing, target);
    rmSync(old, { recursive: true, force: true });
    return target;
  }

  /**
   * The newest step-named pair when latest/ is behind it (a kill after the trainer wrote the pair
   * and before latest/ was replaced), so the caller can publish it; null when latest/ is current.
   */
  behind(): { step: number; adapterFile: string; optimizerFile: string } | null {
    const newest = listCheckpoints(this.dir).at(-1);
    return newest && (this.state("latest")?.step ?? -1) < newest.step ? newest : null;
  }

  /**
   * Remove step-named pairs older than the last `keep` up to `step` (the one just published: the
   * trainer runs ahead of its events, so newer pairs may exist that are not published yet).
   */
  prune(step: number): number[] {
    const all = listCheckpoints(this.dir).filter((c) => c.step <= step);
    const gone = all.slice(0, Math.max(0, all.length - this.opts.keep));
    for (const c of gone) {
      rmSync(c.adapterFile, { force: true });
      rmSync(c.optimizerFile, { force: true });
    }
    return gone.map((c) => c.step);
  }
}

/** Early stopping's count of evaluations without a lower validation loss (kept across resumes). */
export class EarlyStopping {
  best: number | null;
  since: number;
  bestStep: number | null = null;
  private losses = new Map<number, number>();
  constructor(
    readonly patience: number | null,
    saved: CheckpointState | null,
  ) {
    this.best = saved?.bestValidLoss ?? null;
    this.since = saved?.evaluationsSinceBest ?? 0;
  }
  /** Record an evaluation; true when patience has run out. */
  evaluated(validLoss: number, step: number): boolean {
    this.losses.set(step, validLoss);
    if (this.best === null || validLoss < this.best) {
      [this.best, this.since, this.bestStep] = [validLoss, 0, step];
      return false;
    }
    this.since++;
    return this.patience !== null && this.since >= this.patience;
  }
  lastLoss(step: number): number | null {
    return this.losses.get(step) ?? null;
  }
}
