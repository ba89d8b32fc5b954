/**
 * Every stage's result as report blocks (headings, tables, Plotly figures): what `show(result)`
 * draws in a notebook and what `medtune report` puts in its summary, so both read the same.
 *
 *   show(await runIngest({ sources: ["pubmed"] }));      // tables and figures in the cell
 *   writeReport(file, { title, blocks: stageBlocks(result) });
 *
 * `stageBlocks` recognises a result by its shape (each stage's result type has fields no other has).
 */
import { readFileSync } from "node:fs";
import type { AugmentRunResult } from "../augment/files.js";
import type { AugmentReport } from "../augment/report.js";
import { stepCountsChart } from "../augment/report.js";
import { evaluationReportBlocks } from "../evaluate/report-blocks.js";
import type { EvaluationResult } from "../evaluate/run.js";
import type { IngestResult } from "../ingest/index.js";
import type { MergeResult } from "../merge/index.js";
import type { TrainingRunResult } from "../train/run.js";
import type { AnswerComparison } from "../workbench/answers.js";
import {
  funnelFigure,
  learningRateFigure,
  lossFigure,
  medicalAccuracyFigure,
  memoryFigure,
  safetyProbeFigure,
  stackedBarFigure,
  tokensPerSecondFigure,
} from "./figures.js";
import type { PlotlyFigure, ReportBlock } from "./report.js";

type Cell = string | number | null;
const table = (columns: string[], rows: Cell[][], caption?: string): ReportBlock => ({
  kind: "table",
  columns,
  rows,
  ...(caption ? { caption } : {}),
});
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const fixed = (x: number | undefined, digits = 3) =>
  x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(digits);

/** Items read → left after each skip reason (largest first) → written, for one or all sources. */
export function ingestFunnel(r: IngestResult): { label: string; count: number }[] {
  const reasons: Record<string, number> = {};
  let written = 0;
  let skipped = 0;
  for (const s of r.sources) {
    written += s.records;
    skipped += s.skipped;
    for (const [k, n] of Object.entries(s.skippedByReason)) reasons[k] = (reasons[k] ?? 0) + n;
  }
  const stages = [{ label: "items read", count: written + skipped }];
  let left = written + skipped;
  for (const [reason, n] of Object.entries(reasons).sort((a, b) => b[1] - a[1])) {
    left -= n;
    stages.push({ label: `− ${reason.slice(0, 60)}`, count: left });
  }
  stages.push({ label: "records written", count: written });
  return stages;
}

export function ingestBlocks(r: IngestResult): ReportBlock[] {
  const byTask = Object.fromEntries(r.sources.map((s) => [s.source, s.recordsByTask]));
  const skipped = r.sources.flatMap((s) =>
    Object.entries(s.skippedByReason).map(([reason, n]): Cell[] => [s.source, reason, n]),
  );
  return [
    { kind: "heading", text: "Ingest" },
    table(
      ["source", "records", "skipped", "input files", "input MiB", "seconds", "status"],
      r.sources.map((s) => [
        s.source,
        s.records,
        s.skipped,
        s.files.length,
        Number((s.inputBytes / 2 ** 20).toFixed(2)),
        Number(s.seconds.toFixed(2)),
        s.ok ? "ok" : `failed: ${s.error ?? ""}`,
      ]),
      `audit log: ${r.auditLog}`,
    ),
    { kind: "figure", figure: stackedBarFigure(byTask, "Records per source and task", "records") },
    { kind: "figure", figure: funnelFigure(ingestFunnel(r), "Ingest: what was skipped and why") },
    ...(skipped.length ? [table(["source", "skipped because", "items"], skipped)] : []),
  ];
}

/** Records in → out of each augment step (drops and additions are the differences). */
export function augmentFunnel(report: AugmentReport): { label: string; count: number }[] {
  return [
    { label: "input records", count: report.input.records },
    ...report.steps.map((s) => ({
      label: `${s.step} (−${s.dropped}${s.added ? ` +${s.added}` : ""})`,
      count: s.out,
    })),
  ];
}

/** The figures runAugment stored beside its report (token lengths, sources per split). */
function storedAugmentFigures(report: AugmentReport): Record<string, PlotlyFigure> {
  try {
    const file = report.outputs.report;
    if (!file) return {};
    return (
      (JSON.parse(readFileSync(file, "utf8")) as { figures?: Record<string, PlotlyFigure> })
        .figures ?? {}
    );
  } catch {
    return {};
  }
}

export function augmentBlocks(report: AugmentReport): ReportBlock[] {
  const reasons = report.steps.flatMap((s) =>
    Object.entries(s.reasons).map(([k, n]): Cell[] => [s.step, k, n]),
  );
  const stored = storedAugmentFigures(report);
  return [
    { kind: "heading", text: "Augment" },
    table(
      ["step", "in", "dropped", "flagged", "changed", "added", "out"],
      report.steps.map((s) => [s.step, s.in, s.dropped, s.flagged, s.modified, s.added, s.out]),
      `splits: train ${report.splits.train}, valid ${report.splits.valid}, test ${report.splits.test}; leaked keys: ${report.leaks}`,
    ),
    {
      kind: "figure",
      figure: funnelFigure(augmentFunnel(report), "Augment: records after each step"),
    },
    { kind: "figure", figure: stepCountsChart(report.steps) },
    ...(reasons.length ? [table(["step", "disposition: reason", "records"], reasons)] : []),
    table(
      ["split", "records", "mean tokens", "p50", "p90", "p99", "max"],
      Object.entries(report.tokens.bySplit).map(([split, st]) => [
        split,
        st.count,
        Number(st.mean.toFixed(1)),
        st.p50,
        st.p90,
        st.p99,
        st.max,
      ]),
      `tokens counted with ${report.tokens.counter}${report.tokens.note ? ` (${report.tokens.note})` : ""}`,
    ),
    // "steps" is the step chart above; the others are token lengths and sources per split.
    ...Object.entries(stored)
      .filter(([name]) => name !== "steps")
      .map(([, figure]): ReportBlock => ({ kind: "figure", figure })),
  ];
}

export function trainingBlocks(run: TrainingRunResult): ReportBlock[] {
  const done = run.done;
  return [
    { kind: "heading", text: "Training" },
    table(
      ["", ""],
      [
        ["run", run.runName],
        ["model", run.config.model],
        [
          "LoRA",
          `rank ${run.config.loraRank}, alpha ${run.config.loraAlpha}, keys ${run.config.loraKeys.join(", ")}`,
        ],
        [
          "steps",
          `${done.iteration} (${run.stoppedBy ? `stopped by ${run.stoppedBy}` : done.stopReason})`,
        ],
        ["resumed from step", run.resumedFromStep ?? "—"],
        [
          "examples",
          `${run.trainExamples} train, ${run.validExamples} valid; padding ${(100 * run.paddingFraction).toFixed(1)}%`,
        ],
        ["final train loss", fixed(done.trainLoss)],
        ["final valid loss", fixed(done.validLoss)],
        ["trained tokens", done.trainedTokens],
        ["peak memory", mib(done.peakMemoryBytes)],
        ["adapters", `${run.adapterDirs.mlx} (mlx-lm), ${run.adapterDirs.peft} (PEFT)`],
      ],
    ),
    { kind: "figure", figure: lossFigure(run.events) },
    { kind: "figure", figure: learningRateFigure(run.events) },
    { kind: "figure", figure: tokensPerSecondFigure(run.events) },
    { kind: "figure", figure: memoryFigure(run.events) },
    ...[safetyProbeFigure(run.events), medicalAccuracyFigure(run.events)]
      .filter((f): f is PlotlyFigure => f !== undefined)
      .map((figure): ReportBlock => ({ kind: "figure", figure })),
  ];
}

export function evaluationBlocks(r: EvaluationResult): ReportBlock[] {
  return [{ kind: "heading", text: `Evaluation (suite ${r.suite})` }, ...evaluationReportBlocks(r)];
}

export function mergeBlocks(r: MergeResult): ReportBlock[] {
  const v = r.verification;
  const blocks: ReportBlock[] = [
    { kind: "heading", text: "Merge" },
    table(
      ["file", "MiB"],
      r.files.map((f) => [f.path, Number((f.bytes / 2 ** 20).toFixed(1))]),
      `base ${r.base}; adapters ${r.adapters}; quantization ${r.quantize}`,
    ),
  ];
  if (v) {
    const rows: Cell[][] = [
      [v.reference.what, fixed(v.reference.perplexity), "—", "—", "—"],
      [
        "base (no adapter)",
        fixed(v.base.perplexity),
        "—",
        fixed(v.base.logitsVsReference.maxAbsDiff),
        fixed(v.base.logitsVsReference.top1Agreement),
      ],
      ...v.exports.map((e): Cell[] => [
        `${e.format} ${e.quantize} (${e.reloadedBy})`,
        fixed(e.perplexity),
        fixed(e.perplexityDelta),
        fixed(e.logits?.maxAbsDiff),
        fixed(e.logits?.top1Agreement),
      ]),
    ];
    if (v.llamaCpp && "perplexity" in v.llamaCpp)
      rows.push([
        `llama.cpp: ${v.llamaCpp.what}`,
        fixed(v.llamaCpp.perplexity),
        fixed(v.llamaCpp.perplexityDelta),
        "—",
        "—",
      ]);
    blocks.push(
      table(
        ["model", "perplexity", "Δ vs reference", "max |Δ logit|", "top-1 agreement"],
        rows,
        `${v.perplexityData.tokens} tokens of ${v.perplexityData.source}; ${v.prompts} prompts, ${v.positions} positions`,
      ),
    );
    const bars = rows.filter((row) => row[1] !== "—");
    blocks.push({
      kind: "figure",
      figure: {
        data: [
          {
            type: "bar",
            x: bars.map((row) => String(row[0])),
            y: bars.map((row) => Number(row[1])),
          },
        ],
        layout: {
          title: { text: "Perplexity: reference, base and each export" },
          yaxis: { title: { text: "perplexity" } },
        },
      },
    });
    if (v.notes.length) blocks.push({ kind: "text", text: v.notes.join("\n\n") });
  }
  return blocks;
}

export function answerBlocks(answers: readonly AnswerComparison[]): ReportBlock[] {
  return [
    { kind: "heading", text: "Sample answers (test split), base vs fine-tuned" },
    table(
      ["source", "question", "reference", "base model", "fine-tuned"],
      answers.map((a) => [a.source, a.question, a.reference, a.base, a.fineTuned]),
      "greedy decoding; a quick look, not an evaluation",
    ),
  ];
}

const has = (x: unknown, ...keys: string[]) =>
  typeof x === "object" && x !== null && keys.every((k) => k in x);

/** Blocks for any stage's result (runIngest, runAugment, … compareAnswers' list of sample answers). */
export function stageBlocks(result: unknown): ReportBlock[] {
  if (Array.isArray(result) && result.every((a) => has(a, "fineTuned", "reference")))
    return answerBlocks(result as AnswerComparison[]);
  if (has(result, "auditLog", "sources")) return ingestBlocks(result as IngestResult);
  if (
    has(result, "ok", "report") &&
    has((result as AugmentRunResult & { ok: true }).report, "steps")
  )
    return augmentBlocks((result as AugmentRunResult & { ok: true }).report);
  if (has(result, "ok", "error", "input"))
    return [{ kind: "pre", text: (result as { error: string }).error }];
  if (has(result, "steps", "splits", "tokens")) return augmentBlocks(result as AugmentReport);
  if (has(result, "done", "runName", "events")) return trainingBlocks(result as TrainingRunResult);
  if (has(result, "suite", "comparisons", "variants"))
    return evaluationBlocks(result as EvaluationResult);
  if (has(result, "adapter", "quantize", "files")) return mergeBlocks(result as MergeResult);
  throw new TypeError(
    "stageBlocks: not a stage result (expected what runIngest, runAugment, runTraining, runEvaluation, runMerge or compareAnswers returns)",
  );
}
