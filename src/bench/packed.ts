/**
 * `npm run bench -- packed [--packed-model X.gguf] [--repeats 2]`: LoRA training with a 4-bit base
 * kept packed on the CPU (MEDTUNE_CPU_QUANTIZED_MATMUL=packed: dequantized row blocks + BLAS,
 * native/src/packed_matmul.cc, the default) against the same base expanded once to float32 (=expand),
 * on a synthetic ~1B-parameter Q4_0 llama (scripts/make_synthetic_gguf.py, made once into
 * data/cache/bench/ with the bench venv's gguf) — issue 9's goal: weight memory about the file
 * size, tokens/s at least 80% of the expanded base's. Random token ids (the synthetic model has no
 * tokenizer); short on purpose: batch 1 × seq 128, 3 steps (the first not timed), rank 16 on all
 * seven modules. Weight memory: MLX's active bytes grown by the load, before the adapters.
 *
 *   npx tsx src/bench/index.ts packed --repeats 1
 */
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { projectPaths, ROOT } from "../paths.js";
import type { BenchOptions, Log, SuiteOutcome } from "./options.js";
import { childEntry, ensureBenchVenv, runChild, runNodeChild, threadEnv } from "./peers.js";
import { alternate, goal, numberField, numbers, summaryOf, type Comparison } from "./stats.js";

const SELF = fileURLToPath(import.meta.url);
const STEPS = 3;
const BATCH = 1;
const SEQ = 128;
const RANK = 16;

interface ChildArgs {
  model: string;
  steps: number;
  batch: number;
  seq: number;
  rank: number;
}

/** Deterministic token ids in [20, vocab). */
function ids(count: number, vocab: number, seed: number): Int32Array {
  let s = seed >>> 0;
  return Int32Array.from({ length: count }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return 20 + (s % (vocab - 20));
  });
}

/** The child: load (weight memory), adapters, a few training steps timed one by one. */
async function child(a: ChildArgs): Promise<Record<string, unknown>> {
  const { Model } = await import("../train/model.js");
  const { train } = await import("../train/trainer.js");
  const { loadNative } = await import("../native/loader.js");
  const mlx = loadNative();
  const before = mlx.memory().activeBytes;
  const t0 = performance.now();
  const model = await Model.load(a.model);
  const weightBytes = mlx.memory().activeBytes - before;
  model.addAdapters({ loraRank: a.rank, loraAlpha: 2 * a.rank, seed: 0 });
  const loadSeconds = (performance.now() - t0) / 1000;
  const V = model.config.vocabSize;
  const examples = Array.from({ length: a.steps * a.batch }, (_, i) => ({
    tokens: ids(a.seq + 1, V, 1000 + i),
    supervised: new Uint8Array(a.seq + 1).fill(1),
  }));
  const batches = Array.from({ length: a.steps }, (_, s) =>
    Array.from({ length: a.batch }, (_, i) => s * a.batch + i),
  );
  const stepSeconds: number[] = [];
  const losses: number[] = [];
  let last = performance.now();
  let mlxPeak = 0;
  mlx.resetPeakMemory();
  await train(
    model,
    {
      train: examples,
      batches,
      iters: a.steps,
      learningRate: 1e-4,
      minLearningRate: 1e-4,
      maxSeqLength: a.seq,
      reportEvery: 1,
      seed: 0,
    },
    (e) => {
      if (e.type !== "progress") return;
      const now = performance.now();
      stepSeconds.push((now - last) / 1000);
      last = now;
      losses.push(e.trainLoss);
      mlxPeak = Math.max(mlxPeak, e.peakMemoryBytes);
      process.stderr.write(
        `packed bench: step ${e.iteration}/${a.steps} loss ${e.trainLoss.toFixed(4)} ${stepSeconds.at(-1)!.toFixed(2)} s\n`,
      );
    },
  );
  const params = model.config;
  model.dispose();
  return { weightBytes, mlxPeakBytes: mlxPeak, stepSeconds, losses, loadSeconds, config: params };
}

/** The synthetic 1B Q4_0 GGUF, written once into data/cache/bench by the bench venv's gguf. */
async function syntheticModel(log: Log): Promise<string> {
  const file = join(projectPaths.cache, "bench", "synthetic-1b.Q4_0.gguf");
  if (existsSync(file)) return file;
  mkdirSync(join(projectPaths.cache, "bench"), { recursive: true });
  const python = await ensureBenchVenv(log);
  log(`bench packed: writing ${file} (scripts/make_synthetic_gguf.py, ~540 MB)`);
  const tmp = `${file}.tmp-${process.pid}`;
  await runChild(python, [join(ROOT, "scripts", "make_synthetic_gguf.py"), "--out", tmp], {
    who: "make_synthetic_gguf",
    timeoutSeconds: 900,
    onStderr: (l) => log(`  ${l}`),
  });
  renameSync(tmp, file);
  return file;
}

export async function bench(o: BenchOptions, log: Log): Promise<SuiteOutcome> {
  const model = o.packedModel ?? (await syntheticModel(log));
  const fileMiB = statSync(model).size / 2 ** 20;
  const c: Comparison = {
    suite: "packed",
    title: `4-bit base kept packed vs expanded to float32 (CPU); LoRA r${RANK} on q,k,v,o,gate,up,down; ${basename(model)}; batch ${BATCH} × seq ${SEQ}; ${STEPS} steps (first not timed); ${o.threads} threads`,
    ours: "packed",
    subjects: ["packed", "float32"],
    metrics: [
      {
        key: "tokensPerSecond",
        label: "tokens/s",
        unit: "tok/s",
        higherIsBetter: true,
        chart: true,
      },
      { key: "stepSeconds", label: "seconds per step", unit: "s", higherIsBetter: false },
      { key: "weightMiB", label: "weight memory (MLX)", unit: "MiB", higherIsBetter: false },
      { key: "mlxPeakMiB", label: "peak MLX memory, training", unit: "MiB", higherIsBetter: false },
      { key: "peakRssMiB", label: "peak RSS", unit: "MiB", higherIsBetter: false },
      { key: "firstLoss", label: "loss at step 1", unit: "nats/token", higherIsBetter: false },
      { key: "loadSeconds", label: "load + adapters", unit: "s", higherIsBetter: false },
    ],
    samples: [],
    notes: [
      `file ${fileMiB.toFixed(0)} MiB; packed = MEDTUNE_CPU_QUANTIZED_MATMUL=packed (the CPU default), float32 = =expand`,
      "weight memory: MLX active bytes grown by the load (packed words + the file's float16 scale per 32 weights, Q4_0's biases implicit (native/src/quant_compact.h), norms; or the float32 copies on top)",
    ],
  };
  await alternate(
    c,
    o.repeats ?? 2,
    async (subject, round) => {
      log(`packed: round ${round + 1}, ${subject}`);
      const args: ChildArgs = { model, steps: STEPS, batch: BATCH, seq: SEQ, rank: RANK };
      const run = await runNodeChild(SELF, args as unknown as Record<string, unknown>, {
        who: `packed bench (${subject})`,
        env: {
          ...threadEnv(o.threads),
          MEDTUNE_CPU_QUANTIZED_MATMUL: subject === "packed" ? "packed" : "expand",
        },
        timeoutSeconds: 1800,
        onStderr: (l) => log(`  ${subject}: ${l}`),
      });
      const who = `packed bench (${subject})`;
      const secs = numbers(who, run.result, "stepSeconds").slice(1);
      const timed = secs.reduce((a, b) => a + b, 0);
      return {
        values: {
          tokensPerSecond: (secs.length * BATCH * SEQ) / timed,
          stepSeconds: timed / secs.length,
          weightMiB: numberField(who, run.result, "weightBytes") / 2 ** 20,
          mlxPeakMiB: numberField(who, run.result, "mlxPeakBytes") / 2 ** 20,
          peakRssMiB:
            Math.max(run.treePeakRssBytes, numberField(who, run.result, "peakRssBytes")) / 2 ** 20,
          firstLoss: numbers(who, run.result, "losses")[0]!,
          loadSeconds: numberField(who, run.result, "loadSeconds"),
        },
      };
    },
    log,
  );
  const packedWeights = summaryOf(c, "packed", "weightMiB");
  const ratio = (key: string) => {
    const a = summaryOf(c, "packed", key);
    const b = summaryOf(c, "float32", key);
    return a && b && b.median > 0 ? a.median / b.median : null;
  };
  return {
    comparisons: [c],
    goals: [
      goal(
        "1B Q4_0 training tokens/s: packed vs float32-expanded",
        ratio("tokensPerSecond"),
        "≥",
        0.8,
      ),
      goal(
        "1B Q4_0 weight memory kept packed vs the file size",
        packedWeights ? packedWeights.median / fileMiB : null,
        "≤",
        1.1,
      ),
    ],
  };
}

childEntry(SELF, child as (a: never) => Promise<Record<string, unknown>>);
