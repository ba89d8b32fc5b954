/**
 * Decontamination against evaluation sets: a training record is removed when it shares a word
 * 13-gram with an eval item, contains an eval question whole (PubMedQA questions are PubMed titles,
 * often shorter than 13 words), or cites a PMID an eval set is built on. Eval files are read in
 * their own formats: PubMedQA (ori_pqal.json, test_ground_truth.json), BioASQ JSON,
 * MedSafetyBench and Med-HALT CSVs, and generic JSON/JSONL/CSV with question-like fields.
 *
 * With an embedder (./semantic.ts) a reworded eval question is caught too: a record whose question
 * (its instruction, or a question-sized input) has cosine ≥ `semanticThreshold` to an eval item's
 * question is removed as "eval overlap (semantic)", audited with the item and the cosine.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import type { InstructionRecord } from "../data/record.js";
import { DEFAULT_RECORD_LIMITS, jsonDepthExceeded, RecordFormatError } from "../data/record.js";
import type { Embedder } from "../models/embedder.js";
import { defaultConfig } from "./config.js";
import { embedAll, VectorIndex, type EmbedProgress } from "./semantic.js";
import { collect, StepTracker, type RecordStream, type StepResult } from "./step.js";
import { fmix32, fnv1a32, hash53, normalizeText, sentences, words } from "./text.js";

export interface EvalItem {
  id: string;
  texts: string[];
  question?: string;
  pmids: string[];
}

export interface EvalSet {
  name: string;
  file: string;
  items: EvalItem[];
}

const QUESTION_KEYS = [
  "question",
  "QUESTION",
  "body",
  "instruction",
  "prompt",
  "harmful_medical_request",
  "query",
];
const TEXT_KEYS = [
  ...QUESTION_KEYS,
  "input",
  "output",
  "answer",
  "LONG_ANSWER",
  "long_answer",
  "CONTEXTS",
  "contexts",
  "context",
  "safe_response",
  "options",
  "ideal_answer",
  "text",
];

const str = (v: unknown): string[] =>
  typeof v === "string" ? [v] : Array.isArray(v) ? v.flatMap(str) : [];

function itemFromObject(id: string, o: Record<string, unknown>): EvalItem {
  const question = QUESTION_KEYS.map((k) => o[k]).find((v) => typeof v === "string") as
    string | undefined;
  const texts = TEXT_KEYS.flatMap((k) => str(o[k]));
  const pmids = [o.pmid, o.PMID, o.pubid].flatMap((v) => (v === undefined ? [] : [String(v)]));
  for (const d of str(o.documents)) {
    const m = /(\d{5,9})\/?$/.exec(d);
    if (m) pmids.push(m[1]!);
  }
  return { id, texts, pmids, ...(question ? { question } : {}) };
}

/**
 * Largest eval file read (they are read whole): PubMedQA's labelled set is ~3 MB, BioASQ's
 * training set ~30 MB; past this it is not an eval set.
 */
export const MAX_EVAL_FILE_BYTES = 512 << 20;

/** Read one eval file; throws RecordFormatError naming the file when its shape is unknown. */
export function loadEvalFile(file: string): EvalSet {
  const bytes = statSync(file).size;
  if (bytes > MAX_EVAL_FILE_BYTES) {
    throw new RecordFormatError(
      `eval file of ${bytes} bytes is over the ${MAX_EVAL_FILE_BYTES}-byte cap (MAX_EVAL_FILE_BYTES)`,
      file,
    );
  }
  const raw = readFileSync(file, "utf8");
  // Eval items are walked recursively (str): refuse a nesting that would overflow the stack.
  const deep = file.endsWith(".csv") ? -1 : jsonDepthExceeded(raw, DEFAULT_RECORD_LIMITS.maxDepth);
  if (deep >= 0) {
    throw new RecordFormatError(
      `JSON nested deeper than the ${DEFAULT_RECORD_LIMITS.maxDepth}-level cap (limits.maxDepth)`,
      file,
      raw.slice(0, deep).split("\n").length,
    );
  }
  const name = basename(file);
  const items: EvalItem[] = [];
  if (file.endsWith(".csv")) {
    const rows = parseCsv(raw, { columns: true, relax_column_count: true }) as Record<
      string,
      string
    >[];
    rows.forEach((row, i) => items.push(itemFromObject(`${name}:${i + 2}`, row)));
    if (items.length > 0 && items.every((it) => it.texts.length === 0)) {
      throw new RecordFormatError(
        `expected a CSV column named one of ${QUESTION_KEYS.join(", ")}`,
        file,
        1,
      );
    }
    return { name, file, items };
  }
  if (file.endsWith(".jsonl")) {
    raw.split("\n").forEach((line, i) => {
      if (!line.trim()) return;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch (e) {
        throw new RecordFormatError(
          `expected one JSON object per line: ${(e as Error).message}`,
          file,
          i + 1,
        );
      }
      items.push(itemFromObject(`${name}:${i + 1}`, o as Record<string, unknown>));
    });
    return { name, file, items };
  }
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (e) {
    throw new RecordFormatError(`expected JSON: ${(e as Error).message}`, file);
  }
  if (Array.isArray(data)) {
    data.forEach((o, i) =>
      items.push(itemFromObject(`${name}[${i}]`, o as Record<string, unknown>)),
    );
  } else if (data && typeof data === "object") {
    const o = data as Record<string, unknown>;
    if (Array.isArray(o.questions)) {
      // BioASQ: {"questions": [{id, body, documents: [PubMed URLs], snippets …}]}.
      o.questions.forEach((q, i) => {
        const qq = q as Record<string, unknown>;
        items.push(itemFromObject(String(qq.id ?? i), qq));
      });
    } else {
      // PubMedQA: PMID → {QUESTION, CONTEXTS, LONG_ANSWER …} or PMID → "yes" (ground truth).
      for (const [k, v] of Object.entries(o)) {
        if (!/^\d{1,9}$/.test(k)) {
          throw new RecordFormatError(
            `expected PubMedQA-style keys (PMIDs), got key ${JSON.stringify(k)}`,
            file,
          );
        }
        const it =
          v && typeof v === "object"
            ? itemFromObject(k, v as Record<string, unknown>)
            : { id: k, texts: [], pmids: [] };
        it.pmids.push(k);
        items.push(it);
      }
    }
  } else {
    throw new RecordFormatError("expected a JSON object or array of eval items", file);
  }
  return { name, file, items };
}

/** Eval sets from files and directories (searched recursively for .json, .jsonl, .csv). */
export function loadEvalSets(paths: readonly string[]): EvalSet[] {
  const out: EvalSet[] = [];
  const visit = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const f of readdirSync(p).sort()) visit(join(p, f));
    } else if (/\.(json|jsonl|csv)$/.test(p)) {
      out.push(loadEvalFile(p));
    }
  };
  for (const p of paths) visit(p);
  return out;
}

/** Hash of n consecutive word hashes starting at i (order-sensitive). */
function ngramHash(hs: Uint32Array, i: number, n: number): number {
  let a = 0x3c6ef372;
  let b = 0xa54ff53a;
  for (let k = 0; k < n; k++) {
    a = fmix32(a ^ hs[i + k]!);
    b = fmix32((b + Math.imul(hs[i + k]!, 0x27d4eb2f)) >>> 0);
  }
  return (a & 0x1fffff) * 0x100000000 + b;
}

const wordHashes = (text: string) => Uint32Array.from(words(text), (w) => fnv1a32(w));

export interface ContaminationIndex {
  n: number;
  ngrams: Map<number, string>;
  questions: Map<number, string>;
  pmids: Map<string, string>;
  sets: { name: string; file: string; items: number }[];
}

export function buildContaminationIndex(sets: readonly EvalSet[], n = 13): ContaminationIndex {
  const idx: ContaminationIndex = {
    n,
    ngrams: new Map(),
    questions: new Map(),
    pmids: new Map(),
    sets: [],
  };
  for (const s of sets) {
    idx.sets.push({ name: s.name, file: s.file, items: s.items.length });
    for (const it of s.items) {
      for (const p of it.pmids) if (!idx.pmids.has(p)) idx.pmids.set(p, s.name);
      if (it.question && words(it.question).length >= 4) {
        idx.questions.set(hash53(normalizeText(it.question)), s.name);
      }
      for (const t of it.texts) {
        const hs = wordHashes(t);
        for (let i = 0; i + n <= hs.length; i++) {
          const h = ngramHash(hs, i, n);
          if (!idx.ngrams.has(h)) idx.ngrams.set(h, s.name);
        }
      }
    }
  }
  return idx;
}

export interface Contamination {
  reason: "pmid" | "question" | "ngram";
  set: string;
  detail: string;
}

const PMID_RE = /\bPMID:?\s*(\d{1,9})\b/gi;

export function findContamination(
  r: InstructionRecord,
  idx: ContaminationIndex,
): Contamination | undefined {
  const text = `${r.instruction}\n${r.input}\n${r.output}`;
  const pmids = new Set<string>();
  for (const c of r.metadata.citations) {
    const m = /^(?:PMID:?\s*)(\d+)$/i.exec(c);
    if (m) pmids.add(m[1]!);
  }
  for (const m of text.matchAll(PMID_RE)) pmids.add(m[1]!);
  const prov = r.metadata.provenance as Record<string, unknown>;
  for (const k of ["pmid", "PMID"]) if (prov[k] !== undefined) pmids.add(String(prov[k]));
  for (const p of pmids) {
    const set = idx.pmids.get(p);
    if (set) return { reason: "pmid", set, detail: `PMID ${p}` };
  }
  for (const s of sentences(text)) {
    const set = idx.questions.get(hash53(normalizeText(s)));
    if (set) return { reason: "question", set, detail: s.slice(0, 120) };
  }
  const hs = wordHashes(text);
  for (let i = 0; i + idx.n <= hs.length; i++) {
    const set = idx.ngrams.get(ngramHash(hs, i, idx.n));
    if (set) return { reason: "ngram", set, detail: `${idx.n}-gram at word ${i}` };
  }
  return undefined;
}

export interface DecontaminateOptions {
  /** Eval files/directories, or sets already loaded. */
  evalPaths?: readonly string[];
  evalSets?: readonly EvalSet[];
  /** n-gram size (default 13). */
  n?: number;
  /** Embedder for the semantic check; without one only the surface checks run. */
  embedder?: Embedder;
  /**
   * Cosine of a record's question to an eval question at or above which it is removed (default:
   * semantic.decontamThreshold, measured in configs/augment.yaml).
   */
  semanticThreshold?: number;
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: EmbedProgress;
}

/** Inputs up to this many words are embedded as questions too; longer ones are passages. */
const QUESTION_SIZED_INPUT_WORDS = 64;

/** The eval questions to compare against: one per item, at least 4 words, distinct. */
function evalQuestions(sets: readonly EvalSet[]): { set: string; id: string; text: string }[] {
  const seen = new Set<string>();
  const out: { set: string; id: string; text: string }[] = [];
  for (const s of sets)
    for (const it of s.items) {
      const text = it.question ?? it.texts[0];
      if (!text || words(text).length < 4) continue;
      const key = normalizeText(text);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ set: s.name, id: it.id, text });
    }
  return out;
}

/**
 * Records (of `records`) whose question embeds within `threshold` of an eval question: the index
 * of the record → the eval item it matches and the cosine.
 */
async function semanticOverlap(
  records: readonly InstructionRecord[],
  sets: readonly EvalSet[],
  opts: DecontaminateOptions & { embedder: Embedder },
): Promise<{
  hits: Map<number, { set: string; id: string; text: string; cosine: number }>;
  evalQuestions: number;
  embeddedTexts: number;
  embedMs: number;
}> {
  const threshold = opts.semanticThreshold ?? defaultConfig().semantic.decontamThreshold;
  const qs = evalQuestions(sets);
  const owners: number[] = [];
  const texts: string[] = [];
  records.forEach((r, i) => {
    if (r.instruction.trim()) {
      owners.push(i);
      texts.push(r.instruction);
    }
    const n = words(r.input).length;
    if (n >= 4 && n <= QUESTION_SIZED_INPUT_WORDS) {
      owners.push(i);
      texts.push(r.input);
    }
  });
  const hits = new Map<number, { set: string; id: string; text: string; cosine: number }>();
  const t0 = performance.now();
  if (qs.length === 0 || texts.length === 0)
    return { hits, evalQuestions: qs.length, embeddedTexts: 0, embedMs: 0 };
  const evalVectors = await embedAll(
    opts.embedder,
    qs.map((q) => q.text),
    "decontaminate: eval questions",
    opts,
  );
  const recordVectors = await embedAll(opts.embedder, texts, "decontaminate: records", opts);
  const embedMs = performance.now() - t0;
  const index = VectorIndex.of(evalVectors, opts.embedder.dimensions);
  recordVectors.forEach((v, k) => {
    const [best] = index.nearest(v, 1);
    if (!best || best.cosine < threshold) return;
    const prev = hits.get(owners[k]!);
    if (!prev || best.cosine > prev.cosine)
      hits.set(owners[k]!, { ...qs[best.row]!, cosine: best.cosine });
  });
  return { hits, evalQuestions: qs.length, embeddedTexts: texts.length + qs.length, embedMs };
}

export async function decontaminate(
  input: RecordStream,
  opts: DecontaminateOptions,
): Promise<StepResult> {
  const records = await collect(input);
  const sets = [...(opts.evalSets ?? []), ...loadEvalSets(opts.evalPaths ?? [])];
  const t = new StepTracker("decontaminate", records);
  const idx = buildContaminationIndex(sets, opts.n ?? 13);
  const bySet: Record<string, number> = {};
  const surfaceClean: InstructionRecord[] = [];
  for (const r of records) {
    const c = sets.length > 0 ? findContamination(r, idx) : undefined;
    if (!c) {
      surfaceClean.push(r);
      continue;
    }
    bySet[c.set] = (bySet[c.set] ?? 0) + 1;
    t.drop(r, `eval overlap (${c.reason})`, `${c.set}: ${c.detail}`);
  }
  let out = surfaceClean;
  if (opts.embedder && sets.length > 0) {
    const sem = await semanticOverlap(surfaceClean, sets, { ...opts, embedder: opts.embedder });
    out = surfaceClean.filter((r, i) => {
      const h = sem.hits.get(i);
      if (!h) return true;
      bySet[h.set] = (bySet[h.set] ?? 0) + 1;
      t.drop(
        r,
        "eval overlap (semantic)",
        `${h.set}: ${h.id} (cosine ${h.cosine.toFixed(3)}): ${h.text.slice(0, 120)}`,
      );
      return false;
    });
    Object.assign(t.extra, {
      semantic: {
        model: opts.embedder.name,
        threshold: opts.semanticThreshold ?? defaultConfig().semantic.decontamThreshold,
        evalQuestions: sem.evalQuestions,
        embeddedTexts: sem.embeddedTexts,
        embedMs: Math.round(sem.embedMs),
        removed: sem.hits.size,
      },
    });
  }
  Object.assign(t.extra, {
    evalSets: idx.sets,
    evalNgrams: idx.ngrams.size,
    evalPmids: idx.pmids.size,
    removedBySet: bySet,
  });
  return t.finish(out);
}
