/**
 * Reading and writing records in the formats fine-tuning tools take: our JSONL, Alpaca
 * ({instruction, input, output}), ShareGPT ({conversations: [{from, value}]}) and chat messages
 * ({messages: [{role, content}]}). Our records survive a round trip through each format unchanged:
 * id and metadata travel as extra keys, and where instruction and input share one user turn
 * ("instruction\n\ninput") `instruction_chars` says where to cut it again.
 */
import { basename } from "node:path";
import { parseJsonLine, readJsonl, writeLinesAtomic, type LineIssue } from "./jsonl.js";
import {
  RecordFormatError,
  validateRecord,
  type InstructionRecord,
  type RecordMetadata,
} from "./record.js";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";

export type FormatName = "jsonl" | "alpaca" | "sharegpt" | "chat";
export const FORMAT_NAMES: readonly FormatName[] = ["jsonl", "alpaca", "sharegpt", "chat"];

export interface AlpacaRow {
  instruction: string;
  input: string;
  output: string;
  id?: string;
  metadata?: RecordMetadata;
}

export interface ShareGptRow {
  id?: string;
  conversations: { from: "system" | "human" | "gpt"; value: string }[];
  instruction_chars?: number;
  metadata?: RecordMetadata;
}

export interface ChatRow {
  id?: string;
  messages: { role: "system" | "user" | "assistant"; content: string }[];
  instruction_chars?: number;
  metadata?: RecordMetadata;
}

export interface WriteFormatOptions {
  /** System prompt to put first in ShareGPT/chat rows (not part of the record). */
  system?: string;
}

const SEP = "\n\n";

function userTurn(r: InstructionRecord): { text: string; instruction_chars?: number } {
  return r.input
    ? { text: `${r.instruction}${SEP}${r.input}`, instruction_chars: r.instruction.length }
    : { text: r.instruction };
}

export function toAlpaca(r: InstructionRecord): AlpacaRow {
  return {
    instruction: r.instruction,
    input: r.input,
    output: r.output,
    id: r.id,
    metadata: r.metadata,
  };
}

export function toShareGpt(r: InstructionRecord, opts: WriteFormatOptions = {}): ShareGptRow {
  const u = userTurn(r);
  return {
    id: r.id,
    conversations: [
      ...(opts.system ? [{ from: "system" as const, value: opts.system }] : []),
      { from: "human", value: u.text },
      { from: "gpt", value: r.output },
    ],
    ...(u.instruction_chars !== undefined ? { instruction_chars: u.instruction_chars } : {}),
    metadata: r.metadata,
  };
}

export function toChat(r: InstructionRecord, opts: WriteFormatOptions = {}): ChatRow {
  const u = userTurn(r);
  return {
    id: r.id,
    messages: [
      ...(opts.system ? [{ role: "system" as const, content: opts.system }] : []),
      { role: "user", content: u.text },
      { role: "assistant", content: r.output },
    ],
    ...(u.instruction_chars !== undefined ? { instruction_chars: u.instruction_chars } : {}),
    metadata: r.metadata,
  };
}

export interface ReadFormatOptions {
  /** Metadata for rows from other tools that carry none. Without it such rows are errors. */
  defaults?: RecordMetadata;
}

interface Where {
  file: string;
  line: number;
}

function finish(
  o: Record<string, unknown>,
  fields: { instruction: string; input: string; output: string },
  where: Where,
  opts: ReadFormatOptions,
): InstructionRecord {
  const metadata = o.metadata ?? opts.defaults;
  if (metadata === undefined) {
    throw new RecordFormatError(
      'expected a "metadata" object (or pass defaults for rows from other tools)',
      where.file,
      where.line,
    );
  }
  const id = typeof o.id === "string" ? o.id : `${basename(where.file)}:${where.line}`;
  return validateRecord(
    { id, ...fields, metadata: structuredClone(metadata) },
    where.file,
    where.line,
  );
}

function splitUser(
  text: string,
  cut: unknown,
  where: Where,
): { instruction: string; input: string } {
  if (cut === undefined) return { instruction: text, input: "" };
  if (typeof cut !== "number" || !Number.isInteger(cut) || cut < 0 || cut > text.length) {
    throw new RecordFormatError(
      `expected "instruction_chars" to be an integer in [0, ${text.length}]`,
      where.file,
      where.line,
    );
  }
  if (text.slice(cut, cut + SEP.length) !== SEP) {
    throw new RecordFormatError(
      `expected a blank line after the first ${cut} characters of the user turn`,
      where.file,
      where.line,
    );
  }
  return { instruction: text.slice(0, cut), input: text.slice(cut + SEP.length) };
}

/** Two turns after an optional system turn: exactly one user turn then one assistant turn. */
function turns(
  list: unknown,
  key: string,
  where: Where,
  get: (t: Record<string, unknown>) => [string, unknown],
): { user: string; assistant: string; system?: string } {
  if (!Array.isArray(list))
    throw new RecordFormatError(
      `expected "${key}" to be an array of turns`,
      where.file,
      where.line,
    );
  const ts = list.map((t, i) => {
    if (typeof t !== "object" || t === null)
      throw new RecordFormatError(`expected ${key}[${i}] to be an object`, where.file, where.line);
    const [role, text] = get(t as Record<string, unknown>);
    if (typeof text !== "string")
      throw new RecordFormatError(
        `expected ${key}[${i}] to have string text`,
        where.file,
        where.line,
      );
    return { role, text };
  });
  const system = ts[0]?.role === "system" ? ts.shift()!.text : undefined;
  if (ts.length !== 2 || ts[0]!.role !== "user" || ts[1]!.role !== "assistant") {
    throw new RecordFormatError(
      `expected "${key}" to hold one user turn then one assistant turn (after an optional system turn), got roles ${JSON.stringify(ts.map((t) => t.role))}`,
      where.file,
      where.line,
    );
  }
  return { user: ts[0]!.text, assistant: ts[1]!.text, ...(system !== undefined ? { system } : {}) };
}

const ROLE_OF_FROM: Record<string, string> = {
  human: "user",
  user: "user",
  gpt: "assistant",
  assistant: "assistant",
  system: "system",
};

/** One row of a format → a record; errors name the file, line and the field expected. */
export function fromRow(
  value: unknown,
  format: FormatName,
  where: Where,
  opts: ReadFormatOptions = {},
): InstructionRecord {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new RecordFormatError(`expected a JSON object (${format} row)`, where.file, where.line);
  }
  const o = value as Record<string, unknown>;
  if (format === "jsonl") return validateRecord(o, where.file, where.line);
  if (format === "alpaca") {
    for (const k of ["instruction", "output"]) {
      if (typeof o[k] !== "string")
        throw new RecordFormatError(
          `expected "${k}" to be a string (Alpaca row)`,
          where.file,
          where.line,
        );
    }
    if (o.input !== undefined && typeof o.input !== "string")
      throw new RecordFormatError(
        'expected "input" to be a string (Alpaca row)',
        where.file,
        where.line,
      );
    return finish(
      o,
      {
        instruction: o.instruction as string,
        input: (o.input as string | undefined) ?? "",
        output: o.output as string,
      },
      where,
      opts,
    );
  }
  const t =
    format === "sharegpt"
      ? turns(o.conversations, "conversations", where, (x) => [
          ROLE_OF_FROM[String(x.from)] ?? String(x.from),
          x.value,
        ])
      : turns(o.messages, "messages", where, (x) => [String(x.role), x.content]);
  const r = finish(
    o,
    { ...splitUser(t.user, o.instruction_chars, where), output: t.assistant },
    where,
    opts,
  );
  if (t.system !== undefined && r.metadata.system === undefined) r.metadata.system = t.system;
  return r;
}

export function toRow(
  r: InstructionRecord,
  format: FormatName,
  opts: WriteFormatOptions = {},
): unknown {
  switch (format) {
    case "jsonl":
      return r;
    case "alpaca":
      return toAlpaca(r);
    case "sharegpt":
      return toShareGpt(r, opts);
    case "chat":
      return toChat(r, opts);
  }
}

/** Guess a row's format from its keys. */
export function detectFormat(value: unknown): FormatName | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const o = value as Record<string, unknown>;
  if (Array.isArray(o.conversations)) return "sharegpt";
  if (Array.isArray(o.messages)) return "chat";
  if (typeof o.instruction === "string" && typeof o.output === "string")
    return typeof o.metadata === "object" && typeof o.id === "string" && typeof o.input === "string"
      ? "jsonl"
      : "alpaca";
  return undefined;
}

/**
 * Read a file in any of the formats: JSONL (one row a line) or, for Alpaca, a JSON array. The
 * format is detected from the first row unless given. Malformed rows go to `onIssue`.
 */
export async function* readRecords(
  file: string,
  opts: ReadFormatOptions & { format?: FormatName; onIssue?: (i: LineIssue) => void } = {},
): AsyncGenerator<InstructionRecord> {
  if (opts.format === "jsonl") {
    yield* readJsonl(file, { ...(opts.onIssue ? { onIssue: opts.onIssue } : {}) });
    return;
  }
  const rl = createInterface({
    input: createReadStream(file, { encoding: "utf8" }),
    crlfDelay: Infinity,
  });
  let format: FormatName | undefined = opts.format;
  let line = 0;
  let arrayText: string | undefined;
  for await (const text of rl) {
    line++;
    if (arrayText !== undefined) {
      arrayText += `\n${text}`;
      continue;
    }
    if (text.trim() === "") continue;
    if (line === 1 && text.trimStart().startsWith("[")) {
      arrayText = text; // a JSON array (Alpaca's usual layout): parse it whole at the end
      continue;
    }
    try {
      const value = parseJsonLine(text, file, line);
      format ??= detectFormat(value);
      if (!format)
        throw new RecordFormatError("expected a jsonl, Alpaca, ShareGPT or chat row", file, line);
      yield fromRow(value, format, { file, line }, opts);
    } catch (e) {
      if (!(e instanceof RecordFormatError) || !opts.onIssue) throw e;
      opts.onIssue({ file, line, message: e.message.replace(`${file}:${line}: `, "") });
    }
  }
  if (arrayText !== undefined) {
    let rows: unknown;
    try {
      rows = JSON.parse(arrayText);
    } catch (e) {
      throw new RecordFormatError(`expected a JSON array of rows: ${(e as Error).message}`, file);
    }
    if (!Array.isArray(rows)) throw new RecordFormatError("expected a JSON array of rows", file, 1);
    const lines = elementLines(arrayText);
    for (let i = 0; i < rows.length; i++) {
      const f = format ?? detectFormat(rows[i]) ?? "alpaca";
      const where = { file, line: lines[i] ?? 1 };
      try {
        yield fromRow(rows[i], f, where, opts);
      } catch (e) {
        if (!(e instanceof RecordFormatError) || !opts.onIssue) throw e;
        opts.onIssue({ ...where, message: `row ${i}: ${e.message.replace(/^[^:]*:\d+: /, "")}` });
      }
    }
  }
}

/** The 1-based line on which each element of a (valid) top-level JSON array starts. */
function elementLines(text: string): number[] {
  const out: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let expectElement = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) line++;
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character (never a newline in valid JSON)
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    if (depth === 1 && expectElement && c !== 93) {
      out.push(line);
      expectElement = false;
    }
    if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      depth++;
      if (depth === 1) expectElement = true;
    } else if (c === 93 || c === 125) depth--;
    else if (c === 44 && depth === 1) expectElement = true;
  }
  return out;
}

/** Write records in a format, one row a line, atomically. */
export async function writeRecords(
  file: string,
  records: Iterable<InstructionRecord>,
  format: FormatName,
  opts: WriteFormatOptions = {},
): Promise<void> {
  await writeLinesAtomic(
    file,
    (function* () {
      for (const r of records) yield JSON.stringify(toRow(r, format, opts));
    })(),
  );
}
