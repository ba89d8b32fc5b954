/**
 * JSONL of InstructionRecords: streaming reads that report each malformed line with its file and
 * line number and what was expected (instead of stopping at the first), and atomic writes
 * (temp file + rename, so a killed run never leaves a half-written file behind).
 */
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import { RecordFormatError, validateRecord, type InstructionRecord } from "./record.js";

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

/** Stream the records of a JSONL file; malformed lines go to `onIssue` (or throw when strict). */
export async function* readJsonl(
  file: string,
  opts: ReadJsonlOptions = {},
): AsyncGenerator<InstructionRecord> {
  const rl = createInterface({
    input: createReadStream(file, { encoding: "utf8" }),
    crlfDelay: Infinity,
  });
  let line = 0;
  for await (const text of rl) {
    line++;
    if (text.trim() === "") continue;
    try {
      yield parseRecordLine(text, file, line);
    } catch (e) {
      if (!(e instanceof RecordFormatError) || opts.strict) throw e;
      const message = e.message.slice(`${file}:${line}: `.length);
      opts.onIssue?.({ file, line, message });
    }
  }
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

/** Write lines to `file` atomically: a temp file in the same directory, fsync, then rename. */
export async function writeLinesAtomic(file: string, lines: Iterable<string>): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const fh = await open(tmp, "w");
  try {
    let buf = "";
    for (const l of lines) {
      buf += `${l}\n`;
      if (buf.length > 1 << 20) {
        await fh.write(buf);
        buf = "";
      }
    }
    if (buf) await fh.write(buf);
    await fh.sync();
    await fh.close();
    await rename(tmp, file);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
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
