/**
 * `medtune augment [--in DIR] [--out DIR] [--seed N] [--config FILE] [--paraphrase-model PATH]
 *                  [--decontaminate PATH...] [--export FORMAT...]`
 *
 * Reads the ingest JSONL files in --in (default data/processed), runs the augment pipeline and
 * writes train.jsonl, valid.jsonl and test.jsonl to --out (default data/processed) atomically,
 * plus augment-report.json (counts, token stats, Plotly figures) and augment-events.jsonl (one
 * line per dropped/flagged/changed/added record, with the reason). Prints a summary.
 *
 *   npx tsx src/cli.ts augment --decontaminate ../shared/datasets/eval
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { readJsonl, writeJsonl, writeLinesAtomic, type LineIssue } from "../data/jsonl.js";
import { writeRecords, type FormatName } from "../data/formats.js";
import type { InstructionRecord } from "../data/record.js";
import { projectPaths } from "../paths.js";
import { defaultConfig, loadConfig, mergeConfig, type AugmentConfig } from "./config.js";
import { loadModelParaphraser, type ModelParaphraser } from "./model-paraphraser.js";
import { runAugment, type AugmentResult } from "./pipeline.js";
import {
  modelTokenCounter,
  lengthHistogram,
  lengthRows,
  splitSourceChart,
  stepCountsChart,
  summarize,
  tokenReport,
  type AugmentReport,
} from "./report.js";
import { SPLIT_NAMES } from "./split.js";

const USAGE = `usage: medtune augment [--in DIR] [--out DIR] [--seed N] [--config FILE] [--tokenizer PATH]
                      [--paraphrase-model PATH] [--decontaminate PATH...] [--export alpaca|sharegpt|chat ...]

  --in DIR             ingest output to read: every *.jsonl except our own outputs (default data/processed)
  --out DIR            where train/valid/test.jsonl and the report go (default data/processed)
  --seed N             seed for sampling, paraphrase choice and splits (default 13)
  --config FILE        YAML/JSON settings (default configs/augment.yaml; keys in src/augment/config.ts)
  --tokenizer PATH     model (GGUF file or HF folder) whose tokenizer counts tokens in the report
                       (default: the bundled SmolLM2 GGUF; the ~4 chars/token estimate if absent)
  --paraphrase-model P model (GGUF file or HF folder) that proposes paraphrases besides the rules; its
                       replies pass the same entity and ROUGE-L checks
  --decontaminate P..  eval files or folders to remove overlap with (PubMedQA, MedSafetyBench, Med-HALT …)
  --export F..         also write the splits as <split>.<format>.jsonl
`;

/** The settings used when --config is not given (paths in it are relative to configs/). */
export const DEFAULT_CONFIG = join(projectPaths.configs, "augment.yaml");

/** Files that are outputs of this command, never inputs. */
const OUTPUT_RE = /^(?:train|valid|test)(?:\.[a-z]+)?\.jsonl$|^augment-/;

interface Args {
  in: string;
  out: string;
  seed?: number;
  config?: string;
  tokenizer?: string;
  paraphraseModel?: string;
  decontaminate: string[];
  exports: FormatName[];
}

function parseArgs(argv: string[]): Args | string {
  const a: Args = { in: "data/processed", out: "data/processed", decontaminate: [], exports: [] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`${flag} expects a value`);
      return v;
    };
    const values = () => {
      const vs: string[] = [];
      while (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("--")) vs.push(argv[++i]!);
      if (vs.length === 0) throw new Error(`${flag} expects one or more values`);
      return vs;
    };
    try {
      if (flag === "--in") a.in = value();
      else if (flag === "--out") a.out = value();
      else if (flag === "--config") a.config = value();
      else if (flag === "--tokenizer") a.tokenizer = value();
      else if (flag === "--paraphrase-model") a.paraphraseModel = value();
      else if (flag === "--seed") {
        const v = value();
        if (!/^\d+$/.test(v)) throw new Error(`--seed expects a non-negative integer, got "${v}"`);
        a.seed = Number(v);
      } else if (flag === "--decontaminate") a.decontaminate.push(...values());
      else if (flag === "--export") {
        for (const f of values()) {
          if (!["alpaca", "sharegpt", "chat"].includes(f))
            throw new Error(`--export expects alpaca, sharegpt or chat, got "${f}"`);
          a.exports.push(f as FormatName);
        }
      } else if (flag === "-h" || flag === "--help") return USAGE;
      else throw new Error(`unknown option "${flag}"`);
    } catch (e) {
      return `medtune augment: ${(e as Error).message}\n\n${USAGE}`;
    }
  }
  return a;
}

export async function main(argv: string[]): Promise<number> {
  const started = performance.now();
  const args = parseArgs(argv);
  if (typeof args === "string") {
    const help = args === USAGE;
    (help ? process.stdout : process.stderr).write(args);
    return help ? 0 : 2;
  }
  let config: AugmentConfig;
  try {
    config = args.config
      ? loadConfig(args.config)
      : existsSync(DEFAULT_CONFIG)
        ? loadConfig(DEFAULT_CONFIG)
        : defaultConfig();
  } catch (e) {
    process.stderr.write(`medtune augment: ${(e as Error).message}\n`);
    return 2;
  }
  const configFile = args.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : null);
  config = mergeConfig(
    config,
    {
      ...(args.seed !== undefined ? { seed: args.seed } : {}),
      ...(args.decontaminate.length
        ? { decontaminate: [...config.decontaminate, ...args.decontaminate.map((p) => resolve(p))] }
        : {}),
      ...(args.exports.length
        ? { exports: [...new Set([...config.exports, ...args.exports])] }
        : {}),
    },
    "command line",
  );

  let files: string[];
  try {
    files = readdirSync(args.in)
      .filter((f) => f.endsWith(".jsonl") && !OUTPUT_RE.test(f))
      .sort()
      .map((f) => join(args.in, f))
      .filter((f) => statSync(f).isFile());
  } catch (e) {
    process.stderr.write(
      `medtune augment: cannot read input folder ${args.in}: ${(e as Error).message}\n`,
    );
    return 1;
  }
  if (files.length === 0) {
    process.stderr.write(
      `medtune augment: no ingest *.jsonl files in ${args.in} (run \`medtune ingest\` first)\n`,
    );
    return 1;
  }
  const records: InstructionRecord[] = [];
  const issues: LineIssue[] = [];
  for (const f of files) {
    for await (const r of readJsonl(f, { onIssue: (i) => issues.push(i) })) records.push(r);
  }
  for (const i of issues.slice(0, 20))
    process.stderr.write(`medtune augment: skipped ${i.file}:${i.line}: ${i.message}\n`);
  if (issues.length > 20)
    process.stderr.write(
      `medtune augment: … and ${issues.length - 20} more malformed lines (see the report)\n`,
    );

  let paraphraser: ModelParaphraser | undefined;
  if (args.paraphraseModel) {
    try {
      paraphraser = await loadModelParaphraser(args.paraphraseModel, { seed: config.seed });
    } catch (e) {
      process.stderr.write(
        `medtune augment: --paraphrase-model ${args.paraphraseModel}: cannot load the model: ${(e as Error).message}\n`,
      );
      return 1;
    }
  }
  let result: AugmentResult;
  try {
    result = await runAugment(records, config, {
      onStep: (s) =>
        process.stderr.write(`  ${s.step}: ${s.in} → ${s.out} (${Math.round(s.durationMs)} ms)\n`),
      ...(paraphraser ? { generate: paraphraser.generate } : {}),
    });
  } finally {
    paraphraser?.dispose();
  }

  const outputs: Record<string, string> = {};
  for (const s of SPLIT_NAMES) {
    const file = join(args.out, `${s}.jsonl`);
    await writeJsonl(file, result.splits[s]);
    outputs[s] = file;
    for (const f of config.exports) {
      const ef = join(args.out, `${s}.${f}.jsonl`);
      await writeRecords(ef, result.splits[s], f);
      outputs[`${s}.${f}`] = ef;
    }
  }
  const counter = await modelTokenCounter(args.tokenizer);
  const rows = lengthRows(result.splits, counter.count);
  const eventsFile = join(args.out, "augment-events.jsonl");
  await writeLinesAtomic(
    eventsFile,
    result.events.map((e) => JSON.stringify(e)),
  );
  outputs.events = eventsFile;
  const reportFile = join(args.out, "augment-report.json");
  outputs.report = reportFile;
  const report: AugmentReport = {
    seed: config.seed,
    configFile,
    input: { files, records: records.length, malformedLines: issues },
    steps: result.steps,
    splits: {
      train: result.splits.train.length,
      valid: result.splits.valid.length,
      test: result.splits.test.length,
    },
    leaks: result.leaks.length,
    tokens: tokenReport(rows, counter.name, counter.note),
    outputs,
    durationMs: performance.now() - started,
  };
  const figures = {
    lengths: lengthHistogram(rows),
    steps: stepCountsChart(result.steps),
    sources: splitSourceChart(result.splits),
  };
  await writeLinesAtomic(reportFile, [JSON.stringify({ ...report, config, figures }, null, 2)]);
  process.stdout.write(`${summarize(report)}\n`);
  return result.leaks.length > 0 ? 1 : 0;
}
