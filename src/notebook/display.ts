/**
 * Showing medtune's results inside a tslab notebook cell: `show(x)` for any stage's result, a
 * danfojs DataFrame, a Plotly figure or report blocks; `liveTraining()` for the progress display
 * a training cell updates in place. Figures go out as application/vnd.plotly.v1+json (JupyterLab
 * renders them with the plotly wheel's extension, offline); tables as HTML. tslab sends one MIME
 * type per display call, and is imported lazily so this module loads outside a kernel too.
 */
import type { MonitorEvent } from "../train/monitor.js";
import type { TrainEvent } from "../train/trainer.js";
import { stageBlocks } from "./blocks.js";
import type { PlotlyFigure, ReportBlock } from "./report.js";
import { renderBlockHtml } from "./report.js";

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

interface TslabDisplay {
  raw(contentType: string, b: unknown): void;
  html(s: string): void;
  text(s: string): void;
}

async function tslab(): Promise<{ display: TslabDisplay; newDisplay(): TslabDisplay }> {
  return (await import("tslab")) as unknown as {
    display: TslabDisplay;
    newDisplay(): TslabDisplay;
  };
}

/** What a danfojs DataFrame offers that a table needs (danfojs-node is loaded only by callers). */
export interface FrameLike {
  columns: string[];
  values: unknown[][];
  shape: number[];
}

const isFrame = (x: unknown): x is FrameLike =>
  typeof x === "object" && x !== null && "columns" in x && "values" in x && "shape" in x;
const isFigure = (x: unknown): x is PlotlyFigure =>
  typeof x === "object" && x !== null && Array.isArray((x as PlotlyFigure).data);
const isBlocks = (x: unknown): x is ReportBlock[] =>
  Array.isArray(x) && x.length > 0 && x.every((b) => typeof b === "object" && b && "kind" in b);

/** A danfojs DataFrame of rows (objects) or of a table block, for the notebook's own slicing. */
export async function toFrame(
  rows: readonly object[] | Extract<ReportBlock, { kind: "table" }>,
): Promise<import("danfojs-node").DataFrame> {
  const dfd = await import("danfojs-node");
  if (!Array.isArray(rows)) {
    const table = rows as Extract<ReportBlock, { kind: "table" }>;
    const cols = table.columns.map((c, i) => c || `column ${i + 1}`);
    return new dfd.DataFrame(
      table.rows.map((r) => r.map((v) => v ?? "")),
      { columns: cols },
    );
  }
  return new dfd.DataFrame((rows as readonly object[]).map((r) => ({ ...r })));
}

/** A table block of a DataFrame (long frames cut at `maxRows`, said in the caption). */
export function frameBlock(df: FrameLike, maxRows = 50, caption?: string): ReportBlock {
  const rows = df.values
    .slice(0, maxRows)
    .map((r) =>
      r.map((v) => (typeof v === "number" || typeof v === "string" || v === null ? v : String(v))),
    );
  const cut = df.values.length > maxRows ? `first ${maxRows} of ${df.values.length} rows` : "";
  return {
    kind: "table",
    columns: df.columns,
    rows,
    ...(caption || cut ? { caption: [caption, cut].filter(Boolean).join("; ") } : {}),
  };
}

/** Send blocks to the cell: figures as Plotly MIME, everything else as HTML. */
export async function showBlocks(blocks: readonly ReportBlock[]): Promise<void> {
  const { display } = await tslab();
  for (const b of blocks) {
    if (b.kind === "figure") display.raw(PLOTLY_MIME, b.figure);
    else display.html(renderBlockHtml(b));
  }
}

/**
 * Render anything a cell produces: a stage result (runIngest, runAugment, runTraining,
 * runEvaluation, runMerge, compareAnswers), a DataFrame, a Plotly figure, or report blocks.
 */
export async function show(x: unknown, opts: { maxRows?: number; caption?: string } = {}) {
  if (isFrame(x)) return showBlocks([frameBlock(x, opts.maxRows, opts.caption)]);
  if (isFigure(x)) return showBlocks([{ kind: "figure", figure: x }]);
  if (isBlocks(x)) return showBlocks(x);
  return showBlocks(stageBlocks(x));
}

/** Draw a figure in the current cell's output. */
export async function showFigure(figure: PlotlyFigure): Promise<void> {
  await showBlocks([{ kind: "figure", figure }]);
}

/** A small HTML table in the current cell's output. */
export async function showTable(columns: string[], rows: (string | number | null)[][]) {
  await showBlocks([{ kind: "table", columns, rows }]);
}

/** One line of the live display: a bar with ETA, loss, tokens/s and memory against its limit. */
export function trainingProgressHtml(
  e: Extract<TrainEvent, { type: "progress" }>,
  o: {
    totalSteps: number;
    elapsedSeconds: number;
    /** The trainer's own estimate (monitor events), else one from the elapsed time. */
    etaSeconds?: number;
    memoryLimitBytes?: number;
    validLoss?: number;
  },
): string {
  const frac = Math.min(1, e.iteration / Math.max(1, o.totalSteps));
  const eta = o.etaSeconds ?? (frac > 0 ? (o.elapsedSeconds * (1 - frac)) / frac : NaN);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const memFrac = o.memoryLimitBytes ? Math.min(1, e.peakMemoryBytes / o.memoryLimitBytes) : 0;
  const bar = (f: number, color: string) =>
    `<div style="display:inline-block;width:220px;height:10px;background:#e4e7ea;vertical-align:middle">` +
    `<div style="width:${(100 * f).toFixed(1)}%;height:100%;background:${color}"></div></div>`;
  const parts = [
    `${bar(frac, "#3b7dd8")} step ${e.iteration} / ${o.totalSteps}`,
    `ETA ${Number.isFinite(eta) ? `${eta.toFixed(0)} s` : "—"}`,
    `loss ${e.trainLoss.toFixed(3)}${o.validLoss !== undefined ? ` (valid ${o.validLoss.toFixed(3)})` : ""}`,
    `${e.tokensPerSecond.toFixed(0)} tokens/s`,
    `memory ${o.memoryLimitBytes ? `${bar(memFrac, memFrac > 0.9 ? "#d84b3b" : "#5aa469")} ` : ""}peak ${mib(e.peakMemoryBytes)}${o.memoryLimitBytes ? ` of ${mib(o.memoryLimitBytes)}` : ""}`,
  ];
  // Only numbers and our own markup: nothing here needs escaping.
  return `<div class="medtune-progress" style="font:13px monospace">${parts.join(" · ")}</div>`;
}

/**
 * A display that a training cell updates in place (throttled), for `onEvent` of runTraining. The
 * run's monitor events say its total steps and ETA (a config by epochs has no `iters`), so
 * `totalSteps` is only what shows before the first of them:
 *
 *   const live = await liveTraining({ totalSteps: 20 });
 *   const run = await runTraining({ config: cfg, onEvent: live.onEvent });
 *   live.finish();
 */
export async function liveTraining(o: {
  totalSteps: number;
  memoryLimitBytes?: number;
  /** Least time between two updates (default 500 ms). */
  intervalMs?: number;
}): Promise<{ onEvent: (e: { type: string } | TrainEvent) => void; finish: () => void }> {
  const display = (await tslab()).newDisplay();
  const started = performance.now();
  let last = -Infinity; // the first progress event always draws
  let latest: Extract<TrainEvent, { type: "progress" }> | undefined;
  let validLoss: number | undefined;
  let totalSteps = o.totalSteps;
  let etaSeconds: number | undefined;
  let drawnStep: number | undefined;
  const draw = () => {
    if (!latest) return;
    drawnStep = latest.iteration;
    display.html(
      trainingProgressHtml(latest, {
        totalSteps,
        elapsedSeconds: (performance.now() - started) / 1000,
        etaSeconds,
        memoryLimitBytes: o.memoryLimitBytes,
        validLoss,
      }),
    );
  };
  display.html(`<div class="medtune-progress">starting…</div>`);
  return {
    onEvent: (e) => {
      if (e.type === "eval") validLoss = (e as Extract<TrainEvent, { type: "eval" }>).validLoss;
      else if (e.type === "progress") latest = e as Extract<TrainEvent, { type: "progress" }>;
      else if (e.type === "monitor") {
        ({ totalSteps, etaSeconds } = e as MonitorEvent);
        // Completes the line just drawn for its step (the monitor follows each progress event).
        if (drawnStep === latest?.iteration) return draw();
      } else return;
      const now = performance.now();
      if (e.type === "progress" && now - last >= (o.intervalMs ?? 500)) {
        last = now;
        draw();
      }
    },
    finish: draw,
  };
}
