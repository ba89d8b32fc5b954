/**
 * Training configuration: the typed TrainingConfig, loaded from YAML presets
 * (configs/training_configs/*.yaml) and model notes (configs/model_configs/*.yaml).
 *
 *   const cfg = await loadTrainingConfig("configs/training_configs/quick_test.yaml", { iters: 5 });
 *
 * Keys in YAML are the TrainingConfig field names. Every problem is reported at once, each naming
 * the file, the line, the key and what was expected, e.g.
 *   quick_test.yaml:12 loraRank: expected an integer ≥ 1, got -4
 * Unknown keys are errors too (with the closest known key), so a typo never silently falls back
 * to a default.
 */
import { readFile } from "node:fs/promises";

import { LineCounter, parseDocument, isMap, isScalar, type Document } from "yaml";
import type { LoraModule } from "../native/binding.js";
import { LORA_MODULES } from "./modules.js";
import { DATASETS } from "./select.js";

/** A projection LoRA can adapt (the names are LORA_MODULES, src/train/modules.ts). */
export type LoraKey = LoraModule;

export type LearningRateSchedule = "cosine" | "constant";

export interface TrainingConfig {
  /** GGUF file or Hugging Face directory (relative paths: from the working directory). */
  model: string;
  /** Name of a configs/model_configs/<name>.yaml with the model's notes, optional. */
  modelConfig: string | null;
  /** JSONL of records (InstructionRecord or {id, messages}). */
  trainData: string;
  validData: string | null;
  /** Sources to train on (metadata.source of the splits: ingest ids such as chembl_sqlite, or
   * augment); null = every record. */
  datasets: string[] | null;
  /** At most this many training examples, evenly over the selected sources; null = all. */
  examples: number | null;
  /** System message for instruction records; null keeps the template's own default. */
  systemPrompt: string | null;
  /** Where adapters, checkpoints and logs of this run go (checkpoints/<runName>/…). */
  runName: string;

  loraRank: number;
  loraAlpha: number;
  loraDropout: number;
  loraKeys: LoraKey[];
  /** Adapt the last N transformer blocks; -1 = all. */
  loraLayers: number;
  /** scale = alpha/√rank instead of alpha/rank (rank-stabilised LoRA). */
  rsLora: boolean;
  /** Weight-decomposed LoRA (magnitude vector per output). */
  dora: boolean;
  /** Quantize the frozen base to this many bits (QLoRA); null = keep as loaded. */
  quantizeBits: 4 | 8 | null;
  quantizeGroupSize: 32 | 64 | 128;

  learningRate: number;
  minLearningRate: number;
  warmupSteps: number;
  schedule: LearningRateSchedule;
  /** Cosine cycles after warmup (warm restarts); 1 = a single decay. */
  cycles: number;
  weightDecay: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEps: number;
  /** Global-norm gradient clipping; 0 = off. */
  gradClip: number;

  /** Sequences per micro-batch. */
  batchSize: number;
  /** Micro-batches per optimizer step; loss is weighted by supervised tokens across them. */
  gradAccumulationSteps: number;
  maxSeqLength: number;
  /** Optimizer steps; exactly one of iters / epochs is set (the other null). */
  iters: number | null;
  epochs: number | null;

  evalEvery: number;
  /** Validation micro-batches per evaluation; -1 = the whole validation set. */
  evalBatches: number;
  saveEvery: number;
  /** Step-named checkpoints kept (latest/ and best/ are kept apart from these). */
  keepCheckpoints: number;
  /** Stop after this many evaluations without a lower validation loss; null = never. */
  patience: number | null;
  /** Run the evaluate module's safety probe every this many steps; null = never. */
  safetyProbeEvery: number | null;
  /** Validation multiple-choice items scored for medical accuracy (src/train/accuracy.ts); 0 = never. */
  medicalAccuracyItems: number;
  /** Measure medical accuracy before the first step and at every epoch end too (always at the end). */
  medicalAccuracyEveryEpoch: boolean;
  reportEvery: number;
  seed: number;
  gradCheckpointing: boolean;
  /** Fail the run cleanly above this; null = no limit. YAML accepts "12 GiB". */
  memoryLimitBytes: number | null;
}

/** One problem in a config file. */
export interface ConfigIssue {
  file: string;
  line: number | null;
  key: string;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    // In file order, so the message reads top to bottom like the YAML.
    const sorted = [...issues].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    super(
      sorted
        .map((i) => `${i.file}${i.line === null ? "" : `:${i.line}`} ${i.key}: ${i.message}`)
        .join("\n"),
    );
    this.issues = sorted;
    this.name = "ConfigError";
  }
}

type Check = (value: unknown) => string | null; // null = ok, else "expected …"

const show = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : String(v));
const int =
  (min: number, max = Infinity): Check =>
  (v) =>
    typeof v === "number" && Number.isInteger(v) && v >= min && v <= max
      ? null
      : `expected an integer ${max === Infinity ? `≥ ${min}` : `in [${min}, ${max}]`}, got ${show(v)}`;
const num =
  (min: number, max = Infinity, openMin = false): Check =>
  (v) =>
    typeof v === "number" && Number.isFinite(v) && (openMin ? v > min : v >= min) && v <= max
      ? null
      : `expected a number ${openMin ? ">" : "≥"} ${min}${max === Infinity ? "" : ` and ≤ ${max}`}, got ${show(v)}`;
const bool: Check = (v) =>
  typeof v === "boolean" ? null : `expected true or false, got ${show(v)}`;
const str: Check = (v) =>
  typeof v === "string" && v.length > 0 ? null : `expected a non-empty string, got ${show(v)}`;
const nullable =
  (c: Check): Check =>
  (v) =>
    v === null ? null : c(v);
const oneOf =
  (...allowed: unknown[]): Check =>
  (v) =>
    allowed.includes(v) ? null : `expected one of ${allowed.map(show).join(", ")}, got ${show(v)}`;
const loraKeys: Check = (v) => {
  if (!Array.isArray(v) || v.length === 0)
    return `expected a non-empty list of ${LORA_MODULES.join(", ")}`;
  const bad = v.filter((k) => !(LORA_MODULES as readonly string[]).includes(k as string));
  return bad.length
    ? `unknown projection ${bad.map(show).join(", ")}; expected some of ${LORA_MODULES.join(", ")}`
    : null;
};

/** Dataset names: the ingest ids, plus metadata.source spellings (chembl) and augment. */
const DATASET_NAMES: readonly string[] = [...DATASETS, "chembl", "augment"];
const datasets: Check = (v) => {
  if (!Array.isArray(v) || v.length === 0)
    return `expected a non-empty list of ${DATASET_NAMES.join(", ")}`;
  const bad = v.filter((d) => !DATASET_NAMES.includes(d as string));
  if (bad.length === 0) return null;
  const near = bad.map((d) => closest(String(d), DATASET_NAMES)).filter((d) => d !== null);
  return `unknown dataset ${bad.map(show).join(", ")}${near.length ? ` (did you mean ${near.join(", ")}?)` : ""}; expected some of ${DATASET_NAMES.join(", ")}`;
};

const DEFAULTS: Omit<TrainingConfig, "model" | "trainData"> = {
  modelConfig: null,
  validData: null,
  datasets: null,
  examples: null,
  systemPrompt: null,
  runName: "run",
  loraRank: 8,
  loraAlpha: 16,
  loraDropout: 0,
  loraKeys: ["self_attn.q_proj", "self_attn.v_proj"],
  loraLayers: -1,
  rsLora: false,
  dora: false,
  quantizeBits: null,
  quantizeGroupSize: 64,
  learningRate: 1e-4,
  minLearningRate: 0,
  warmupSteps: 0,
  schedule: "cosine",
  cycles: 1,
  weightDecay: 0,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEps: 1e-8,
  gradClip: 1,
  batchSize: 4,
  gradAccumulationSteps: 1,
  maxSeqLength: 2048,
  iters: null,
  epochs: null,
  evalEvery: 200,
  evalBatches: 25,
  saveEvery: 100,
  keepCheckpoints: 3,
  patience: null,
  safetyProbeEvery: null,
  medicalAccuracyItems: 16,
  medicalAccuracyEveryEpoch: true,
  reportEvery: 10,
  seed: 0,
  gradCheckpointing: false,
  memoryLimitBytes: null,
};

const CHECKS: Record<keyof TrainingConfig, Check> = {
  model: str,
  modelConfig: nullable(str),
  trainData: str,
  validData: nullable(str),
  datasets: nullable(datasets),
  examples: nullable(int(1)),
  systemPrompt: (v) =>
    v === null || typeof v === "string" ? null : `expected a string or null, got ${show(v)}`,
  runName: (v) =>
    typeof v === "string" && /^[A-Za-z0-9._-]+$/.test(v)
      ? null
      : `expected a folder-safe name ([A-Za-z0-9._-]+), got ${show(v)}`,
  loraRank: int(1, 1024),
  loraAlpha: num(0, Infinity, true),
  loraDropout: (v) =>
    typeof v === "number" && v >= 0 && v < 1 ? null : `expected a number in [0, 1), got ${show(v)}`,
  loraKeys,
  loraLayers: (v) =>
    v === -1
      ? null
      : int(1)(v) === null
        ? null
        : `expected -1 (all blocks) or an integer ≥ 1, got ${show(v)}`,
  rsLora: bool,
  dora: bool,
  quantizeBits: oneOf(4, 8, null),
  quantizeGroupSize: oneOf(32, 64, 128),
  learningRate: num(0, 1, true),
  minLearningRate: num(0, 1),
  warmupSteps: int(0),
  schedule: oneOf("cosine", "constant"),
  cycles: int(1),
  weightDecay: num(0, 1),
  adamBeta1: (v) =>
    typeof v === "number" && v >= 0 && v < 1 ? null : `expected a number in [0, 1), got ${show(v)}`,
  adamBeta2: (v) =>
    typeof v === "number" && v >= 0 && v < 1 ? null : `expected a number in [0, 1), got ${show(v)}`,
  adamEps: num(0, 1, true),
  gradClip: num(0),
  batchSize: int(1),
  gradAccumulationSteps: int(1),
  maxSeqLength: int(2, 1 << 20),
  iters: nullable(int(1)),
  epochs: nullable(num(0, Infinity, true)),
  evalEvery: int(1),
  evalBatches: (v) =>
    v === -1 || int(1)(v) === null ? null : `expected -1 (all) or an integer ≥ 1, got ${show(v)}`,
  saveEvery: int(1),
  keepCheckpoints: int(1),
  patience: nullable(int(1)),
  safetyProbeEvery: nullable(int(1)),
  medicalAccuracyItems: int(0),
  medicalAccuracyEveryEpoch: bool,
  reportEvery: int(1),
  seed: int(0, 2 ** 32 - 1),
  gradCheckpointing: bool,
  memoryLimitBytes: nullable(int(1)),
};

/** Every key a preset may set, in TrainingConfig order (the CLI makes one flag of each). */
export const TRAINING_CONFIG_KEYS = Object.keys(CHECKS) as (keyof TrainingConfig)[];

/** The value-less keys (flags that are switches). */
export const BOOLEAN_KEYS: readonly (keyof TrainingConfig)[] = [
  "rsLora",
  "dora",
  "gradCheckpointing",
  "medicalAccuracyEveryEpoch",
];
/** The keys whose value is a list. */
export const LIST_KEYS: readonly (keyof TrainingConfig)[] = ["loraKeys", "datasets"];

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
};

/** "12 GiB" → 12884901888; numbers pass through; anything else is returned unchanged (and fails the check). */
export function parseBytes(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMG]i?B|B)\s*$/i.exec(v);
  const unit = m?.[2]?.toLowerCase();
  if (!m || unit === undefined || UNITS[unit] === undefined) return v;
  return Math.round(Number(m[1]) * (UNITS[unit] as number));
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j] as number;
      row[j] = Math.min(up + 1, (row[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length] as number;
}

function closest(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : null;
}

interface Located {
  values: Record<string, unknown>;
  lineOf: (key: string) => number | null;
}

function parseYaml(text: string, file: string): Located {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({
        file,
        line: e.linePos?.[0]?.line ?? null,
        key: "(yaml)",
        message: e.message.split("\n")[0] ?? e.message,
      })),
    );
  }
  const root = doc.contents;
  if (root === null) return { values: {}, lineOf: () => null };
  if (!isMap(root))
    throw new ConfigError([
      { file, line: 1, key: "(root)", message: "expected a mapping of key: value" },
    ]);
  const lines = new Map<string, number>();
  for (const pair of root.items) {
    const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const range = isScalar(pair.key) ? pair.key.range : undefined;
    if (range) lines.set(k, lineCounter.linePos(range[0]).line);
  }
  return { values: doc.toJS() as Record<string, unknown>, lineOf: (k) => lines.get(k) ?? null };
}

/**
 * Validate raw values (from YAML, plus overrides) into a TrainingConfig. `file` and `lineOf` only
 * make the messages point at the right place.
 */
export function validateTrainingConfig(
  raw: Record<string, unknown>,
  file = "(config)",
  lineOf: (key: string) => number | null = () => null,
  /** Where an override came from, e.g. "--batch-size"; such issues name it instead of the file. */
  overrideLabel?: (key: string) => string | undefined,
): TrainingConfig {
  const issues: ConfigIssue[] = [];
  const add = (key: string, message: string) => {
    const label = overrideLabel?.(key);
    issues.push(
      label
        ? { file: "(command line)", line: null, key: `${key} (${label})`, message }
        : { file, line: lineOf(key), key, message },
    );
  };
  const known = Object.keys(CHECKS);
  for (const key of Object.keys(raw)) {
    if (!(key in CHECKS)) {
      const near = closest(key, known);
      add(key, `unknown key${near ? `; did you mean ${near}?` : ""}`);
    }
  }
  const merged: Record<string, unknown> = { ...DEFAULTS };
  for (const [k, v] of Object.entries(raw)) if (k in CHECKS) merged[k] = v;
  merged.memoryLimitBytes = parseBytes(merged.memoryLimitBytes);
  for (const key of ["model", "trainData"])
    if (merged[key] === undefined) add(key, "required, missing");
  for (const [key, check] of Object.entries(CHECKS)) {
    if (merged[key] === undefined) continue;
    const problem = check(merged[key]);
    if (problem) add(key, problem);
  }
  // Cross-field rules.
  if (merged.iters === null && merged.epochs === null)
    add("iters", "set iters (optimizer steps) or epochs");
  if (merged.iters !== null && merged.epochs !== null) {
    add("epochs", "set iters or epochs, not both");
  }
  if (typeof merged.minLearningRate === "number" && typeof merged.learningRate === "number") {
    if (merged.minLearningRate > merged.learningRate) {
      add(
        "minLearningRate",
        `expected ≤ learningRate (${merged.learningRate}), got ${merged.minLearningRate}`,
      );
    }
  }
  const { evalEvery, saveEvery } = merged;
  if (typeof evalEvery === "number" && typeof saveEvery === "number" && evalEvery % saveEvery) {
    add(
      "evalEvery",
      `expected a multiple of saveEvery (${saveEvery}), so best/ holds the weights that were evaluated; got ${evalEvery}`,
    );
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return merged as unknown as TrainingConfig;
}

/** Load and validate a training preset; `overrides` (e.g. from the CLI) win over the file. */
export async function loadTrainingConfig(
  file: string,
  overrides: Partial<Record<keyof TrainingConfig, unknown>> = {},
  overrideLabel?: (key: string) => string | undefined,
): Promise<TrainingConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new ConfigError([
      { file, line: null, key: "(file)", message: "cannot read the file (is the path right?)" },
    ]);
  }
  const { values, lineOf } = parseYaml(text, file);
  const raw = { ...values, ...overrides };
  // iters and epochs exclude each other: the one given on the command line replaces the other.
  if ("iters" in overrides && !("epochs" in overrides)) raw.epochs = null;
  if ("epochs" in overrides && !("iters" in overrides)) raw.iters = null;
  return validateTrainingConfig(
    raw,
    file,
    (k) => (k in overrides ? null : lineOf(k)),
    (k) => (k in overrides ? overrideLabel?.(k) : undefined),
  );
}

/** Parse a preset from a string (tests, notebooks); `file` names it in errors. */
export function parseTrainingConfig(text: string, file = "(inline)"): TrainingConfig {
  const { values, lineOf } = parseYaml(text, file);
  return validateTrainingConfig(values, file, lineOf);
}

// ---------------------------------------------------------------------------------------------
// Derived numbers the presets' comments show, computed the same way for reports.

export interface RunArithmetic {
  /** Sequences per optimizer step. */
  sequencesPerStep: number;
  /** Upper bound on tokens per step (every sequence at maxSeqLength). */
  maxTokensPerStep: number;
  /** Optimizer steps per epoch for `examples` training examples (last partial micro-batch kept). */
  stepsPerEpoch: number;
  /** Total optimizer steps: iters, or epochs × stepsPerEpoch rounded up. */
  totalSteps: number;
}

export function runArithmetic(cfg: TrainingConfig, examples: number): RunArithmetic {
  const sequencesPerStep = cfg.batchSize * cfg.gradAccumulationSteps;
  const microBatches = Math.ceil(examples / cfg.batchSize);
  const stepsPerEpoch = Math.max(1, Math.ceil(microBatches / cfg.gradAccumulationSteps));
  const totalSteps = cfg.iters ?? Math.ceil((cfg.epochs as number) * stepsPerEpoch);
  return {
    sequencesPerStep,
    maxTokensPerStep: sequencesPerStep * cfg.maxSeqLength,
    stepsPerEpoch,
    totalSteps,
  };
}

// ---------------------------------------------------------------------------------------------
// Model notes (configs/model_configs/*.yaml)

export interface ModelConfig {
  name: string;
  /** Hugging Face repository id of the weights this file describes. */
  hfId: string;
  /** HF config.json model_type: llama | mistral | qwen2 | biogpt (one native model file per type). */
  modelType: "llama" | "mistral" | "qwen2" | "biogpt";
  /**
   * Where the chat template comes from: "gguf" (tokenizer.chat_template), "tokenizer_config", or,
   * for a model that ships none (BioGPT), medtune's own configs/templates/<name>.jinja.
   */
  chatTemplateSource:
    "gguf" | "tokenizer_config" | "chat_template.jinja" | `configs/templates/${string}.jinja`;
  /** Token texts that end an answer (generation stops on them); null = the tokenizer's EOS. */
  stopTokens: string[] | null;
  /** Estimated peak bytes of one LoRA training step, with its arithmetic in the file's comments. */
  memoryEstimateBytes: number | null;
  /** GGUF file of the model for local runs, if one is used (relative to the repo root). */
  gguf: string | null;
  parameters: string;
  contextLength: number;
  recommendedLoraKeys: LoraKey[];
  recommendedLoraRank: number;
  license: string;
  notes: string | null;
}

const MODEL_CHECKS: Record<keyof ModelConfig, Check> = {
  name: str,
  hfId: (v) =>
    typeof v === "string" && /^[\w.-]+\/[\w.-]+$/.test(v)
      ? null
      : `expected "owner/name", got ${show(v)}`,
  modelType: oneOf("llama", "mistral", "qwen2", "biogpt"),
  chatTemplateSource: (v) =>
    typeof v === "string" && /^configs\/templates\/[\w.-]+\.jinja$/.test(v)
      ? null
      : oneOf("gguf", "tokenizer_config", "chat_template.jinja")(v),
  stopTokens: (v) =>
    v === null || (Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === "string"))
      ? null
      : `expected a non-empty list of token texts or null, got ${show(v)}`,
  memoryEstimateBytes: nullable(int(1)),
  gguf: nullable(str),
  parameters: str,
  contextLength: int(1),
  recommendedLoraKeys: loraKeys,
  recommendedLoraRank: int(1),
  license: str,
  notes: (v) =>
    v === null || typeof v === "string" ? null : `expected a string or null, got ${show(v)}`,
};

export async function loadModelConfig(file: string): Promise<ModelConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new ConfigError([{ file, line: null, key: "(file)", message: "cannot read the file" }]);
  }
  const { values, lineOf } = parseYaml(text, file);
  const issues: ConfigIssue[] = [];
  const merged: Record<string, unknown> = {
    gguf: null,
    notes: null,
    stopTokens: null,
    memoryEstimateBytes: null,
    ...values,
  };
  for (const key of Object.keys(values)) {
    if (!(key in MODEL_CHECKS)) {
      const near = closest(key, Object.keys(MODEL_CHECKS));
      issues.push({
        file,
        line: lineOf(key),
        key,
        message: `unknown key${near ? `; did you mean ${near}?` : ""}`,
      });
    }
  }
  for (const [key, check] of Object.entries(MODEL_CHECKS)) {
    const problem = merged[key] === undefined ? "required, missing" : check(merged[key]);
    if (problem) issues.push({ file, line: lineOf(key), key, message: problem });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return merged as unknown as ModelConfig;
}
