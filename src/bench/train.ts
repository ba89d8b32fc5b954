/**
 * `npm run bench -- train [--steps 4] [--seq 512] [--batch 4] [--rank 16] [--model X.gguf]`:
 * LoRA training on the same rows (src/bench/train-data.ts), same shapes, same optimizer (AdamW,
 * constant lr 1e-4, no decay, no clipping), rank 16 / alpha 32 on all seven modules, same steps:
 * medtune's native trainer vs PEFT + transformers on PyTorch CPU (scripts/bench/train_peft.py,
 * the GGUF dequantized to float32 by transformers) vs mlx-lm's training loop
 * (scripts/bench/train_mlx_lm.py) on a float32 HF directory made from the same GGUF — mlx-lm once,
 * for --mlx-steps steps, since the mlx-cpu wheel's reference BLAS makes its step take minutes on a
 * small CPU — and, where medtune's packed products run in bfloat16 (AMX), PEFT with its forward
 * under torch.autocast(bfloat16) ("peft-bf16"). Each run is its own process: tokens/s over the steps after the first (warm-up: compile, allocation), all
 * input tokens and supervised tokens separately, peak RSS of the process tree, the loss at step 1
 * (equal weights give equal loss) and after the last step (equal work, equal result).
 *
 *   npx tsx src/bench/index.ts train --steps 2 --seq 64 --repeats 1
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runConvert } from "../merge/index.js";
import { projectPaths, ROOT } from "../paths.js";
import { trainingFlopsPerToken } from "./flops.js";
import { MATMUL_SHAPES, ourMatmul } from "./matmul.js";
import type { BenchOptions, Log, SuiteOutcome } from "./options.js";
import {
  childEntry,
  ensureBenchVenv,
  runChild,
  runNodeChild,
  threadEnv,
  type ChildRun,
} from "./peers.js";
import {
  alternate,
  goal,
  numberField,
  numbers,
  ratioOf,
  summaryOf,
  type Comparison,
  type Goal,
} from "./stats.js";
import { writeTrainingRows, type TrainingRows } from "./train-data.js";

const SELF = fileURLToPath(import.meta.url);
const LEARNING_RATE = 1e-4;

interface ChildArgs {
  model: string;
  data: string;
  steps: number;
  batch: number;
  rank: number;
  lr: number;
}

/** The medtune child: our trainer on the rows, timed per step. */
async function child(a: ChildArgs): Promise<Record<string, unknown>> {
  const { Model } = await import("../train/model.js");
  const { train } = await import("../train/trainer.js");
  const { loadNative } = await import("../native/loader.js");
  const mlx = loadNative();
  const data = JSON.parse(readFileSync(a.data, "utf8")) as TrainingRows;
  const t0 = performance.now();
  const model = await Model.load(a.model);
  model.addAdapters({ loraRank: a.rank, loraAlpha: 2 * a.rank, seed: 0 });
  const loadSeconds = (performance.now() - t0) / 1000;
  const examples = data.rows.map((r) => ({
    tokens: Int32Array.from(r.tokens),
    supervised: Uint8Array.from(r.mask),
  }));
  const batches = Array.from({ length: a.steps }, (_, s) =>
    Array.from({ length: a.batch }, (_, i) => (s * a.batch + i) % examples.length),
  );
  const stepSeconds: number[] = [];
  const losses: number[] = [];
  const inputTokens: number[] = [];
  const supervisedTokens: number[] = [];
  let last = performance.now();
  let trained = 0;
  let mlxPeak = 0;
  await train(
    model,
    {
      train: examples,
      batches,
      iters: a.steps,
      learningRate: a.lr,
      minLearningRate: a.lr,
      maxSeqLength: data.seq,
      reportEvery: 1,
      seed: 0,
    },
    (e) => {
      if (e.type !== "progress") return;
      const now = performance.now();
      stepSeconds.push((now - last) / 1000);
      last = now;
      losses.push(e.trainLoss);
      inputTokens.push(e.trainedTokens - trained);
      trained = e.trainedTokens;
      supervisedTokens.push(e.supervisedTokens);
      mlxPeak = Math.max(mlxPeak, e.peakMemoryBytes);
      process.stderr.write(
        `medtune: step ${e.iteration}/${a.steps} loss ${e.trainLoss.toFixed(4)} ${stepSeconds.at(-1)!.toFixed(2)} s\n`,
      );
    },
  );
  const config = model.config;
  model.dispose();
  return {
    subject: "medtune",
    loadSeconds,
    stepSeconds,
    losses,
    inputTokens,
    supervisedTokens,
    mlxPeakBytes: mlxPeak,
    config,
    versions: { mlx: mlx.version(), blas: mlx.blas() },
  };
}

/** The HF directory mlx-lm trains on, made once per GGUF into data/cache/bench. */
async function hfDirFor(
  model: string,
  python: string,
  log: Log,
): Promise<{ dir: string; how: string }> {
  // keyed by name and size: another file of the same name gets its own directory
  const dir = join(
    projectPaths.cache,
    "bench",
    `hf-${basename(model).replace(/\.gguf$/i, "")}-${statSync(model).size}`,
  );
  const madeBy = join(dir, "made-by.txt");
  if (existsSync(join(dir, "config.json")))
    return {
      dir,
      how: existsSync(madeBy) ? readFileSync(madeBy, "utf8").trim() : "an earlier run",
    };
  mkdirSync(dirname(dir), { recursive: true });
  try {
    log(`bench train: converting ${model} to ${dir} with medtune's GGUF → HF export (float32)`);
    await runConvert({ source: model, to: "hf", out: dir, hfDtype: "float32" });
    const how = "medtune's GGUF → HF export (merge.runConvert)";
    writeFileSync(madeBy, how + "\n");
    return { dir, how };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    log(
      `bench train: medtune's GGUF → HF export failed (${(e as Error).message}); using transformers`,
    );
  }
  log(`bench train: making ${dir} from ${model} with transformers (scripts/bench/make_hf_dir.py)`);
  await runChild(
    python,
    [join(ROOT, "scripts", "bench", "make_hf_dir.py"), "--gguf", model, "--out", dir],
    { who: "make_hf_dir", timeoutSeconds: 900, onStderr: (l) => log(`  ${l}`) },
  );
  const how =
    "transformers (dequantized GGUF copied into a fresh model; medtune's GGUF → HF export failed)";
  writeFileSync(madeBy, how + "\n");
  return { dir, how };
}

/** A sample from a child's result: steady-state rates over steps 2..N. */
/** How medtune's packed base products multiply in this run (the children get the same env). */
async function medtuneProducts(): Promise<{ bf16: boolean; note: string }> {
  const { loadNative } = await import("../native/loader.js");
  const { kernel, byDefault } = loadNative().packedBf16();
  return byDefault
    ? {
        bf16: true,
        note: `medtune's products over the packed base: bfloat16 on ${kernel.toUpperCase()} tiles, float32 sums (MEDTUNE_PACKED_BF16=0: float32); peft runs float32, peft-bf16 its forward under torch.autocast(bfloat16)`,
      }
    : {
        bf16: false,
        note: `medtune's products over the packed base: float32 (bfloat16 kernel: ${kernel})`,
      };
}

function trainSample(who: string, run: ChildRun, flopsPerToken: number, steps: number) {
  const r = run.result;
  const secs = numbers(who, r, "stepSeconds");
  const inputs = numbers(who, r, "inputTokens");
  const sup = numbers(who, r, "supervisedTokens");
  const losses = numbers(who, r, "losses");
  if (secs.length < 1 || losses.length !== secs.length)
    throw new Error(
      `${who}: expected a time and a loss per step, got ${secs.length} and ${losses.length}`,
    );
  // The first step compiles and allocates: not timed, unless it is the only one.
  const from = secs.length >= 2 ? 1 : 0;
  const sum = (a: number[]) => a.slice(from).reduce((x, y) => x + y, 0);
  const t = sum(secs);
  const tokensPerSecond = sum(inputs) / t;
  const rss = Math.max(run.treePeakRssBytes, numberField(who, r, "peakRssBytes"));
  const values: Record<string, number> = {
    tokensPerSecond,
    supervisedTokensPerSecond: sum(sup) / t,
    stepSeconds: t / (secs.length - from),
    gflops: (tokensPerSecond * flopsPerToken) / 1e9,
    peakRssMiB: rss / 2 ** 20,
    firstLoss: losses[0]!,
    loadSeconds: numberField(who, r, "loadSeconds"),
  };
  // "loss after the same steps" only where the subject ran them all
  if (losses.length === steps) values.finalLoss = losses.at(-1)!;
  return { values, detail: { losses, stepSeconds: secs, versions: r.versions } };
}

export async function bench(o: BenchOptions, log: Log): Promise<SuiteOutcome> {
  const work = await mkdtemp(join(tmpdir(), "medtune-bench-train-"));
  try {
    const { file, rows } = await writeTrainingRows({
      model: o.model,
      data: o.data,
      seq: o.seq,
      rows: o.steps * o.batch,
      dir: work,
      log,
    });
    const python = o.peers ? await ensureBenchVenv(log) : undefined;
    const withMlxLm = python !== undefined && o.mlxSteps > 0;
    const hf = withMlxLm
      ? o.hfDir
        ? { dir: o.hfDir, how: "--hf-dir" }
        : await hfDirFor(o.model, python, log)
      : undefined;
    const { Model } = await import("../train/model.js");
    const products = await medtuneProducts();
    // The config for the FLOP count, without keeping a model in this process.
    const probe = await Model.load(o.model);
    const flops = trainingFlopsPerToken(probe.config, o.seq, o.rank);
    probe.dispose();

    const common = [
      "--data",
      file,
      "--steps",
      String(o.steps),
      "--batch",
      String(o.batch),
      "--rank",
      String(o.rank),
      "--alpha",
      String(2 * o.rank),
      "--lr",
      String(LEARNING_RATE),
      "--threads",
      String(o.threads),
    ];
    const c: Comparison = {
      suite: "train",
      title: `LoRA r${o.rank} (α ${2 * o.rank}) on q,k,v,o,gate,up,down; ${basename(o.model)}; batch ${o.batch} × seq ${o.seq}; ${o.steps} steps (first not timed); ${o.threads} threads`,
      ours: "medtune",
      // PEFT under bfloat16 autocast beside medtune's bfloat16 products: mixed precision on both.
      subjects: [
        "medtune",
        ...(python ? ["peft", ...(products.bf16 ? ["peft-bf16"] : [])] : []),
        ...(withMlxLm ? ["mlx-lm"] : []),
      ],
      metrics: [
        {
          key: "tokensPerSecond",
          label: "tokens/s, all input tokens",
          unit: "tok/s",
          higherIsBetter: true,
          chart: true,
        },
        {
          key: "supervisedTokensPerSecond",
          label: "tokens/s, supervised tokens",
          unit: "tok/s",
          higherIsBetter: true,
          chart: true,
        },
        { key: "stepSeconds", label: "seconds per step", unit: "s", higherIsBetter: false },
        {
          key: "gflops",
          label: "achieved FLOP/s (formula in notes)",
          unit: "GFLOP/s",
          higherIsBetter: true,
        },
        { key: "peakRssMiB", label: "peak RSS, process tree", unit: "MiB", higherIsBetter: false },
        {
          key: "firstLoss",
          label: "loss at step 1",
          unit: "nats/token",
          higherIsBetter: false,
          digits: 4,
        },
        {
          key: "finalLoss",
          label: `loss at step ${o.steps}`,
          unit: "nats/token",
          higherIsBetter: false,
          digits: 4,
        },
        { key: "loadSeconds", label: "load + adapters", unit: "s", higherIsBetter: false },
      ],
      samples: [],
      notes: [
        `data: ${rows.rows.length} rows of ${o.seq + 1} tokens packed from ${rows.records} records of ${rows.source}; ${rows.rows.reduce((n, r) => n + r.mask.slice(1).reduce((a, b) => a + b, 0), 0)} supervised targets`,
        `FLOPs per input token = 4·N_base + 6·N_lora + 12·L·S·H·d_head = 4·${flops.baseWeights} + 6·${flops.loraWeights} + ${flops.attentionPerToken} = ${(flops.perToken / 1e9).toFixed(3)} GFLOP (frozen base: forward + backward to activations; LoRA: forward, dX, dW; attention at S=${o.seq})`,
      ],
    };
    c.notes.push(products.note);
    if (hf) c.notes.push(`mlx-lm trains on ${hf.dir} (float32), made by ${hf.how}`);
    const env = threadEnv(o.threads);
    const relay = (who: string) => (l: string) => {
      if (/step \d+\/\d+/.test(l)) log(`  ${l}`);
      else if (/error|Error|Traceback/.test(l)) log(`  ${who}: ${l}`);
    };
    await alternate(
      c,
      o.repeats ?? 2,
      async (subject, round) => {
        if (subject === "mlx-lm" && round > 0) return null;
        log(`train: round ${round + 1}, ${subject}`);
        const timeoutSeconds = 600 + 120 * o.steps;
        let run: ChildRun;
        if (subject === "medtune") {
          const args: ChildArgs = {
            model: o.model,
            data: file,
            steps: o.steps,
            batch: o.batch,
            rank: o.rank,
            lr: LEARNING_RATE,
          };
          run = await runNodeChild(SELF, args as unknown as Record<string, unknown>, {
            who: "medtune train",
            env,
            timeoutSeconds,
            onStderr: relay(subject),
          });
        } else if (subject === "peft" || subject === "peft-bf16") {
          run = await runChild(
            python!,
            [
              join(ROOT, "scripts", "bench", "train_peft.py"),
              "--gguf",
              o.model,
              ...common,
              ...(subject === "peft-bf16" ? ["--bf16"] : []),
            ],
            { who: subject, env, timeoutSeconds, onStderr: relay(subject) },
          );
        } else {
          const args = [...common];
          args[args.indexOf("--steps") + 1] = String(o.mlxSteps);
          run = await runChild(
            python!,
            [join(ROOT, "scripts", "bench", "train_mlx_lm.py"), "--hf-dir", hf!.dir, ...args],
            {
              who: "mlx-lm",
              env,
              timeoutSeconds: 900 + 1800 * o.mlxSteps,
              onStderr: relay(subject),
            },
          );
          const losses = numbers("mlx-lm", run.result, "losses");
          const blas = (run.result.versions as { blas?: string[] } | undefined)?.blas;
          if (blas?.length)
            c.notes.push(
              `mlx-lm multiplies through the mlx-cpu wheel's bundled ${blas.join(", ")}`,
            );
          if (o.mlxSteps !== o.steps)
            c.notes.push(
              `mlx-lm ran ${o.mlxSteps} step${o.mlxSteps === 1 ? "" : "s"} once (--mlx-steps; its only step is timed, compile included): loss ${losses.map((l) => l.toFixed(4)).join(", ")}`,
            );
        }
        return trainSample(subject, run, flops.perToken, o.steps);
      },
      log,
    );

    // The step's FLOP/s as a fraction of the machine's float32 matmul peak (our BLAS).
    const goals: Goal[] = [];
    const mm = await ourMatmul(MATMUL_SHAPES, o.threads).catch(() => undefined);
    if (mm) {
      const peak = Math.max(...mm.shapes.map((s) => s.gflops));
      const frac = c.subjects
        .map((s) => {
          const g = summaryOf(c, s, "gflops");
          return g ? `${s} ${((100 * g.median) / peak).toFixed(0)}%` : undefined;
        })
        .filter(Boolean)
        .join(", ");
      c.notes.push(
        `achieved FLOP/s as a share of medtune's float32 matmul peak (${peak.toFixed(0)} GFLOP/s, measured after the runs): ${frac}`,
      );
    }
    if (python) {
      const mem = (peer: string) => ratioOf(c, peer, "peakRssMiB");
      goals.push(
        goal("train tokens/s vs PEFT (PyTorch CPU)", ratioOf(c, "peft", "tokensPerSecond"), "≥", 2),
      );
      goals.push(goal("train peak RSS vs PEFT", mem("peft"), "≤", 0.8));
      if (products.bf16)
        goals.push(
          goal(
            "train tokens/s vs PEFT, both bfloat16",
            ratioOf(c, "peft-bf16", "tokensPerSecond"),
            "≥",
            1,
          ),
        );
      if (withMlxLm) {
        goals.push(
          goal("train tokens/s vs mlx-lm", ratioOf(c, "mlx-lm", "tokensPerSecond"), "≥", 1.25),
        );
        goals.push(goal("train peak RSS vs mlx-lm", mem("mlx-lm"), "≤", 0.8));
      }
    }
    return { comparisons: [c], goals };
  } finally {
    if (!o.keep) await rm(work, { recursive: true, force: true });
    else log(`bench train: rows and temp files kept in ${work}`);
  }
}

childEntry(SELF, child as (a: never) => Promise<Record<string, unknown>>);
