/**
 * Opening source files as byte streams: plain, gzip (.gz) and bzip2 (.bz2), with a count of the
 * input bytes consumed so far (for progress bars and ETAs) and errors that name the file.
 */
import { createReadStream, statSync } from "node:fs";
import { createGunzip } from "node:zlib";
import type { Readable } from "node:stream";
import { createRequire } from "node:module";
import { IngestError } from "./types.js";

const require = createRequire(import.meta.url);

export interface InputStream {
  /** Decompressed bytes. Errors (truncated gzip/bzip2, unreadable file) are IngestErrors. */
  stream: Readable;
  /** Size of the file on disk. */
  bytesTotal: number;
  /** Bytes of the file on disk read so far. */
  bytesRead(): number;
  compression: "none" | "gzip" | "bzip2";
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
  let read = 0;
  raw.on("data", (chunk: Buffer | string) => {
    read += chunk.length;
  });
  const compression = compressionOf(file);
  let stream: Readable = raw;
  if (compression === "gzip") {
    const gunzip = createGunzip();
    raw.on("error", (e) => gunzip.destroy(e));
    stream = raw.pipe(gunzip);
  } else if (compression === "bzip2") {
    const bz2 = require("unbzip2-stream") as () => NodeJS.ReadWriteStream;
    const dec = bz2() as unknown as Readable;
    raw.on("error", (e) => dec.destroy(e));
    stream = raw.pipe(dec as unknown as NodeJS.WritableStream) as unknown as Readable;
  }
  const wrapped = wrapErrors(stream, file, compression);
  return { stream: wrapped, bytesTotal, bytesRead: () => read, compression };
}

/** Re-throw low-level stream errors as IngestErrors that say what was expected. */
function wrapErrors(
  stream: Readable,
  file: string,
  compression: InputStream["compression"],
): Readable {
  const orig = stream.destroy.bind(stream);
  stream.on("error", () => undefined); // replaced by the async iterator's rejection below
  const iter = stream[Symbol.asyncIterator].bind(stream);
  stream[Symbol.asyncIterator] = async function* () {
    try {
      yield* iter();
    } catch (e) {
      if (e instanceof IngestError) throw e;
      const msg = (e as Error).message ?? String(e);
      const what =
        compression === "gzip"
          ? "expected a complete gzip stream (file truncated or not gzip)"
          : compression === "bzip2"
            ? "expected a complete bzip2 stream (file truncated or not bzip2)"
            : "read failed";
      throw new IngestError(`${what}: ${msg}`, file);
    }
  } as (typeof stream)[typeof Symbol.asyncIterator];
  void orig;
  return stream;
}

/** Stream a (possibly compressed) text file line by line; `line` is 1-based. */
export async function* readLines(
  input: InputStream,
): AsyncGenerator<{ line: number; text: string }> {
  let buf = "";
  let line = 0;
  const decoder = new TextDecoder("utf-8");
  for await (const chunk of input.stream as AsyncIterable<Buffer>) {
    buf += decoder.decode(chunk, { stream: true });
    let start = 0;
    let nl: number;
    while ((nl = buf.indexOf("\n", start)) >= 0) {
      line++;
      yield { line, text: buf.slice(start, nl).replace(/\r$/, "") };
      start = nl + 1;
    }
    buf = buf.slice(start);
  }
  buf += decoder.decode();
  if (buf.length > 0) {
    line++;
    yield { line, text: buf.replace(/\r$/, "") };
  }
}
