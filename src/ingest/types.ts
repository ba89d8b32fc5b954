/**
 * The contract every ingest source module follows.
 *
 * A source reader streams its distribution file(s) and yields events: records of the shared schema,
 * skips (a malformed or unusable input record, with its reason and position, for the audit log),
 * and progress. Memory stays bounded: readers never hold a whole dump.
 */
import type { InstructionRecord } from "../data/record.js";

export type IngestSourceId =
  "hetionet" | "chembl_sqlite" | "pubmed" | "clinicaltrials" | "drugbank";

export interface SkipEvent {
  type: "skip";
  /** The input file the record came from. */
  file: string;
  /** Line, byte offset, XML element index, row id … whatever locates the record. */
  location: string;
  reason: string;
}

export interface RecordEvent {
  type: "record";
  record: InstructionRecord;
}

export interface ProgressEvent {
  type: "progress";
  file: string;
  /** Compressed/raw bytes of the input consumed so far. */
  bytesRead: number;
  /** Total input bytes when known (file size), for an ETA. */
  bytesTotal?: number;
}

/**
 * Something read but not trusted, for the audit log: invalid UTF-8 replaced by U+FFFD, or a
 * reference to an entity that is in none of the input files.
 */
export interface WarningEvent {
  type: "warning";
  file: string;
  /** Where the first occurrence is (e.g. "byte 1234"). */
  location: string;
  kind: "invalid-utf8" | "unresolved-reference";
  /** How many times it occurred in the file. */
  count: number;
  message: string;
}

export type IngestEvent = RecordEvent | SkipEvent | ProgressEvent | WarningEvent;

// The record caps live with the record schema (augment reads them too); re-exported for readers.
export {
  DEFAULT_INPUT_LIMITS,
  inputLimits,
  tooDeepReason,
  tooLargeReason,
  type InputLimits,
} from "../data/record.js";
import type { InputLimits } from "../data/record.js";

/**
 * The grammar of the ids that become record ids and citations. A value that does not match (a
 * SQLite BLOB, a NUL byte, stray whitespace) is skipped with a reason, never turned into an id.
 */
export const ID_GRAMMAR = {
  pmid: /^[1-9]\d{0,9}$/,
  nct: /^NCT\d{8}$/,
  chembl: /^CHEMBL\d+$/,
  drugbank: /^DB\d{5}$/,
  /** Hetionet node identifiers: ontology ids, Entrez numbers, DrugBank/MeSH/UBERON ids … */
  hetionetNode: /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/,
} as const;

/** Why `value` is not a valid `kind` id, or undefined when it is. */
export function idProblem(kind: keyof typeof ID_GRAMMAR, value: unknown): string | undefined {
  if (typeof value === "number" && Number.isInteger(value)) value = String(value);
  if (typeof value !== "string") {
    const what = value instanceof Uint8Array ? "binary (BLOB)" : typeof value;
    return `${kind} id is ${what}, expected text matching ${ID_GRAMMAR[kind]}`;
  }
  if (ID_GRAMMAR[kind].test(value)) return undefined;
  return `${kind} id ${JSON.stringify(value.slice(0, 40))} does not match ${ID_GRAMMAR[kind]}`;
}

export interface IngestOptions {
  /** Stop after this many records from this source. */
  limit?: number;
  /** Drop records whose licence is non-commercial (e.g. DrugBank CC BY-NC, SIDER CC BY-NC-SA). */
  excludeNonCommercial?: boolean;
  /** Seed for any template choice (phrasing rotation, negative sampling); output is deterministic. */
  seed?: number;
  signal?: AbortSignal;
  /** Per-record size and depth caps (DEFAULT_INPUT_LIMITS when absent). */
  limits?: Partial<InputLimits>;
}

/** A file that cannot be used at all (wrong format, truncated compression, wrong schema). */
export class IngestError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly location?: string,
  ) {
    super(`${file}${location ? ` (${location})` : ""}: ${message}`);
    this.name = "IngestError";
  }
}
