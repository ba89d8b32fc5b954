/**
 * The flags of `npm run bench [suite] [options]`, declared once for every comparison suite (so
 * `npm run bench -- --steps 2` reaches train when all suites run), and the options object each
 * suite's `bench()` receives.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { CommandSpec, FlagValue } from "../cli-flags.js";
import { fromRoot, ROOT } from "../paths.js";
import type { Comparison, Goal } from "./stats.js";

export interface BenchOptions {
  /** Interleaved rounds; undefined = the suite's default (3, train 2). */
  repeats: number | undefined;
  steps: number;
  /** mlx-lm's steps: it runs once, in the first round (its CPU step takes minutes). */
  mlxSteps: number;
  seq: number;
  batch: number;
  rank: number;
  model: string;
  threads: number;
  /** Training records (JSONL); undefined = data/processed/train.jsonl, else the bundled samples. */
  data: string | undefined;
  peers: boolean;
  mb: number;
  chemblMb: number;
  sources: string[] | undefined;
  count: number;
  promptTokens: number;
  maxTokens: number;
  parallel: number;
  /** packed: the quantized GGUF to train kept packed and expanded; undefined = the synthetic 1B. */
  packedModel: string | undefined;
  /** An HF directory for mlx-lm instead of one exported from the GGUF. */
  hfDir: string | undefined;
  out: string;
  keep: boolean;
}

export interface SuiteOutcome {
  comparisons: Comparison[];
  goals: Goal[];
}

export type Log = (line: string) => void;

export const BUNDLED_MODEL = join(ROOT, "models", "base", "SmolLM2-135M-Instruct.Q4_1.gguf");

export const BENCH_SPEC: CommandSpec = {
  command: "bench",
  summary:
    "Speed and memory of medtune beside its peers (PEFT + PyTorch CPU, mlx-lm, llama.cpp, gzip -dc) on the same work, interleaved A B A B; prints medians, min–max and ratios, writes evaluation/benchmarks/<date>.json and .html.",
  positionals: [
    {
      name: "suite",
      variadic: true,
      description:
        "matmul, generate, train, packed, ingest, augment (or profile alone); all comparison suites when absent",
    },
  ],
  flags: {
    repeats: {
      type: "int",
      min: 1,
      description: "interleaved rounds per subject",
      defaultText: "3; train and ingest 2",
    },
    steps: {
      type: "int",
      min: 2,
      description: "train: optimizer steps per run (the first is warm-up, not timed)",
      defaultText: "4",
    },
    "mlx-steps": {
      type: "int",
      min: 0,
      description:
        "train: mlx-lm's steps; it runs once, in the first round (mlx[cpu] multiplies through the wheel's reference BLAS: minutes per 4×512 step); 0: no mlx-lm run",
      defaultText: "1",
    },
    seq: { type: "int", min: 8, description: "train: tokens per row", defaultText: "512" },
    batch: { type: "int", min: 1, description: "train: rows per step", defaultText: "4" },
    rank: {
      type: "int",
      min: 1,
      description: "train: LoRA rank (all seven modules, alpha = 2·rank)",
      defaultText: "16",
    },
    model: {
      type: "string",
      value: "GGUF",
      description: "train, generate: the model",
      defaultText: "the bundled SmolLM2-135M Q4_1",
    },
    threads: {
      type: "int",
      min: 1,
      description: "threads for every subject",
      defaultText: "the CPU count",
    },
    data: {
      type: "string",
      value: "JSONL",
      description: "train: records to train on",
      defaultText: "data/processed/train.jsonl, else the bundled samples ingested",
    },
    peers: {
      type: "boolean",
      description: "run the peers (--no-peers: medtune alone, no Python venv)",
      defaultText: "on",
    },
    mb: {
      type: "int",
      min: 1,
      description: "ingest: MB of uncompressed input per source",
      defaultText: "32",
    },
    "chembl-mb": {
      type: "int",
      min: 1,
      description: "ingest: size of the generated ChEMBL SQLite database",
      defaultText: "100",
    },
    sources: {
      type: "list",
      description: "ingest: sources to run",
      choices: ["hetionet", "drugbank", "pubmed", "clinicaltrials", "chembl_sqlite"],
    },
    count: {
      type: "int",
      min: 10,
      description: "augment: generated records",
      defaultText: "10000",
    },
    "prompt-tokens": {
      type: "int",
      min: 1,
      description: "generate: prompt length",
      defaultText: "64",
    },
    "max-tokens": {
      type: "int",
      min: 2,
      description: "generate: new tokens (greedy)",
      defaultText: "128",
    },
    parallel: {
      type: "int",
      min: 2,
      description: "generate: prompts in the batched run",
      defaultText: "16",
    },
    "packed-model": {
      type: "string",
      value: "GGUF",
      description: "packed: a quantized GGUF to train kept packed and expanded to float32",
      defaultText: "a synthetic ~1B Q4_0 llama written once into data/cache/bench",
    },
    "hf-dir": {
      type: "string",
      value: "DIR",
      description: "train: HF directory for mlx-lm",
      defaultText: "exported from the GGUF into data/cache/bench",
    },
    out: {
      type: "string",
      value: "DIR",
      description: "where results go",
      defaultText: "evaluation/benchmarks",
    },
    keep: { type: "boolean", description: "keep generated inputs and temp files" },
  },
  epilog: [
    "examples:",
    "  npm run bench                         # every comparison suite, defaults (~25 min on 2 cores)",
    "  npm run bench -- train --steps 2 --seq 64",
    "  npm run bench -- generate --repeats 5",
    "  npm run bench -- ingest --mb 16 --sources pubmed,chembl_sqlite",
  ].join("\n"),
};

export function benchOptions(v: Record<string, FlagValue>): BenchOptions {
  const int = (k: string, d: number) => (v[k] as number | undefined) ?? d;
  const str = (k: string) => v[k] as string | undefined;
  return {
    repeats: v.repeats as number | undefined,
    steps: int("steps", 3),
    mlxSteps: int("mlx-steps", 1),
    seq: int("seq", 512),
    batch: int("batch", 4),
    rank: int("rank", 16),
    model: fromRoot(str("model") ?? BUNDLED_MODEL),
    threads: int("threads", availableParallelism()),
    data: str("data") === undefined ? undefined : fromRoot(str("data")!),
    peers: (v.peers as boolean | undefined) ?? true,
    mb: int("mb", 32),
    chemblMb: int("chembl-mb", 100),
    sources: v.sources as string[] | undefined,
    count: int("count", 10_000),
    promptTokens: int("prompt-tokens", 64),
    maxTokens: int("max-tokens", 128),
    parallel: int("parallel", 16),
    packedModel: str("packed-model") === undefined ? undefined : fromRoot(str("packed-model")!),
    hfDir: str("hf-dir") === undefined ? undefined : fromRoot(str("hf-dir")!),
    out: fromRoot(str("out") ?? join("evaluation", "benchmarks")),
    keep: (v.keep as boolean | undefined) ?? false,
  };
}
