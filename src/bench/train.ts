/**
 * `npm run bench -- train [--steps 20] [--seq 512] [--batch 4] [--rank 16] [--checkpointing]
 * [--model models/base/SmolLM2-135M-Instruct.Q4_1.gguf]`: QLoRA training throughput and peak
 * memory of the native trainer on the bundled 4-bit GGUF (the base is trained as is, frozen and
 * quantized). Data is seeded random token ids: throughput does not depend on what the tokens say.
 * Without a build: `npx tsx src/bench/train.ts --steps 20`.
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { loadNative, PACKAGE_ROOT } from "../native/loader.js";
import { Model } from "../train/model.js";
import { train } from "../train/trainer.js";

function arg(argv: string[], name: string, dflt: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
}

export async function main(argv: string[]): Promise<number> {
  const steps = Number(arg(argv, "steps", "20"));
  const seq = Number(arg(argv, "seq", "512"));
  const batch = Number(arg(argv, "batch", "4"));
  const rank = Number(arg(argv, "rank", "16"));
  const modelPath = arg(
    argv,
    "model",
    join(PACKAGE_ROOT, "models", "base", "SmolLM2-135M-Instruct.Q4_1.gguf"),
  );
  const checkpointing = argv.includes("--checkpointing");
  const mlx = loadNative();

  const model = await Model.load(modelPath);
  model.addAdapters({ rank, alpha: 2 * rank, seed: 0 });
  const V = model.config.vocabSize;
  // batch examples of seq+1 tokens (inputs = first seq, targets = last seq), all supervised.
  let s = 12345;
  const examples = Array.from({ length: batch }, () => {
    const tokens = new Int32Array(seq + 1).map(() => {
      s = (s * 1103515245 + 12345) >>> 0;
      return s % V;
    });
    return { tokens, supervised: new Uint8Array(seq + 1).fill(1) };
  });
  mlx.resetPeakMemory();
  const rates: number[] = [];
  let peak = 0;
  const t0 = performance.now();
  const done = await train(
    model,
    {
      train: examples,
      batches: [Array.from({ length: batch }, (_, i) => i)],
      iterations: steps,
      learningRate: 1e-4,
      maxSeqLength: seq,
      gradientCheckpointing: checkpointing,
      stepsPerReport: 1,
    },
    (e) => {
      if (e.type === "progress") {
        rates.push(e.tokensPerSecond);
        peak = Math.max(peak, e.peakMemoryBytes);
        process.stderr.write(
          `step ${e.iteration}/${steps} loss ${e.trainLoss.toFixed(3)} ${e.tokensPerSecond.toFixed(1)} tok/s peak ${(e.peakMemoryBytes / 2 ** 20).toFixed(0)} MiB\n`,
        );
      }
    },
  );
  const secs = (performance.now() - t0) / 1000;
  const tokens = done.trainedTokens;
  const result = {
    suite: "train",
    model: modelPath,
    backend: mlx.backend(),
    steps,
    batch,
    seq,
    rank,
    gradientCheckpointing: checkpointing,
    tokensPerSecond: Number((tokens / secs).toFixed(2)),
    medianStepTokensPerSecond: Number(
      [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)]!.toFixed(2),
    ),
    peakMemoryBytes: peak,
    peakMemoryMiB: Number((peak / 2 ** 20).toFixed(1)),
    seconds: Number(secs.toFixed(1)),
    finalLoss: done.trainLoss,
  };
  process.stdout.write(JSON.stringify(result) + "\n");
  model.dispose();
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((c) => (process.exitCode = c));
}
