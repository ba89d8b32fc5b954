/**
 * Embedding-model presets (configs/model_configs/embeddings/<name>.yaml): what a sentence embedder
 * is, how it pools and how much memory it takes, for documentation, reports and choosing a model.
 * The embedder itself reads everything from its directory (./embedder.ts); a test checks that the
 * bundled model's preset agrees with what loadEmbedder() finds.
 *
 *   const p = await loadEmbedderPreset("all-minilm-l6-v2");   // → { dimensions: 384, pooling: "mean", … }
 *
 * They live beside, not among, the LLM notes in configs/model_configs/*.yaml, whose schema
 * (src/train/config.ts) describes chat models.
 */
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";

import { parse } from "yaml";

import { fromRoot, projectPaths } from "../paths.js";
import type { Pooling } from "./embedder.js";

export interface EmbedderPreset {
  name: string;
  /** Hugging Face repository of the weights. */
  hfId: string;
  modelType: "bert";
  /** Where the model directory lives, relative to the project root. */
  directory: string;
  parameters: string;
  dimensions: number;
  pooling: Pooling;
  normalize: boolean;
  /** Truncation length in tokens, [CLS] and [SEP] included. */
  maxTokens: number;
  /** Prefix for retrieval queries (not passages), or null. */
  queryInstruction: string | null;
  /** float32 weight bytes. */
  weightBytes: number;
  /** Peak memory for one batch of 32 texts at maxTokens, float32. */
  peakMemoryBytes: number;
  license: string;
}

type Check = (v: unknown) => boolean;
const isString: Check = (v) => typeof v === "string" && v.length > 0;
const isPositiveInt: Check = (v) => typeof v === "number" && Number.isInteger(v) && v > 0;

const CHECKS: Record<keyof EmbedderPreset, [Check, string]> = {
  name: [isString, "a name"],
  hfId: [(v) => typeof v === "string" && /^[\w.-]+\/[\w.-]+$/.test(v), '"owner/name"'],
  modelType: [(v) => v === "bert", '"bert"'],
  directory: [isString, "a path"],
  parameters: [isString, "a description"],
  dimensions: [isPositiveInt, "a positive integer"],
  pooling: [(v) => v === "mean" || v === "cls", "mean or cls"],
  normalize: [(v) => typeof v === "boolean", "true or false"],
  maxTokens: [isPositiveInt, "a positive integer"],
  queryInstruction: [(v) => v === null || typeof v === "string", "a string or null"],
  weightBytes: [isPositiveInt, "a positive integer"],
  peakMemoryBytes: [isPositiveInt, "a positive integer"],
  license: [isString, "an SPDX id"],
};

export function embedderPresetFile(name: string): string {
  return join(projectPaths.configs, "model_configs", "embeddings", `${name}.yaml`);
}

/**
 * Reads and checks a preset, by name or as a path to a .yaml file; every problem (unknown key,
 * missing key, wrong type) is listed with the file.
 */
export async function loadEmbedderPreset(nameOrFile: string): Promise<EmbedderPreset> {
  const file = nameOrFile.endsWith(".yaml") ? fromRoot(nameOrFile) : embedderPresetFile(nameOrFile);
  const name = basename(file, ".yaml");
  let values: unknown;
  try {
    values = parse(await readFile(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  if (typeof values !== "object" || values === null || Array.isArray(values)) {
    throw new Error(`${file}: expected a mapping of keys to values`);
  }
  const v = values as Record<string, unknown>;
  const problems = [
    ...Object.keys(v)
      .filter((k) => !(k in CHECKS))
      .map((k) => `unknown key "${k}"`),
    ...Object.entries(CHECKS)
      .filter(([k, [check]]) => !check(v[k]))
      .map(([k, [, want]]) =>
        k in v ? `"${k}" must be ${want}, got ${JSON.stringify(v[k])}` : `"${k}" is missing`,
      ),
  ];
  if (problems.length > 0) throw new Error(`${file}: ${problems.join("; ")}`);
  if (v.name !== name) throw new Error(`${file}: name "${String(v.name)}" differs from the file name`);
  return v as unknown as EmbedderPreset;
}
