/**
 * Deduplication. Exact: a hash of the normalised instruction + input + output. Near: MinHash over
 * word 5-gram shingles with LSH banding (bands × rows tuned for a Jaccard threshold of ~0.8), then
 * every candidate pair is confirmed with the exact Jaccard of the shingle sets. Records are
 * visited in input order and the first of a duplicate set is kept, so the result is deterministic
 * and the cost is near-linear: each record is compared only with the kept records it shares a
 * band bucket with.
 */
import type { InstructionRecord } from "../data/record.js";
import { collect, StepTracker, type RecordStream, type StepResult } from "./step.js";
import { fmix32, fnv1a32, hash53, normalizeText, words } from "./text.js";

export interface DedupOptions {
  /** Jaccard similarity at or above which two records are near-duplicates (default 0.8). */
  threshold?: number;
  /** Shingle size in words (default 5). */
  shingleSize?: number;
  /** LSH bands × rows = MinHash permutations (default 20 × 6 = 120: a pair at Jaccard 0.8 becomes a candidate with p ≈ 0.998). */
  bands?: number;
  rows?: number;
  /** Seed of the MinHash permutations (default 1). */
  seed?: number;
  /** Skip near-duplicate detection (exact only). */
  exactOnly?: boolean;
  /**
   * Two records whose structured facts differ are never near-duplicates: templated questions
   * about different facts look alike but teach different things (default true).
   */
  factGuard?: boolean;
}

const textOf = (r: InstructionRecord) => `${r.instruction}\n${r.input}\n${r.output}`;

export function exactKey(r: InstructionRecord): number {
  return hash53(normalizeText(textOf(r)));
}

/** Distinct 32-bit hashes of the word n-grams of a text, sorted (a set as a typed array). */
export function shingles(text: string, n = 5): Uint32Array {
  const w = words(text);
  const hs = w.map((x) => fnv1a32(x));
  const set = new Set<number>();
  if (hs.length < n) {
    if (hs.length > 0) set.add(fnv1a32(w.join(" ")));
  } else {
    for (let i = 0; i + n <= hs.length; i++) {
      let h = 0x9747b28c;
      for (let k = 0; k < n; k++) h = fmix32(h ^ Math.imul(hs[i + k]!, 0x2c1b3c6d + k));
      set.add(h);
    }
  }
  return Uint32Array.from(set).sort();
}

/** Exact Jaccard of two sorted shingle sets. */
export function jaccard(a: Uint32Array, b: Uint32Array): number {
  if (a.length === 0 && b.length === 0) return 1;
  let i = 0;
  let j = 0;
  let inter = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      inter++;
      i++;
      j++;
    } else if (a[i]! < b[j]!) i++;
    else j++;
  }
  return inter / (a.length + b.length - inter);
}

/**
 * MinHash signature: k hash functions h_i(x) = h1(x) + i·h2(x) (double hashing), the minimum over
 * the shingle set for each.
 */
export function minhash(sh: Uint32Array, k: number, seed: number): Uint32Array {
  const sig = new Uint32Array(k).fill(0xffffffff);
  const s1 = fmix32(seed ^ 0x5bd1e995);
  const s2 = fmix32(seed ^ 0x1b873593);
  for (let j = 0; j < sh.length; j++) {
    const x = sh[j]!;
    const h1 = fmix32(x ^ s1);
    const h2 = fmix32(x ^ s2) | 1;
    for (let i = 0; i < k; i++) {
      const h = (h1 + Math.imul(i, h2)) >>> 0;
      if (h < sig[i]!) sig[i] = h;
    }
  }
  return sig;
}

/** The record's structured facts as one sorted key ("" when it has none): the fact guard's test. */
export const factKey = (r: InstructionRecord): string =>
  (r.metadata.facts ?? [])
    .map(
      (f) =>
        `${normalizeText(f.subject)}|${f.relation}|${normalizeText(f.object)}|${f.negated ? 1 : 0}`,
    )
    .sort()
    .join("\n");

/** Probability that a pair of Jaccard s becomes an LSH candidate with b bands of r rows. */
export function candidateProbability(s: number, bands: number, rows: number): number {
  return 1 - (1 - s ** rows) ** bands;
}

export async function dedup(input: RecordStream, opts: DedupOptions = {}): Promise<StepResult> {
  const records = await collect(input);
  const threshold = opts.threshold ?? 0.8;
  const n = opts.shingleSize ?? 5;
  const bands = opts.bands ?? 20;
  const rows = opts.rows ?? 6;
  const seed = opts.seed ?? 1;
  const factGuard = opts.factGuard ?? true;
  const t = new StepTracker("dedup", records);

  // Exact duplicates first: cheap, and they would all land in the same buckets anyway.
  const seen = new Map<number, string>();
  const afterExact: InstructionRecord[] = [];
  for (const r of records) {
    const k = exactKey(r);
    const first = seen.get(k);
    if (first !== undefined) t.drop(r, "exact duplicate", `of ${first}`);
    else {
      seen.set(k, r.id);
      afterExact.push(r);
    }
  }
  if (opts.exactOnly) {
    Object.assign(t.extra, { exactDuplicates: records.length - afterExact.length });
    return t.finish(afterExact);
  }

  const k = bands * rows;
  const buckets: Map<number, number[]>[] = Array.from({ length: bands }, () => new Map());
  const kept: InstructionRecord[] = [];
  const keptShingles: Uint32Array[] = [];
  const keptFacts: string[] = [];
  let candidatePairs = 0;
  let guarded = 0;
  for (const r of afterExact) {
    const sh = shingles(textOf(r), n);
    const sig = minhash(sh, k, seed);
    const bandKeys: number[] = [];
    const cands = new Set<number>();
    for (let b = 0; b < bands; b++) {
      let h = fmix32(b + 0x632be5ab);
      for (let i = b * rows; i < (b + 1) * rows; i++) h = fmix32(h ^ sig[i]!);
      bandKeys.push(h);
      for (const idx of buckets[b]!.get(h) ?? []) cands.add(idx);
    }
    let dupOf: number | undefined;
    let best = 0;
    const fk = factGuard ? factKey(r) : "";
    for (const idx of cands) {
      candidatePairs++;
      const j = jaccard(sh, keptShingles[idx]!);
      if (j < threshold || j <= best) continue;
      if (factGuard && fk !== keptFacts[idx] && fk !== "" && keptFacts[idx] !== "") {
        guarded++;
        continue;
      }
      best = j;
      dupOf = idx;
    }
    if (dupOf !== undefined) {
      t.drop(r, "near duplicate", `of ${kept[dupOf]!.id} (Jaccard ${best.toFixed(3)})`);
      continue;
    }
    const idx = kept.length;
    kept.push(r);
    keptShingles.push(sh);
    keptFacts.push(fk);
    bandKeys.forEach((h, b) => {
      const list = buckets[b]!.get(h);
      if (list) list.push(idx);
      else buckets[b]!.set(h, [idx]);
    });
  }
  Object.assign(t.extra, {
    threshold,
    shingleSize: n,
    bands,
    rows,
    exactDuplicates: records.length - afterExact.length,
    nearDuplicates: afterExact.length - kept.length,
    candidatePairs,
    keptByFactGuard: guarded,
    // The S-curve: how likely a pair at the threshold is to be compared at all.
    recallAtThreshold: candidateProbability(threshold, bands, rows),
  });
  return t.finish(kept);
}
