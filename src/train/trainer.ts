/**
 * The LoRA training loop over native/: TypeScript decides the data (tokenized examples, the order
 * of micro-batches), native code runs the steps on its own thread and reports progress events.
 *
 *   const trainer = new Trainer(model, { train, batches, iters: 100, checkpointDir });
 *   const done = await trainer.run((e) => e.type === "progress" && console.log(e.trainLoss));
 *
 * Checkpoints are step-named (0000100_adapters.safetensors + 0000100_optimizer.safetensors, with
 * adapter_config.json beside them); `resumeFrom` restores adapters, AdamW moments, step, schedule
 * position and data position, so an interrupted run ends where the uninterrupted one would.
 */
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type {
  NativeBatchList,
  NativeDataset,
  NativeDoneEvent,
  NativeTrainEvent,
  NativeTrainOptions,
} from "../native/binding.js";
import { writeFileAtomicSync } from "../fs-atomic.js";
import { TRAINING_DEFAULTS } from "./config.js";
import { isWriterRank } from "./distributed.js";
import { adapterConfigJson, withSafetensorsRemedy, type Model } from "./model.js";

export type TrainEvent = NativeTrainEvent;

/** One tokenized example: `supervised[j]` = 1 when token j is a target the loss counts. */
export interface TrainingExample {
  tokens: Int32Array;
  supervised: Uint8Array | Float32Array;
}

/** The settings the trainer takes, named as the preset keys; all but `iters` have defaults. */
type TrainerSettings = Omit<
  NativeTrainOptions,
  "train" | "valid" | "batches" | "validBatches" | "resumeOptimizerFile"
>;

/**
 * The trainer's defaults: the presets' (src/train/config.ts TRAINING_DEFAULTS) for the optimizer
 * and schedule; clipping, periodic evaluation and periodic saving are off unless asked for, so a
 * bare Trainer is the plain reference loop the parity tests compare with.
 */
export const TRAINER_DEFAULTS: Omit<TrainerSettings, "iters"> = {
  startIteration: 0,
  gradAccumulationSteps: TRAINING_DEFAULTS.gradAccumulationSteps,
  maxSeqLength: TRAINING_DEFAULTS.maxSeqLength,
  learningRate: TRAINING_DEFAULTS.learningRate,
  minLearningRate: TRAINING_DEFAULTS.minLearningRate,
  warmupSteps: TRAINING_DEFAULTS.warmupSteps,
  cycles: TRAINING_DEFAULTS.cycles,
  weightDecay: TRAINING_DEFAULTS.weightDecay,
  adamBeta1: TRAINING_DEFAULTS.adamBeta1,
  adamBeta2: TRAINING_DEFAULTS.adamBeta2,
  adamEps: TRAINING_DEFAULTS.adamEps,
  gradClip: 0,
  gradCheckpointing: TRAINING_DEFAULTS.gradCheckpointing,
  seed: TRAINING_DEFAULTS.seed,
  reportEvery: TRAINING_DEFAULTS.reportEvery,
  evalEvery: 0,
  saveEvery: 0,
  checkpointDir: null,
  memoryLimitBytes: TRAINING_DEFAULTS.memoryLimitBytes,
  distributed: false,
};

export interface TrainerOptions extends Partial<Omit<TrainerSettings, "iters">> {
  iters: number;
  train: NativeDataset | readonly TrainingExample[];
  valid?: NativeDataset | readonly TrainingExample[];
  /** Micro-batches (lists of example indices) in training order. */
  batches: NativeBatchList | readonly (readonly number[])[];
  validBatches?: NativeBatchList | readonly (readonly number[])[];
  /** A checkpoint directory to resume from (its latest step), or a specific step in it. */
  resumeFrom?: string | { dir: string; step: number };
}

/** Flattens examples into the native dataset layout. */
export function packDataset(examples: readonly TrainingExample[]): NativeDataset {
  const total = examples.reduce((n, e) => n + e.tokens.length, 0);
  const tokens = new Int32Array(total);
  const lossMask = new Float32Array(total);
  const offsets = new Int32Array(examples.length + 1);
  let at = 0;
  examples.forEach((e, i) => {
    if (e.supervised.length !== e.tokens.length) {
      throw new RangeError(
        `example ${i}: supervised has ${e.supervised.length} entries, tokens ${e.tokens.length}`,
      );
    }
    tokens.set(e.tokens, at);
    lossMask.set(e.supervised, at);
    at += e.tokens.length;
    offsets[i + 1] = at;
  });
  return { tokens, offsets, lossMask };
}

export function packBatches(batches: readonly (readonly number[])[]): NativeBatchList {
  const indices = Int32Array.from(batches.flat());
  const offsets = new Int32Array(batches.length + 1);
  batches.forEach((b, i) => (offsets[i + 1] = offsets[i]! + b.length));
  return { indices, offsets };
}

export interface CheckpointFiles {
  step: number;
  adapterFile: string;
  optimizerFile: string;
}

/** The step-named checkpoints in `dir`, oldest first (only steps with both files). */
export function listCheckpoints(dir: string): CheckpointFiles[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const set = new Set(names);
  return names
    .map((n) => /^(\d{7})_adapters\.safetensors$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && set.has(`${m[1]}_optimizer.safetensors`))
    .map((m) => ({
      step: Number(m[1]),
      adapterFile: join(dir, `${m[1]}_adapters.safetensors`),
      optimizerFile: join(dir, `${m[1]}_optimizer.safetensors`),
    }))
    .sort((a, b) => a.step - b.step);
}

function isDataset(d: unknown): d is NativeDataset {
  return typeof d === "object" && d !== null && "tokens" in d && "offsets" in d;
}

function isBatchList(b: unknown): b is NativeBatchList {
  return typeof b === "object" && b !== null && "indices" in b && "offsets" in b;
}

export class Trainer {
  constructor(
    readonly model: Model,
    readonly options: TrainerOptions,
  ) {}

  /** Stops at the next step boundary; the promise then resolves with stopReason "cancelled". */
  cancel(): void {
    this.model.native.cancel();
  }

  async run(onEvent?: (e: TrainEvent) => void): Promise<NativeDoneEvent> {
    const o = this.options;
    const spec = this.model.adapters;
    if (!spec) throw new Error("train: add adapters to the model first (model.addAdapters)");
    const train = isDataset(o.train) ? o.train : packDataset(o.train);
    const valid =
      o.valid === undefined ? undefined : isDataset(o.valid) ? o.valid : packDataset(o.valid);
    const batches = isBatchList(o.batches) ? o.batches : packBatches(o.batches);
    const validBatches =
      o.validBatches === undefined
        ? undefined
        : isBatchList(o.validBatches)
          ? o.validBatches
          : packBatches(o.validBatches);

    let resumeOptimizerFile: string | undefined;
    if (o.resumeFrom !== undefined) {
      const dir = typeof o.resumeFrom === "string" ? o.resumeFrom : o.resumeFrom.dir;
      const all = listCheckpoints(dir);
      const want =
        typeof o.resumeFrom === "string"
          ? all[all.length - 1]
          : all.find((c) => c.step === (o.resumeFrom as { step: number }).step);
      if (!want) throw new Error(`${dir}: no checkpoint to resume from`);
      this.model.loadAdapterWeights(want.adapterFile, "mlx");
      resumeOptimizerFile = want.optimizerFile;
    }
    // In a distributed run rank 0 alone writes (the native side does the same for checkpoints).
    if (o.checkpointDir && (!o.distributed || isWriterRank())) {
      mkdirSync(o.checkpointDir, { recursive: true });
      const cfg = adapterConfigJson(spec, "mlx", this.model.config, this.model.source);
      writeFileAtomicSync(
        join(o.checkpointDir, "adapter_config.json"),
        JSON.stringify(cfg, null, 2) + "\n",
      );
    }
    // Every setting named, none left to the native side: given, else TRAINER_DEFAULTS.
    const settings = {} as Record<keyof TrainerSettings, unknown>;
    for (const key of Object.keys(TRAINER_DEFAULTS) as (keyof typeof TRAINER_DEFAULTS)[])
      settings[key] = o[key] ?? TRAINER_DEFAULTS[key];
    settings.iters = o.iters;
    const native: NativeTrainOptions = {
      ...(settings as TrainerSettings),
      train,
      valid: valid ?? null,
      batches,
      validBatches: validBatches ?? null,
      resumeOptimizerFile: resumeOptimizerFile ?? null,
    };
    // A damaged optimizer file of the checkpoint resumed from gets the checkpoint remedy.
    return this.model.native
      .train(native, onEvent)
      .catch((e: unknown) => Promise.reject(withSafetensorsRemedy(e, "checkpoint")));
  }
}

/** One call: build a Trainer and run it. */
export function train(
  model: Model,
  options: TrainerOptions,
  onEvent?: (e: TrainEvent) => void,
): Promise<NativeDoneEvent> {
  return new Trainer(model, options).run(onEvent);
}
