/**
 * `npm run bench -- profile [--quick] [--batch 4] [--seq 512] [--rank 16] [--decode-prompt 64]
 * [--decode-tokens 16] [--decode-batch 16] [--repeats 2] [--model FILE] [--json]`: where the time of one LoRA training
 * step (all seven modules) and of one decoded token goes, per operation and phase, on the bundled
 * model. The native side times each phase around an mx::eval barrier (native/src/profile.cc), so
 * the forward's per-op rows add up to more than the unbarriered `total.*` rows: barriers cost MLX
 * its cross-op fusion and add a scheduling round per op. The CPU decode path (decode_cpu.cc) gets
 * its own tables (decode and prefill): it runs no MLX ops, so its phases need no barriers. `--quick` uses 1×128 tokens and 4 decoded
 * tokens. Without a build: `npx tsx src/bench/profile.ts --quick`.
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseFlags } from "../cli-flags.js";
import type { NativeProfile } from "../native/binding.js";
import { PACKAGE_ROOT } from "../native/loader.js";
import { Model } from "../train/model.js";

/** Seeded pseudo-random token ids (throughput does not depend on what they say). */
function tokenIds(count: number, vocab: number, seed: number): Int32Array {
  let s = seed >>> 0;
  return new Int32Array(count).map(() => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s % vocab;
  });
}

/**
 * The decode profile's two paths apart: the MLX forward (barriered per op) and the CPU decode path
 * (native/src/decode_cpu.cc, rows `cpu_path.*`), which the native side times over the same cache.
 */
export function splitDecodePaths(p: NativeProfile): {
  mlx: NativeProfile;
  cpu: NativeProfile;
  cpuPrefill: NativeProfile;
  cpuBatch: NativeProfile;
} {
  const only = (prefix: string): NativeProfile => ({
    ...p,
    phases: p.phases
      .filter((r) => r.phase.includes(prefix))
      .map((r) => ({ ...r, phase: r.phase.replace(prefix, "") })),
  });
  return {
    mlx: {
      ...p,
      phases: p.phases.filter((r) => !/cpu_path\.|cpu_prefill\.|cpu_batch\./.test(r.phase)),
    },
    cpu: only("cpu_path."),
    cpuPrefill: only("cpu_prefill."),
    cpuBatch: only("cpu_batch."),
  };
}

/** The profile as an aligned table, largest phase first, with each phase's share of the total. */
export function profileTable(p: NativeProfile, unit: string, title: string = p.type): string {
  const rows = [...p.phases].sort((a, b) => b.seconds - a.seconds);
  // Totals and reference rows (the full-logits head training no longer runs) are beside the sum.
  const aside = (phase: string) => phase.startsWith("total.") || phase.includes("reference");
  const barriered = rows.filter((r) => !aside(r.phase)).reduce((s, r) => s + r.seconds, 0);
  const lines = rows.map((r) => {
    const share = aside(r.phase) ? "" : `${((100 * r.seconds) / barriered).toFixed(1)}%`;
    return `  ${r.phase.padEnd(58)} ${(r.seconds * 1000).toFixed(2).padStart(10)} ms ${share.padStart(7)}`;
  });
  return [`${title} (ms per ${unit}; % of the barriered phases)`, ...lines].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, {
    command: "bench profile",
    summary:
      "Per-operation time of one training step and one decoded token (native eval barriers).",
    flags: {
      quick: { type: "boolean", description: "small shapes: 1×128 tokens, 4 decoded tokens" },
      batch: { type: "int", min: 1, description: "training batch size", defaultText: "4" },
      seq: { type: "int", min: 2, description: "training sequence length", defaultText: "512" },
      rank: {
        type: "int",
        min: 1,
        description: "LoRA rank (all seven modules)",
        defaultText: "16",
      },
      "decode-prompt": {
        type: "int",
        min: 1,
        description: "prompt tokens before decoding",
        defaultText: "64",
      },
      "decode-batch": {
        type: "int",
        min: 1,
        max: 256,
        description: "rows of the batched CPU-path decode step (1: none)",
        defaultText: "16",
      },
      "decode-tokens": {
        type: "int",
        min: 1,
        description: "decoded tokens averaged",
        defaultText: "16",
      },
      repeats: {
        type: "int",
        min: 1,
        description: "training steps averaged (after one warm-up)",
        defaultText: "2",
      },
      model: {
        type: "string",
        value: "FILE",
        description: "GGUF file or HF directory",
        defaultText: "the bundled SmolLM2-135M Q4_1",
      },
      json: { type: "boolean", description: "print the profiles as JSON" },
    },
  });
  if (parsed.kind !== "ok") return parsed.exit;
  const f = parsed.values;
  const quick = f.quick === true;
  const batch = (f.batch as number | undefined) ?? (quick ? 1 : 4);
  const seq = (f.seq as number | undefined) ?? (quick ? 128 : 512);
  const rank = (f.rank as number | undefined) ?? 16;
  const decodePrompt = (f["decode-prompt"] as number | undefined) ?? (quick ? 16 : 64);
  const decodeTokens = (f["decode-tokens"] as number | undefined) ?? (quick ? 4 : 16);
  const decodeBatch = (f["decode-batch"] as number | undefined) ?? (quick ? 4 : 16);
  const repeats = (f.repeats as number | undefined) ?? (quick ? 1 : 2);
  const modelPath =
    (f.model as string | undefined) ??
    join(PACKAGE_ROOT, "models", "base", "SmolLM2-135M-Instruct.Q4_1.gguf");

  const model = await Model.load(modelPath);
  model.addAdapters({ loraRank: rank, loraAlpha: 2 * rank, seed: 0 });
  const V = model.config.vocabSize;
  const ids = tokenIds(batch * (seq + 1), V, 12345);
  const inputs = new Int32Array(batch * seq);
  const targets = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    inputs.set(ids.subarray(b * (seq + 1), b * (seq + 1) + seq), b * seq);
    targets.set(ids.subarray(b * (seq + 1) + 1, (b + 1) * (seq + 1)), b * seq);
  }
  const training = await model.native.profileTraining({
    inputs,
    targets,
    mask: new Float32Array(batch * seq).fill(1),
    shape: [batch, seq],
    repeats,
  });
  const decode = await model.native.profileDecode({
    prompt: tokenIds(decodePrompt, V, 777),
    tokens: decodeTokens,
    batch: decodeBatch,
  });
  if (f.json === true) {
    process.stdout.write(
      JSON.stringify({ suite: "profile", model: modelPath, training, decode }, null, 2) + "\n",
    );
    return 0;
  }
  const paths = splitDecodePaths(decode);
  process.stdout.write(
    `profile: ${modelPath}\n  training: ${batch}×${seq} tokens, LoRA rank ${rank} on all seven modules, ${repeats} step(s) averaged\n  decode: ${decodePrompt}-token prompt (prefill ${((decode.prefillSeconds ?? 0) * 1000).toFixed(0)} ms), ${decodeTokens} tokens averaged\n\n` +
      profileTable(training, "step") +
      "\n\n" +
      profileTable(paths.mlx, "token") +
      (paths.cpu.phases.length > 0
        ? "\n\n" + profileTable(paths.cpu, "token", "decode, CPU path")
        : "") +
      (paths.cpuPrefill.phases.length > 0
        ? "\n\n" +
          profileTable(
            paths.cpuPrefill,
            "prompt",
            `prefill, CPU path (${((decode.cpuPathPrefillSeconds ?? 0) * 1000).toFixed(0)} ms)`,
          )
        : "") +
      (paths.cpuBatch.phases.length > 0
        ? "\n\n" +
          profileTable(
            paths.cpuBatch,
            `step of ${decodeBatch} tokens`,
            `batched decode, CPU path, ${decodeBatch} rows`,
          )
        : "") +
      "\n",
  );
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((c) => (process.exitCode = c));
}
