/**
 * Atomic JSONL output for ingest: records and the audit log.
 *
 * Lines go to a temp file beside the target (same directory, so rename is atomic on one
 * filesystem); `commit()` flushes, fsyncs and renames it over the target. Until then the previous
 * target, if any, is untouched, so a crash or an IngestError never leaves a half-written file.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { WarningEvent } from "./types.js";

export class AtomicJsonlWriter {
  readonly tempPath: string;
  private out: WriteStream;
  private failed: Error | undefined;
  private closed = false;
  /** Lines written so far. */
  lines = 0;
  /** Bytes written so far (UTF-8). */
  bytes = 0;

  private constructor(
    readonly targetPath: string,
    tempPath: string,
  ) {
    this.tempPath = tempPath;
    this.out = createWriteStream(tempPath, { flags: "wx", highWaterMark: 1 << 20 });
    this.out.on("error", (e) => {
      this.failed = e;
    });
  }

  /** Open a writer whose output appears at `targetPath` only when `commit()` succeeds. */
  static async open(targetPath: string): Promise<AtomicJsonlWriter> {
    await mkdir(path.dirname(targetPath), { recursive: true });
    const tmp = `${targetPath}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    return new AtomicJsonlWriter(targetPath, tmp);
  }

  /** Append one JSON value as a line; waits for the stream to drain so memory stays bounded. */
  async write(value: unknown): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.closed) throw new Error(`${this.targetPath}: write after commit/abort`);
    const line = JSON.stringify(value) + "\n";
    this.lines++;
    this.bytes += Buffer.byteLength(line);
    if (!this.out.write(line)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          this.out.off("error", onError);
          resolve();
        };
        const onError = (e: Error) => {
          this.out.off("drain", onDrain);
          reject(e);
        };
        this.out.once("drain", onDrain);
        this.out.once("error", onError);
      });
    }
  }

  /** Flush, fsync and rename the temp file over the target. */
  async commit(): Promise<void> {
    if (this.closed) throw new Error(`${this.targetPath}: already committed or aborted`);
    this.closed = true;
    await this.end();
    if (this.failed) {
      await rm(this.tempPath, { force: true });
      throw this.failed;
    }
    const fh = await open(this.tempPath, "r+");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(this.tempPath, this.targetPath);
  }

  /** Drop the temp file; the target keeps its previous content. Safe after commit or twice. */
  async abort(): Promise<void> {
    this.closed = true;
    await this.end();
    await rm(this.tempPath, { force: true });
  }

  private end(): Promise<void> {
    return new Promise((resolve) => {
      if (this.out.closed || this.out.destroyed) return resolve();
      this.out.end(() => resolve());
      this.out.once("error", () => resolve());
    });
  }
}

/** One line of the ingest audit log (logs/ingest-<time>.jsonl). */
/** What one source's run read, wrote and skipped: in the summary audit line and in the run's result. */
export interface SourceCounts {
  records: number;
  skipped: number;
  recordsByTask: Record<string, number>;
  skippedByReason: Record<string, number>;
  inputBytes: number;
  seconds: number;
}

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
