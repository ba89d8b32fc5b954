/**
 * Train/valid/test splits: deterministic by seed, stratified by (source, task), with no leakage.
 * Records that share a leakage key — a fact (subject, relation, object; unordered where the
 * relation is), a PMID, an NCT id, or the record a paraphrase/chain was made from — are joined into
 * one group (union-find), and whole groups are assigned to a split. Within each stratum, groups are
 * visited in a seeded order and each goes to the split furthest below its target share.
 */
import type { InstructionRecord } from "../data/record.js";
import { normalizeRelation } from "./facts.js";
import { collect, StepTracker, type RecordStream, type StepResult } from "./step.js";
import { keyedRandom, normalizeText } from "./text.js";

export type SplitName = "train" | "valid" | "test";
export const SPLIT_NAMES: readonly SplitName[] = ["train", "valid", "test"];

export interface SplitOptions {
  seed?: number;
  /** Shares of train/valid/test (normalised; default 0.8/0.1/0.1). */
  ratios?: Record<SplitName, number>;
}

const DIRECTED_RELATIONS = new Set(["regulates", "increases", "decreases"]);

/** The leakage keys of a record: facts, PMIDs, NCT ids and the record it was derived from. */
export function leakageKeys(r: InstructionRecord): string[] {
  const keys = new Set<string>();
  for (const f of r.metadata.facts ?? []) {
    const rel = normalizeRelation(f.relation);
    const a = f.subjectId ?? `n:${normalizeText(f.subject)}`;
    const b = f.objectId ?? `n:${normalizeText(f.object)}`;
    keys.add(
      DIRECTED_RELATIONS.has(rel) || a <= b ? `fact:${rel}|${a}|${b}` : `fact:${rel}|${b}|${a}`,
    );
  }
  for (const c of r.metadata.citations) {
    const pmid = /^PMID:?\s*(\d+)$/i.exec(c);
    if (pmid) keys.add(`pmid:${pmid[1]}`);
    const nct = /^(NCT\d{8})$/i.exec(c);
    if (nct) keys.add(`nct:${nct[1]!.toUpperCase()}`);
  }
  const aug = r.metadata.augmentation as { of?: unknown } | undefined;
  keys.add(`record:${typeof aug?.of === "string" ? aug.of : r.id}`);
  return [...keys];
}

class UnionFind {
  private readonly parent: number[] = [];
  make(): number {
    this.parent.push(this.parent.length);
    return this.parent.length - 1;
  }
  find(x: number): number {
    let r = x;
    while (this.parent[r] !== r) r = this.parent[r]!;
    while (this.parent[x] !== r) {
      const next = this.parent[x]!;
      this.parent[x] = r;
      x = next;
    }
    return r;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}

/** Group records that share any leakage key; returns a group number per record. */
export function leakageGroups(records: readonly InstructionRecord[]): number[] {
  const uf = new UnionFind();
  const keyNode = new Map<string, number>();
  const recNode = records.map(() => uf.make());
  records.forEach((r, i) => {
    for (const k of leakageKeys(r)) {
      let n = keyNode.get(k);
      if (n === undefined) keyNode.set(k, (n = uf.make()));
      uf.union(recNode[i]!, n);
    }
  });
  return recNode.map((n) => uf.find(n));
}

export type Splits = Record<SplitName, InstructionRecord[]>;

/** Leakage keys found in more than one split (empty when the split is clean). */
export function findLeaks(splits: Splits): { key: string; splits: SplitName[] }[] {
  const where = new Map<string, Set<SplitName>>();
  for (const s of SPLIT_NAMES) {
    for (const r of splits[s]) {
      for (const k of leakageKeys(r)) {
        const set = where.get(k) ?? new Set();
        set.add(s);
        where.set(k, set);
      }
    }
  }
  return [...where].filter(([, s]) => s.size > 1).map(([key, s]) => ({ key, splits: [...s] }));
}

export interface SplitResult extends StepResult {
  splits: Splits;
}

export async function splitRecords(
  input: RecordStream,
  opts: SplitOptions = {},
): Promise<SplitResult> {
  const records = await collect(input);
  const seed = opts.seed ?? 0;
  const raw = opts.ratios ?? { train: 0.8, valid: 0.1, test: 0.1 };
  const total = SPLIT_NAMES.reduce((s, k) => s + Math.max(0, raw[k]), 0);
  if (!(total > 0)) throw new Error("split ratios must have a positive sum");
  const ratios = Object.fromEntries(
    SPLIT_NAMES.map((k) => [k, Math.max(0, raw[k]) / total]),
  ) as Record<SplitName, number>;
  const t = new StepTracker("split", records);

  const groupOf = leakageGroups(records);
  const members = new Map<number, number[]>();
  groupOf.forEach((g, i) => {
    const list = members.get(g);
    if (list) list.push(i);
    else members.set(g, [i]);
  });
  // A group's stratum is its most common (source, task); ties go to the first seen.
  const strata = new Map<string, { groups: number[]; size: number }>();
  const groupKey = new Map<number, string>();
  for (const [g, idxs] of members) {
    const counts = new Map<string, number>();
    for (const i of idxs) {
      const r = records[i]!;
      const s = `${r.metadata.source}\u0000${r.metadata.task}`;
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
    const stratum = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    const st = strata.get(stratum) ?? { groups: [], size: 0 };
    st.groups.push(g);
    st.size += idxs.length;
    strata.set(stratum, st);
    // Order groups by a key independent of input order: their smallest record id.
    groupKey.set(g, idxs.map((i) => records[i]!.id).sort()[0]!);
  }

  const assignment = new Map<number, SplitName>();
  for (const [, st] of [...strata].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const order = [...st.groups].sort(
      (a, b) => keyedRandom(seed, groupKey.get(a)!) - keyedRandom(seed, groupKey.get(b)!),
    );
    const got: Record<SplitName, number> = { train: 0, valid: 0, test: 0 };
    let placed = 0;
    for (const g of order) {
      const size = members.get(g)!.length;
      // The split with the largest shortfall after this group is placed, train on ties.
      let best: SplitName = "train";
      let bestGap = -Infinity;
      for (const s of SPLIT_NAMES) {
        if (ratios[s] === 0) continue;
        const gap = ratios[s] * (placed + size) - got[s];
        if (gap > bestGap + 1e-9) {
          best = s;
          bestGap = gap;
        }
      }
      assignment.set(g, best);
      got[best] += size;
      placed += size;
    }
  }

  const splits: Splits = { train: [], valid: [], test: [] };
  records.forEach((r, i) => splits[assignment.get(groupOf[i]!)!].push(r));
  const sizes = [...members.values()].map((m) => m.length);
  Object.assign(t.extra, {
    seed,
    ratios,
    sizes: Object.fromEntries(SPLIT_NAMES.map((s) => [s, splits[s].length])),
    groups: members.size,
    largestGroup: sizes.reduce((m, x) => Math.max(m, x), 0),
    strata: strata.size,
  });
  const res = t.finish(records);
  return { ...res, splits };
}
