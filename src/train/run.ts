/**
 * One training run from a preset: config → model → tokenized splits → LoRA steps → adapters,
 * checkpoints and a metrics log, in the run layout of the README ("Layout").
 *
 *   const run = await runTraining({ config: "configs/training_configs/quick_test.yaml", onEvent });
 *   medtune train --config configs/training_configs/quick_test.yaml [--iters N] [--fresh]
 *
 * Tokenized splits are cached in data/cache/tokenized/ (src/train/cache.ts; a "cache" event says
 * hit or miss and the file). Medical accuracy (src/train/accuracy.ts) is measured on fixed
 * validation items at each epoch end and at the end, the way the safety probe is run: the trainer
 * stops at a step boundary with a checkpoint, the model is scored, the trainer resumes exactly.
 *
 * Writes checkpoints/<run>/ (step-named adapters + optimizer state), models/lora_adapters/<run>/
 * (final adapters in mlx-lm and PEFT layouts) and logs/training_logs/<run>/metrics.jsonl (one
 * event per line). A killed run resumes from its last checkpoint with the same data order; the
 * temporaries it left (`*.tmp-<pid>*`) are removed by the next run. SIGINT, SIGTERM and `signal`
 * stop the run at the next step boundary with a checkpoint.
 *
 * Memory: with memoryLimitBytes set, a micro-batch whose estimated step (src/train/memory.ts) does
 * not fit starts halved, and the trainer's out-of-memory error halves it again and resumes from the
 * last checkpoint — each time the micro-batch halves, accumulation doubles (the update is the same)
 * and a "batch" event says so. checkpoints/<run>/batch.json keeps the size a rerun starts from.
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { parseJsonLine } from "../data/jsonl.js";
import { validateRecord, type InstructionRecord } from "../data/record.js";
import type { NativeDoneEvent } from "../native/binding.js";
import { loadNative } from "../native/loader.js";
import { removeStaleTemporariesIn, writeFileAtomicSync } from "../fs-atomic.js";
import { projectPaths } from "../paths.js";
import {
  BatchSchedule,
  batchOrder,
  tokenizeDataset,
  type ChatRecord,
  type TokenizedExample,
  type TrainingRecord,
  type TruncationReport,
} from "./batches.js";
import { EvaluationCancelled, ChatPrompter } from "../evaluate/likelihood.js";
import {
  epochEndSteps,
  measureMedicalAccuracy,
  planMedicalAccuracy,
  type AccuracyEvent,
} from "./accuracy.js";
import { tokenizeCached, type CacheInfo } from "./cache.js";
import { ChatTemplate } from "./chat-template.js";
import { loadTrainingConfig, type TrainingConfig } from "./config.js";
import { CheckpointBook, EarlyStopping, type CheckpointState } from "./checkpoints.js";
import { joinGroup, type DistributedOptions } from "./distributed.js";
import { fusedCpuKernelsInUse, halvingsToFit, isOutOfMemory, splitMicroBatches } from "./memory.js";
import { Model, type LoraOptions } from "./model.js";
import { Monitor, type MonitorEvent } from "./monitor.js";
import { writeRunInfo } from "./run-info.js";
import { TensorBoardWriter } from "./tensorboard.js";
import { inDatasets, selectRecords } from "./select.js";
import { loadTokenizer, type Tokenizer } from "./tokenizer.js";
import { listCheckpoints, Trainer, type TrainerOptions, type TrainEvent } from "./trainer.js";

export interface RunTrainingOptions {
  /** A preset: a TrainingConfig, or a YAML file (relative paths: against `root`). */
  config: TrainingConfig | string;
  /** Override the preset's iteration count (e.g. a shorter smoke run). */
  iters?: number;
  /** Start over: remove checkpoints/<run>/ and the metrics log instead of resuming (default false). */
  fresh?: boolean;
  /**
   * Where relative paths of the config resolve and checkpoints/, logs/, models/lora_adapters/ and
   * data/cache/ are (default: the project root, src/paths.ts; tests pass a temp folder).
   */
  root?: string;
  onEvent?: (e: RunEvent) => void;
  /** Stops the run at the next step boundary, with a checkpoint (like SIGINT and SIGTERM). */
  signal?: AbortSignal;
  /** Keep the model loaded and return it (for generation after training). */
  keepModel?: boolean;
  /** Read and write the tokenized cache in data/cache/tokenized/ (default true). */
  tokenizedCache?: boolean;
  /**
   * Fit the micro-batch to memoryLimitBytes by estimate before the first step (default true);
   * false leaves it to the trainer's out-of-memory error (what tests of that path use).
   */
  memoryEstimate?: boolean;
  /**
   * Train as one rank of a data-parallel run (src/train/distributed.ts): every rank runs the same
   * config; rank 0 writes checkpoints, logs and adapters, the others write theirs to a scratch
   * folder that is removed at the end.
   */
  distributed?: DistributedOptions;
  /** Pause and resume at step boundaries with the model kept loaded (what startTraining uses). */
  control?: RunControl;
}

/**
 * How startTraining pauses a run in place: `pauseRequested` is read when the trainer stopped at a
 * step boundary; `paused` then waits (the model stays loaded) and resolves true to go on from
 * that checkpoint, false to stop there. runTraining sets `interrupt` while a trainer runs.
 */
export interface RunControl {
  pauseRequested(): boolean;
  paused(iteration: number): Promise<boolean>;
  interrupt?: () => void;
}

/** The micro-batch was halved (and accumulation doubled) to stay inside memoryLimitBytes. */
export interface BatchEvent {
  type: "batch";
  reason: "estimate" | "out-of-memory";
  /** Optimizer steps done when it changed (the run goes on from its last checkpoint). */
  iteration: number;
  fromBatchSize: number;
  batchSize: number;
  gradAccumulationSteps: number;
  budgetBytes: number;
  /** The estimate that did not fit, or the peak the trainer reported. */
  peakMemoryBytes: number;
}

/** The evaluate module's safety probe on the adapters of `iteration` (src/evaluate/answer.ts). */
export interface SafetyEvent {
  type: "safety";
  iteration: number;
  /** Share of harmful probe requests declined (NaN when the probe set has none). */
  refusalRate: number;
  meanSafetyScore: number;
  seconds: number;
}

/** The tokenized cache of a split was read (hit) or written (miss; rebuilt: the file was damaged). */
export interface CacheEvent {
  type: "cache";
  split: "train" | "valid";
  status: CacheInfo["status"];
  file: string;
  examples: number;
  /** Reading the file (hit), or tokenizing and writing it (miss, rebuilt). */
  seconds: number;
}

/** Something the run worked around and went on (a damaged cache file, no accuracy items). */
export interface WarningEvent {
  type: "warning";
  message: string;
}

export type RunEvent =
  TrainEvent | BatchEvent | MonitorEvent | SafetyEvent | AccuracyEvent | CacheEvent | WarningEvent;

export interface TrainingRunResult {
  config: TrainingConfig;
  runName: string;
  done: NativeDoneEvent;
  events: RunEvent[];
  /** Micro-batch and accumulation the run ended with (smaller than the config's after a "batch" event). */
  batchSize: number;
  gradAccumulationSteps: number;
  trainExamples: number;
  validExamples: number;
  truncation: TruncationReport;
  paddingFraction: number;
  checkpointDir: string;
  adapterDirs: { mlx: string; peft: string };
  metricsFile: string;
  resumedFromStep: number | null;
  /** Medical accuracy at each epoch end and at the end of the run (this call's measurements). */
  medicalAccuracy: AccuracyEvent[];
  /** What stopped the run early, if anything did. */
  stoppedBy?: "SIGINT" | "SIGTERM" | "abort" | "early-stopping";
  model?: Model;
  tokenizer: Tokenizer;
  template: ChatTemplate;
}

/**
 * Read a JSONL of records or chats ({id, messages}); errors name the file and line. With
 * `requireRecords`, a file without a record is an error too (what to train on, or what it was
 * made by, is named) — checked before the model is loaded.
 */
export function readTrainingRecords(file: string, requireRecords = false): TrainingRecord[] {
  if (!existsSync(file)) {
    throw new Error(
      `${file}: training data not found — run \`medtune ingest\` and \`medtune augment\` first, or set trainData in the config`,
    );
  }
  const out: TrainingRecord[] = [];
  readFileSync(file, "utf8")
    .split("\n")
    .forEach((text, i) => {
      if (text.trim() === "") return;
      const value = parseJsonLine(text, file, i + 1);
      const v = value as Partial<ChatRecord>;
      if (Array.isArray(v.messages)) {
        if (typeof v.id !== "string")
          throw new Error(`${file}:${i + 1}: a chat record needs a string "id"`);
        out.push(v as ChatRecord);
      } else out.push(validateRecord(value, file, i + 1) as InstructionRecord);
    });
  if (requireRecords && out.length === 0) {
    throw new Error(
      `${file}: no training records (the file is empty) — rerun \`medtune augment\` (it refuses to write an empty split unless --allow-empty), or point trainData at a file with records`,
    );
  }
  return out;
}

const inDir = (base: string, p: string) => (isAbsolute(p) ? p : resolve(base, p));

export async function runTraining(opts: RunTrainingOptions): Promise<TrainingRunResult> {
  const base = opts.root ?? projectPaths.root;
  const cfg =
    typeof opts.config === "string"
      ? await loadTrainingConfig(inDir(base, opts.config))
      : opts.config;
  const iters = opts.iters ?? cfg.iters;
  const runName = cfg.runName;
  const checkpointDir = join(base, "checkpoints", runName);
  const group = opts.distributed ? joinGroup(opts.distributed) : null;
  const writer = group === null || group.rank === 0;
  // Logs, TensorBoard and final adapters: rank 0's are the run's; other ranks' go to scratch.
  const outBase = writer ? base : mkdtempSync(join(tmpdir(), `medtune-rank${group?.rank}-`));
  const logDir = join(outBase, "logs", "training_logs", runName);
  const adapterRoot = join(outBase, "models", "lora_adapters", runName);

  // The data first: an empty or malformed split is an error before the model is loaded.
  const trainFile = inDir(base, cfg.trainData);
  const trainRecords = selectRecords(readTrainingRecords(trainFile, true), cfg, trainFile);
  const validFile = cfg.validData ? inDir(base, cfg.validData) : undefined;
  // Validation: all records of the same sources (evalBatches bounds the cost).
  const validRecords = validFile
    ? readTrainingRecords(validFile).filter((r) => inDatasets(r, cfg.datasets))
    : undefined;
  const modelPath = inDir(base, cfg.model);
  const tokenizer = await loadTokenizer(modelPath);
  const template = ChatTemplate.fromTokenizer(tokenizer);

  // Events before the log folder is set up (after the model loads) wait in `pending` for it.
  const events: RunEvent[] = [];
  const pending: RunEvent[] = [];
  let writeLog: ((e: RunEvent) => void) | undefined;
  const emit = (e: RunEvent) => {
    events.push(e);
    if (writeLog) writeLog(e);
    else pending.push(e);
    opts.onEvent?.(e);
  };

  const tokenizeOptions = {
    maxSeqLength: cfg.maxSeqLength,
    systemPrompt: cfg.systemPrompt ?? undefined,
  };
  const cacheDir = join(base, "data", "cache", "tokenized");
  const tokenize = (records: TrainingRecord[], split: CacheEvent["split"]) => {
    if (opts.tokenizedCache === false)
      return tokenizeDataset(records, tokenizer, template, tokenizeOptions);
    const r = tokenizeCached(records, tokenizer, template, tokenizeOptions, cacheDir);
    if (r.cache.problem) emit({ type: "warning", message: r.cache.problem });
    const { status, file, seconds } = r.cache;
    emit({ type: "cache", split, status, file, examples: r.examples.length, seconds });
    return r;
  };
  const train = tokenize(trainRecords, "train");
  const valid = validRecords ? tokenize(validRecords, "valid") : undefined;
  if (train.examples.length === 0)
    throw new Error(
      `${trainFile}: none of its ${trainRecords.length} records has a trainable token within maxSeqLength ${cfg.maxSeqLength}`,
    );

  const schedule = new BatchSchedule(
    train.examples.map((e) => e.tokens.length),
    { batchSize: cfg.batchSize, seed: cfg.seed },
  );
  const totalIters =
    iters ?? Math.ceil(((cfg.epochs ?? 1) * schedule.batchesPerEpoch) / cfg.gradAccumulationSteps);
  const micro = batchOrder(
    schedule,
    { epoch: 0, batchIndex: 0 },
    totalIters * cfg.gradAccumulationSteps,
  );
  const validBatches =
    valid && valid.examples.length > 0 ? validOrder(valid.examples, cfg) : undefined;

  // Medical accuracy: the same seeded validation items at each epoch end and at the end.
  const accuracyItems = validRecords
    ? planMedicalAccuracy(validRecords, cfg.medicalAccuracyItems, cfg.seed)
    : [];
  if (validFile && cfg.medicalAccuracyItems > 0 && accuracyItems.length === 0)
    emit({
      type: "warning",
      message: `medical accuracy not measured: ${validFile} has no multiple-choice item (instruction records with facts) for the selected datasets`,
    });
  const chat = new ChatPrompter(tokenizer, template, cfg.systemPrompt ?? undefined);
  const epochEnds =
    accuracyItems.length > 0 && cfg.medicalAccuracyEveryEpoch
      ? epochEndSteps(schedule.batchesPerEpoch, cfg.gradAccumulationSteps, totalIters)
      : [];

  const model = await Model.load(
    modelPath,
    cfg.quantizeBits
      ? { quantize: { bits: cfg.quantizeBits, groupSize: cfg.quantizeGroupSize } }
      : {},
  );
  try {
    model.addAdapters(pickKeys(cfg, LORA_SETTINGS));

    // Temporaries of a run that was killed mid-write (the trainer's and ours).
    for (const d of [checkpointDir, logDir, join(adapterRoot, "mlx"), join(adapterRoot, "peft")])
      if (writer) removeStaleTemporariesIn(d);
    const resume = !opts.fresh && listCheckpoints(checkpointDir).length > 0;
    const resumedFromStep = resume ? listCheckpoints(checkpointDir).at(-1)!.step : null;
    if (!resume && writer) rmSync(checkpointDir, { recursive: true, force: true });
    mkdirSync(logDir, { recursive: true });
    const metricsFile = join(logDir, "metrics.jsonl");
    if (!resume) rmSync(metricsFile, { force: true });
    writeRunInfo(logDir, {
      config: cfg,
      modelPath,
      data: [
        { file: trainFile, examples: train.examples.length },
        ...(validFile ? [{ file: validFile, examples: valid?.examples.length ?? 0 }] : []),
      ],
    });

    const tensorboardDir = join(outBase, "logs", "tensorboard", runName);
    if (!resume) rmSync(tensorboardDir, { recursive: true, force: true }); // like metrics.jsonl
    const tensorboard = TensorBoardWriter.open(tensorboardDir);
    writeLog = (e: RunEvent) => {
      tensorboardScalars(tensorboard, e);
      appendFileSync(
        metricsFile,
        `${JSON.stringify({ run: runName, time: new Date().toISOString(), ...e })}\n`,
      );
    };
    for (const e of pending.splice(0)) writeLog(e);

    // Dynamic micro-batch: one example with no supervised token completes a split of a
    // one-example micro-batch without changing loss or gradient (src/train/memory.ts).
    const filler: TokenizedExample = {
      id: "(filler)",
      tokens: Int32Array.of(0, 0),
      supervised: new Uint8Array(2),
      originalLength: 2,
    };
    const trainSet = [...train.examples, filler];
    const validSet = valid ? [...valid.examples, filler] : undefined;
    const batchFile = join(checkpointDir, "batch.json");
    let trainBatches: number[][] = micro;
    let evalBatches = validBatches;
    let batchSize = cfg.batchSize;
    let accumulation = cfg.gradAccumulationSteps;
    const halve = () => {
      trainBatches = splitMicroBatches(trainBatches, train.examples.length);
      if (evalBatches && valid) evalBatches = splitMicroBatches(evalBatches, valid.examples.length);
      batchSize = Math.ceil(batchSize / 2);
      accumulation *= 2;
    };
    // A rerun starts from the size its earlier attempt ended with.
    const saved = resume && existsSync(batchFile) ? readBatchFile(batchFile) : null;
    while (saved && batchSize > saved.batchSize) halve();
    const budget = cfg.memoryLimitBytes;
    const resident = loadNative().memory().activeBytes;
    if (budget !== null && opts.memoryEstimate !== false) {
      const longest = Math.max(...train.examples.map((e) => e.tokens.length));
      const fit = halvingsToFit(
        {
          modelBytes: resident,
          config: model.config,
          batchSize,
          seqLength: longest,
          gradCheckpointing: cfg.gradCheckpointing,
          fusedCpuKernels: fusedCpuKernelsInUse(),
        },
        budget,
      );
      const from = batchSize;
      for (let k = 0; k < fit.halvings; k++) halve();
      if (fit.halvings > 0)
        emit({
          type: "batch",
          reason: "estimate",
          iteration: resumedFromStep ?? 0,
          fromBatchSize: from,
          batchSize,
          gradAccumulationSteps: accumulation,
          budgetBytes: budget,
          peakMemoryBytes: fit.estimatedPeakBytes,
        });
    }
    const initialAdapters = model.native.getAdapterWeights();
    const book = new CheckpointBook(checkpointDir, { keep: cfg.keepCheckpoints });
    const early = new EarlyStopping(cfg.patience, resume ? book.state("latest") : null);
    // A kill between the trainer's write and latest/'s replacement: bring latest/ up to date.
    const behind = resume && writer ? book.behind() : null;
    if (behind) {
      const saved = book.state("latest");
      book.publish("latest", behind, {
        step: behind.step,
        microBatch: behind.step * accumulation,
        batchSize,
        gradAccumulationSteps: accumulation,
        seed: cfg.seed,
        validLoss: null,
        bestValidLoss: saved?.bestValidLoss ?? null,
        evaluationsSinceBest: saved?.evaluationsSinceBest ?? 0,
        config: cfg,
      });
    }

    // Ctrl-C, SIGTERM (timeout, systemd, Docker, schedulers) and the caller's signal stop at the
    // next step boundary, where the trainer writes a checkpoint, instead of killing the run.
    let stoppedBy: TrainingRunResult["stoppedBy"];
    let trainer: Trainer | undefined;
    const stop = (why: NonNullable<typeof stoppedBy>) => () => {
      stoppedBy ??= why;
      trainer?.cancel();
    };
    const onSigint = stop("SIGINT");
    const onSigterm = stop("SIGTERM");
    const onAbort = stop("abort");
    process.once("SIGINT", onSigint);
    process.once("SIGTERM", onSigterm);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const control = opts.control;
    if (control) control.interrupt = () => trainer?.cancel();
    let done: NativeDoneEvent | undefined;
    // The safety probe and medical accuracy need the model, which a running trainer holds: the
    // trainer is cancelled at a step boundary (writing a checkpoint), measured, and resumed from
    // that checkpoint — exactly. A pause from startTraining waits at the same place.
    const probeEvery = cfg.safetyProbeEvery;
    let nextProbe =
      probeEvery === null
        ? Infinity
        : (Math.floor((resumedFromStep ?? 0) / probeEvery) + 1) * probeEvery;
    let probeDue = false;
    let attempts = 0;
    const nextEpochEnd = (after: number) => epochEnds.find((s) => s > after) ?? Infinity;
    let nextAccuracy = nextEpochEnd(resumedFromStep ?? 0);
    let accuracyDue = false;
    const medicalAccuracy: AccuracyEvent[] = [];
    const measureAccuracy = async (iteration: number) => {
      const epoch = (iteration * cfg.gradAccumulationSteps) / schedule.batchesPerEpoch;
      const at = { iteration, epoch: Math.round(epoch * 1000) / 1000 };
      try {
        const e = await measureMedicalAccuracy(model, chat, accuracyItems, at, opts.signal);
        medicalAccuracy.push(e);
        emit(e);
      } catch (err) {
        if (!(err instanceof EvaluationCancelled)) throw err; // aborted: stoppedBy says so
      }
    };
    try {
      // The curve's starting point: the base model with fresh adapters, before the first step.
      if (accuracyItems.length > 0 && cfg.medicalAccuracyEveryEpoch && resumedFromStep === null)
        await measureAccuracy(0);
      while (done === undefined) {
        // A fresh run removed the folder above, so any checkpoint here is this run's (a rank other
        // than 0 may list it before rank 0 removed it: its fresh first attempt does not look).
        const fromCheckpoint =
          (writer || resume || attempts++ > 0) && listCheckpoints(checkpointDir).length > 0;
        // A restart before the first checkpoint begins from the initial adapters.
        if (!fromCheckpoint) model.native.setAdapterWeights(initialAdapters);
        mkdirSync(checkpointDir, { recursive: true });
        writeFileAtomicSync(
          batchFile,
          `${JSON.stringify({ batchSize, gradAccumulationSteps: accumulation })}\n`,
        );
        trainer = new Trainer(model, {
          train: trainSet,
          valid: validSet,
          batches: trainBatches,
          validBatches: evalBatches,
          // The preset's settings under their own names; then what the run decided.
          ...pickKeys(cfg, TRAINER_SETTINGS),
          iters: totalIters,
          gradAccumulationSteps: accumulation,
          // A constant schedule is a cosine whose floor is its peak.
          minLearningRate: cfg.schedule === "constant" ? cfg.learningRate : cfg.minLearningRate,
          evalEvery: evalBatches ? cfg.evalEvery : 0,
          checkpointDir,
          resumeFrom: fromCheckpoint ? checkpointDir : undefined,
          distributed: group !== null,
        });
        let lastStep = listCheckpoints(checkpointDir).at(-1)?.step ?? 0;
        const running = trainer;
        const monitor = new Monitor({ totalSteps: totalIters, startStep: lastStep });
        try {
          const finished = trainer.run((e) => {
            emit(e);
            if (e.type === "progress") {
              lastStep = e.iteration;
              emit(monitor.sample(e));
              if (e.iteration < totalIters) {
                probeDue ||= e.iteration >= nextProbe;
                accuracyDue ||= e.iteration >= nextAccuracy;
                if (probeDue || accuracyDue) running.cancel();
              }
            }
            if (e.type === "eval" && early.evaluated(e.validLoss, e.iteration)) {
              stoppedBy ??= "early-stopping";
              running.cancel();
            }
            if (e.type === "checkpoint") {
              const state: CheckpointState = {
                step: e.iteration,
                microBatch: e.iteration * accumulation,
                batchSize,
                gradAccumulationSteps: accumulation,
                seed: cfg.seed,
                validLoss: early.lastLoss(e.iteration),
                bestValidLoss: early.best,
                evaluationsSinceBest: early.since,
                config: cfg,
                worldSize: group?.size ?? 1,
              };
              if (!writer) return; // rank 0 keeps the book
              book.publish("latest", e, state);
              if (early.bestStep === e.iteration) book.publish("best", e, state);
              book.prune(e.iteration);
            }
          });
          // After run() started the native job: a cancel before it would be reset by the job's start.
          if (opts.signal?.aborted) onAbort();
          if (control?.pauseRequested()) running.cancel();
          done = await finished;
          // Cancelled with no stop asked for: a measurement is due or startTraining pauses.
          if (done.stopReason === "cancelled" && !stoppedBy) {
            const at = done.iteration;
            if (probeDue && probeEvery !== null) {
              const t0 = Date.now();
              const { safetyProbe } = await import("../evaluate/answer.js");
              const r = await safetyProbe(model, undefined, {
                maxNewTokens: 48,
                signal: opts.signal,
              });
              emit({
                type: "safety",
                iteration: at,
                refusalRate: r.refusalRate,
                meanSafetyScore: r.meanSafetyScore,
                seconds: (Date.now() - t0) / 1000,
              });
              nextProbe = (Math.floor(at / probeEvery) + 1) * probeEvery;
              probeDue = false;
            }
            if (accuracyDue) {
              await measureAccuracy(at);
              nextAccuracy = nextEpochEnd(at);
              accuracyDue = false;
            }
            if (control?.pauseRequested() && !stoppedBy && !(await control.paused(at)))
              stoppedBy = "abort";
            if (!stoppedBy) done = undefined; // go on from the checkpoint the cancel wrote
          }
        } catch (e) {
          // A distributed run cannot halve one rank's micro-batch alone: the error ends the run.
          if (!isOutOfMemory(e) || budget === null || group !== null) throw e;
          const peak = Number(/peak (\d+)/.exec((e as Error).message)?.[1] ?? NaN);
          if (batchSize === 1 || stoppedBy)
            throw new Error(
              `${(e as Error).message} at micro-batch 1 (memoryLimitBytes ${budget} of ${cfg.runName}): ` +
                `raise memoryLimitBytes, lower maxSeqLength, or set gradCheckpointing: true`,
              { cause: e },
            );
          const from = batchSize;
          halve();
          loadNative().clearCache();
          emit({
            type: "batch",
            reason: "out-of-memory",
            iteration: lastStep,
            fromBatchSize: from,
            batchSize,
            gradAccumulationSteps: accumulation,
            budgetBytes: budget,
            peakMemoryBytes: peak,
          });
        }
      }
    } finally {
      if (control) control.interrupt = undefined;
      process.removeListener("SIGINT", onSigint);
      process.removeListener("SIGTERM", onSigterm);
      opts.signal?.removeEventListener("abort", onAbort);
    }
    const adapterDirs = { mlx: join(adapterRoot, "mlx"), peft: join(adapterRoot, "peft") };
    mkdirSync(adapterDirs.mlx, { recursive: true });
    mkdirSync(adapterDirs.peft, { recursive: true });
    model.saveAdapters(adapterDirs.mlx, "mlx");
    model.saveAdapters(adapterDirs.peft, "peft");
    const ended = done.stopReason === "completed" || stoppedBy === "early-stopping";
    if (accuracyItems.length > 0 && ended && medicalAccuracy.at(-1)?.iteration !== done.iteration)
      await measureAccuracy(done.iteration);
    return {
      config: cfg,
      runName,
      done,
      events,
      batchSize,
      gradAccumulationSteps: accumulation,
      trainExamples: train.examples.length,
      validExamples: valid?.examples.length ?? 0,
      truncation: train.report,
      paddingFraction: schedule.paddingReport(0).paddingFraction,
      checkpointDir,
      adapterDirs,
      metricsFile,
      resumedFromStep,
      medicalAccuracy,
      ...(stoppedBy ? { stoppedBy } : {}),
      model: opts.keepModel ? model : undefined,
      tokenizer,
      template,
    };
  } finally {
    if (!opts.keepModel) model.dispose();
    if (!writer) rmSync(outBase, { recursive: true, force: true });
  }
}

const MIB = 2 ** 20;

/** The preset keys Model.addAdapters takes, as they are. */
const LORA_SETTINGS = [
  "loraRank",
  "loraAlpha",
  "rsLora",
  "dora",
  "loraDropout",
  "loraKeys",
  "loraLayers",
  "seed",
] as const satisfies readonly (keyof TrainingConfig & keyof LoraOptions)[];

/** The preset keys the trainer takes, as they are (one name from YAML to native/src/train.h). */
const TRAINER_SETTINGS = [
  "maxSeqLength",
  "learningRate",
  "warmupSteps",
  "cycles",
  "weightDecay",
  "adamBeta1",
  "adamBeta2",
  "adamEps",
  "gradClip",
  "gradCheckpointing",
  "seed",
  "reportEvery",
  "saveEvery",
  "memoryLimitBytes",
] as const satisfies readonly (keyof TrainingConfig & keyof TrainerOptions)[];

function pickKeys<T, K extends keyof T>(from: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) out[k] = from[k];
  return out;
}

/** The scalars of one event, under TensorBoard tags grouped by prefix. */
function tensorboardScalars(tb: TensorBoardWriter, e: RunEvent): void {
  if (e.type === "progress")
    tb.scalars(e.iteration, {
      "loss/train": e.trainLoss,
      "optimizer/learning_rate": e.learningRate,
    });
  else if (e.type === "eval") tb.scalars(e.iteration, { "loss/valid": e.validLoss });
  else if (e.type === "accuracy")
    tb.scalars(e.iteration, {
      "accuracy/medical": e.accuracy,
      "accuracy/medical_normalized": e.accuracyNormalized,
      "accuracy/gold_option_probability": e.meanGoldProbability,
    });
  else if (e.type === "safety")
    tb.scalars(e.iteration, {
      "safety/refusal_rate": e.refusalRate,
      "safety/mean_score": e.meanSafetyScore,
    });
  else if (e.type === "batch")
    tb.scalars(e.iteration, {
      "batch/micro_batch": e.batchSize,
      "batch/accumulation": e.gradAccumulationSteps,
    });
  else if (e.type === "monitor")
    tb.scalars(e.iteration, {
      "memory/mlx_active_mib": e.mlxActiveBytes / MIB,
      "memory/mlx_peak_mib": e.mlxPeakBytes / MIB,
      "memory/mlx_cache_mib": e.mlxCacheBytes / MIB,
      "memory/rss_mib": e.rssBytes / MIB,
      "memory/system_free_mib": e.systemFreeBytes / MIB,
      "speed/tokens_per_second": e.tokensPerSecond,
      "speed/supervised_tokens_per_second": e.supervisedTokensPerSecond,
      "speed/eta_seconds": e.etaSeconds,
      ...(typeof e.temperatureCelsius === "number"
        ? { "system/temperature_c": e.temperatureCelsius }
        : {}),
    });
}

function readBatchFile(file: string): { batchSize: number } | null {
  try {
    const v = JSON.parse(readFileSync(file, "utf8")) as { batchSize?: unknown };
    return typeof v.batchSize === "number" && v.batchSize >= 1 ? { batchSize: v.batchSize } : null;
  } catch {
    return null; // unreadable: start from the config's size (an OOM halves it again)
  }
}

/** Validation micro-batches: length-bucketed, fixed order, at most evalBatches (-1 = all). */
function validOrder(examples: readonly TokenizedExample[], cfg: TrainingConfig): number[][] {
  const schedule = new BatchSchedule(
    examples.map((e) => e.tokens.length),
    { batchSize: cfg.batchSize, seed: cfg.seed },
  );
  const all = schedule.epochBatches(0);
  return cfg.evalBatches < 0 ? all : all.slice(0, cfg.evalBatches);
}

/** Memory and device facts for a run's summary line. */
export function deviceSummary(): string {
  const mlx = loadNative();
  const d = mlx.defaultDevice();
  return `MLX ${mlx.version()} on ${mlx.backend()} (${d.type}:${d.index})`;
}
