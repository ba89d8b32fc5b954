/**
 * Before/after figures for a native addon change, alternating A B A B in one run so that a busy
 * machine's noise falls on both sides alike: training tokens/s (LoRA, all seven modules), decode
 * and prompt tokens/s (batch 1, greedy), batched decode total tokens/s (16 prompts), peak MLX
 * memory; llama.cpp (node-llama-cpp, same GGUF, same threads) decodes in the same rounds.
 *   npx tsx src/bench/native-ab.ts --a OLD.node --b native/build/Release/medtune_native.node
 *     [--rounds 2] [--steps 3] [--batch 4] [--seq 512] [--rank 16] [--prompt 64] [--new 128]
 *     [--parallel 16] [--threads 2] [--no-train] [--no-llama] [--a-env K=V,...] [--b-env K=V,...]
 * Each measurement runs in its own process (MEDTUNE_NATIVE_ADDON selects the addon).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseFlags } from "../cli-flags.js";
import { PACKAGE_ROOT } from "../native/loader.js";

const GGUF = join(PACKAGE_ROOT, "models", "base", "SmolLM2-135M-Instruct.Q4_1.gguf");

interface Job {
  kind: "medtune" | "llama.cpp";
  train: boolean;
  steps: number;
  batch: number;
  seq: number;
  rank: number;
  prompt: number;
  newTokens: number;
  parallel: number;
  threads: number;
}

function ids(count: number, vocab: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: count }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return 20 + (s % (vocab - 20));
  });
}

async function medtune(j: Job): Promise<Record<string, number | null>> {
  const { loadNative } = await import("../native/loader.js");
  const { Model } = await import("../train/model.js");
  const { train } = await import("../train/trainer.js");
  const mlx = loadNative();
  const model = await Model.load(GGUF);
  const V = model.config.vocabSize;
  const out: Record<string, number | null> = {};
  if (j.train) {
    model.addAdapters({ loraRank: j.rank, loraAlpha: 2 * j.rank, seed: 0 });
    const tokens = Int32Array.from(ids(j.batch * (j.seq + 1), V, 12345));
    const offsets = Int32Array.from({ length: j.batch + 1 }, (_, i) => i * (j.seq + 1));
    mlx.resetPeakMemory();
    const rates: number[] = [];
    let peak = 0;
    await train(
      model,
      {
        train: { tokens, offsets, lossMask: new Uint8Array(tokens.length).fill(1) },
        batches: {
          indices: Int32Array.from({ length: j.batch }, (_, i) => i),
          offsets: Int32Array.from([0, j.batch]),
        },
        iters: j.steps,
        learningRate: 1e-4,
        maxSeqLength: j.seq,
        reportEvery: 1,
      },
      (e) => {
        if (e.type === "progress") {
          if (e.iteration > 1) rates.push(e.tokensPerSecond); // step 1 warms up
          peak = Math.max(peak, e.peakMemoryBytes);
        }
      },
    );
    out.trainTokensPerSecond = rates.length
      ? rates.reduce((a, b) => a + b, 0) / rates.length
      : null;
    out.trainPeakMiB = peak / 2 ** 20;
    model.native.removeAdapters();
  }
  const prompt = ids(j.prompt, V, 777);
  await model.native.generate({ prompt, maxTokens: 4 });
  const g = await model.native.generate({ prompt, maxTokens: j.newTokens, stopTokens: [] });
  out.decodeTokensPerSecond = g.tokensPerSecond;
  out.promptTokensPerSecond = g.promptTokensPerSecond;
  const native = model.native as { generateBatch?: unknown };
  if (j.parallel > 1 && typeof native.generateBatch === "function") {
    mlx.resetPeakMemory();
    const prompts = Array.from({ length: j.parallel }, (_, i) => ({
      prompt: ids(j.prompt - (i % 8), V, 900 + i),
    }));
    const r = await model.native.generateBatch({ prompts, maxTokens: j.newTokens, stopTokens: [] });
    out.batchedTokensPerSecond = r.tokensPerSecond;
    out.batchedPeakMiB = r.peakMemoryBytes / 2 ** 20;
  } else {
    out.batchedTokensPerSecond = null;
  }
  return out;
}

async function llamaCpp(j: Job): Promise<Record<string, number | null>> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const lm = await llama.loadModel({ modelPath: GGUF });
  const ctx = await lm.createContext({
    contextSize: j.prompt + j.newTokens + 16,
    threads: j.threads,
  });
  const seq = ctx.getSequence();
  type Token = Parameters<typeof seq.evaluate>[0][number];
  const prompt = ids(j.prompt, 49152, 777) as unknown as Token[]; // the same ids as medtune
  const t0 = performance.now();
  let first = 0;
  let n = 0;
  for await (const _ of seq.evaluate(prompt, { temperature: 0 })) {
    if (n === 0) first = performance.now();
    if (++n >= j.newTokens) break;
  }
  const end = performance.now();
  await ctx.dispose();
  await lm.dispose();
  await llama.dispose();
  return {
    decodeTokensPerSecond: (n - 1) / ((end - first) / 1000),
    promptTokensPerSecond: j.prompt / ((first - t0) / 1000),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** "K=V,K2=V2" as an environment object (--a-env / --b-env). */
function envList(v: unknown): Record<string, string> {
  if (typeof v !== "string" || v === "") return {};
  return Object.fromEntries(
    v.split(",").map((kv) => {
      const i = kv.indexOf("=");
      if (i <= 0) throw new Error(`native-ab: expected K=V in '${kv}'`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--child") {
    const j = JSON.parse(argv[1]!) as Job;
    const r = j.kind === "medtune" ? await medtune(j) : await llamaCpp(j);
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
    return 0;
  }
  const parsed = parseFlags(argv, {
    command: "native-ab",
    summary: "Alternating before/after figures for two builds of the native addon.",
    flags: {
      a: { type: "string", value: "FILE", description: "the 'before' addon (.node)" },
      b: { type: "string", value: "FILE", description: "the 'after' addon (.node)" },
      rounds: { type: "int", min: 1, description: "A B rounds", defaultText: "2" },
      steps: {
        type: "int",
        min: 2,
        description: "training steps (the first is warm-up)",
        defaultText: "3",
      },
      batch: { type: "int", min: 1, description: "training batch", defaultText: "4" },
      seq: { type: "int", min: 2, description: "training sequence length", defaultText: "512" },
      rank: { type: "int", min: 1, description: "LoRA rank", defaultText: "16" },
      prompt: { type: "int", min: 8, description: "prompt tokens", defaultText: "64" },
      new: { type: "int", min: 2, description: "new tokens (greedy)", defaultText: "128" },
      parallel: {
        type: "int",
        min: 1,
        description: "prompts of the batched decode",
        defaultText: "16",
      },
      threads: { type: "int", min: 1, description: "llama.cpp threads", defaultText: "2" },
      "a-env": {
        type: "string",
        value: "K=V,...",
        description: "environment for A only (e.g. MEDTUNE_CPU_QUANTIZED_MATMUL=tiled)",
      },
      "b-env": { type: "string", value: "K=V,...", description: "environment for B only" },
      "no-train": { type: "boolean", description: "skip training" },
      "no-llama": { type: "boolean", description: "skip llama.cpp" },
    },
  });
  if (parsed.kind !== "ok") return parsed.exit;
  const f = parsed.values;
  if (typeof f.a !== "string" || typeof f.b !== "string") {
    process.stderr.write("native-ab: --a and --b are required\n");
    return 2;
  }
  const job: Omit<Job, "kind"> = {
    train: f["no-train"] !== true,
    steps: (f.steps as number) ?? 3,
    batch: (f.batch as number) ?? 4,
    seq: (f.seq as number) ?? 512,
    rank: (f.rank as number) ?? 16,
    prompt: (f.prompt as number) ?? 64,
    newTokens: (f.new as number) ?? 128,
    parallel: (f.parallel as number) ?? 16,
    threads: (f.threads as number) ?? 2,
  };
  const subjects: [string, string | null, Record<string, string>][] = [
    ["A", f.a, envList(f["a-env"])],
    ["B", f.b, envList(f["b-env"])],
  ];
  if (f["no-llama"] !== true) subjects.push(["llama.cpp", null, {}]);
  const results: Record<string, Record<string, number[]>> = {};
  const self = fileURLToPath(import.meta.url);
  for (let round = 0; round < ((f.rounds as number) ?? 2); round++) {
    for (const [name, addon, env] of subjects) {
      const child = spawnSync(
        process.execPath,
        [
          "--import",
          "tsx",
          self,
          "--child",
          JSON.stringify({ ...job, kind: addon ? "medtune" : "llama.cpp" }),
        ],
        {
          encoding: "utf8",
          cwd: PACKAGE_ROOT,
          env: {
            ...process.env,
            ...(addon ? { MEDTUNE_NATIVE_ADDON: addon } : {}),
            OMP_NUM_THREADS: String(job.threads),
            ...env,
          },
          maxBuffer: 1 << 26,
        },
      );
      const line = child.stdout.split("\n").find((l) => l.startsWith("RESULT "));
      if (!line) {
        process.stderr.write(`native-ab: ${name} failed:\n${child.stderr.slice(-2000)}\n`);
        return 1;
      }
      const r = JSON.parse(line.slice(7)) as Record<string, number | null>;
      process.stderr.write(`round ${round + 1} ${name}: ${JSON.stringify(r)}\n`);
      for (const [k, v] of Object.entries(r)) {
        if (v === null) continue;
        ((results[name] ??= {})[k] ??= []).push(v);
      }
    }
  }
  const keys = [...new Set(Object.values(results).flatMap((r) => Object.keys(r)))];
  process.stdout.write(`median of ${(f.rounds as number) ?? 2} alternating rounds\n`);
  process.stdout.write(
    `${"figure".padEnd(26)}${subjects.map(([n]) => n.padStart(12)).join("")}   B/A   B/llama.cpp\n`,
  );
  for (const k of keys) {
    const m = subjects.map(([n]) => (results[n]?.[k] ? median(results[n]![k]!) : NaN));
    const ratio = (m[1]! / m[0]!).toFixed(2);
    const vsLlama = m.length > 2 && Number.isFinite(m[2]) ? (m[1]! / m[2]!).toFixed(2) : "";
    process.stdout.write(
      `${k.padEnd(26)}${m.map((v) => (Number.isFinite(v) ? v.toFixed(1) : "-").padStart(12)).join("")}   ${ratio.padStart(5)}   ${vsLlama}\n`,
    );
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((c) => (process.exitCode = c));
}
