/**
 * `medtune augment`: flags → `runAugment` (src/augment/files.ts) → a printed summary.
 *
 *   medtune augment [--in DIR] [--out DIR] [--seed N] [--config FILE] [--tokenizer PATH]
 *                   [--paraphrase-model PATH] [--decontaminate PATH...] [--export FORMAT...]
 *                   [--allow-empty] [--min-output-ratio R]
 *   npx tsx src/cli.ts augment --decontaminate ../shared/datasets/eval
 *
 * Exit status: 0 splits written; 1 nothing written (no valid input, too little output: the
 * previous splits are kept) or a leak between splits; 2 a usage or config error.
 */
import { resolve } from "node:path";
import { parseFlags, type CommandSpec } from "../cli-flags.js";
import { FORMAT_NAMES, type FormatName } from "../data/formats.js";
import { projectPaths } from "../paths.js";
import { mergeConfig, type AugmentConfig } from "./config.js";
import { runAugment, DEFAULT_CONFIG, resolveConfig, type AugmentRunResult } from "./files.js";
import { summarize } from "./report.js";

export { DEFAULT_CONFIG };

export const SPEC: CommandSpec = {
  command: "augment",
  summary:
    "Build clean, safe, deduplicated train/valid/test splits from the ingest records, with a report.",
  flags: {
    in: {
      type: "string",
      value: "DIR",
      description: "ingest output to read: every *.jsonl except this command's outputs",
      defaultText: "data/processed",
    },
    out: {
      type: "string",
      value: "DIR",
      description: "where train/valid/test.jsonl and the report go",
      defaultText: "data/processed",
    },
    seed: {
      type: "int",
      min: 0,
      value: "N",
      description: "seed for sampling, paraphrases, splits",
    },
    config: {
      type: "string",
      value: "FILE",
      description: "YAML/JSON settings (keys in src/augment/config.ts)",
      defaultText: "configs/augment.yaml",
    },
    tokenizer: {
      type: "string",
      value: "PATH",
      description: "model (GGUF or HF folder) whose tokenizer counts tokens in the report",
      defaultText: "the bundled SmolLM2 GGUF",
    },
    "paraphrase-model": {
      type: "string",
      value: "PATH",
      description: "model (GGUF or HF folder) that proposes paraphrases besides the rules",
    },
    decontaminate: {
      type: "list",
      value: "PATH...",
      description: "eval files or folders to remove overlap with (PubMedQA, MedSafetyBench …)",
    },
    export: {
      type: "list",
      value: "FORMAT...",
      choices: FORMAT_NAMES,
      description: "also write the splits as <split>.<format>.jsonl",
    },
    "allow-empty": {
      type: "boolean",
      description: "write the splits even when empty or below the minimum output ratio",
    },
    "min-output-ratio": {
      type: "number",
      min: 0,
      value: "R",
      description: "fail when the splits hold fewer than R × the valid input records",
      defaultText: "minOutputRatio in the config (0.5)",
    },
  },
  epilog:
    "Exit status: 0 written; 1 nothing written (previous splits kept) or leakage; 2 usage/config error.",
};

export async function main(argv: string[]): Promise<number> {
  const p = parseFlags(argv, SPEC);
  if (p.kind !== "ok") return p.exit;
  const v = p.values;
  const decontaminate = (v.decontaminate as string[] | undefined) ?? [];
  const exports = (v.export as FormatName[] | undefined) ?? [];
  let config: AugmentConfig;
  let configFile: string | null;
  try {
    ({ config, configFile } = resolveConfig(
      v.config !== undefined ? { configFile: resolve(v.config as string) } : {},
    ));
    config = mergeConfig(
      config,
      {
        ...(v.seed !== undefined ? { seed: v.seed } : {}),
        ...(decontaminate.length
          ? { decontaminate: [...config.decontaminate, ...decontaminate.map((d) => resolve(d))] }
          : {}),
        ...(exports.length ? { exports: [...new Set([...config.exports, ...exports])] } : {}),
        ...(v["min-output-ratio"] !== undefined ? { minOutputRatio: v["min-output-ratio"] } : {}),
      },
      "command line",
    );
  } catch (e) {
    process.stderr.write(`medtune augment: ${(e as Error).message}\n`);
    return 2;
  }
  let shown = 0;
  let r: AugmentRunResult;
  try {
    r = await runAugment({
      // Paths typed on the command line are relative to where the user is; defaults to the root.
      inDir: v.in !== undefined ? resolve(v.in as string) : projectPaths.processedData,
      outDir: v.out !== undefined ? resolve(v.out as string) : projectPaths.processedData,
      config,
      ...(configFile ? { configFile } : {}),
      ...(v.tokenizer !== undefined ? { tokenizer: resolve(v.tokenizer as string) } : {}),
      ...(v["paraphrase-model"] !== undefined
        ? { paraphraseModel: resolve(v["paraphrase-model"] as string) }
        : {}),
      allowEmpty: Boolean(v["allow-empty"]),
      onEvent: (e) => {
        if (e.type === "malformed" && shown++ < 20)
          process.stderr.write(
            `medtune augment: skipped ${e.issue.file}:${e.issue.line}: ${e.issue.message}\n`,
          );
        else if (e.type === "step")
          process.stderr.write(
            `  ${e.report.step}: ${e.report.in} → ${e.report.out} (${Math.round(e.report.durationMs)} ms)\n`,
          );
      },
    });
  } catch (e) {
    process.stderr.write(`medtune augment: ${(e as Error).message}\n`);
    return 1;
  }
  if (shown > 20)
    process.stderr.write(`medtune augment: … and ${shown - 20} more malformed lines\n`);
  if (!r.ok) {
    process.stderr.write(`medtune augment: FAILED: ${r.error}\n`);
    return 1;
  }
  process.stdout.write(`${summarize(r.report)}\n`);
  return r.report.leaks > 0 ? 1 : 0;
}
