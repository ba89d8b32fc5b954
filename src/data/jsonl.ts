/**
 * JSONL of InstructionRecords: streaming reads that report each malformed line with its file and
 * line number and what was expected (instead of stopping at the first), and atomic writes
 * (temp file + rename, so a killed run never leaves a half-written file behind).
 */
import { createReadStream } from "node:fs";
import { writeFileAtomic } from "../fs-atomic.js";
import {
  DEFAULT_RECORD_LIMITS,
  jsonDepthExceeded,
  RecordFormatError,
  validateRecord,
  type InputLimits,
  type InstructionRecord,
} from "./record.js";

export interface LineIssue {
  file: string;
  line: number;
  message: string;
}

export interface ReadJsonlOptions {
  /** Called for each malformed line; default collects them into `issues`. */
  onIssue?: (issue: LineIssue) => void;
  /** Throw on the first malformed line instead (default false). */
  strict?: boolean;
  /** Longest line and deepest nesting kept (DEFAULT_RECORD_LIMITS); longer lines are issues. */
  limits?: Partial<InputLimits>;
}

/** Parse one line's JSON; a RecordFormatError names the file, the line and what was expected. */
export function parseJsonLine(text: string, file: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RecordFormatError(
      `expected one JSON object per line: ${(e as Error).message}`,
      file,
      line,
    );
  }
}

/** Parse one JSONL line of our record schema. */
export function parseRecordLine(text: string, file: string, line: number): InstructionRecord {
  return validateRecord(parseJsonLine(text, file, line), file, line);
}

/**
 * Stream the records of a JSONL file; malformed lines go to `onIssue` (or throw when strict). A
 * line over the record cap is dropped as it streams (memory stays bounded) and reported like a
 * malformed one; so is one nested deeper than the depth cap. CRLF line ends are accepted.
 */
export async function* readJsonl(
  file: string,
  opts: ReadJsonlOptions = {},
): AsyncGenerator<InstructionRecord> {
  const limits = { ...DEFAULT_RECORD_LIMITS, ...opts.limits };
  const issue = (line: number, message: string) => {
    if (opts.strict) throw new RecordFormatError(message, file, line);
    opts.onIssue?.({ file, line, message });
  };
  let line = 0;
  const batches = splitLineChunks(createReadStream(file, { highWaterMark: 1 << 20 }), {
    maxLineChars: limits.maxRecordChars,
    onTooLong: (n, chars) =>
      issue(
        n,
        `record is over the ${limits.maxRecordChars}-character cap (${chars} characters); limits.maxRecordChars`,
      ),
  });
  for await (const lines of batches) {
    for (let text of lines) {
      line++;
      if (text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1);
      if (text.trim() === "") continue;
      if (jsonDepthExceeded(text, limits.maxDepth) >= 0) {
        issue(
          line,
          `record is nested deeper than the ${limits.maxDepth}-level cap (limits.maxDepth)`,
        );
        continue;
      }
      try {
        yield parseRecordLine(text, file, line);
      } catch (e) {
        if (!(e instanceof RecordFormatError) || opts.strict) throw e;
        const message = e.message.slice(`${file}:${line}: `.length);
        opts.onIssue?.({ file, line, message });
      }
    }
  }
}

/** A line longer than the record cap (bytes discarded as they came, not buffered). */
export class LineTooLongError extends Error {
  constructor(
    readonly line: number,
    readonly chars: number,
    readonly maxChars: number,
  ) {
    super(
      `line ${line} is over the ${maxChars}-character record cap (limits.maxRecordChars); not a record of this format`,
    );
    this.name = "LineTooLongError";
  }
}

export interface SplitLinesOptions {
  /** Longest line kept (default: unbounded). */
  maxLineChars?: number;
  /**
   * Called for a line over maxLineChars, which is then yielded as "" (line numbers stay right);
   * without it such a line throws LineTooLongError.
   */
  onTooLong?: (line: number, chars: number) => void;
}

/**
 * The "\n"-separated lines of a UTF-8 byte stream, one array per chunk that completes a line; a
 * last line without "\n" comes alone at the end. Lines keep any "\r"; empty lines are kept. A
 * line over `maxLineChars` is dropped as it streams, so memory stays bounded by the cap.
 */
export async function* splitLineChunks(
  bytes: AsyncIterable<Buffer>,
  opts: SplitLinesOptions = {},
): AsyncGenerator<string[]> {
  const max = opts.maxLineChars ?? Infinity;
  let rest = "";
  /** Lines completed so far (the number of the line in `rest` is done + 1). */
  let done = 0;
  /** Size of an over-long line dropped so far (characters, then bytes once dropping), or -1. */
  let dropping = -1;
  const tooLong = (chars: number) => {
    if (!opts.onTooLong) throw new LineTooLongError(done + 1, chars, max);
    opts.onTooLong(done + 1, chars);
  };
  let decoder = new TextDecoder("utf-8");
  for await (const chunk of bytes) {
    let text: string;
    if (dropping >= 0) {
      // Skip the rest of the line on the bytes, without decoding it (no garbage strings).
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        dropping += chunk.length;
        continue;
      }
      tooLong(dropping + nl);
      dropping = -1;
      // "\n" is never inside a multi-byte sequence: decoding restarts cleanly after it.
      decoder = new TextDecoder("utf-8");
      text = "\n" + decoder.decode(chunk.subarray(nl + 1), { stream: true });
      rest = "";
    } else text = rest + decoder.decode(chunk, { stream: true });
    const cut = text.lastIndexOf("\n");
    if (cut < 0) {
      rest = text;
      if (rest.length > max) {
        dropping = rest.length;
        rest = "";
      }
      continue;
    }
    rest = text.slice(cut + 1);
    const lines = text.slice(0, cut).split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (lines[i]!.length > max) {
        tooLong(lines[i]!.length);
        lines[i] = "";
      }
      done++;
    }
    if (rest.length > max) {
      dropping = rest.length;
      rest = "";
    }
    yield lines;
  }
  if (dropping >= 0) {
    tooLong(dropping);
    yield [""];
    return;
  }
  rest += decoder.decode();
  if (rest.length > max) {
    tooLong(rest.length);
    rest = "";
    yield [rest];
  } else if (rest.length > 0) yield [rest];
}

/** Read a whole JSONL file into memory, with the malformed lines listed. */
export async function readJsonlFile(
  file: string,
): Promise<{ records: InstructionRecord[]; issues: LineIssue[] }> {
  const issues: LineIssue[] = [];
  const records: InstructionRecord[] = [];
  for await (const r of readJsonl(file, { onIssue: (i) => issues.push(i) })) records.push(r);
  return { records, issues };
}

/** Write lines to `file` atomically (src/fs-atomic.ts: temp file beside it, fsync, rename). */
export function writeLinesAtomic(file: string, lines: Iterable<string>): Promise<void> {
  return writeFileAtomic(file, lines);
}

/** Write records as JSONL, atomically. */
export async function writeJsonl(
  file: string,
  records: Iterable<InstructionRecord>,
): Promise<void> {
  await writeLinesAtomic(
    file,
    (function* () {
      for (const r of records) yield JSON.stringify(r);
    })(),
  );
}
