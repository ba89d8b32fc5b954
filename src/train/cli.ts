/**
 * `medtune train --preset quick_test | --config FILE [--<key> VALUE …] [--fresh]`: one LoRA/QLoRA
 * run (src/train/run.ts) with a progress line per step. Every preset key is also a flag, in
 * kebab-case (`--batch-size 1`, `--datasets hetionet,chembl_sqlite`, `--epochs 2`, `--dora`);
 * values are read as YAML scalars, so `--memory-limit-bytes "3 GiB"` and `--valid-data null` work.
 * Ctrl-C or SIGTERM (`timeout`, systemd, Docker, job schedulers) stops at the next step and keeps a
 * checkpoint; running the same command again resumes from it (unless --fresh).
 *
 *   npx tsx src/cli.ts train --preset quick_test
 *   npx tsx src/cli.ts train --preset quick_test --datasets hetionet,chembl_sqlite --epochs 2 --batch-size 1
 *
 * Exit status: 0 done; 1 an error; 2 a usage or config error; 130 / 143 stopped by SIGINT / SIGTERM.
 */
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse as parseYamlScalar } from "yaml";
import { parseFlags, suggest, type CommandSpec, type FlagSpec } from "../cli-flags.js";
import { projectPaths } from "../paths.js";
import {
  BOOLEAN_KEYS,
  ConfigError,
  LIST_KEYS,
  loadTrainingConfig,
  TRAINING_CONFIG_KEYS,
  type TrainingConfig,
} from "./config.js";
import { runTraining, deviceSummary, type RunEvent } from "./run.js";

const PRESET_DIR = join(projectPaths.configs, "training_configs");

/** The presets shipped in configs/training_configs (quick_test, overnight, full_training). */
export function presetNames(): string[] {
  try {
    return readdirSync(PRESET_DIR)
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => f.slice(0, -5))
      .sort();
  } catch {
    return [];
  }
}

/** batchSize → batch-size */
export const flagName = (key: string): string =>
  key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function keyFlags(): Record<string, FlagSpec> {
  const out: Record<string, FlagSpec> = {};
  for (const key of TRAINING_CONFIG_KEYS) {
    out[flagName(key)] = BOOLEAN_KEYS.includes(key)
      ? { type: "boolean", description: `preset key ${key}` }
      : LIST_KEYS.includes(key)
        ? { type: "list", value: "A,B", description: `preset key ${key}` }
        : { type: "string", value: "VALUE", description: `preset key ${key} (a YAML scalar)` };
  }
  return out;
}

export const SPEC: CommandSpec = {
  command: "train",
  summary: "One LoRA/QLoRA run from a preset; a rerun resumes from the last checkpoint.",
  flags: {
    preset: {
      type: "string",
      value: "NAME",
      description: `a preset in configs/training_configs (${presetNames().join(", ")})`,
    },
    config: {
      type: "string",
      value: "FILE",
      description: "a training config file (YAML, the preset keys)",
    },
    fresh: {
      type: "boolean",
      description: "ignore checkpoints of an earlier run with the same runName",
    },
    ...keyFlags(),
  },
  epilog:
    "Exactly one of --preset and --config. Every other flag overrides the preset key of its name.\n" +
    "Ctrl-C or SIGTERM stops at the next step and writes a checkpoint.\n" +
    "Exit status: 0 done; 1 error; 2 usage or config error; 130 (SIGINT) or 143 (SIGTERM) stopped early.",
};

export function formatEvent(e: RunEvent): string | undefined {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  switch (e.type) {
    case "progress":
      return `step ${String(e.iteration).padStart(5)}  loss ${e.trainLoss.toFixed(4)}  lr ${e.learningRate.toExponential(2)}  ${e.tokensPerSecond.toFixed(1)} tok/s  peak ${mib(e.peakMemoryBytes)}`;
    case "eval":
      return `step ${String(e.iteration).padStart(5)}  valid loss ${e.validLoss.toFixed(4)}  (${e.seconds.toFixed(1)} s)`;
    case "safety":
      return `step ${String(e.iteration).padStart(5)}  safety probe: refusal rate ${e.refusalRate.toFixed(2)}, mean score ${e.meanSafetyScore.toFixed(3)} (${e.seconds.toFixed(1)} s)`;
    case "batch":
      return `step ${String(e.iteration).padStart(5)}  micro-batch ${e.fromBatchSize} → ${e.batchSize}, accumulation ${e.gradAccumulationSteps} (${e.reason === "estimate" ? "estimated" : "peak"} ${mib(e.peakMemoryBytes)} > memoryLimitBytes ${mib(e.budgetBytes)})`;
    case "checkpoint":
      return `step ${String(e.iteration).padStart(5)}  checkpoint ${e.adapterFile}`;
    case "accuracy":
      return `step ${String(e.iteration).padStart(5)}  medical accuracy ${e.correct}/${e.items} = ${e.accuracy.toFixed(3)} (per-token ${e.accuracyNormalized.toFixed(3)}, gold p ${e.meanGoldProbability.toFixed(3)}; epoch ${e.epoch}, ${e.seconds.toFixed(1)} s)`;
    case "cache":
      return `tokenized ${e.split}: cache ${e.status} (${e.examples} examples, ${e.seconds.toFixed(2)} s) ${e.file}`;
    case "warning":
      return `warning: ${e.message}`;
    default:
      return undefined;
  }
}

/** The preset file named by --preset or --config; a usage error (exit 2) is printed here. */
function configFile(values: Record<string, unknown>): string | undefined {
  const preset = values.preset as string | undefined;
  const config = values.config as string | undefined;
  if ((preset === undefined) === (config === undefined)) {
    process.stderr.write(
      `medtune train: give exactly one of --preset NAME (${presetNames().join(", ")}) and --config FILE\n`,
    );
    return undefined;
  }
  if (config !== undefined) return resolve(config); // relative to where the user is
  const names = presetNames();
  if (!names.includes(preset as string)) {
    const near = suggest(preset as string, names);
    process.stderr.write(
      `medtune train: --preset: no preset "${preset}"${near ? ` (did you mean "${near}"?)` : ""}; presets: ${names.join(", ")}\n`,
    );
    return undefined;
  }
  return join(PRESET_DIR, `${preset}.yaml`);
}

/** Flag values → preset keys (values of string flags parsed as YAML scalars). */
export function overridesFromFlags(
  values: Record<string, unknown>,
): Partial<Record<keyof TrainingConfig, unknown>> {
  const out: Partial<Record<keyof TrainingConfig, unknown>> = {};
  for (const key of TRAINING_CONFIG_KEYS) {
    const v = values[flagName(key)];
    if (v === undefined) continue;
    out[key] = typeof v === "string" ? parseYamlScalar(v) : v;
  }
  return out;
}

export async function main(argv: string[]): Promise<number> {
  const p = parseFlags(argv, SPEC);
  if (p.kind !== "ok") return p.exit;
  const file = configFile(p.values);
  if (file === undefined) return 2;
  let cfg: TrainingConfig;
  try {
    cfg = await loadTrainingConfig(file, overridesFromFlags(p.values), (k) => `--${flagName(k)}`);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`medtune train: ${e.message}\n`);
    return 2;
  }
  const fresh = Boolean(p.values.fresh);
  process.stdout.write(`${deviceSummary()}\n`);
  const r = await runTraining({
    config: cfg,
    fresh,
    onEvent: (e) => {
      const line = formatEvent(e);
      if (line) process.stdout.write(`${line}\n`);
    },
  });
  if (r.resumedFromStep !== null)
    process.stdout.write(`(resumed from step ${r.resumedFromStep})\n`);
  process.stdout.write(
    `${r.done.stopReason}: ${r.done.iteration} steps on ${r.trainExamples} examples (${r.validExamples} valid); padding ${(100 * r.paddingFraction).toFixed(1)}%\n` +
      `adapters: ${r.adapterDirs.mlx} (mlx-lm), ${r.adapterDirs.peft} (PEFT)\nmetrics: ${r.metricsFile}\n`,
  );
  if (r.stoppedBy === "early-stopping") {
    process.stdout.write(
      `stopped early: no lower validation loss in ${r.config.patience} evaluations; best/ holds the best\n`,
    );
    return 0;
  }
  if (r.stoppedBy) process.stdout.write(`stopped by ${r.stoppedBy}; rerun to resume\n`);
  return r.stoppedBy === "SIGTERM" ? 143 : r.done.stopReason === "cancelled" ? 130 : 0;
}
