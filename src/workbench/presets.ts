/**
 * Workbench presets: the parameters `medtune run --preset <name>` gives each curated notebook
 * (notebooks/01_ingest … 05_merge), and the helpers those notebooks use to apply them.
 *
 *   quick_test  the bundled data and model end to end (the default of `medtune run`): every ingested
 *               record, the quick_test training preset, the quick evaluation suite, GGUF + HF export
 *   tiny        the same path in a few minutes for CI: 30 records per source, 3 training steps,
 *               2 items of 5 cheap evaluation tasks, a short perplexity check; data in the run folder
 *
 * Each notebook's own parameters cell holds the defaults for interactive use; a preset overrides
 * only what it names.
 */
import { join } from "node:path";
import { loadSuite, type Suite } from "../evaluate/suite.js";
import { fromRoot } from "../paths.js";
import { loadTrainingConfig, type TrainingConfig } from "../train/config.js";
import type { ParameterValue } from "./runner.js";

export const STAGE_NOTEBOOKS = [
  "01_ingest",
  "02_augment",
  "03_train",
  "04_evaluate",
  "05_merge",
] as const;
export type StageNotebook = (typeof STAGE_NOTEBOOKS)[number];

export interface WorkbenchPreset {
  description: string;
  /** Training config the 03_train notebook loads (and the report summarises). */
  trainingConfig: string;
  /** The training run's name (checkpoints/<run>, models/lora_adapters/<run> …). */
  runName: string;
  /** Where splits go: a path, or null for `<run dir>/data`. */
  dataDir: string | null;
  suite: string;
  /** Per-notebook overrides besides the shared ones (dataDir, runName, config). */
  parameters: Partial<Record<StageNotebook, Record<string, ParameterValue>>>;
  cellTimeoutSeconds: number;
}

export const PRESETS: Record<string, WorkbenchPreset> = {
  quick_test: {
    description: "bundled data and model end to end: quick_test training, quick evaluation suite",
    trainingConfig: "configs/training_configs/quick_test.yaml",
    runName: "quick_test",
    dataDir: "data/processed",
    suite: "quick",
    parameters: {},
    cellTimeoutSeconds: 1800,
  },
  tiny: {
    description: "the whole path in a few minutes (CI): few records, steps and evaluation items",
    trainingConfig: "configs/training_configs/quick_test.yaml",
    runName: "workbench_tiny",
    dataDir: null,
    suite: "quick",
    parameters: {
      "01_ingest": { limit: 30 },
      "03_train": { iters: 3, samples: 1, memoryLimitGiB: 4 },
      // Cheap tasks that have items in a 30-records-per-source split: likelihood and generated.
      "04_evaluate": {
        itemsPerTask: 2,
        tasks: ["referenceNll", "relations", "medhalt", "safetyHarmful", "safetySafe"],
      },
      "05_merge": { formats: ["gguf"], quantize: "q8_0", perplexityTokens: 64 },
    },
    // Generous: a loaded 2-core machine took 9 minutes for the evaluation cell.
    cellTimeoutSeconds: 1200,
  },
};

export function getPreset(name: string): WorkbenchPreset {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}"; known: ${Object.keys(PRESETS).join(", ")}`);
  return p;
}

/** Each notebook's parameters under a preset, with data in `runDir/data` when it has no dataDir. */
export function presetParameters(
  preset: WorkbenchPreset,
  runDir: string,
): Record<StageNotebook, Record<string, ParameterValue>> {
  const dataDir = preset.dataDir ?? join(runDir, "data");
  const shared: Record<StageNotebook, Record<string, ParameterValue>> = {
    "01_ingest": { processedDir: dataDir, logDir: join(runDir, "logs") },
    "02_augment": { inDir: dataDir, outDir: dataDir },
    "03_train": { config: preset.trainingConfig, runName: preset.runName, dataDir },
    "04_evaluate": { run: preset.runName, suite: preset.suite, dataDir },
    "05_merge": { run: preset.runName, dataDir },
  };
  for (const nb of STAGE_NOTEBOOKS) Object.assign(shared[nb], preset.parameters[nb] ?? {});
  return shared;
}

/** A training config with a notebook's overrides (0 / "" keep the config's value). */
export async function trainingConfigFor(o: {
  config: string;
  dataDir?: string;
  runName?: string;
  iters?: number;
  memoryLimitGiB?: number;
}): Promise<TrainingConfig> {
  const cfg = await loadTrainingConfig(fromRoot(o.config));
  return {
    ...cfg,
    ...(o.dataDir
      ? {
          trainData: join(fromRoot(o.dataDir), "train.jsonl"),
          validData: join(fromRoot(o.dataDir), "valid.jsonl"),
        }
      : {}),
    ...(o.runName ? { runName: o.runName } : {}),
    ...(o.iters ? { iters: o.iters } : {}),
    ...(o.memoryLimitGiB ? { memoryLimitBytes: Math.round(o.memoryLimitGiB * 2 ** 30) } : {}),
  };
}

/**
 * An evaluation suite cut down for a notebook: only `tasks` (empty: all), at most `itemsPerTask`
 * items each (0 keeps the suite's counts), on `dataDir`'s splits.
 */
export function suiteFor(o: {
  suite: string;
  itemsPerTask?: number;
  tasks?: readonly string[];
  dataDir?: string;
}): Suite {
  const s = loadSuite(o.suite);
  const cap = o.itemsPerTask || Infinity;
  const only = o.tasks?.length ? new Set(o.tasks) : undefined;
  for (const t of only ?? [])
    if (!(t in s.tasks))
      throw new Error(
        `suite ${s.name}: no task "${t}" (tasks: ${Object.keys(s.tasks).join(", ")})`,
      );
  const dir = o.dataDir ? fromRoot(o.dataDir) : undefined;
  return {
    ...s,
    tasks: Object.fromEntries(
      Object.entries(s.tasks).map(([k, n]) => [k, only && !only.has(k) ? 0 : Math.min(n, cap)]),
    ) as unknown as Suite["tasks"],
    data: dir
      ? {
          ...s.data,
          testSplit: join(dir, "test.jsonl"),
          validSplit: join(dir, "valid.jsonl"),
          processed: dir,
        }
      : s.data,
  };
}
