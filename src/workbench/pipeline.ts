/**
 * `medtune run --preset quick_test`: the curated notebooks 01_ingest → 05_merge executed headless,
 * in order, into runs/<id>/ (the executed notebooks and a run.json), stopping at the first failure.
 *
 *   const r = await runWorkbench({ preset: "quick_test" });   // then writeRunReport(r.dir)
 *
 * run.json is rewritten after each notebook, so a failed or interrupted run still says what ran,
 * with which parameters, and where each stage's outputs are (the report reads them from there).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomicSync } from "../fs-atomic.js";
import { gitHead } from "../git-head.js";
import { fromRoot, ROOT } from "../paths.js";
import {
  getPreset,
  presetParameters,
  STAGE_NOTEBOOKS,
  type StageNotebook,
  type WorkbenchPreset,
} from "./presets.js";
import { runNotebook, type CellFailure, type ParameterValue, type RunnerEvent } from "./runner.js";

export interface RunWorkbenchOptions {
  preset: string;
  /** The run's folder name under `runsDir` (default `<preset>-<UTC time>`). */
  id?: string;
  /** Default runs/. */
  runsDir?: string;
  /** Only these notebooks, in pipeline order (default all five). */
  notebooks?: StageNotebook[];
  /** Overrides of the preset's cell timeout. */
  cellTimeoutSeconds?: number;
  onEvent?: (e: WorkbenchEvent) => void;
  signal?: AbortSignal;
}

export type WorkbenchEvent =
  | { type: "notebook"; name: StageNotebook; index: number; total: number; output: string }
  | { type: "runner"; name: StageNotebook; event: RunnerEvent }
  | {
      type: "notebook-done";
      name: StageNotebook;
      ok: boolean;
      seconds: number;
      failure?: CellFailure;
    }
  | { type: "done"; ok: boolean; dir: string; seconds: number };

export interface NotebookOutcome {
  name: StageNotebook;
  ok: boolean;
  seconds: number;
  /** The executed notebook, relative to the run folder. */
  executed: string;
  parameters: Record<string, ParameterValue>;
  failure?: CellFailure;
}

/** What run.json holds. */
export interface RunRecord {
  id: string;
  preset: string;
  settings: WorkbenchPreset;
  startedAt: string;
  finishedAt: string | null;
  ok: boolean | null;
  commit: string | null;
  notebooks: NotebookOutcome[];
  /** Where the stages wrote (absolute), for the report. */
  artifacts: {
    dataDir: string;
    trainingConfig: string;
    runName: string;
    trainingMetrics: string;
    evaluationSummary: string;
    mergedDir: string;
  };
}

export interface WorkbenchRunResult {
  ok: boolean;
  id: string;
  dir: string;
  runJson: string;
  record: RunRecord;
}

export async function runWorkbench(o: RunWorkbenchOptions): Promise<WorkbenchRunResult> {
  const started = performance.now();
  const preset = getPreset(o.preset);
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  const id = o.id ?? `${o.preset}-${stamp}`;
  const dir = join(fromRoot(o.runsDir ?? "runs"), id);
  if (existsSync(join(dir, "run.json")))
    throw new Error(`${dir}: a run with this id exists already (pick another --id)`);
  mkdirSync(dir, { recursive: true });
  const parameters = presetParameters(preset, dir);
  const dataDir = fromRoot(String(parameters["03_train"].dataDir));
  const record: RunRecord = {
    id,
    preset: o.preset,
    settings: preset,
    startedAt: new Date().toISOString(),
    finishedAt: null,
    ok: null,
    commit: gitHead(ROOT) ?? null,
    notebooks: [],
    artifacts: {
      dataDir,
      trainingConfig: fromRoot(preset.trainingConfig),
      runName: preset.runName,
      trainingMetrics: fromRoot(join("logs", "training_logs", preset.runName, "metrics.jsonl")),
      evaluationSummary: fromRoot(
        join("evaluation", "results", preset.runName, preset.suite, "summary.json"),
      ),
      mergedDir: fromRoot(join("models", "merged", preset.runName)),
    },
  };
  const runJson = join(dir, "run.json");
  const save = () => writeFileAtomicSync(runJson, `${JSON.stringify(record, null, 2)}\n`);
  save();
  const names = STAGE_NOTEBOOKS.filter((n) => !o.notebooks || o.notebooks.includes(n));
  let ok = true;
  try {
    for (const [index, name] of names.entries()) {
      o.signal?.throwIfAborted();
      const executed = `${name}.ipynb`;
      o.onEvent?.({
        type: "notebook",
        name,
        index,
        total: names.length,
        output: join(dir, executed),
      });
      const t0 = performance.now();
      let lastCell: { index: number; firstLine: string } | undefined;
      const r = await runNotebook({
        notebook: join("notebooks", `${name}.ipynb`),
        output: join(dir, executed),
        parameters: parameters[name],
        cellTimeoutSeconds: o.cellTimeoutSeconds ?? preset.cellTimeoutSeconds,
        onEvent: (event) => {
          if (event.type === "cell") lastCell = event;
          o.onEvent?.({ type: "runner", name, event });
        },
        signal: o.signal,
      }).catch((e: unknown) => {
        // Interrupted (Ctrl-C, SIGTERM): the runner saved the notebook so far; run.json says so.
        if (existsSync(join(dir, executed)))
          record.notebooks.push({
            name,
            ok: false,
            seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
            executed,
            parameters: parameters[name],
            failure: {
              index: lastCell?.index ?? -1,
              cellId: undefined,
              firstLine: lastCell?.firstLine ?? "",
              error: (e as Error).message,
              timedOut: false,
            },
          });
        throw e;
      });
      record.notebooks.push({
        name,
        ok: r.ok,
        seconds: Number(r.seconds.toFixed(1)),
        executed,
        parameters: parameters[name],
        ...(r.failure ? { failure: r.failure } : {}),
      });
      save();
      o.onEvent?.({
        type: "notebook-done",
        name,
        ok: r.ok,
        seconds: r.seconds,
        ...(r.failure ? { failure: r.failure } : {}),
      });
      if (!r.ok) {
        ok = false;
        break;
      }
    }
  } catch (e) {
    ok = false;
    throw e;
  } finally {
    record.ok = ok;
    record.finishedAt = new Date().toISOString();
    save();
  }
  const seconds = (performance.now() - started) / 1000;
  o.onEvent?.({ type: "done", ok, dir, seconds });
  return { ok, id, dir, runJson, record };
}
