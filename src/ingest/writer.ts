/**
 * JSONL output for ingest: records and the audit log, one JSON value per line, written through
 * src/fs-atomic.ts (temp file beside the target, fsync, rename on `commit()`), so until then the
 * previous target is untouched and a crash or an IngestError never leaves a half-written file.
 */
import { AtomicFile } from "../fs-atomic.js";
import type { WarningEvent } from "./types.js";

export class AtomicJsonlWriter {
  /** Lines written so far. */
  lines = 0;

  private constructor(private readonly file: AtomicFile) {}

  /** Open a writer whose output appears at `targetPath` only when `commit()` succeeds. */
  static async open(targetPath: string): Promise<AtomicJsonlWriter> {
    return new AtomicJsonlWriter(await AtomicFile.open(targetPath));
  }

  get targetPath(): string {
    return this.file.targetPath;
  }

  get tempPath(): string {
    return this.file.tempPath;
  }

  /** Bytes written so far (UTF-8). */
  get bytes(): number {
    return this.file.bytes;
  }

  /** Append one JSON value as a line; waits for the stream to drain so memory stays bounded. */
  async write(value: unknown): Promise<void> {
    await this.file.write(JSON.stringify(value) + "\n");
    this.lines++;
  }

  /** Flush, fsync and rename the temp file over the target. */
  commit(): Promise<void> {
    return this.file.commit();
  }

  /** Drop the temp file; the target keeps its previous content. Safe after commit or twice. */
  abort(): Promise<void> {
    return this.file.abort();
  }
}

/** What one source's run read, wrote and skipped: in the summary audit line and in the run's result. */
export interface SourceCounts {
  records: number;
  skipped: number;
  recordsByTask: Record<string, number>;
  skippedByReason: Record<string, number>;
  inputBytes: number;
  seconds: number;
}

/** One line of the ingest audit log (logs/ingest-<time>.jsonl). */
export type AuditEntry =
  | { type: "run"; startedAt: string; options: Record<string, unknown> }
  | {
      type: "input";
      source: string;
      file: string;
      bytes: number;
      sha256: string;
    }
  | { type: "ignored"; source: string; file: string; reason: string }
  | { type: "skip"; source: string; file: string; location: string; reason: string }
  | ({ source: string } & WarningEvent)
  | ({
      type: "summary";
      source: string;
      output: string | null;
      limitReached: boolean;
    } & SourceCounts)
  | { type: "error"; source: string; file?: string; message: string }
  | { type: "end"; finishedAt: string; ok: boolean };

/**
 * The audit log: every input file (with SHA-256), every skipped record and a per-source summary.
 * Written atomically like the outputs, but committed even when a source fails, so that the failure
 * itself is on record.
 */
export class AuditLog {
  private constructor(private readonly writer: AtomicJsonlWriter) {}

  static async open(file: string): Promise<AuditLog> {
    return new AuditLog(await AtomicJsonlWriter.open(file));
  }

  get path(): string {
    return this.writer.targetPath;
  }

  write(entry: AuditEntry): Promise<void> {
    return this.writer.write(entry);
  }

  close(): Promise<void> {
    return this.writer.commit();
  }

  abort(): Promise<void> {
    return this.writer.abort();
  }
}
