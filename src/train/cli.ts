/**
 * `medtune train --config <preset.yaml> [--iters N] [--fresh]`: one LoRA/QLoRA run (src/train/run.ts)
 * with a progress line per step. Ctrl-C or SIGTERM (`timeout`, systemd, Docker, job schedulers)
 * stops at the next step and keeps a checkpoint; running the same command again resumes from it
 * (unless --fresh).
 *
 * Exit status: 0 done; 1 an error; 2 a usage error; 130 / 143 stopped by SIGINT / SIGTERM.
 */
import { resolve } from "node:path";
import { parseFlags, type CommandSpec } from "../cli-flags.js";
import { runTraining, deviceSummary } from "./run.js";
import type { TrainEvent } from "./trainer.js";

export const SPEC: CommandSpec = {
  command: "train",
  summary: "One LoRA/QLoRA run from a preset; a rerun resumes from the last checkpoint.",
  flags: {
    config: {
      type: "string",
      value: "FILE",
      description: "a training preset (configs/training_configs/*.yaml)",
      required: true,
    },
    iters: {
      type: "int",
      min: 1,
      value: "N",
      description: "override the preset's optimizer steps",
    },
    fresh: {
      type: "boolean",
      description: "ignore checkpoints of an earlier run with the same runName",
    },
  },
  epilog:
    "Ctrl-C or SIGTERM stops at the next step and writes a checkpoint.\n" +
    "Exit status: 0 done; 1 error; 2 usage error; 130 (SIGINT) or 143 (SIGTERM) stopped early.",
};

export function formatEvent(e: TrainEvent): string | undefined {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  switch (e.type) {
    case "progress":
      return `step ${String(e.iteration).padStart(5)}  loss ${e.trainLoss.toFixed(4)}  lr ${e.learningRate.toExponential(2)}  ${e.tokensPerSecond.toFixed(1)} tok/s  peak ${mib(e.peakMemoryBytes)}`;
    case "eval":
      return `step ${String(e.iteration).padStart(5)}  valid loss ${e.validLoss.toFixed(4)}  (${e.seconds.toFixed(1)} s)`;
    case "checkpoint":
      return `step ${String(e.iteration).padStart(5)}  checkpoint ${e.adapterFile}`;
    default:
      return undefined;
  }
}

export async function main(argv: string[]): Promise<number> {
  const p = parseFlags(argv, SPEC);
  if (p.kind !== "ok") return p.exit;
  const config = p.values.config as string;
  const iters = p.values.iters as number | undefined;
  const fresh = Boolean(p.values.fresh);
  process.stdout.write(`${deviceSummary()}\n`);
  // A path typed on the command line is relative to where the user is.
  const r = await runTraining(resolve(config), {
    iters,
    resume: !fresh,
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
  if (r.stoppedBy) process.stdout.write(`stopped by ${r.stoppedBy}; rerun to resume\n`);
  return r.stoppedBy === "SIGTERM" ? 143 : r.done.stopReason === "cancelled" ? 130 : 0;
}
