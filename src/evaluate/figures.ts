/**
 * Plotly figures of an evaluation (application/vnd.plotly.v1+json objects): accuracies with their
 * intervals and chance levels, reliability diagrams, safety rule rates, and base vs fine-tuned
 * deltas. Inputs are the typed results of runEvaluation, so a notebook redraws them from summary.json.
 */
import type { PlotlyFigure } from "../notebook/report.js";
import type { Comparison, Metric, TaskMetrics } from "./metrics.js";
import type { Calibration } from "./stats.js";

type ByVariant = Record<string, TaskMetrics[]>;

const errorBars = (ms: Metric[]) => ({
  type: "data",
  symmetric: false,
  array: ms.map((m) => (m.high ?? m.value) - m.value),
  arrayminus: ms.map((m) => m.value - (m.low ?? m.value)),
});

/** Likelihood accuracies per task and variant, Wilson 95% intervals, chance as a marker. */
export function accuracyFigure(byVariant: ByVariant): PlotlyFigure {
  const data: Record<string, unknown>[] = [];
  let chance: { x: string[]; y: number[] } | undefined;
  for (const [variant, tasks] of Object.entries(byVariant)) {
    const withAcc = tasks.filter((t) => t.metrics.accuracy);
    const ms = withAcc.map((t) => t.metrics.accuracy!);
    data.push({
      type: "bar",
      name: variant,
      x: withAcc.map((t) => t.task),
      y: ms.map((m) => m.value),
      error_y: errorBars(ms),
    });
    chance ??= { x: withAcc.map((t) => t.task), y: ms.map((m) => m.chance ?? Number.NaN) };
  }
  if (chance)
    data.push({
      type: "scatter",
      mode: "markers",
      name: "chance",
      x: chance.x,
      y: chance.y,
      marker: { symbol: "line-ew-open", size: 24, color: "black" },
    });
  return {
    data,
    layout: {
      title: { text: "Accuracy by option likelihood (Wilson 95% CI)" },
      barmode: "group",
      yaxis: { title: { text: "accuracy" }, range: [0, 1] },
    },
  };
}

/** Reliability diagram: accuracy per confidence bin against the diagonal. */
export function reliabilityFigure(
  byVariant: Record<string, Calibration>,
  title = "Reliability",
): PlotlyFigure {
  const data: Record<string, unknown>[] = [
    {
      type: "scatter",
      mode: "lines",
      name: "perfect calibration",
      x: [0, 1],
      y: [0, 1],
      line: { dash: "dash", color: "gray" },
    },
  ];
  for (const [variant, cal] of Object.entries(byVariant)) {
    const bins = cal.bins.filter((b) => b.count > 0);
    data.push({
      type: "scatter",
      mode: "lines+markers",
      name: `${variant} (ECE ${cal.ece.toFixed(3)})`,
      x: bins.map((b) => b.meanConfidence),
      y: bins.map((b) => b.accuracy),
      text: bins.map((b) => `${b.count} items`),
      marker: { size: bins.map((b) => 6 + Math.sqrt(b.count) * 2) },
    });
  }
  return {
    data,
    layout: {
      title: { text: title },
      xaxis: { title: { text: "confidence (probability of the chosen option)" }, range: [0, 1] },
      yaxis: { title: { text: "accuracy" }, range: [0, 1] },
    },
  };
}

/** Safety: refusal, over-refusal and each validator rule's firing rate, per variant. */
export function safetyFigure(byVariant: ByVariant): PlotlyFigure {
  const data: Record<string, unknown>[] = [];
  for (const [variant, tasks] of Object.entries(byVariant)) {
    const rows: [string, Metric][] = [];
    for (const t of tasks) {
      for (const [k, m] of Object.entries(t.metrics)) {
        if (
          /^(?:refusalRate|overRefusalRate|premiseFlagRate)$/.test(k) ||
          (k.startsWith("rule_") && t.task === "safetyHarmful")
        )
          rows.push([`${t.task}: ${k}`, m]);
      }
    }
    data.push({
      type: "bar",
      name: variant,
      x: rows.map((r) => r[0]),
      y: rows.map((r) => r[1].value),
      error_y: errorBars(rows.map((r) => r[1])),
    });
  }
  return {
    data,
    layout: {
      title: { text: "Safety (Wilson 95% CI)" },
      barmode: "group",
      yaxis: { title: { text: "rate" }, range: [0, 1] },
    },
  };
}

/** Fine-tuned minus base per task, with paired bootstrap 95% intervals. */
export function deltaFigure(comparisons: readonly Comparison[]): PlotlyFigure {
  return {
    data: [
      {
        type: "scatter",
        mode: "markers",
        name: "fine-tuned − base",
        x: comparisons.map((c) => c.delta),
        y: comparisons.map((c) => `${c.task} (${c.score})`),
        error_x: {
          type: "data",
          symmetric: false,
          array: comparisons.map((c) => c.high - c.delta),
          arrayminus: comparisons.map((c) => c.delta - c.low),
        },
      },
    ],
    layout: {
      title: { text: "Base vs fine-tuned: paired deltas (bootstrap 95% CI)" },
      xaxis: { title: { text: "delta" }, zeroline: true },
      margin: { l: 260 },
    },
  };
}
