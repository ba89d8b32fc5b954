/**
 * Text primitives shared by the augment steps: normalisation, word tokens, ROUGE-L (via LCS),
 * 32-bit string hashes and a seeded PRNG. Everything here is deterministic and dependency-free.
 */

/** Lower-case, strip accents and punctuation, collapse whitespace: the form used for hashing. */
export function normalizeText(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
}

/** Word tokens of the normalised text. */
export function words(text: string): string[] {
  const n = normalizeText(text);
  return n.length === 0 ? [] : n.split(" ");
}

/**
 * Length of the longest common subsequence of two token arrays. O(n·m) time, O(min(n, m)) memory;
 * questions and instructions are short, so this is cheap where it is used.
 */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  if (a.length < b.length) [a, b] = [b, a];
  const prev = new Uint32Array(b.length + 1);
  const cur = new Uint32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    const ai = a[i - 1];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = ai === b[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    }
    prev.set(cur);
  }
  return prev[b.length]!;
}

export interface RougeL {
  precision: number;
  recall: number;
  f1: number;
}

/** ROUGE-L between a candidate and a reference, over normalised word tokens. */
export function rougeL(candidate: string, reference: string): RougeL {
  const c = words(candidate);
  const r = words(reference);
  if (c.length === 0 || r.length === 0) return { precision: 0, recall: 0, f1: 0 };
  const lcs = lcsLength(c, r);
  const precision = lcs / c.length;
  const recall = lcs / r.length;
  const f1 = lcs === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1 };
}

/** FNV-1a 32-bit hash of a string (UTF-16 code units), as an unsigned integer. */
export function fnv1a32(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's 32-bit finaliser: spreads the bits of an integer hash. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 53-bit hash (two independent 32-bit hashes) for keys where 32-bit collisions would matter. */
export function hash53(s: string): number {
  const a = fnv1a32(s);
  const b = fmix32(fnv1a32(s, 0x9e3779b9));
  return (a & 0x1fffff) * 0x100000000 + b;
}

/** A seeded PRNG (mulberry32): the same seed gives the same stream on every platform. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A value in [0, 1) fixed by (seed, key): order-independent choices, e.g. which record to augment. */
export function keyedRandom(seed: number, key: string): number {
  return fmix32(fnv1a32(key) ^ fmix32(seed >>> 0)) / 4294967296;
}

/** Pick one element with a PRNG. */
export function pick<T>(items: readonly T[], rand: () => number): T {
  if (items.length === 0) throw new Error("pick: empty list");
  return items[Math.floor(rand() * items.length)]!;
}

/** Escape a string for use inside a RegExp. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Split text into sentences (good enough for claim extraction and question lookup). */
export function sentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+(?=[A-Z0-9"'([])|\n+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
