/**
 * Opening source files as byte streams: plain, gzip (.gz) and bzip2 (.bz2), with a count of the
 * input bytes consumed so far (for progress bars and ETAs) and errors that name the file.
 */
import { createReadStream, statSync } from "node:fs";
import { createGunzip } from "node:zlib";
import { PassThrough, Readable, Transform } from "node:stream";
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
  const stages: NodeJS.ReadWriteStream[] = [counter];
  if (compression === "gzip") stages.push(createGunzip());
  else if (compression === "bzip2") {
    // unbzip2-stream is an old-style through stream: pipe it into a PassThrough so consumers get
    // a modern Readable with an async iterator.
    stages.push((require("unbzip2-stream") as () => NodeJS.ReadWriteStream)(), new PassThrough());
  }
  let stream: Readable = raw;
  for (const stage of stages) {
    const prev = stream;
    prev.on("error", (e) => (stage as unknown as Readable).destroy(e));
    stream = prev.pipe(stage as unknown as NodeJS.WritableStream) as unknown as Readable;
  }
  const wrapped = wrapErrors(stream, file, compression, () => raw.destroy());
  return { stream: wrapped, bytesTotal, bytesRead: () => read, compression };
}

/** Re-throw low-level stream errors as IngestErrors that say what was expected. */
function wrapErrors(
  stream: Readable,
  file: string,
  compression: InputStream["compression"],
  close: () => void,
): Readable {
  const describe = (e: unknown): IngestError => {
    if (e instanceof IngestError) return e;
    const msg = (e as Error)?.message ?? String(e);
    const what =
      compression === "gzip"
        ? "expected a complete gzip stream (file truncated or not gzip)"
        : compression === "bzip2"
          ? "expected a complete bzip2 stream (file truncated or not bzip2)"
          : "read failed";
    return new IngestError(`${what}: ${msg}`, file);
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
 * The "\n"-separated lines of a UTF-8 byte stream, one array per chunk that completes a line; a
 * last line without "\n" comes alone at the end. Lines keep any "\r"; empty lines are kept.
 */
export async function* splitLineChunks(bytes: AsyncIterable<Buffer>): AsyncGenerator<string[]> {
  let rest = "";
  const decoder = new TextDecoder("utf-8");
  for await (const chunk of bytes) {
    const text = rest + decoder.decode(chunk, { stream: true });
    const cut = text.lastIndexOf("\n");
    if (cut < 0) {
      rest = text;
      continue;
    }
    rest = text.slice(cut + 1);
    yield text.slice(0, cut).split("\n");
  }
  rest += decoder.decode();
  if (rest.length > 0) yield [rest];
}

/**
 * Lines of a (possibly compressed) text file, one array per decompressed chunk (without the
 * trailing "\r" of CRLF files); `first` is the 1-based number of `lines[0]`. Readers that loop over
 * the array synchronously pay one await per chunk instead of one per line.
 */
export async function* readLineBatches(
  input: InputStream,
): AsyncGenerator<{ first: number; lines: string[] }> {
  let line = 0;
  for await (const lines of splitLineChunks(input.stream as AsyncIterable<Buffer>)) {
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i]!;
      if (l.charCodeAt(l.length - 1) === 13) lines[i] = l.slice(0, -1);
    }
    yield { first: line + 1, lines };
    line += lines.length;
  }
}

/** Stream a (possibly compressed) text file line by line; `line` is 1-based. */
export async function* readLines(
  input: InputStream,
): AsyncGenerator<{ line: number; text: string }> {
  for await (const { first, lines } of readLineBatches(input)) {
    for (let i = 0; i < lines.length; i++) yield { line: first + i, text: lines[i]! };
  }
}
