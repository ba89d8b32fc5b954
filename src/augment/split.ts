/**
 * Train/valid/test splits: deterministic by seed, stratified by (source, task), with no leakage.
 * Records that share a leakage key — a fact (subject, relation, object; unordered where the
 * relation is), a PMID, an NCT id, or the record a paraphrase/chain was made from — are joined into
 * one group (union-find), and whole groups are assigned to a split. Within each stratum, groups are
 * visited in a seeded order and each goes to the split furthest below its target share. Groups
 * over 2% of the records are first cut at their hub records (see breakOversized).
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
  /** Largest leakage group, as a share of the records, before it is broken (default 0.02). */
  maxGroupShare?: number;
  /** Groups up to this many records are never broken, whatever the share (default 20). */
  minGroupLimit?: number;
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
  return componentsOf(records.map(leakageKeys));
}

/** Connected components of records joined by shared keys (union-find); one number per record. */
function componentsOf(keysOf: readonly (readonly string[])[]): number[] {
  const uf = new UnionFind();
  const keyNode = new Map<string, number>();
  const recNode = keysOf.map(() => uf.make());
  keysOf.forEach((keys, i) => {
    for (const k of keys) {
      let n = keyNode.get(k);
      if (n === undefined) keyNode.set(k, (n = uf.make()));
      uf.union(recNode[i]!, n);
    }
  });
  return recNode.map((n) => uf.find(n));
}

/**
 * Why oversized groups are broken, and how. Hetionet answers list many edges, and an edge
 * (compound, treats, disease) sits in the compound's list and in the disease's list, so lists chain
 * into one component that can hold half the records; whole-group assignment then cannot meet the
 * ratios. A fact-level assignment (each key to a split, records straddling splits dropped) would
 * drop nearly every multi-fact list. Instead the component is cut at its hubs: records with the
 * most keys shared inside it are set aside in small batches (1% of the component per round) until
 * every piece is under the size limit. That removes few records, because a hub — a disease listed
 * with 40 compounds, a class with 50 members — is what joins the pieces. After the pieces are
 * assigned, each set-aside record is put back when all its keys landed in one split (or nowhere
 * yet), least-connected first; only records whose keys really straddle splits are dropped, each
 * counted with its reason. So the guarantee holds unchanged: no fact key, PMID, NCT id or source
 * record appears in two splits.
 */
export function breakOversized(
  keysOf: readonly (readonly string[])[],
  limit: number,
  /** Record ids, so ties are broken the same way whatever the input order. */
  ids: readonly string[] = keysOf.map((_, i) => String(i)),
): { groups: number[]; removed: number[] } {
  const tie = ids.map((id) => keyedRandom(0, id));
  const removed = new Set<number>();
  let groups = componentsOf(keysOf);
  for (let round = 0; round < 10_000; round++) {
    const members = new Map<number, number[]>();
    groups.forEach((g, i) => {
      if (removed.has(i)) return;
      const l = members.get(g);
      if (l) l.push(i);
      else members.set(g, [i]);
    });
    const big = [...members.values()].filter((m) => m.length > limit);
    if (big.length === 0) break;
    for (const m of big) {
      const keyCount = new Map<string, number>();
      for (const i of m) for (const k of keysOf[i]!) keyCount.set(k, (keyCount.get(k) ?? 0) + 1);
      const degree = (i: number) => keysOf[i]!.filter((k) => keyCount.get(k)! > 1).length;
      const ranked = m
        .map((i) => ({ i, d: degree(i) }))
        .filter((x) => x.d > 0)
        // Ties in a scattered (but fixed) order: cutting equal hubs side by side would only trim
        // the edge of a chain, cutting them spread out splits it into pieces.
        .sort((a, b) => b.d - a.d || tie[a.i]! - tie[b.i]! || (ids[a.i]! < ids[b.i]! ? -1 : 1));
      for (const x of ranked.slice(0, Math.max(1, Math.ceil(m.length * 0.01)))) removed.add(x.i);
    }
    groups = componentsOf(keysOf.map((k, i) => (removed.has(i) ? [`removed:${i}`] : k)));
  }
  return { groups, removed: [...removed] };
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

  const keysOf = records.map(leakageKeys);
  const largestBefore = Math.max(0, ...groupSizes(componentsOf(keysOf)));
  const maxGroupShare = opts.maxGroupShare ?? 0.02;
  const limit = Math.max(opts.minGroupLimit ?? 20, Math.ceil(maxGroupShare * records.length));
  const { groups: groupOf, removed } = breakOversized(
    keysOf,
    limit,
    records.map((r) => r.id),
  );
  const setAside = new Set(removed);
  const members = new Map<number, number[]>();
  groupOf.forEach((g, i) => {
    if (setAside.has(i)) return;
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
  /** The split furthest below its share after adding `size` to `placed`, train on ties. */
  const neediest = (got: Record<SplitName, number>, placed: number, size: number): SplitName => {
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
    return best;
  };
  for (const [, st] of [...strata].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const order = [...st.groups].sort(
      (a, b) => keyedRandom(seed, groupKey.get(a)!) - keyedRandom(seed, groupKey.get(b)!),
    );
    const got: Record<SplitName, number> = { train: 0, valid: 0, test: 0 };
    let placed = 0;
    for (const g of order) {
      const size = members.get(g)!.length;
      const best = neediest(got, placed, size);
      assignment.set(g, best);
      got[best] += size;
      placed += size;
    }
  }

  const splitOf: (SplitName | undefined)[] = records.map((_, i) =>
    setAside.has(i) ? undefined : assignment.get(groupOf[i]!),
  );
  const keySplit = new Map<string, SplitName>();
  splitOf.forEach((s, i) => {
    if (s) for (const k of keysOf[i]!) keySplit.set(k, s);
  });
  // Put set-aside records back where their keys allow, least-connected first (deterministic).
  const totals: Record<SplitName, number> = { train: 0, valid: 0, test: 0 };
  for (const s of splitOf) if (s) totals[s]++;
  let restored = 0;
  const bridges: number[] = [];
  const aside = [...setAside].sort(
    (a, b) => keysOf[a]!.length - keysOf[b]!.length || (records[a]!.id < records[b]!.id ? -1 : 1),
  );
  for (const i of aside) {
    const where = new Set(keysOf[i]!.flatMap((k) => keySplit.get(k) ?? []));
    if (where.size > 1) {
      bridges.push(i);
      const shown = keysOf[i]!.filter((k) => keySplit.has(k))
        .slice(0, 4)
        .map((k) => `${k} (${keySplit.get(k)})`);
      t.drop(
        records[i]!,
        "bridges leakage groups across splits",
        `${keysOf[i]!.length} keys in ${[...where].sort().join("+")}: ${shown.join("; ")}`,
      );
      continue;
    }
    const s = [...where][0] ?? neediest(totals, totals.train + totals.valid + totals.test, 1);
    splitOf[i] = s;
    totals[s]++;
    restored++;
    for (const k of keysOf[i]!) keySplit.set(k, s);
  }

  const splits: Splits = { train: [], valid: [], test: [] };
  records.forEach((r, i) => {
    const s = splitOf[i];
    if (s) splits[s].push(r);
  });
  const kept = records.filter((_, i) => splitOf[i] !== undefined);
  const sizes = groupSizes(groupOf.filter((_, i) => !setAside.has(i)));
  Object.assign(t.extra, {
    seed,
    ratios,
    sizes: Object.fromEntries(SPLIT_NAMES.map((s) => [s, splits[s].length])),
    shares: Object.fromEntries(
      SPLIT_NAMES.map((s) => [s, Number((splits[s].length / Math.max(1, kept.length)).toFixed(4))]),
    ),
    groups: members.size,
    groupLimit: limit,
    largestGroupBeforeBreaking: largestBefore,
    largestGroup: sizes.reduce((m, x) => Math.max(m, x), 0),
    bridgesSetAside: setAside.size,
    bridgesRestored: restored,
    bridgesDropped: bridges.length,
    strata: strata.size,
  });
  const res = t.finish(kept);
  return { ...res, splits };
}

function groupSizes(groups: readonly number[]): number[] {
  const n = new Map<number, number>();
  for (const g of groups) n.set(g, (n.get(g) ?? 0) + 1);
  return [...n.values()];
}
