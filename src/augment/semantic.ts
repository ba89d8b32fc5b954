/**
 * Semantic near-duplicates: records that say the same thing in other words, which MinHash (word
 * 5-gram Jaccard) cannot see. Runs after exact + MinHash dedup: each record's text is embedded with
 * the sentence embedder (bundled all-MiniLM-L6-v2, L2-normalised vectors), and a record whose
 * cosine to an earlier kept record is ≥ the threshold is dropped, audited with the record it
 * duplicates. Records are visited in input order, so the result is deterministic.
 *
 *   const embedder = await openEmbedder("auto");
 *   const { records, report } = await semanticDedup(records, { embedder, threshold: 0.9 });
 *
 * The comparison is exact (no LSH misses): a scan of the kept vectors, unrolled over one
 * contiguous Float32Array, costs n²/2 × 384 multiply-adds — for 50k records ~4.8e11, a minute or
 * two of JS, well under the time it takes to embed them. `openEmbedder` and `VectorIndex` are
 * shared with decontamination (./decontam.ts) and evaluation's citation retrieval.
 */
import { existsSync } from "node:fs";
import type { InstructionRecord } from "../data/record.js";
import {
  defaultEmbedderPath,
  loadEmbedder,
  type Embedder,
  type EmbedProgress as EmbedProgressEvent,
} from "../models/embedder.js";
import { defaultConfig } from "./config.js";
import { factKey } from "./dedup.js";
import { collect, StepTracker, type RecordStream, type StepResult } from "./step.js";

/** "auto": on when the bundled embedder is installed; true: required; false: off. */
export type SemanticSetting = boolean | "auto";

/**
 * The embedder a stage uses for a setting, or undefined when off (false, or "auto" with the bundled
 * model not installed). Otherwise a missing or broken model is loadEmbedder's error, which names the
 * folder and the set-up command (`node scripts/setup.mjs --only embedder`).
 */
export async function openEmbedder(
  setting: SemanticSetting,
  opts: { path?: string; signal?: AbortSignal } = {},
): Promise<Embedder | undefined> {
  if (setting === false) return undefined;
  if (setting === "auto" && !opts.path && !existsSync(defaultEmbedderPath())) return undefined;
  try {
    return await loadEmbedder(opts);
  } catch (e) {
    throw new Error(
      `${(e as Error).message} (the semantic checks are on: turn them off with semantic.enabled: false or --no-semantic)`,
      { cause: e },
    );
  }
}

/** Progress of an embedding pass, for a stage's onEvent. */
export type EmbedProgress = (what: string, done: number, total: number) => void;

/** Embed texts in batches, reporting progress under a name; vectors are L2-normalised. */
export async function embedAll(
  embedder: Embedder,
  texts: readonly string[],
  what: string,
  opts: { batchSize?: number; signal?: AbortSignal; onProgress?: EmbedProgress } = {},
): Promise<Float32Array[]> {
  if (texts.length === 0) return [];
  return embedder.embed([...texts], {
    ...(opts.batchSize ? { batchSize: opts.batchSize } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onProgress
      ? { onProgress: (p: EmbedProgressEvent) => opts.onProgress!(what, p.done, p.total) }
      : {}),
  });
}

/** Dot product of row `row` of `m` (width d) with `q`: the cosine, vectors being unit length. */
function dotRow(m: Float32Array, row: number, q: Float32Array, d: number): number {
  let a = 0;
  let b = 0;
  let c = 0;
  let e = 0;
  const o = row * d;
  let k = 0;
  for (; k + 4 <= d; k += 4) {
    a += m[o + k]! * q[k]!;
    b += m[o + k + 1]! * q[k + 1]!;
    c += m[o + k + 2]! * q[k + 2]!;
    e += m[o + k + 3]! * q[k + 3]!;
  }
  for (; k < d; k++) a += m[o + k]! * q[k]!;
  return a + b + c + e;
}

/** Cosine of two unit vectors. */
export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k]! * b[k]!;
  return s;
}

/** Unit vectors in one growing row-major Float32Array, searched exactly by cosine. */
export class VectorIndex {
  private data: Float32Array;
  size = 0;

  constructor(
    readonly dimensions: number,
    capacity = 1024,
  ) {
    this.data = new Float32Array(dimensions * Math.max(1, capacity));
  }

  static of(vectors: readonly Float32Array[], dimensions: number): VectorIndex {
    const ix = new VectorIndex(dimensions, vectors.length);
    for (const v of vectors) ix.add(v);
    return ix;
  }

  add(v: Float32Array): number {
    if (v.length !== this.dimensions)
      throw new Error(`VectorIndex: expected a ${this.dimensions}-d vector, got ${v.length}-d`);
    if ((this.size + 1) * this.dimensions > this.data.length) {
      const grown = new Float32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data.set(v, this.size * this.dimensions);
    return this.size++;
  }

  /**
   * Rows with cosine ≥ minCosine to q, best first (ties: lower row first), and the best cosine
   * of all rows (−Infinity when empty) in the same pass.
   */
  above(
    q: Float32Array,
    minCosine: number,
  ): { hits: { row: number; cosine: number }[]; best: number } {
    const hits: { row: number; cosine: number }[] = [];
    let best = -Infinity;
    for (let r = 0; r < this.size; r++) {
      const c = dotRow(this.data, r, q, this.dimensions);
      if (c > best) best = c;
      if (c >= minCosine) hits.push({ row: r, cosine: c });
    }
    return { hits: hits.sort((x, y) => y.cosine - x.cosine || x.row - y.row), best };
  }

  /** The k nearest rows to q, best first, and the best cosine (−1 when empty). */
  nearest(q: Float32Array, k = 1): { row: number; cosine: number }[] {
    const best: { row: number; cosine: number }[] = [];
    for (let r = 0; r < this.size; r++) {
      const c = dotRow(this.data, r, q, this.dimensions);
      if (best.length < k || c > best[best.length - 1]!.cosine) {
        best.push({ row: r, cosine: c });
        best.sort((x, y) => y.cosine - x.cosine || x.row - y.row);
        if (best.length > k) best.pop();
      }
    }
    return best;
  }
}

/**
 * The text that defines a duplicate: the question and the answer together (instruction, input,
 * output), whitespace collapsed. Two records are the same training example only when both the
 * question and the answer match; the tokenizer lower-cases and splits punctuation itself.
 */
export const semanticText = (r: InstructionRecord): string =>
  [r.instruction, r.input, r.output]
    .filter((s) => s.trim())
    .join("\n")
    .normalize("NFKC")
    .replace(/\s+/g, " ")
    .trim();

/**
 * The numbers a text states (doses, weeks, results, ids), as one sorted key. Two records that
 * differ in them state different facts, however close their wording: the outcome "at Week 2" and
 * "at Week 4" of one trial embed almost identically.
 */
export const numberKey = (text: string): string =>
  [...new Set(text.match(/\d+(?:[.,]\d+)*/g) ?? [])].sort().join(" ");

/**
 * Whether a question asks for yes or no ("Is X a treatment for Y?") or for content ("Which
 * diseases does X treat?"). The two ask for different answers even when they state one fact, so
 * they are never duplicates; polite requests ("Could you tell me …", "Can you list …") are open.
 */
export function questionForm(instruction: string): "yes/no" | "open" {
  const q = instruction.trim();
  if (/^(?:can|could|would|will) you\b/i.test(q)) return "open";
  return /^(?:is|are|was|were|does|do|did|can|could|has|have|had|should|will|may|might)\b/i.test(q)
    ? "yes/no"
    : "open";
}

export interface SemanticDedupOptions {
  embedder: Embedder;
  /** Cosine at or above which two records are duplicates (default: configs/augment.yaml semantic.dedupThreshold). */
  threshold?: number;
  /**
   * Never merge records that state different facts or ask for different answers: their structured
   * facts differ (MinHash dedup's rule), the numbers in their text differ, or one asks yes/no and
   * the other an open question (default true).
   */
  factGuard?: boolean;
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: EmbedProgress;
}

/**
 * The default threshold, measured on the bundled data (3,083 ingest records after exact + MinHash
 * dedup, all-MiniLM-L6-v2): the rule paraphraser's 1,587 pairs (question reworded, same answer)
 * have cosine p10 0.868, p50 0.972 — and MinHash Jaccard p50 0.56, only 4.5% of them ≥ 0.8. Of
 * the distinct records, those with a neighbour the guards allow at cosine ≥ 0.90 / 0.92 / 0.95
 * number 191 / 78 / 8, most at 0.90–0.93 a yes/no question beside the list question of the same
 * fact (now kept by the question-form guard). 0.92 keeps 84.5% paraphrase recall.
 */

const quantiles = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => (s.length ? Number(s[Math.floor(p * (s.length - 1))]!.toFixed(4)) : 0);
  return { count: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) };
};

export async function semanticDedup(
  input: RecordStream,
  opts: SemanticDedupOptions,
): Promise<StepResult> {
  const records = await collect(input);
  const threshold = opts.threshold ?? defaultConfig().semantic.dedupThreshold;
  const factGuard = opts.factGuard ?? true;
  const t = new StepTracker("semantic_dedup", records);
  const e0 = performance.now();
  const texts = records.map(semanticText);
  const vectors = await embedAll(opts.embedder, texts, "semantic_dedup", opts);
  const embedMs = performance.now() - e0;

  const c0 = performance.now();
  const kept: InstructionRecord[] = [];
  const keptFacts: string[] = [];
  const keptNumbers: string[] = [];
  const keptForms: string[] = [];
  const index = new VectorIndex(opts.embedder.dimensions, records.length);
  const nearestCosines: number[] = [];
  let guarded = 0;
  let keptByAnswer = 0;
  // Answer (output) vectors, embedded only for records that meet a candidate.
  const answers = new Map<string, Float32Array>();
  let answerTexts = 0;
  const answerVectors = async (pair: InstructionRecord[]) => {
    const fresh = pair.filter((x) => !answers.has(x.id));
    if (fresh.length) {
      answerTexts += fresh.length;
      const vs = await opts.embedder.embed(
        fresh.map((x) => x.output || " "),
        {
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
      );
      fresh.forEach((x, k) => answers.set(x.id, vs[k]!));
    }
    return pair.map((x) => answers.get(x.id)!);
  };
  for (const [i, r] of records.entries()) {
    if (i % 256 === 0) opts.signal?.throwIfAborted();
    const v = vectors[i]!;
    const fk = factGuard ? factKey(r) : "";
    const nk = factGuard ? numberKey(texts[i]!) : "";
    const qf = factGuard ? questionForm(r.instruction) : "";
    const { hits, best } = index.above(v, threshold);
    if (index.size > 0) nearestCosines.push(best);
    let dup: { row: number; cosine: number; answerCosine: number } | undefined;
    for (const h of hits) {
      const other = keptFacts[h.row]!;
      const factsDiffer = fk !== "" && other !== "" && fk !== other;
      if (factGuard && (factsDiffer || nk !== keptNumbers[h.row] || qf !== keptForms[h.row])) {
        guarded++;
        continue;
      }
      // Confirm on the answers alone: a long shared input (one abstract behind a title task and
      // a reasoning task) can fill the whole embedding window of two different records.
      const [a, b] = await answerVectors([r, kept[h.row]!]);
      const answerCosine = dot(a!, b!);
      if (answerCosine < threshold) {
        keptByAnswer++;
        continue;
      }
      dup = { ...h, answerCosine };
      break;
    }
    if (dup) {
      t.drop(
        r,
        "semantic duplicate",
        `of ${kept[dup.row]!.id} (cosine ${dup.cosine.toFixed(3)}, answers ${dup.answerCosine.toFixed(3)})`,
      );
      continue;
    }
    kept.push(r);
    keptFacts.push(fk);
    keptNumbers.push(nk);
    keptForms.push(qf);
    index.add(v);
  }
  Object.assign(t.extra, {
    model: opts.embedder.name,
    threshold,
    factGuard,
    semanticDuplicates: records.length - kept.length,
    keptByFactGuard: guarded,
    keptByAnswerCheck: keptByAnswer,
    embeddedTexts: vectors.length + answerTexts,
    embedMs: Math.round(embedMs),
    compareMs: Math.round(performance.now() - c0),
    // Each record's best cosine to the records kept before it: where the threshold cuts.
    nearestKeptCosine: quantiles(nearestCosines),
  });
  return t.finish(kept);
}
