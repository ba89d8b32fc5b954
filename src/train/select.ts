/**
 * Which records of a processed split a run trains on: the sources named by `datasets` (matched
 * against metadata.source) and at most `examples` of them, drawn evenly across those sources
 * (stratified) in a seeded order, so a small preset still sees every source.
 *
 *   selectRecords(records, { datasets: ["hetionet", "chembl_sqlite"], examples: 100, seed: 0 }, file)
 */
import type { TrainingRecord } from "./batches.js";

/** Ingest source ids whose records carry another metadata.source name. */
const SOURCE_OF_DATASET: Record<string, string> = { chembl_sqlite: "chembl" };

/** The five ingested sources (the processed splits' metadata.source), what presets stratify over. */
export const DATASETS = [
  "hetionet",
  "chembl_sqlite",
  "pubmed",
  "clinicaltrials",
  "drugbank",
] as const;

export interface SelectOptions {
  /** Ingest ids or metadata.source names; null = every record. */
  datasets: readonly string[] | null;
  /** At most this many, evenly over the selected sources; null = all selected. */
  examples: number | null;
  seed: number;
}

const sourceOf = (r: TrainingRecord): string | undefined => {
  const s = (r.metadata as { source?: unknown } | undefined)?.source;
  return typeof s === "string" ? s : undefined;
};

/** Seeded Fisher–Yates (xorshift32), so a preset picks the same records on every machine. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** True when `r` comes from one of `datasets` (null: every record does). */
export function inDatasets(r: TrainingRecord, datasets: readonly string[] | null): boolean {
  if (datasets === null) return true;
  const s = sourceOf(r);
  return datasets.some((d) => (SOURCE_OF_DATASET[d] ?? d) === s);
}

/**
 * The records to train on, in file order. Throws (naming `file`, the key and the sources the file
 * has) when a requested source has no record there.
 */
export function selectRecords(
  records: readonly TrainingRecord[],
  o: SelectOptions,
  file: string,
): TrainingRecord[] {
  const bySource = new Map<string, number[]>();
  records.forEach((r, i) => {
    const s = sourceOf(r) ?? "(none)";
    bySource.set(s, [...(bySource.get(s) ?? []), i]);
  });
  const wanted =
    o.datasets === null ? [...bySource.keys()] : o.datasets.map((d) => SOURCE_OF_DATASET[d] ?? d);
  const missing = wanted.filter((s) => !bySource.has(s));
  if (missing.length > 0) {
    throw new Error(
      `${file}: datasets ${missing.join(", ")} have no records here (metadata.source values in the file: ${[...bySource.keys()].join(", ")})`,
    );
  }
  // Round-robin over the sources' shuffled records: equal shares, a short source's rest to others.
  const queues = wanted.map((s) => shuffled(bySource.get(s) ?? [], o.seed));
  const total = queues.reduce((n, q) => n + q.length, 0);
  const limit = Math.min(o.examples ?? total, total);
  const picked: number[] = [];
  for (let round = 0; picked.length < limit; round++) {
    for (const q of queues) {
      if (picked.length === limit) break;
      const i = q[round];
      if (i !== undefined) picked.push(i);
    }
  }
  return picked.sort((a, b) => a - b).map((i) => records[i] as TrainingRecord);
}
