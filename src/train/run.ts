/**
 * One training run from a preset: config → model → tokenized splits → LoRA steps → adapters,
 * checkpoints and a metrics log, in the run layout of the README ("Layout").
 *
 *   medtune train --config configs/training_configs/quick_test.yaml [--iters N] [--fresh]
 *
 * Writes checkpoints/<run>/ (step-named adapters + optimizer state), models/lora_adapters/<run>/
 * (final adapters in mlx-lm and PEFT layouts) and logs/training_logs/<run>/metrics.jsonl (one
 * event per line). A killed run resumes from its last checkpoint with the same data order; the
 * temporaries it left (`*.tmp-<pid>*`) are removed by the next run. SIGINT, SIGTERM and `signal`
 * stop the run at the next step boundary with a checkpoint.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { parseJsonLine } from "../data/jsonl.js";
import { validateRecord, type InstructionRecord } from "../data/record.js";
import type { NativeDoneEvent } from "../native/binding.js";
import { loadNative } from "../native/loader.js";
import { removeStaleTemporariesIn } from "../fs-atomic.js";
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
import { ChatTemplate } from "./chat-template.js";
import { loadTrainingConfig, type TrainingConfig } from "./config.js";
import { Model } from "./model.js";
import { loadTokenizer, type Tokenizer } from "./tokenizer.js";
import { listCheckpoints, Trainer, type TrainEvent } from "./trainer.js";

export interface RunTrainingOptions {
  /** Override the preset's iteration count (e.g. a shorter smoke run). */
  iters?: number;
  /** Continue from checkpoints/<run>/ when it has a checkpoint (default true). */
  resume?: boolean;
  /** Resolve relative paths in the config against this directory (default: the project root). */
  baseDir?: string;
  onEvent?: (e: TrainEvent) => void;
  /** Keep the model loaded and return it (for generation after training). */
  keepModel?: boolean;
  /** Stops the run at the next step boundary, with a checkpoint (like SIGINT and SIGTERM). */
  signal?: AbortSignal;
}

export interface TrainingRunResult {
  config: TrainingConfig;
  runName: string;
  done: NativeDoneEvent;
  events: TrainEvent[];
  trainExamples: number;
  validExamples: number;
  truncation: TruncationReport;
  paddingFraction: number;
  checkpointDir: string;
  adapterDirs: { mlx: string; peft: string };
  metricsFile: string;
  resumedFromStep: number | null;
  /** What stopped the run early, if anything did. */
  stoppedBy?: "SIGINT" | "SIGTERM" | "abort";
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

export async function runTraining(
  config: TrainingConfig | string,
  opts: RunTrainingOptions = {},
): Promise<TrainingRunResult> {
  const base = opts.baseDir ?? projectPaths.root;
  const cfg = typeof config === "string" ? await loadTrainingConfig(inDir(base, config)) : config;
  const iters = opts.iters ?? cfg.iters;
  const runName = cfg.runName;
  const checkpointDir = join(base, "checkpoints", runName);
  const logDir = join(base, "logs", "training_logs", runName);
  const adapterRoot = join(base, "models", "lora_adapters", runName);

  // The data first: an empty or malformed split is an error before the model is loaded.
  const trainFile = inDir(base, cfg.trainData);
  const trainRecords = readTrainingRecords(trainFile, true);
  const validRecords = cfg.validData ? readTrainingRecords(inDir(base, cfg.validData)) : undefined;
  const modelPath = inDir(base, cfg.model);
  const tokenizer = await loadTokenizer(modelPath);
  const template = ChatTemplate.fromTokenizer(tokenizer);
  const tokenize = (records: TrainingRecord[]) =>
    tokenizeDataset(records, tokenizer, template, {
      maxSeqLength: cfg.maxSeqLength,
      systemPrompt: cfg.systemPrompt ?? undefined,
    });
  const train = tokenize(trainRecords);
  const valid = validRecords ? tokenize(validRecords) : undefined;
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

  const model = await Model.load(
    modelPath,
    cfg.quantizeBits
      ? { quantize: { bits: cfg.quantizeBits, groupSize: cfg.quantizeGroupSize } }
      : {},
  );
  try {
    model.addAdapters({
      rank: cfg.loraRank,
      alpha: cfg.loraAlpha,
      rsLora: cfg.rsLora,
      dora: cfg.dora,
      dropout: cfg.loraDropout,
      targets: cfg.loraKeys,
      numLayers: cfg.loraLayers < 0 ? undefined : cfg.loraLayers,
      seed: cfg.seed,
    });

    // Temporaries of a run that was killed mid-write (the trainer's and ours).
    for (const d of [checkpointDir, logDir, join(adapterRoot, "mlx"), join(adapterRoot, "peft")])
      removeStaleTemporariesIn(d);
    const resume = (opts.resume ?? true) && listCheckpoints(checkpointDir).length > 0;
    const resumedFromStep = resume ? listCheckpoints(checkpointDir).at(-1)!.step : null;
    if (!resume) rmSync(checkpointDir, { recursive: true, force: true });
    mkdirSync(logDir, { recursive: true });
    const metricsFile = join(logDir, "metrics.jsonl");
    if (!resume) rmSync(metricsFile, { force: true });

    const events: TrainEvent[] = [];
    const trainer = new Trainer(model, {
      train: train.examples,
      valid: valid?.examples,
      batches: micro,
      validBatches,
      iterations: totalIters,
      gradAccumulationSteps: cfg.gradAccumulationSteps,
      maxSeqLength: cfg.maxSeqLength,
      learningRate: cfg.learningRate,
      // A constant schedule is a cosine whose floor is its peak.
      minLearningRate: cfg.schedule === "constant" ? cfg.learningRate : cfg.minLearningRate,
      warmupSteps: cfg.warmupSteps,
      cycles: cfg.cycles,
      weightDecay: cfg.weightDecay,
      beta1: cfg.adamBeta1,
      beta2: cfg.adamBeta2,
      eps: cfg.adamEps,
      maxGradNorm: cfg.gradClip,
      gradientCheckpointing: cfg.gradCheckpointing,
      seed: cfg.seed,
      stepsPerReport: cfg.reportEvery,
      stepsPerEval: validBatches ? cfg.evalEvery : 0,
      saveEvery: cfg.saveEvery,
      checkpointDir,
      memoryLimitBytes: cfg.memoryLimitBytes ?? undefined,
      resumeFrom: resume ? checkpointDir : undefined,
    });
    // Ctrl-C, SIGTERM (timeout, systemd, Docker, schedulers) and the caller's signal stop at the
    // next step boundary, where the trainer writes a checkpoint, instead of killing the run.
    let stoppedBy: TrainingRunResult["stoppedBy"];
    const stop = (why: NonNullable<typeof stoppedBy>) => () => {
      stoppedBy ??= why;
      trainer.cancel();
    };
    const onSigint = stop("SIGINT");
    const onSigterm = stop("SIGTERM");
    const onAbort = stop("abort");
    process.once("SIGINT", onSigint);
    process.once("SIGTERM", onSigterm);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    let done: NativeDoneEvent;
    try {
      done = await trainer.run((e) => {
        events.push(e);
        appendFileSync(
          metricsFile,
          `${JSON.stringify({ run: runName, time: new Date().toISOString(), ...e })}\n`,
        );
        opts.onEvent?.(e);
      });
    } finally {
      process.removeListener("SIGINT", onSigint);
      process.removeListener("SIGTERM", onSigterm);
      opts.signal?.removeEventListener("abort", onAbort);
    }
    const adapterDirs = { mlx: join(adapterRoot, "mlx"), peft: join(adapterRoot, "peft") };
    mkdirSync(adapterDirs.mlx, { recursive: true });
    mkdirSync(adapterDirs.peft, { recursive: true });
    model.saveAdapters(adapterDirs.mlx, "mlx");
    model.saveAdapters(adapterDirs.peft, "peft");
    return {
      config: cfg,
      runName,
      done,
      events,
      trainExamples: train.examples.length,
      validExamples: valid?.examples.length ?? 0,
      truncation: train.report,
      paddingFraction: schedule.paddingReport(0).paddingFraction,
      checkpointDir,
      adapterDirs,
      metricsFile,
      resumedFromStep,
      ...(stoppedBy ? { stoppedBy } : {}),
      model: opts.keepModel ? model : undefined,
      tokenizer,
      template,
    };
  } finally {
    if (!opts.keepModel) model.dispose();
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
