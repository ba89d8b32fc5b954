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

export type IngestEvent = RecordEvent | SkipEvent | ProgressEvent;

export interface IngestOptions {
  /** Stop after this many records from this source. */
  limit?: number;
  /** Drop records whose licence is non-commercial (e.g. DrugBank CC BY-NC, SIDER CC BY-NC-SA). */
  excludeNonCommercial?: boolean;
  /** Seed for any template choice (phrasing rotation, negative sampling); output is deterministic. */
  seed?: number;
  signal?: AbortSignal;
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
