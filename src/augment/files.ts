/**
 * The augment stage over files: the ingest JSONL in `inDir` → train/valid/test.jsonl,
 * augment-report.json and augment-events.jsonl in `outDir`. `medtune augment`, `medtune quick-test`
 * and notebooks call this; `augmentRecords` (pipeline.ts) is the same work on records in memory.
 *
 *   const r = await runAugment({ inDir: "data/processed", outDir: "data/processed" });
 *   if (!r.ok) console.error(r.error);            // nothing was written
 *
 * Nothing lost: when the input has no valid record, when the splits hold less than
 * `minOutputRatio` × the valid input records, or when a split with a non-zero share comes out empty,
 * the result is `ok: false` with the reasons and no output is touched (unless `allowEmpty`).
 * Each output is written atomically (src/fs-atomic.ts). Relative paths are against the project root.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { readJsonl, writeJsonl, writeLinesAtomic, type LineIssue } from "../data/jsonl.js";
import { writeRecords } from "../data/formats.js";
import type { InstructionRecord } from "../data/record.js";
import { fromRoot, projectPaths } from "../paths.js";
import { outputShortfall, type OutputGuardOptions } from "../stage-output.js";
import { defaultConfig, loadConfig, type AugmentConfig } from "./config.js";
import { loadModelParaphraser, type ModelParaphraser } from "./model-paraphraser.js";
import { augmentRecords, type AugmentRecordsResult } from "./pipeline.js";
import {
  lengthHistogram,
  lengthRows,
  modelTokenCounter,
  splitSourceChart,
  stepCountsChart,
  tokenReport,
  type AugmentReport,
} from "./report.js";
import { SPLIT_NAMES } from "./split.js";
import type { StepReport } from "./step.js";

/** The settings used when no config is given (paths in it are relative to configs/). */
export const DEFAULT_CONFIG = join(projectPaths.configs, "augment.yaml");

/** Files that are outputs of this stage, never inputs. */
const OUTPUT_RE = /^(?:train|valid|test)(?:\.[a-z]+)?\.jsonl$|^augment-/;

export type AugmentEvent =
  | { type: "malformed"; issue: LineIssue }
  | { type: "step"; report: StepReport }
  | { type: "done"; report: AugmentReport };

export interface RunAugmentOptions extends OutputGuardOptions {
  inDir?: string;
  outDir?: string;
  /** Settings; default: `configFile` loaded, else configs/augment.yaml, else built-in defaults. */
  config?: AugmentConfig;
  configFile?: string;
  /** Model whose tokenizer counts tokens in the report (default: the bundled GGUF). */
  tokenizer?: string;
  /** Model that proposes paraphrases besides the rules. */
  paraphraseModel?: string;
  onEvent?: (e: AugmentEvent) => void;
  signal?: AbortSignal;
}

export type AugmentRunResult =
  | { ok: true; report: AugmentReport; outputs: Record<string, string> }
  | {
      ok: false;
      /** Why nothing was written (names the input and the reasons). */
      error: string;
      input: AugmentReport["input"];
    };

/** The settings `runAugment` uses for these options, and the file they came from. */
export function resolveConfig(o: Pick<RunAugmentOptions, "config" | "configFile">): {
  config: AugmentConfig;
  configFile: string | null;
} {
  if (o.config) return { config: o.config, configFile: o.configFile ?? null };
  const file = o.configFile ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : null);
  return { config: file ? loadConfig(file) : defaultConfig(), configFile: file };
}

/** Counts of malformed lines by message (line numbers dropped), for a failure's reasons. */
function issueReasons(issues: readonly LineIssue[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of issues) {
    const key = i.message.replace(/\d[\d,.]*/g, "N").slice(0, 120);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

export async function runAugment(o: RunAugmentOptions = {}): Promise<AugmentRunResult> {
  const started = performance.now();
  const inDir = fromRoot(o.inDir ?? "data/processed");
  const outDir = fromRoot(o.outDir ?? "data/processed");
  const { config, configFile } = resolveConfig(o);
  let names: string[];
  try {
    names = readdirSync(inDir);
  } catch (e) {
    const error = `${inDir}: cannot read the input folder (${(e as Error).message})`;
    return { ok: false, error, input: { files: [], records: 0, malformedLines: [] } };
  }
  const files = names
    .filter((f) => f.endsWith(".jsonl") && !OUTPUT_RE.test(f))
    .sort()
    .map((f) => join(inDir, f))
    .filter((f) => statSync(f).isFile());
  const input = { files, records: 0, malformedLines: [] as LineIssue[] };
  if (files.length === 0) {
    return {
      ok: false,
      error: `${inDir}: no ingest *.jsonl files (run \`medtune ingest\` first)`,
      input,
    };
  }
  const records: InstructionRecord[] = [];
  for (const f of files) {
    const onIssue = (issue: LineIssue) => {
      input.malformedLines.push(issue);
      o.onEvent?.({ type: "malformed", issue });
    };
    for await (const r of readJsonl(f, { onIssue })) records.push(r);
  }
  input.records = records.length;
  const guard = { allowEmpty: o.allowEmpty, reasons: issueReasons(input.malformedLines) };
  // No valid record: refuse before generating anything, or the splits would be synthetic only.
  if (records.length === 0 && !o.allowEmpty) {
    const why = outputShortfall({
      what: `augment input (${files.join(", ")})`,
      read: input.malformedLines.length,
      written: 0,
      minRatio: 0,
      ...guard,
    });
    return { ok: false, error: why!, input };
  }
  o.signal?.throwIfAborted();

  let paraphraser: ModelParaphraser | undefined;
  if (o.paraphraseModel) {
    try {
      paraphraser = await loadModelParaphraser(o.paraphraseModel, { seed: config.seed });
    } catch (e) {
      // Named as the flag is, since that is how most users give it.
      throw new Error(
        `--paraphrase-model ${o.paraphraseModel}: cannot load the model: ${(e as Error).message}`,
      );
    }
  }
  let result: AugmentRecordsResult;
  try {
    result = await augmentRecords(records, config, {
      onStep: (report) => {
        o.onEvent?.({ type: "step", report });
        o.signal?.throwIfAborted(); // stops at a step boundary; nothing is written yet
      },
      ...(paraphraser ? { generate: paraphraser.generate } : {}),
    });
  } finally {
    paraphraser?.dispose();
  }
  o.signal?.throwIfAborted();

  const counts = Object.fromEntries(SPLIT_NAMES.map((s) => [s, result.splits[s].length])) as Record<
    (typeof SPLIT_NAMES)[number],
    number
  >;
  const total = counts.train + counts.valid + counts.test;
  const dropped: Record<string, number> = {};
  for (const step of result.steps)
    for (const [k, n] of Object.entries(step.reasons))
      if (k.startsWith("dropped:")) dropped[`${step.step}: ${k.slice(8)}`] = n;
  const shortfall =
    outputShortfall({
      what: "augment splits",
      read: records.length,
      written: total,
      minRatio: o.minOutputRatio ?? config.minOutputRatio,
      ...guard,
      reasons: { ...guard.reasons, ...dropped },
    }) ??
    SPLIT_NAMES.filter((s) => counts[s] === 0 && config.splits[s] > 0 && !o.allowEmpty)
      .map(
        (s) =>
          `augment splits: the ${s} split is empty (${total} records in all, share ${config.splits[s]}). ` +
          `The previous output is kept. Add input records, set splits.${s}: 0 in the config, or pass --allow-empty.`,
      )
      .at(0);
  if (shortfall) return { ok: false, error: shortfall, input };

  const outputs: Record<string, string> = {};
  for (const s of SPLIT_NAMES) {
    const file = join(outDir, `${s}.jsonl`);
    await writeJsonl(file, result.splits[s]);
    outputs[s] = file;
    for (const f of config.exports) {
      const ef = join(outDir, `${s}.${f}.jsonl`);
      await writeRecords(ef, result.splits[s], f);
      outputs[`${s}.${f}`] = ef;
    }
  }
  const counter = await modelTokenCounter(o.tokenizer);
  const rows = lengthRows(result.splits, counter.count);
  const eventsFile = join(outDir, "augment-events.jsonl");
  await writeLinesAtomic(
    eventsFile,
    result.events.map((e) => JSON.stringify(e)),
  );
  outputs.events = eventsFile;
  const reportFile = join(outDir, "augment-report.json");
  outputs.report = reportFile;
  const report: AugmentReport = {
    seed: config.seed,
    configFile,
    input,
    steps: result.steps,
    splits: counts,
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
  o.onEvent?.({ type: "done", report });
  return { ok: true, report, outputs };
}
