/**
 * The record schema every stage reads and writes: ingest writes it, augment, train and evaluate read it.
 *
 * One JSON object per line in `.jsonl` files: an instruction, an optional input, the expected
 * output, and metadata that says where the fact came from and under which licence.
 */

export type SourceName =
  "hetionet" | "chembl" | "pubmed" | "clinicaltrials" | "drugbank" | "augment";

export const SOURCE_NAMES: readonly SourceName[] = [
  "hetionet",
  "chembl",
  "pubmed",
  "clinicaltrials",
  "drugbank",
  "augment",
];

/**
 * One structured claim a record makes, in the source's own terms. Optional, but ingest should fill
 * it: augment builds its fact index (validation), its graph (chain-of-thought, false premises) and
 * its leakage groups (splits) from these. Names are the entity names as written in the text.
 *
 *   {"subject": "Bupropion", "relation": "treats", "object": "nicotine dependence",
 *    "subjectId": "Compound::DB01156", "objectId": "Disease::DOID:0050742",
 *    "subjectType": "Compound", "objectType": "Disease"}
 *
 * `relation` is a verb ("treats", "binds", "associates", "interacts", "increases" …) or the
 * Hetionet metaedge abbreviation ("CtD"); `negated: true` says the record states the relation does
 * NOT hold (a negative example), so the source must not contain it.
 */
export interface Fact {
  subject: string;
  relation: string;
  object: string;
  subjectId?: string;
  objectId?: string;
  subjectType?: string;
  objectType?: string;
  negated?: boolean;
}

export interface RecordMetadata {
  source: SourceName;
  /** Template or step that produced the record, e.g. "hetionet.CtD", "safety.refusal". */
  task: string;
  /** 0..1: how sure the source is of the fact (1 for curated edges, lower for inferred ones). */
  confidence: number;
  /** "PMID:123", "NCT01234567", "CHEMBL25", "DB00001", "Hetionet:CtD" … */
  citations: string[];
  /** SPDX id or the source's licence string, e.g. "CC0-1.0", "CC-BY-NC-4.0". */
  license: string;
  /** Where in the input the fact was read: file, line/offset, ids. Free-form but JSON. */
  provenance: Record<string, unknown>;
  /** Structured claims of this record (see Fact); optional. */
  facts?: Fact[];
  [extra: string]: unknown;
}

export interface InstructionRecord {
  id: string;
  instruction: string;
  input: string;
  output: string;
  metadata: RecordMetadata;
}

/** Thrown for input that does not match the schema; names the file and line when known. */
/**
 * Caps on one input record, so a hostile or broken dump fails or skips fast with bounded memory
 * instead of growing a buffer for minutes. A record is one JSON element, XML element, text line
 * or table row; its size is counted in characters of its text (or bytes where it is never text).
 */
export interface InputLimits {
  /** Largest record; real ones are far smaller (a big ClinicalTrials study with results ~2 MB). */
  maxRecordChars: number;
  /** Deepest JSON/XML nesting inside one record; real ones stay below 20. */
  maxDepth: number;
}

/** The defaults, in one place (ingest readers and augment's JSONL reader use them). */
export const DEFAULT_INPUT_LIMITS: Readonly<InputLimits> = Object.freeze({
  maxRecordChars: 32 << 20,
  maxDepth: 256,
});

/**
 * The caps for JSONL records of our own schema (augment's input): one instruction record is a
 * few KB; 1M characters is ~250k tokens, past any context window, so longer is damage, and every
 * augment step stays fast on what passes.
 */
export const DEFAULT_RECORD_LIMITS: Readonly<InputLimits> = Object.freeze({
  maxRecordChars: 1 << 20,
  maxDepth: 32,
});

/** The options' limits over the defaults. */
export function inputLimits(opts: { limits?: Partial<InputLimits> } = {}): InputLimits {
  return { ...DEFAULT_INPUT_LIMITS, ...opts.limits };
}

/** "one record is over N characters (the cap, --max-record-chars)", the same words everywhere. */
export function tooLargeReason(what: string, chars: number, limits: InputLimits): string {
  return `${what} is over the ${limits.maxRecordChars}-character record cap (read ${chars} so far); raise limits.maxRecordChars if it is genuine`;
}

export function tooDeepReason(what: string, limits: InputLimits): string {
  return `${what} is nested deeper than the ${limits.maxDepth}-level cap (limits.maxDepth)`;
}

/**
 * Where JSON text nests deeper than `maxDepth` (the character index), or -1. Linear, no parse: run
 * before JSON.parse on untrusted lines, since a 100k-deep value parses but then overflows the
 * stack of every recursive consumer (JSON.stringify, structuredClone, validators).
 */
export function jsonDepthExceeded(text: string, maxDepth: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > maxDepth) return i;
    } else if (c === 125 || c === 93) depth--;
  }
  return -1;
}

export class RecordFormatError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(file ? `${file}${line !== undefined ? `:${line}` : ""}: ${message}` : message);
    this.name = "RecordFormatError";
  }
}

/** Validate an unknown value as an InstructionRecord; throws RecordFormatError naming the field. */
export function validateRecord(value: unknown, file?: string, line?: number): InstructionRecord {
  const fail = (what: string): never => {
    throw new RecordFormatError(what, file, line);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value))
    fail("expected a JSON object");
  const r = value as Record<string, unknown>;
  for (const key of ["id", "instruction", "input", "output"] as const) {
    if (typeof r[key] !== "string") fail(`field "${key}" must be a string`);
  }
  const m = r.metadata as Record<string, unknown> | undefined;
  if (typeof m !== "object" || m === null) fail('field "metadata" must be an object');
  const meta = m as Record<string, unknown>;
  if (!SOURCE_NAMES.includes(meta.source as SourceName)) {
    fail(
      `metadata.source must be one of ${SOURCE_NAMES.join("|")}, got ${JSON.stringify(meta.source)}`,
    );
  }
  if (typeof meta.task !== "string") fail("metadata.task must be a string");
  if (typeof meta.confidence !== "number" || meta.confidence < 0 || meta.confidence > 1) {
    fail("metadata.confidence must be a number in [0, 1]");
  }
  if (!Array.isArray(meta.citations) || !meta.citations.every((c) => typeof c === "string")) {
    fail("metadata.citations must be an array of strings");
  }
  if (typeof meta.license !== "string") fail("metadata.license must be a string");
  if (typeof meta.provenance !== "object" || meta.provenance === null) {
    fail("metadata.provenance must be an object");
  }
  if (meta.facts !== undefined) {
    if (!Array.isArray(meta.facts))
      fail("metadata.facts must be an array of {subject, relation, object}");
    (meta.facts as unknown[]).forEach((f, i) => {
      const o = f as Record<string, unknown> | null;
      if (typeof o !== "object" || o === null) fail(`metadata.facts[${i}] must be an object`);
      for (const k of ["subject", "relation", "object"] as const) {
        if (typeof o![k] !== "string" || (o![k] as string).length === 0) {
          fail(`metadata.facts[${i}].${k} must be a non-empty string`);
        }
      }
    });
  }
  return r as unknown as InstructionRecord;
}
