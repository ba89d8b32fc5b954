/**
 * Opening source files as byte streams: plain, gzip (.gz) and bzip2 (.bz2), with a count of the
 * input bytes consumed so far (for progress bars and ETAs), a count of invalid UTF-8 (decoders
 * replace it with U+FFFD; the audit log must say so) and errors that name the file.
 */
import { isUtf8 } from "node:buffer";
import { createReadStream, statSync } from "node:fs";
import { createGunzip } from "node:zlib";
import { PassThrough, Readable, Transform } from "node:stream";
import { createRequire } from "node:module";
import { LineTooLongError, splitLineChunks } from "../data/jsonl.js";
import {
  IngestError,
  tooDeepReason,
  tooLargeReason,
  type InputLimits,
  type WarningEvent,
} from "./types.js";

const require = createRequire(import.meta.url);

// Line splitting lives with the JSONL reader (the lower layer); readers here use it too.
export { LineTooLongError, splitLineChunks, type SplitLinesOptions } from "../data/jsonl.js";

export interface InputStream {
  /** Decompressed bytes. Errors (truncated gzip/bzip2, unreadable file) are IngestErrors. */
  stream: Readable;
  /** Size of the file on disk. */
  bytesTotal: number;
  /** Bytes of the file on disk read so far. */
  bytesRead(): number;
  compression: "none" | "gzip" | "bzip2";
  /** Invalid UTF-8 in the decompressed bytes read so far. */
  utf8: Utf8Stats;
}

export function compressionOf(file: string): InputStream["compression"] {
  if (file.endsWith(".gz")) return "gzip";
  if (file.endsWith(".bz2")) return "bzip2";
  return "none";
}

export function openInput(file: string): InputStream {
  let bytesTotal: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new IngestError("is not a regular file", file);
    bytesTotal = st.size;
  } catch (e) {
    if (e instanceof IngestError) throw e;
    throw new IngestError(`cannot open: ${(e as Error).message}`, file);
  }
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  // Count bytes inside the pipeline (not with a "data" listener, which would start the file
  // flowing before the consumer is attached and lose chunks).
  let read = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      read += chunk.length;
      done(null, chunk);
    },
  });
  const compression = compressionOf(file);
  if (compression !== "none" && bytesTotal === 0) {
    throw new IngestError(`empty file: expected a ${compression} stream`, file);
  }
  const utf8 = new Utf8Stats();
  const stages: NodeJS.ReadWriteStream[] = [counter];
  if (compression === "gzip") stages.push(createGunzip());
  else if (compression === "bzip2") {
    // unbzip2-stream is an old-style through stream: pipe it into a PassThrough so consumers get
    // a modern Readable with an async iterator.
    stages.push((require("unbzip2-stream") as () => NodeJS.ReadWriteStream)(), new PassThrough());
  }
  stages.push(utf8.transform());
  let stream: Readable = raw;
  for (const stage of stages) {
    const prev = stream;
    prev.on("error", (e) => (stage as unknown as Readable).destroy(e));
    stream = prev.pipe(stage as unknown as NodeJS.WritableStream) as unknown as Readable;
  }
  const wrapped = wrapErrors(stream, file, compression, utf8, () => raw.destroy());
  return { stream: wrapped, bytesTotal, bytesRead: () => read, compression, utf8 };
}

/** Re-throw low-level stream errors as IngestErrors that say what was expected. */
function wrapErrors(
  stream: Readable,
  file: string,
  compression: InputStream["compression"],
  utf8: Utf8Stats,
  close: () => void,
): Readable {
  const describe = (e: unknown): IngestError => {
    if (e instanceof IngestError) return e;
    if (compression === "none")
      return new IngestError(`read failed: ${(e as Error)?.message ?? e}`, file);
    // The decompressors' own messages are internal ("Cannot read properties of undefined" from
    // unbzip2-stream on a cut block), so say what the user can act on and where it broke.
    const detail =
      compression === "gzip" && (e as NodeJS.ErrnoException)?.code
        ? ` (${(e as NodeJS.ErrnoException).code})`
        : "";
    return new IngestError(
      `expected a complete ${compression} stream: the file is truncated or corrupt${detail} (decompression stopped after ${utf8.bytes} output bytes; re-download it)`,
      file,
    );
  };
  return Readable.from(
    (async function* () {
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) yield chunk;
      } catch (e) {
        throw describe(e);
      } finally {
        close();
      }
    })(),
    { objectMode: false },
  );
}

/**
 * Counts invalid UTF-8 in a byte stream as it passes (after decompression): how many maximal
 * invalid subsequences (what a decoder turns into U+FFFD) and the byte offset of the first.
 */
export class Utf8Stats {
  /** Decompressed bytes seen. */
  bytes = 0;
  invalid = 0;
  firstInvalidOffset = -1;
  /** An incomplete sequence at the end of the last chunk, completed by the next one. */
  private carry: Buffer = Buffer.alloc(0);

  /** A pass-through stage that feeds this counter. */
  transform(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        this.feed(chunk);
        done(null, chunk);
      },
      flush: (done) => {
        this.end();
        done();
      },
    });
  }

  feed(chunk: Buffer): void {
    const start = this.bytes - this.carry.length;
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    this.bytes += chunk.length;
    const cut = completeLength(buf);
    this.carry = Buffer.from(buf.subarray(cut));
    if (isUtf8(buf.subarray(0, cut))) return;
    this.scan(buf, cut, start);
  }

  end(): void {
    if (this.carry.length) this.scan(this.carry, this.carry.length, this.bytes - this.carry.length);
    this.carry = Buffer.alloc(0);
  }

  /** A warning event for the audit log, or undefined when the file was valid UTF-8. */
  warning(file: string): WarningEvent | undefined {
    if (this.invalid === 0) return undefined;
    return {
      type: "warning",
      file,
      location: `byte ${this.firstInvalidOffset}`,
      kind: "invalid-utf8",
      count: this.invalid,
      message: `${this.invalid} invalid UTF-8 sequence(s), first at byte ${this.firstInvalidOffset}, replaced by U+FFFD`,
    };
  }

  private scan(b: Buffer, end: number, offset: number): void {
    let i = 0;
    while (i < end) {
      const n = sequenceLength(b, i, end);
      if (n > 0) {
        i += n;
        continue;
      }
      if (this.firstInvalidOffset < 0) this.firstInvalidOffset = offset + i;
      this.invalid++;
      i += Math.max(1, -n);
    }
  }
}

/**
 * Length of the valid UTF-8 sequence at b[i], or minus the length of the maximal invalid
 * subsequence there (what one U+FFFD replaces), per the Unicode well-formed byte table.
 */
function sequenceLength(b: Buffer, i: number, end: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) need = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c === 0xe0) lo = 0xa0;
    if (c === 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c === 0xf0) lo = 0x90;
    if (c === 0xf4) hi = 0x8f;
  } else return -1;
  for (let k = 1; k <= need; k++) {
    const x = i + k < end ? b[i + k]! : -1;
    if (x < (k === 1 ? lo : 0x80) || x > (k === 1 ? hi : 0xbf)) return -k;
  }
  return need + 1;
}

/** Bytes of `b` up to a possibly incomplete multi-byte sequence at its end (at most 3 bytes). */
function completeLength(b: Buffer): number {
  for (let k = 1; k <= Math.min(3, b.length); k++) {
    const c = b[b.length - k]!;
    if (c < 0x80) return b.length;
    if (c >= 0xc0) {
      const len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      return len > k ? b.length - k : b.length;
    }
  }
  return b.length;
}

/**
 * Lines of a (possibly compressed) text file, one array per decompressed chunk (without the
 * trailing "\r" of CRLF files); `first` is the 1-based number of `lines[0]`. Readers that loop over
 * the array synchronously pay one await per chunk instead of one per line. A line over the record
 * cap is an IngestError naming the file and line.
 */
export async function* readLineBatches(
  input: InputStream,
  file: string,
  limits: InputLimits,
): AsyncGenerator<{ first: number; lines: string[] }> {
  let line = 0;
  try {
    for await (const lines of splitLineChunks(input.stream as AsyncIterable<Buffer>, {
      maxLineChars: limits.maxRecordChars,
    })) {
      for (let i = 0; i < lines.length; i++) {
        const l = lines[i]!;
        if (l.charCodeAt(l.length - 1) === 13) lines[i] = l.slice(0, -1);
      }
      yield { first: line + 1, lines };
      line += lines.length;
    }
  } catch (e) {
    if (e instanceof LineTooLongError) throw new IngestError(e.message, file, `line ${e.line}`);
    throw e;
  }
}

/**
 * Record caps for a SAX-parsed XML stream. The parser buffers a text node until its closing tag, so
 * the characters since the record's start tag (or, between records, since the last tag) are
 * checked after every chunk: an oversized record fails after at most one chunk past the cap.
 */
export class XmlCaps {
  private recordStart = -1;
  private lastTag = 0;

  constructor(
    private readonly file: string,
    private readonly limits: InputLimits,
  ) {}

  /** At every start tag; `depth` counts the root as 1. */
  open(depth: number, position: number, where: () => string): void {
    this.lastTag = position;
    if (depth > this.limits.maxDepth) {
      throw new IngestError(tooDeepReason("this element", this.limits), this.file, where());
    }
  }

  /** At every end tag. */
  close(position: number): void {
    this.lastTag = position;
  }

  startRecord(position: number): void {
    this.recordStart = position;
  }

  endRecord(): void {
    this.recordStart = -1;
  }

  /** After each chunk given to the parser. */
  check(position: number, where: () => string): void {
    const from = this.recordStart >= 0 ? this.recordStart : this.lastTag;
    if (position - from <= this.limits.maxRecordChars) return;
    const what = this.recordStart >= 0 ? "this record" : "one text node";
    throw new IngestError(tooLargeReason(what, position - from, this.limits), this.file, where());
  }
}
