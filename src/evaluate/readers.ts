/**
 * Readers for the evaluation sets in their published layouts. Every reader fails with a
 * RecordFormatError naming the file, the line (or key) and what was expected.
 *
 *   PubMedQA PQA-L   ori_pqal.json {pmid: {QUESTION, CONTEXTS[], final_decision}} (+ test_ground_truth.json)
 *   MedQA-style      JSONL {question, options: {A: …, B: …}, answer_idx: "A"}
 *   MedMCQA-style    JSONL {question, opa, opb, opc, opd, cop}  (cop 1–4 as released, or a–d)
 *   MedSafetyBench   CSV  ,harmful_medical_request,safe_response  (one file per category)
 *   Med-HALT fake    CSV  id,…,question,options  (options a Python dict string; answer "I do not know")
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { RecordFormatError } from "../data/record.js";
import { parseJsonLine } from "../data/jsonl.js";

/** One multiple-choice question, scored by the likelihood of each option. */
export interface ChoiceItem {
  id: string;
  /** The user turn: question (with context and lettered options where the layout has them). */
  question: string;
  /** Each option's text as the assistant would say it. */
  options: string[];
  answer: number;
  /** Where it was read, e.g. "ori_pqal.json#21645374". */
  origin: string;
  /** The bare question, without context or lettered options (for free-text answers). */
  stem?: string;
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new RecordFormatError(`cannot read (${(e as Error).message})`, file);
  }
}

function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readText(file));
  } catch (e) {
    if (e instanceof RecordFormatError) throw e;
    throw new RecordFormatError(`invalid JSON: ${(e as Error).message}`, file);
  }
}

const PUBMEDQA_LABELS = ["yes", "no", "maybe"] as const;

/**
 * PubMedQA PQA-L. With `splitFile` (test_ground_truth.json: {pmid: label}) only those PMIDs are
 * read, and their labels must agree with the main file.
 */
export function readPubMedQA(file: string, splitFile?: string): ChoiceItem[] {
  const data = readJsonFile(file);
  if (typeof data !== "object" || data === null || Array.isArray(data))
    throw new RecordFormatError("expected an object keyed by PMID", file);
  let ids = Object.keys(data);
  if (splitFile) {
    const split = readJsonFile(splitFile);
    if (typeof split !== "object" || split === null || Array.isArray(split))
      throw new RecordFormatError("expected an object {pmid: label}", splitFile);
    ids = Object.keys(split).filter((id) => id in data);
    if (ids.length === 0)
      throw new RecordFormatError(`none of its PMIDs occurs in ${file}`, splitFile);
  }
  return ids.map((pmid) => {
    const r = (data as Record<string, Record<string, unknown>>)[pmid]!;
    const where = `PMID ${pmid}`;
    if (typeof r?.QUESTION !== "string")
      throw new RecordFormatError(`${where}: "QUESTION" must be a string`, file);
    if (!Array.isArray(r.CONTEXTS) || !r.CONTEXTS.every((c) => typeof c === "string"))
      throw new RecordFormatError(`${where}: "CONTEXTS" must be an array of strings`, file);
    const label = String(r.final_decision ?? "").toLowerCase();
    const answer = PUBMEDQA_LABELS.indexOf(label as (typeof PUBMEDQA_LABELS)[number]);
    if (answer < 0)
      throw new RecordFormatError(
        `${where}: "final_decision" must be yes, no or maybe, got ${JSON.stringify(r.final_decision)}`,
        file,
      );
    const context = (r.CONTEXTS as string[]).join("\n");
    return {
      id: `pubmedqa:${pmid}`,
      question: `Context: ${context}\n\nQuestion: ${r.QUESTION}\nAnswer with yes, no or maybe.`,
      options: PUBMEDQA_LABELS.map((l) => l[0]!.toUpperCase() + l.slice(1)),
      answer,
      origin: `${file}#${pmid}`,
      stem: r.QUESTION,
    };
  });
}

function jsonlObjects(file: string): { value: Record<string, unknown>; line: number }[] {
  const out: { value: Record<string, unknown>; line: number }[] = [];
  readText(file)
    .split("\n")
    .forEach((text, i) => {
      if (text.trim() === "") return;
      const v = parseJsonLine(text, file, i + 1);
      if (typeof v !== "object" || v === null || Array.isArray(v))
        throw new RecordFormatError("expected a JSON object", file, i + 1);
      out.push({ value: v as Record<string, unknown>, line: i + 1 });
    });
  return out;
}

/** Lettered options in the question, each option's text prefixed by its letter as the answer. */
function lettered(id: string, stem: string, texts: string[], answer: number, origin: string) {
  const letters = texts.map((_, i) => String.fromCharCode(65 + i));
  return {
    id,
    question: `${stem}\n\n${texts.map((t, i) => `${letters[i]}. ${t}`).join("\n")}\n\nAnswer with the correct option.`,
    options: texts.map((t, i) => `${letters[i]}. ${t}`),
    answer,
    origin,
    stem,
  };
}

/** MedQA (USMLE) layout: {question, options: {A: text, …}, answer_idx: "A"}. */
export function readMedQA(file: string): ChoiceItem[] {
  return jsonlObjects(file).map(({ value: r, line }) => {
    const fail = (what: string): never => {
      throw new RecordFormatError(what, file, line);
    };
    if (typeof r.question !== "string") fail('"question" must be a string');
    const opts = r.options;
    if (typeof opts !== "object" || opts === null || Array.isArray(opts))
      fail('"options" must be an object {A: text, B: text, …}');
    const keys = Object.keys(opts as object).sort();
    if (keys.length < 2) fail('"options" needs at least two options');
    const texts = keys.map((k) => {
      const t = (opts as Record<string, unknown>)[k];
      return typeof t === "string" ? t : fail(`options.${k} must be a string`);
    });
    const answer = keys.indexOf(String(r.answer_idx));
    if (answer < 0)
      fail(`"answer_idx" must be one of ${keys.join(", ")}, got ${JSON.stringify(r.answer_idx)}`);
    const id = typeof r.id === "string" ? r.id : `line${line}`;
    return lettered(`medqa:${id}`, r.question as string, texts, answer, `${file}:${line}`);
  });
}

/** MedMCQA layout: {question, opa, opb, opc, opd, cop}; cop is 1–4 (as released) or a–d. */
export function readMedMCQA(file: string): ChoiceItem[] {
  return jsonlObjects(file).map(({ value: r, line }) => {
    const fail = (what: string): never => {
      throw new RecordFormatError(what, file, line);
    };
    if (typeof r.question !== "string") fail('"question" must be a string');
    const texts = ["opa", "opb", "opc", "opd"].map((k) =>
      typeof r[k] === "string" ? (r[k] as string) : fail(`"${k}" must be a string`),
    );
    const cop = r.cop;
    const answer =
      typeof cop === "number" && Number.isInteger(cop) && cop >= 1 && cop <= 4
        ? cop - 1
        : typeof cop === "string" && /^[a-dA-D]$/.test(cop)
          ? cop.toLowerCase().charCodeAt(0) - 97
          : fail(`"cop" must be 1–4 or a–d, got ${JSON.stringify(cop)}`);
    const id = typeof r.id === "string" ? r.id : `line${line}`;
    return lettered(`medmcqa:${id}`, r.question as string, texts, answer, `${file}:${line}`);
  });
}

/** CSV rows as objects, each with its 1-based line; a missing column names the header found. */
function csvRows(
  file: string,
  required: readonly string[],
): { row: Record<string, string>; line: number }[] {
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parseCsv(readText(file), {
      columns: true,
      info: true,
      skip_empty_lines: true,
      relax_column_count: false,
    }) as typeof records;
  } catch (e) {
    if (e instanceof RecordFormatError) throw e;
    const line = (e as { lines?: number }).lines;
    throw new RecordFormatError(`invalid CSV: ${(e as Error).message}`, file, line);
  }
  if (records.length > 0) {
    const cols = Object.keys(records[0]!.record);
    for (const c of required)
      if (!cols.includes(c))
        throw new RecordFormatError(
          `expected a column "${c}", found ${JSON.stringify(cols)}`,
          file,
          1,
        );
  }
  return records.map((r) => ({ row: r.record, line: r.info.lines }));
}

export interface SafetyRequest {
  id: string;
  request: string;
  /** The dataset's reference refusal. */
  safeResponse: string;
  category: string;
}

/** MedSafetyBench: every CSV under `dir` (…/gpt4/med_safety_demonstrations_category_N.csv). */
export function readMedSafetyBench(dir: string): SafetyRequest[] {
  if (!existsSync(dir)) throw new RecordFormatError("no such directory", dir);
  const files: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".csv")) files.push(p);
    }
  };
  walk(dir);
  if (files.length === 0) throw new RecordFormatError("no .csv files found", dir);
  return files.flatMap((file) => {
    const category = /category_(\d+)/.exec(file)?.[1] ?? "?";
    const generator = file.split(/[\\/]/).at(-2) ?? "";
    return csvRows(file, ["harmful_medical_request", "safe_response"]).map(({ row, line }) => {
      const request = row.harmful_medical_request?.trim();
      if (!request) throw new RecordFormatError('"harmful_medical_request" is empty', file, line);
      return {
        id: `medsafetybench:${generator}:${category}:${line}`,
        request,
        safeResponse: row.safe_response ?? "",
        category,
      };
    });
  });
}

/**
 * A Python dict literal of string keys and values, as pandas writes it into CSV cells:
 * {'0': 'text', "1": "it's"} (single or double quotes, backslash escapes).
 */
export function parsePythonStringDict(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const expect = (c: string) => {
    ws();
    if (text[i] !== c) throw new Error(`expected "${c}" at offset ${i}`);
    i++;
  };
  const str = (): string => {
    ws();
    const q = text[i];
    if (q !== "'" && q !== '"') throw new Error(`expected a quoted string at offset ${i}`);
    i++;
    let s = "";
    while (i < text.length && text[i] !== q) {
      if (text[i] === "\\" && i + 1 < text.length) {
        const n = text[i + 1]!;
        s += n === "n" ? "\n" : n === "t" ? "\t" : n;
        i += 2;
      } else s += text[i++];
    }
    if (i >= text.length) throw new Error("unterminated string");
    i++;
    return s;
  };
  expect("{");
  ws();
  if (text[i] === "}") return out;
  for (;;) {
    const k = str();
    expect(":");
    out[k] = str();
    ws();
    if (text[i] === ",") {
      i++;
      ws();
      if (text[i] === "}") break;
      continue;
    }
    break;
  }
  expect("}");
  return out;
}

const DECLINE_OPTION = /^\s*i do not know\s*[.!]?\s*$/i;

/**
 * Med-HALT reasoning_fake: absurd questions whose right answer is the "I do not know" option. A
 * few released rows have no such option (11 of 1,858: the options are one multi-line string):
 * they are skipped and reported through `onSkip`, since there is nothing to score.
 */
export function readMedHaltFake(
  file: string,
  onSkip?: (line: number, reason: string) => void,
): ChoiceItem[] {
  return csvRows(file, ["id", "question", "options"]).flatMap(({ row, line }) => {
    let dict: Record<string, string>;
    try {
      dict = parsePythonStringDict(row.options ?? "");
    } catch (e) {
      throw new RecordFormatError(
        `"options" must be a dict of strings like {'0': '…'}: ${(e as Error).message}`,
        file,
        line,
      );
    }
    const keys = Object.keys(dict).sort((a, b) => Number(a) - Number(b));
    const texts = keys.map((k) => dict[k]!);
    const answer = texts.findIndex((t) => DECLINE_OPTION.test(t));
    if (answer < 0) {
      onSkip?.(line, 'no "I do not know" option among the options');
      return [];
    }
    return [lettered(`medhalt:${row.id}`, row.question ?? "", texts, answer, `${file}:${line}`)];
  });
}
