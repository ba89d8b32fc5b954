/**
 * An evaluation as report blocks (tables and Plotly figures): what `medtune evaluate` writes into
 * its report.html, what `show(result)` draws in 04_evaluate, and (the comparison table alone) the
 * summary of `medtune report runs/<id>` — one set of tables, so the three read the same.
 *
 *   writeReport(file, { title, blocks: evaluationReportBlocks(result) });
 *   blocks.push(comparisonTable(summary.comparisons, file));   // base vs fine-tuned only
 */
import type { ReportBlock } from "../notebook/report.js";
import type { Comparison } from "./metrics.js";
import type { EvaluationResult } from "./run.js";

type Cell = string | number | null;
const fixed = (x: number | undefined, digits = 3) =>
  x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(digits);

/** A plain-text line per metric: value, interval, chance. */
export function formatMetric(
  name: string,
  m: { value: number; low?: number; high?: number; n: number; chance?: number },
): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "n/a");
  const ci = m.low !== undefined ? ` [${f(m.low)}, ${f(m.high!)}]` : "";
  return `${name} ${f(m.value)}${ci} (n=${m.n}${m.chance !== undefined ? `, chance ${f(m.chance)}` : ""})`;
}

/** Base vs fine-tuned on the same items: means, the paired-bootstrap interval of the delta, McNemar. */
export function comparisonTable(comparisons: readonly Comparison[], caption?: string): ReportBlock {
  return {
    kind: "table",
    columns: ["task", "score", "n", "base", "fine-tuned", "delta [95% CI]", "McNemar p"],
    rows: comparisons.map((c): Cell[] => [
      c.task,
      c.score,
      c.n,
      fixed(c.base),
      fixed(c.fineTuned),
      `${fixed(c.delta)} [${fixed(c.low)}, ${fixed(c.high)}]`,
      fixed(c.mcnemarP),
    ]),
    caption: caption ?? "the same items with adapters off and on; interval: paired bootstrap",
  };
}

/** Every metric of every task and variant, with its interval and chance level. */
export function metricsTable(r: EvaluationResult): ReportBlock {
  const rows: Cell[][] = [];
  for (const v of r.variants)
    for (const t of r.tasks[v] ?? [])
      for (const [k, m] of Object.entries(t.metrics))
        rows.push([
          v,
          t.task,
          k,
          fixed(m.value),
          fixed(m.low),
          fixed(m.high),
          m.n,
          fixed(m.chance),
        ]);
  return {
    kind: "table",
    columns: ["variant", "task", "metric", "value", "95% low", "95% high", "n", "chance"],
    rows,
  };
}

export function evaluationReportBlocks(r: EvaluationResult): ReportBlock[] {
  const b: ReportBlock[] = [];
  if (r.comparisons.length)
    b.push({ kind: "heading", text: "Base vs fine-tuned" }, comparisonTable(r.comparisons));
  b.push({ kind: "heading", text: "Metrics" }, metricsTable(r));
  for (const [name, fig] of Object.entries(r.figures))
    b.push({ kind: "figure", figure: fig, caption: name });
  for (const [title, scores] of [
    ["Safety validator on hand-labelled answers (development set)", r.validator],
    ["Safety validator on held-out labelled answers", r.validatorHeldOut],
  ] as const) {
    if (!scores.length) continue;
    b.push({ kind: "heading", text: title });
    b.push({
      kind: "table",
      columns: ["rule", "precision", "recall", "TP", "FP", "FN"],
      rows: scores.map((v) => [
        v.rule,
        fixed(v.precision, 2),
        fixed(v.recall, 2),
        v.truePositives,
        v.falsePositives,
        v.falseNegatives,
      ]),
    });
  }
  if (r.sideBySide.length) {
    b.push({ kind: "heading", text: "Side-by-side answers" });
    b.push({
      kind: "table",
      columns: ["task", "question", "base", "fine-tuned"],
      rows: r.sideBySide.map((s) => [s.task, s.question.slice(0, 300), s.base, s.fineTuned]),
    });
  }
  b.push({ kind: "heading", text: "Timings" });
  b.push({
    kind: "table",
    columns: ["task", "items", "seconds", "s/item"],
    rows: r.timings.map((t) => [t.task, t.items, fixed(t.seconds, 1), fixed(t.secondsPerItem, 2)]),
  });
  return b;
}
