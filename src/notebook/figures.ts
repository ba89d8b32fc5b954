/**
 * Plotly figures for training runs (application/vnd.plotly.v1+json objects, plotly.js 3 schema),
 * shared by the notebooks, the CLI report and tests. Inputs are the trainer's events, so a figure
 * can be drawn live from a running job or afterwards from logs/training_logs/<run>/metrics.jsonl.
 */
import type { TrainEvent } from "../train/trainer.js";
import type { PlotlyFigure } from "./report.js";

/** A run's events: the trainer's, plus any others the run adds (they are skipped here). */
type RunEvents = readonly ({ type: string } | TrainEvent)[];

const progress = (events: RunEvents) =>
  events.filter((e): e is Extract<TrainEvent, { type: "progress" }> => e.type === "progress");
const evals = (events: RunEvents) =>
  events.filter((e): e is Extract<TrainEvent, { type: "eval" }> => e.type === "eval");

/** Training loss per step, with validation loss where it was measured. */
export function lossFigure(events: RunEvents, title = "Loss"): PlotlyFigure {
  const p = progress(events);
  const v = evals(events);
  return {
    data: [
      {
        type: "scatter",
        mode: "lines+markers",
        name: "train",
        x: p.map((e) => e.iteration),
        y: p.map((e) => e.trainLoss),
      },
      {
        type: "scatter",
        mode: "markers",
        name: "valid",
        marker: { size: 10, symbol: "diamond" },
        x: v.map((e) => e.iteration),
        y: v.map((e) => e.validLoss),
      },
    ],
    layout: {
      title: { text: title },
      xaxis: { title: { text: "step" }, tickformat: "d" },
      yaxis: { title: { text: "cross-entropy (nats / supervised token)" } },
    },
  };
}

/** MLX memory per step: peak and active bytes, in MiB. */
export function memoryFigure(events: RunEvents, title = "Memory"): PlotlyFigure {
  const p = progress(events);
  const mib = (b: number) => b / 2 ** 20;
  return {
    data: [
      {
        type: "scatter",
        mode: "lines",
        name: "peak",
        x: p.map((e) => e.iteration),
        y: p.map((e) => mib(e.peakMemoryBytes)),
      },
      {
        type: "scatter",
        mode: "lines",
        name: "active",
        x: p.map((e) => e.iteration),
        y: p.map((e) => mib(e.activeMemoryBytes)),
      },
    ],
    layout: {
      title: { text: title },
      xaxis: { title: { text: "step" }, tickformat: "d" },
      yaxis: { title: { text: "MiB" }, rangemode: "tozero" },
    },
  };
}

/** A per-step scalar of the progress events as one line (learning rate, throughput …). */
function progressLine(
  events: RunEvents,
  value: (e: Extract<TrainEvent, { type: "progress" }>) => number,
  title: string,
  yTitle: string,
): PlotlyFigure {
  const p = progress(events);
  return {
    data: [
      { type: "scatter", mode: "lines+markers", x: p.map((e) => e.iteration), y: p.map(value) },
    ],
    layout: {
      title: { text: title },
      xaxis: { title: { text: "step" }, tickformat: "d" },
      yaxis: { title: { text: yTitle }, rangemode: "tozero" },
    },
  };
}

/** The schedule as the trainer applied it (warm-up, then cosine or constant). */
export function learningRateFigure(events: RunEvents): PlotlyFigure {
  return progressLine(events, (e) => e.learningRate, "Learning rate", "learning rate");
}

/** Trained tokens per second of wall time, per reported step. */
export function tokensPerSecondFigure(events: RunEvents): PlotlyFigure {
  return progressLine(events, (e) => e.tokensPerSecond, "Throughput", "tokens / s");
}

/** A funnel: how many items are left after each stage, the drop of each stage labelled. */
export function funnelFigure(
  stages: readonly { label: string; count: number }[],
  title: string,
): PlotlyFigure {
  return {
    data: [
      {
        type: "funnel",
        y: stages.map((s) => s.label),
        x: stages.map((s) => s.count),
        textinfo: "value+percent initial",
      },
    ],
    layout: { title: { text: title }, margin: { l: 260 } },
  };
}

/** Bars of a count per category, one trace per group (stacked): records per source and task. */
export function stackedBarFigure(
  counts: Record<string, Record<string, number>>,
  title: string,
  yTitle: string,
): PlotlyFigure {
  const categories = Object.keys(counts);
  const groups = [...new Set(categories.flatMap((c) => Object.keys(counts[c]!)))].sort();
  return {
    data: groups.map((g) => ({
      type: "bar",
      name: g,
      x: categories,
      y: categories.map((c) => counts[c]![g] ?? 0),
    })),
    layout: { title: { text: title }, barmode: "stack", yaxis: { title: { text: yTitle } } },
  };
}

/** The training-time safety probe (refusal rate and mean safety score per probed step), if any ran. */
export function safetyProbeFigure(events: RunEvents): PlotlyFigure | undefined {
  const probes = events.filter(
    (e): e is { type: "safety"; iteration: number; refusalRate: number; meanSafetyScore: number } =>
      e.type === "safety",
  );
  if (probes.length === 0) return undefined;
  const x = probes.map((e) => e.iteration);
  return {
    data: [
      {
        type: "scatter",
        mode: "lines+markers",
        name: "refusal rate (harmful)",
        x,
        y: probes.map((e) => e.refusalRate),
      },
      {
        type: "scatter",
        mode: "lines+markers",
        name: "mean safety score",
        x,
        y: probes.map((e) => e.meanSafetyScore),
      },
    ],
    layout: {
      title: { text: "Safety probe" },
      xaxis: { title: { text: "step" }, tickformat: "d" },
      yaxis: { range: [0, 1.05] },
    },
  };
}

/** Medical accuracy on the run's fixed validation items at each epoch end and at the end. */
export function medicalAccuracyFigure(events: RunEvents): PlotlyFigure | undefined {
  const points = events.filter(
    (
      e,
    ): e is {
      type: "accuracy";
      iteration: number;
      epoch: number;
      items: number;
      accuracy: number;
      accuracyNormalized: number;
      meanGoldProbability: number;
    } => e.type === "accuracy",
  );
  if (points.length === 0) return undefined;
  const x = points.map((e) => e.iteration);
  const line = (name: string, y: number[]) => ({
    type: "scatter",
    mode: "lines+markers",
    name,
    x,
    y,
    text: points.map((e) => `epoch ${e.epoch.toFixed(2)}, ${e.items} items`),
  });
  return {
    data: [
      line(
        "accuracy (total log-prob)",
        points.map((e) => e.accuracy),
      ),
      line(
        "accuracy (per-token log-prob)",
        points.map((e) => e.accuracyNormalized),
      ),
      line(
        "mean gold-option probability",
        points.map((e) => e.meanGoldProbability),
      ),
    ],
    layout: {
      title: { text: "Medical accuracy (multiple-choice validation items)" },
      xaxis: { title: { text: "step" }, tickformat: "d" },
      yaxis: { range: [0, 1.05] },
    },
  };
}
