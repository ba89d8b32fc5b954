/**
 * Plotly figures for training runs (application/vnd.plotly.v1+json objects, plotly.js 3 schema),
 * shared by the notebooks, the CLI report and tests. Inputs are the trainer's events, so a figure
 * can be drawn live from a running job or afterwards from logs/training_logs/<run>/metrics.jsonl.
 */
import type { TrainEvent } from "../train/trainer.js";
import type { PlotlyFigure } from "./report.js";

const progress = (events: readonly TrainEvent[]) =>
  events.filter((e): e is Extract<TrainEvent, { type: "progress" }> => e.type === "progress");
const evals = (events: readonly TrainEvent[]) =>
  events.filter((e): e is Extract<TrainEvent, { type: "eval" }> => e.type === "eval");

/** Training loss per step, with validation loss where it was measured. */
export function lossFigure(events: readonly TrainEvent[], title = "Loss"): PlotlyFigure {
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
export function memoryFigure(events: readonly TrainEvent[], title = "Memory"): PlotlyFigure {
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
