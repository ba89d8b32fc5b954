/**
 * `medtune report runs/<id>`: one self-contained HTML file for a workbench run — a summary
 * (config, data counts, final training metrics, base vs fine-tuned), then every executed notebook
 * as it ran: markdown, code and outputs, figures interactive offline (plotly.min.js inlined once by
 * src/notebook/report.ts, no network requests).
 *
 *   const { file } = writeRunReport({ runDir: "runs/quick_test-20260101-120000" });
 *
 * The summary reads what the stages wrote (run.json names where); a stage that did not run is
 * said to be missing, never filled in.
 */
import type { Comparison } from "../evaluate/metrics.js";
import { comparisonTable } from "../evaluate/report-blocks.js";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { PLOTLY_MIME } from "../notebook/display.js";
import { writeReport, type PlotlyFigure, type ReportBlock } from "../notebook/report.js";
import { fromRoot } from "../paths.js";
import type { Notebook, NotebookOutput } from "./runner.js";
import type { RunRecord } from "./pipeline.js";

type Cell = string | number | null;
const text = (s: unknown) => (Array.isArray(s) ? s.join("") : String(s ?? ""));
const fixed = (x: unknown, d = 3) =>
  typeof x === "number" && Number.isFinite(x) ? x.toFixed(d) : "—";

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/** The last event of each type in a training metrics log (one JSON object per line). */
function lastEvents(file: string): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as Record<string, unknown>;
      out[String(e.type)] = e;
    } catch {
      /* a torn last line of a killed run */
    }
  }
  return out;
}

/**
 * Why a stage's output file cannot speak for this run, or undefined when it can: the stages write
 * to shared places (data/processed, logs/training_logs/<run> …), so a file last written before the
 * run started is an earlier run's, and one written after it finished is a later run's.
 */
export function notFromRun(file: string, run: RunRecord): string | undefined {
  let written: number;
  try {
    written = statSync(file).mtimeMs;
  } catch {
    return `${file} is missing`;
  }
  const slackMs = 2000; // filesystem timestamps and run.json's clock
  if (written < Date.parse(run.startedAt) - slackMs)
    return `${file} is from an earlier run (written ${new Date(written).toISOString()})`;
  if (run.finishedAt && written > Date.parse(run.finishedAt) + slackMs)
    return `${file} was rewritten by a later run (at ${new Date(written).toISOString()})`;
  return undefined;
}

/** Summary blocks from run.json and the stages' own output files (those this run wrote). */
export function runSummaryBlocks(run: RunRecord): ReportBlock[] {
  const a = run.artifacts;
  const stale = (file: string): ReportBlock | undefined => {
    const why = notFromRun(file, run);
    return why ? { kind: "text", text: `Not shown: ${why}.` } : undefined;
  };
  const b: ReportBlock[] = [
    { kind: "heading", text: "Summary" },
    {
      kind: "table",
      columns: ["notebook", "status", "seconds", "parameters"],
      rows: run.notebooks.map((n) => [
        n.name,
        n.ok ? "ok" : `failed at cell ${n.failure?.index}: ${n.failure?.error ?? ""}`,
        n.seconds,
        Object.entries(n.parameters)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(" "),
      ]),
      caption: `preset ${run.preset} (${run.settings.description}); started ${run.startedAt}; commit ${run.commit ?? "unknown"}`,
    },
  ];
  const train = run.notebooks.find((n) => n.name === "03_train")?.parameters ?? {};
  b.push({ kind: "heading", text: "Configuration", level: 3 });
  b.push({
    kind: "table",
    columns: ["setting", "value"],
    rows: [
      ["training config", a.trainingConfig],
      ["run name", a.runName],
      ["data folder", a.dataDir],
      ...Object.entries(train).map(([k, v]): Cell[] => [`03_train ${k}`, JSON.stringify(v)]),
      ["evaluation suite", run.settings.suite],
    ],
  });

  const augmentFile = join(a.dataDir, "augment-report.json");
  const augment = readJson<{
    input: { records: number; files: string[] };
    splits: Record<string, number>;
    leaks: number;
  }>(augmentFile);
  b.push({ kind: "heading", text: "Data", level: 3 });
  b.push(
    stale(augmentFile) ??
      (augment
        ? {
            kind: "table",
            columns: ["ingested records", "train", "valid", "test", "leaked keys"],
            rows: [
              [
                augment.input.records,
                augment.splits.train ?? 0,
                augment.splits.valid ?? 0,
                augment.splits.test ?? 0,
                augment.leaks,
              ],
            ],
            caption: `from ${augment.input.files.length} ingest files in ${a.dataDir}`,
          }
        : { kind: "text", text: `No augment report in ${a.dataDir} (02_augment did not finish).` }),
  );

  const last = lastEvents(a.trainingMetrics);
  const done = last.done;
  b.push({ kind: "heading", text: "Training", level: 3 });
  b.push(
    stale(a.trainingMetrics) ??
      (done
        ? {
            kind: "table",
            columns: [
              "steps",
              "final train loss",
              "final valid loss",
              "trained tokens",
              "peak memory",
              "tokens/s (last step)",
            ],
            rows: [
              [
                Number(done.iteration),
                fixed(done.trainLoss),
                fixed(done.validLoss),
                Number(done.trainedTokens),
                `${(Number(done.peakMemoryBytes) / 2 ** 20).toFixed(0)} MiB`,
                fixed(last.progress?.tokensPerSecond, 1),
              ],
            ],
            caption: a.trainingMetrics,
          }
        : { kind: "text", text: `No finished training in ${a.trainingMetrics}.` }),
  );

  const evaluation = readJson<{ comparisons: Comparison[] }>(a.evaluationSummary);
  b.push({ kind: "heading", text: "Base vs fine-tuned", level: 3 });
  b.push(
    stale(a.evaluationSummary) ??
      (evaluation
        ? comparisonTable(evaluation.comparisons, a.evaluationSummary)
        : { kind: "text", text: `No evaluation summary at ${a.evaluationSummary}.` }),
  );
  return b;
}

/** One output of an executed cell as report blocks (figures, our HTML, text, errors). */
export function outputBlocks(o: NotebookOutput): ReportBlock[] {
  switch (o.output_type) {
    case "stream":
      return [{ kind: "pre", text: text(o.text) }];
    case "error":
      return [{ kind: "pre", text: `${text(o.ename)}: ${text(o.evalue)}` }];
    case "display_data":
    case "execute_result": {
      const data = (o.data ?? {}) as Record<string, unknown>;
      if (data[PLOTLY_MIME]) return [{ kind: "figure", figure: data[PLOTLY_MIME] as PlotlyFigure }];
      // Our notebooks' HTML comes from show(), which escapes every value it renders.
      if (data["text/html"]) return [{ kind: "html", html: text(data["text/html"]) }];
      if (data["text/markdown"]) return [{ kind: "markdown", text: text(data["text/markdown"]) }];
      if (data["text/plain"]) return [{ kind: "pre", text: text(data["text/plain"]) }];
      return [];
    }
    default:
      return [];
  }
}

/** An executed notebook's markdown, code and outputs, in order. */
export function notebookBlocks(nb: Notebook, title: string): ReportBlock[] {
  const b: ReportBlock[] = [{ kind: "heading", text: title }];
  for (const c of nb.cells) {
    const src = text(c.source);
    if (c.cell_type === "markdown") b.push({ kind: "markdown", text: src });
    else if (c.cell_type === "code") {
      b.push({ kind: "code", text: src, language: "typescript" });
      for (const o of c.outputs ?? []) b.push(...outputBlocks(o));
    }
  }
  return b;
}

export interface RunReportOptions {
  runDir: string;
  /** Default <runDir>/report.html. */
  output?: string;
}

export function writeRunReport(o: RunReportOptions): { file: string; figures: number } {
  const dir = fromRoot(o.runDir);
  const run = readJson<RunRecord>(join(dir, "run.json"));
  if (!run)
    throw new Error(
      `${join(dir, "run.json")}: missing or not JSON (is ${dir} a run folder of \`medtune run\`?)`,
    );
  const blocks = runSummaryBlocks(run);
  for (const n of run.notebooks) {
    const nb = readJson<Notebook>(join(dir, n.executed));
    if (!nb) {
      blocks.push({ kind: "text", text: `${n.executed}: missing or unreadable.` });
      continue;
    }
    blocks.push(
      ...notebookBlocks(nb, `${n.name} — ${n.ok ? "ok" : "FAILED"}, ${n.seconds.toFixed(0)} s`),
    );
  }
  const file = fromRoot(o.output ?? join(dir, "report.html"));
  writeReport(file, {
    title: `medtune run ${run.id}`,
    subtitle: `preset ${run.preset}${run.ok === false ? " — FAILED" : ""}; ${run.startedAt}`,
    blocks,
  });
  return { file, figures: blocks.filter((x) => x.kind === "figure").length };
}
