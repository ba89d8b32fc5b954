/**
 * `medtune merge --run <name> [--adapters DIR] [--base PATH] [--format hf|gguf|both]
 *  [--quantize none|q8_0|q4_0|q4_1|q4_k_m]`: parses flags, calls runMerge (src/merge/index.ts),
 * prints progress and the verification figures. Ctrl-C cancels and leaves no partial files.
 */
import { parseFlags } from "../cli-flags.js";
import {
  QUANTIZE_TYPES,
  runMerge,
  type MergeEvent,
  type MergeFormat,
  type MergeResult,
  type QuantizeType,
} from "./index.js";

const SPEC = {
  command: "merge",
  summary: "fuse a run's adapters into its base model; export GGUF / Hugging Face; verify",
  flags: {
    run: { type: "string", value: "NAME", description: "training run (models/lora_adapters/NAME)" },
    adapters: {
      type: "string",
      value: "DIR",
      description: "adapter directory instead of a run's (mlx-lm or PEFT)",
    },
    base: {
      type: "string",
      value: "PATH",
      description: "base model (GGUF or HF dir)",
      defaultText: "the one the adapter config names",
    },
    format: {
      type: "string",
      value: "F",
      description: "what to write",
      choices: ["hf", "gguf", "both"],
      defaultText: "both",
    },
    quantize: {
      type: "string",
      value: "Q",
      description: "GGUF type of fused (and float) tensors",
      choices: QUANTIZE_TYPES,
      defaultText: "none (F16)",
    },
    "requantize-all": {
      type: "boolean",
      description: "requantize untouched quantized tensors too",
    },
    out: {
      type: "string",
      value: "DIR",
      description: "output directory",
      defaultText: "models/merged/<run>",
    },
    "perplexity-tokens": {
      type: "int",
      min: 16,
      value: "N",
      description: "valid-split tokens for perplexity",
      defaultText: "256",
    },
    verify: {
      type: "boolean",
      description: "reload, perplexity and llama.cpp checks (--no-verify skips)",
      defaultText: "on",
    },
  },
} as const;

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function formatEvent(e: MergeEvent, last: { stage?: string; at: number }): string | undefined {
  if (e.type === "stage") return `== ${e.stage}: ${e.message}`;
  if (e.type === "warning") return `warning: ${e.message}`;
  if (e.type === "progress") {
    if (e.done !== e.total && Date.now() - last.at < 2000 && last.stage === e.stage)
      return undefined;
    last.at = Date.now();
    last.stage = e.stage;
    return `  ${e.stage} ${e.done}/${e.total} ${e.name}`;
  }
  return undefined;
}

export function formatResult(r: MergeResult): string {
  const lines = [
    `merged ${r.runName} (${r.adapter.dora ? "DoRA" : "LoRA"} r=${r.adapter.loraRank}, scale ${r.adapter.loraScale}) into ${r.outDir} in ${r.seconds.toFixed(1)} s`,
  ];
  for (const f of r.files) lines.push(`  ${f.path}  ${mib(f.bytes)}`);
  if (r.gguf)
    lines.push(
      `gguf tensors: ${JSON.stringify(r.gguf.tensorTypes)}; ${r.gguf.fusedTensors} fused, ${r.gguf.copiedTensors} copied byte for byte, ${r.gguf.requantizedTensors} requantized`,
    );
  const v = r.verification;
  if (v) {
    lines.push(
      `perplexity over ${v.perplexityData.tokens} tokens of ${v.perplexityData.source}: base + adapter ${v.reference.perplexity.toFixed(3)}, base alone ${v.base.perplexity.toFixed(3)}`,
    );
    for (const x of v.exports) {
      if (!x.logits) lines.push(`  ${x.format} ${x.quantize}: ${x.reloadedBy}`);
      else
        lines.push(
          `  ${x.format} ${x.quantize}: max |Δlogit| ${x.logits.maxAbsDiff.toExponential(2)}, top-1 ${(100 * x.logits.top1Agreement).toFixed(1)}% of ${x.logits.positions}, perplexity ${x.perplexity!.toFixed(3)} (Δ ${x.perplexityDelta! >= 0 ? "+" : ""}${x.perplexityDelta!.toFixed(3)})`,
        );
    }
    const l = v.llamaCpp;
    if (l && "skipped" in l) lines.push(`  llama.cpp: skipped (${l.skipped})`);
    else if (l)
      lines.push(
        `  llama.cpp on the GGUF: top-1 ${(100 * l.top1Agreement).toFixed(1)}% of ${l.positions} vs our base + adapter${l.perplexity !== undefined ? `, perplexity ${l.perplexity.toFixed(3)} (Δ ${l.perplexityDelta! >= 0 ? "+" : ""}${l.perplexityDelta!.toFixed(3)} vs ours${l.f16Perplexity !== undefined ? `; llama.cpp on an F16 export ${l.f16Perplexity.toFixed(3)}, Δ ${l.perplexityDeltaVsF16! >= 0 ? "+" : ""}${l.perplexityDeltaVsF16!.toFixed(3)}` : ""})` : ""}`,
      );
    const lo = v.llamaCppLora;
    if (lo && !("skipped" in lo))
      lines.push(
        `  llama.cpp base + LoRA GGUF: top-1 ${(100 * lo.top1Agreement).toFixed(1)}% of ${lo.positions} vs our base + adapter`,
      );
    for (const n of v.notes) lines.push(`  note: ${n}`);
  }
  return lines.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const p = parseFlags(argv, SPEC);
  if (p.kind !== "ok") return p.exit;
  const f = p.values;
  if (!f.run && !f.adapters) {
    process.stderr.write(
      "medtune merge: give --run NAME or --adapters DIR\n  (see `medtune merge --help`)\n",
    );
    return 2;
  }
  const format = (f.format as string | undefined) ?? "both";
  const formats: MergeFormat[] = format === "both" ? ["gguf", "hf"] : [format as MergeFormat];
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  const last = { at: 0 } as { stage?: string; at: number };
  try {
    const r = await runMerge({
      run: f.run as string | undefined,
      adapters: f.adapters as string | undefined,
      base: f.base as string | undefined,
      formats,
      quantize: (f.quantize as QuantizeType | undefined) ?? "none",
      requantizeAll: f["requantize-all"] === true,
      outDir: f.out as string | undefined,
      perplexityTokens: f["perplexity-tokens"] as number | undefined,
      verify: f.verify !== false,
      signal: controller.signal,
      onEvent: (e) => {
        const line = formatEvent(e, last);
        if (line) process.stdout.write(`${line}\n`);
      },
    });
    process.stdout.write(`${formatResult(r)}\n`);
    return 0;
  } catch (e) {
    if ((e as Error).name === "AbortError") {
      process.stderr.write("medtune merge: cancelled; no partial files were left\n");
      return 130;
    }
    throw e;
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}
