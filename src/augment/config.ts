/**
 * Augment settings: defaults, and a YAML/JSON config file (`medtune augment --config FILE`) checked
 * key by key, so a typo names the file and the key instead of being ignored. `medtune augment`
 * reads configs/augment.yaml (every key documented there) when no --config is given.
 *
 *   seed: 13
 *   splits: { train: 0.8, valid: 0.1, test: 0.1 }
 *   phi: { mode: redact }                 # or drop
 *   dedup: { threshold: 0.8, shingleSize: 5, bands: 20, rows: 6 }
 *   semantic: { enabled: auto, dedupThreshold: 0.92, decontamThreshold: 0.9 }   # embedding checks
 *   decontaminate: [../shared/datasets/eval/pubmedqa]
 *   paraphrase: { enabled: true, rate: 0.3, perRecord: 1, maxRougeL: 0.7 }
 *   negatives: { enabled: true, safetyPerKind: 20, unanswerable: 50, falsePremise: 50 }
 *   cot: { enabled: true, maxPaths: 500 }
 *   validate: { mode: drop }              # or flag
 *   harmful: { categories: [self_harm, weapons_toxins, illegal_drug_synthesis, dangerous_dosing] }
 *   vocabulary: { drugbank: [vocabulary.csv], hetionetNodes: [nodes.tsv or hetionet.json.bz2] }
 *   exports: [alpaca, sharegpt, chat]     # extra copies of the splits in these formats
 *   minOutputRatio: 0.5                   # fail (keep the old splits) below 0.5 × input records
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { RecordFormatError } from "../data/record.js";
import { FORMAT_NAMES, type FormatName } from "../data/formats.js";
import type { HarmCategory } from "./harmful.js";
import type { SemanticSetting } from "./semantic.js";

export interface AugmentConfig {
  seed: number;
  splits: { train: number; valid: number; test: number };
  phi: { mode: "redact" | "drop"; maxRedactedShare: number };
  dedup: {
    enabled: boolean;
    threshold: number;
    shingleSize: number;
    bands: number;
    rows: number;
    factGuard: boolean;
  };
  /** Embedding-model checks beside MinHash dedup and the n-gram decontamination (./semantic.ts). */
  semantic: {
    /** "auto": on when the bundled embedder is installed; true: required; false: off. */
    enabled: SemanticSetting;
    /** A sentence-embedding model folder other than the bundled all-MiniLM-L6-v2. */
    model?: string;
    /** Cosine to an earlier kept record at or above which a record is a semantic duplicate. */
    dedupThreshold: number;
    /** Cosine of a record's question to an eval question at or above which it is removed. */
    decontamThreshold: number;
    /** Texts per embedder call. */
    batchSize: number;
  };
  decontaminate: string[];
  paraphrase: { enabled: boolean; rate: number; perRecord: number; maxRougeL: number };
  negatives: {
    enabled: boolean;
    safetyPerKind?: number;
    unanswerable?: number;
    falsePremise?: number;
  };
  cot: { enabled: boolean; maxPaths?: number; perStart: number; abstracts: boolean };
  validate: { mode: "drop" | "flag" };
  harmful: { categories: HarmCategory[] };
  vocabulary: { drugbank: string[]; hetionetNodes: string[] };
  exports: FormatName[];
  /** Fail, keeping the previous splits, when they hold fewer than this × the valid input records. */
  minOutputRatio: number;
}

export function defaultConfig(): AugmentConfig {
  return {
    seed: 13,
    splits: { train: 0.8, valid: 0.1, test: 0.1 },
    phi: { mode: "redact", maxRedactedShare: 0.3 },
    dedup: { enabled: true, threshold: 0.8, shingleSize: 5, bands: 20, rows: 6, factGuard: true },
    semantic: { enabled: "auto", dedupThreshold: 0.92, decontamThreshold: 0.9, batchSize: 32 },
    decontaminate: [],
    paraphrase: { enabled: true, rate: 0.3, perRecord: 1, maxRougeL: 0.7 },
    negatives: { enabled: true },
    cot: { enabled: true, perStart: 2, abstracts: true },
    validate: { mode: "drop" },
    harmful: {
      categories: ["self_harm", "weapons_toxins", "illegal_drug_synthesis", "dangerous_dosing"],
    },
    vocabulary: { drugbank: [], hetionetNodes: [] },
    exports: [],
    minOutputRatio: 0.5,
  };
}

type Check = (v: unknown, key: string) => unknown;

const num =
  (lo: number, hi: number, int = false): Check =>
  (v, key) => {
    if (
      typeof v !== "number" ||
      !Number.isFinite(v) ||
      v < lo ||
      v > hi ||
      (int && !Number.isInteger(v))
    ) {
      throw new Error(
        `${key}: expected ${int ? "an integer" : "a number"} in [${lo}, ${hi}], got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
const bool: Check = (v, key) => {
  if (typeof v !== "boolean")
    throw new Error(`${key}: expected true or false, got ${JSON.stringify(v)}`);
  return v;
};
const oneOf =
  (...opts: string[]): Check =>
  (v, key) => {
    if (typeof v !== "string" || !opts.includes(v))
      throw new Error(`${key}: expected one of ${opts.join("|")}, got ${JSON.stringify(v)}`);
    return v;
  };
const boolOrAuto: Check = (v, key) => {
  if (v !== "auto" && typeof v !== "boolean")
    throw new Error(`${key}: expected true, false or auto, got ${JSON.stringify(v)}`);
  return v;
};
const list =
  (item: Check): Check =>
  (v, key) => {
    if (!Array.isArray(v)) throw new Error(`${key}: expected a list`);
    return v.map((x, i) => item(x, `${key}[${i}]`));
  };
const str: Check = (v, key) => {
  if (typeof v !== "string" || !v) throw new Error(`${key}: expected a non-empty string`);
  return v;
};

const SCHEMA: Record<string, Check | Record<string, Check>> = {
  seed: num(0, 2 ** 32 - 1, true),
  splits: { train: num(0, 1), valid: num(0, 1), test: num(0, 1) },
  phi: { mode: oneOf("redact", "drop"), maxRedactedShare: num(0, 1) },
  dedup: {
    enabled: bool,
    threshold: num(0, 1),
    shingleSize: num(1, 50, true),
    bands: num(1, 512, true),
    rows: num(1, 64, true),
    factGuard: bool,
  },
  semantic: {
    enabled: boolOrAuto,
    model: str,
    dedupThreshold: num(0, 1),
    decontamThreshold: num(0, 1),
    batchSize: num(1, 4096, true),
  },
  decontaminate: list(str),
  paraphrase: { enabled: bool, rate: num(0, 1), perRecord: num(0, 20, true), maxRougeL: num(0, 1) },
  negatives: {
    enabled: bool,
    safetyPerKind: num(0, 1e6, true),
    unanswerable: num(0, 1e6, true),
    falsePremise: num(0, 1e6, true),
  },
  cot: {
    enabled: bool,
    maxPaths: num(0, 1e7, true),
    perStart: num(1, 1000, true),
    abstracts: bool,
  },
  validate: { mode: oneOf("drop", "flag") },
  harmful: {
    categories: list(
      oneOf("self_harm", "weapons_toxins", "illegal_drug_synthesis", "dangerous_dosing"),
    ),
  },
  vocabulary: { drugbank: list(str), hetionetNodes: list(str) },
  exports: list(oneOf(...FORMAT_NAMES)),
  minOutputRatio: num(0, 1e6),
};

/** Merge a parsed config object into the defaults; errors name the key and what was expected. */
export function mergeConfig(base: AugmentConfig, doc: unknown, file = "<config>"): AugmentConfig {
  const out = structuredClone(base) as unknown as Record<string, unknown>;
  if (doc === null || doc === undefined) return base;
  if (typeof doc !== "object" || Array.isArray(doc))
    throw new RecordFormatError("expected a mapping of settings", file);
  try {
    for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
      const rule = SCHEMA[k];
      if (!rule)
        throw new Error(`unknown key "${k}"; expected one of ${Object.keys(SCHEMA).join(", ")}`);
      if (typeof rule === "function") {
        out[k] = rule(v, k);
        continue;
      }
      if (typeof v !== "object" || v === null || Array.isArray(v))
        throw new Error(`${k}: expected a mapping`);
      const section = out[k] as Record<string, unknown>;
      for (const [sk, sv] of Object.entries(v as Record<string, unknown>)) {
        const r = rule[sk];
        if (!r)
          throw new Error(
            `unknown key "${k}.${sk}"; expected one of ${Object.keys(rule)
              .map((x) => `${k}.${x}`)
              .join(", ")}`,
          );
        section[sk] = r(sv, `${k}.${sk}`);
      }
    }
  } catch (e) {
    throw new RecordFormatError((e as Error).message, file);
  }
  return out as unknown as AugmentConfig;
}

/** Load a YAML or JSON config; relative paths inside it are resolved against its folder. */
export function loadConfig(file: string, base = defaultConfig()): AugmentConfig {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, "utf8"));
  } catch (e) {
    throw new RecordFormatError(`expected a YAML or JSON config: ${(e as Error).message}`, file);
  }
  const c = mergeConfig(base, doc, file);
  const dir = dirname(file);
  const rel = (p: string) => resolve(dir, p);
  c.decontaminate = c.decontaminate.map(rel);
  if (c.semantic.model) c.semantic.model = rel(c.semantic.model);
  c.vocabulary = {
    drugbank: c.vocabulary.drugbank.map(rel),
    hetionetNodes: c.vocabulary.hetionetNodes.map(rel),
  };
  return c;
}
