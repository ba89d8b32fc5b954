/**
 * What one `npm run bench` leaves behind: evaluation/benchmarks/<date>.json (every sample, the
 * summaries, ratios and goals, the machine) and <date>.html (the same tables and one Plotly
 * figure per comparison: medians with min–max bars, via src/notebook/report.ts).
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import type { PlotlyFigure, ReportBlock } from "../notebook/report.js";
import { writeReport } from "../notebook/report.js";
import {
  comparisonTable,
  formatNumber,
  ratioOf,
  summaryOf,
  type Comparison,
  type Goal,
} from "./stats.js";

export interface BenchRun {
  startedAt: string;
  finishedAt: string;
  command: string[];
  machine: { cpuModel: string; cpus: number; memoryBytes: number; node: string; platform: string };
  comparisons: Comparison[];
  goals: Goal[];
}

export function machineInfo(): BenchRun["machine"] {
  return {
    cpuModel: cpus()[0]?.model ?? "unknown",
    cpus: cpus().length,
    memoryBytes: totalmem(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** Grouped bars of the charted metrics' medians, min–max as error bars, one trace per subject. */
export function comparisonFigure(c: Comparison): PlotlyFigure | undefined {
  const charted = c.metrics.filter((m) => m.chart);
  if (charted.length === 0) return undefined;
  const data = c.subjects.map((s) => {
    const sums = charted.map((m) => summaryOf(c, s, m.key));
    return {
      type: "bar",
      name: s,
      x: charted.map((m) => m.label),
      y: sums.map((x) => x?.median ?? null),
      error_y: {
        type: "data",
        symmetric: false,
        array: sums.map((x) => (x ? x.max - x.median : 0)),
        arrayminus: sums.map((x) => (x ? x.median - x.min : 0)),
      },
      text: sums.map((x) => (x ? formatNumber(x.median) : "")),
      textposition: "outside",
    };
  });
  return {
    data,
    layout: {
      title: { text: `${c.suite}: ${c.title}` },
      barmode: "group",
      yaxis: { title: { text: charted[0]!.unit }, rangemode: "tozero" },
      legend: { orientation: "h" },
    },
  };
}

/** The report blocks: goals first, then per comparison its table, figure and notes. */
export function reportBlocks(run: BenchRun): ReportBlock[] {
  const blocks: ReportBlock[] = [];
  if (run.goals.length) {
    blocks.push({ kind: "heading", text: "Goals", level: 2 });
    blocks.push({
      kind: "table",
      columns: ["goal", "ratio", "target", "met"],
      rows: run.goals.map((g) => [
        g.goal,
        g.ratio === null ? "–" : `${g.ratio.toFixed(2)}×`,
        `${g.op} ${g.target}×`,
        g.met === null ? "not measured" : g.met ? "yes" : "no",
      ]),
    });
  }
  for (const c of run.comparisons) {
    blocks.push({ kind: "heading", text: `${c.suite}: ${c.title}`, level: 2 });
    const t = comparisonTable(c);
    blocks.push({ kind: "table", columns: t.columns, rows: t.rows, caption: "median [min–max]" });
    const fig = comparisonFigure(c);
    if (fig) blocks.push({ kind: "figure", figure: fig });
    for (const [s, e] of Object.entries(c.failures ?? {}))
      blocks.push({ kind: "pre", text: `${s} failed: ${e}` });
    if (c.notes.length) blocks.push({ kind: "text", text: c.notes.join("\n") });
  }
  return blocks;
}

/** The summaries and ratios that go into the JSON beside the raw samples. */
function summaries(c: Comparison) {
  const peers = c.subjects.filter((s) => s !== c.ours);
  return Object.fromEntries(
    c.metrics.map((m) => [
      m.key,
      {
        ...Object.fromEntries(c.subjects.map((s) => [s, summaryOf(c, s, m.key) ?? null])),
        ratios: Object.fromEntries(peers.map((p) => [`${c.ours}/${p}`, ratioOf(c, p, m.key)])),
      },
    ]),
  );
}

/** Writes <dir>/<stamp>.json and .html atomically; returns both paths. */
export function writeBenchRun(dir: string, run: BenchRun): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = run.startedAt.replace(/:/g, "").replace(/\.\d+Z$/, "Z");
  const json = join(dir, `${stamp}.json`);
  const body = {
    ...run,
    comparisons: run.comparisons.map((c) => ({ ...c, summaries: summaries(c) })),
  };
  const tmp = `${json}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(body, null, 2) + "\n");
  renameSync(tmp, json);
  const html = writeReport(join(dir, `${stamp}.html`), {
    title: "medtune benchmarks",
    subtitle: `${run.machine.cpuModel}, ${run.machine.cpus} CPUs, ${(run.machine.memoryBytes / 2 ** 30).toFixed(0)} GiB; ${run.command.join(" ") || "all suites"}`,
    blocks: reportBlocks(run),
    generatedAt: new Date(run.finishedAt),
  });
  return { json, html };
}
