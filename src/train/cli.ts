/**
 * `medtune train --config <preset.yaml> [--iters N] [--fresh]`: one LoRA/QLoRA run (src/train/run.ts)
 * with a progress line per step. Ctrl-C stops at the next step and keeps a checkpoint; running
 * the same command again resumes from it (unless --fresh).
 */
import { runTraining, deviceSummary } from "./run.js";
import type { TrainEvent } from "./trainer.js";

const USAGE = `usage: medtune train --config FILE [--iters N] [--fresh]

  --config FILE   a training preset (configs/training_configs/*.yaml)
  --iters N       override the preset's optimizer steps
  --fresh         ignore checkpoints of an earlier run with the same runName
`;

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
  let config: string | undefined;
  let iters: number | undefined;
  let fresh = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--config") config = argv[++i];
    else if (a === "--iters") iters = Number(argv[++i]);
    else if (a === "--fresh") fresh = true;
    else if (a === "-h" || a === "--help") {
      process.stdout.write(USAGE);
      return 0;
    } else {
      process.stderr.write(`medtune train: unknown option ${a}\n\n${USAGE}`);
      return 2;
    }
  }
  if (!config) {
    process.stderr.write(`medtune train: --config is required\n\n${USAGE}`);
    return 2;
  }
  if (iters !== undefined && (!Number.isInteger(iters) || iters < 1)) {
    process.stderr.write(`medtune train: --iters must be a positive integer\n`);
    return 2;
  }
  process.stdout.write(`${deviceSummary()}\n`);
  const r = await runTraining(config, {
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
  return r.done.stopReason === "cancelled" ? 130 : 0;
}
