import path from "node:path";
import { describe, expect, it } from "vitest";
import type { InstructionRecord } from "../../src/data/record.js";
import {
  breakOversized,
  findLeaks,
  leakageGroups,
  leakageKeys,
  splitRecords,
  SPLIT_NAMES,
} from "../../src/augment/split.js";
import { syntheticRecords } from "../../src/augment/synthetic.js";
import { readHetionet } from "../../src/ingest/hetionet/index.js";
import { rec, repoRoot } from "./helpers.js";

describe("splits", () => {
  const { records } = syntheticRecords({ count: 3000, seed: 11 });
  // Records that share facts, PMIDs and NCT ids across tasks, to give the grouping real work.
  const extra = [
    rec("x1", "Q1", "A", { facts: [{ subject: "Aspirin", relation: "treats", object: "pain" }] }),
    rec("x2", "Q2", "B", { facts: [{ subject: "pain", relation: "CtD", object: "Aspirin" }] }), // same pair, other order
    rec("x3", "Q3", "C", { source: "pubmed", citations: ["PMID:123"] }),
    rec("x4", "Q4", "D", { source: "pubmed", task: "pubmed.other", citations: ["PMID: 123"] }),
    rec("x5", "Q5", "E", { source: "clinicaltrials", citations: ["NCT02552212", "PMID:999"] }),
    rec("x6", "Q6", "F", { source: "pubmed", citations: ["PMID:999"] }),
  ];
  const all = [...records, ...extra];

  it("puts every leakage key in exactly one split", async () => {
    const { splits } = await splitRecords(all, { seed: 1 });
    expect(findLeaks(splits)).toEqual([]);
    const where = (id: string) =>
      (["train", "valid", "test"] as const).find((s) => splits[s].some((r) => r.id === id));
    expect(where("x1")).toBe(where("x2"));
    expect(where("x3")).toBe(where("x4"));
    expect(where("x5")).toBe(where("x6"));
    expect(splits.train.length + splits.valid.length + splits.test.length).toBe(all.length);
  });

  it("is deterministic for a seed, independent of input order, and different across seeds", async () => {
    const a = await splitRecords(all, { seed: 1 });
    const b = await splitRecords([...all].reverse(), { seed: 1 });
    const c = await splitRecords(all, { seed: 2 });
    const ids = (s: typeof a) =>
      (["train", "valid", "test"] as const).map((k) => s.splits[k].map((r) => r.id).sort());
    expect(ids(a)).toEqual(ids(b));
    expect(ids(a)).not.toEqual(ids(c));
  });

  it("stratifies by source and task near the requested ratios", async () => {
    const { splits } = await splitRecords(records, {
      seed: 1,
      ratios: { train: 0.8, valid: 0.1, test: 0.1 },
    });
    const tasks = [...new Set(records.map((r) => r.metadata.task))];
    for (const t of tasks) {
      const n = records.filter((r) => r.metadata.task === t).length;
      const v = splits.valid.filter((r) => r.metadata.task === t).length;
      const te = splits.test.filter((r) => r.metadata.task === t).length;
      expect(Math.abs(v / n - 0.1), t).toBeLessThan(0.03);
      expect(Math.abs(te / n - 0.1), t).toBeLessThan(0.03);
    }
  });

  it("keys paraphrases to the record they came from", () => {
    const p = rec("x1~para1", "Q", "A");
    p.metadata.augmentation = { kind: "paraphrase", of: "x1" };
    expect(leakageKeys(p)).toContain("record:x1");
    expect(leakageKeys(extra[0]!)).toContain("record:x1");
  });

  it("breaks a chained component at its hubs and meets the ratios without leaking", async () => {
    // Hetionet-shaped lists: each compound's treats-list and each disease's list share the edges,
    // so the 400 records form one component.
    const lists: InstructionRecord[] = [];
    const edges: [number, number][] = [];
    for (let c = 0; c < 300; c++) for (const d of [c % 100, (c + 1) % 100]) edges.push([c, d]);
    const fact = (c: number, d: number) => ({
      subject: `compound ${c}`,
      subjectId: `C${c}`,
      relation: "CtD",
      object: `disease ${d}`,
      objectId: `D${d}`,
    });
    for (let c = 0; c < 300; c++)
      lists.push(
        rec(`F${c}`, "Q", "A", { facts: edges.filter((e) => e[0] === c).map((e) => fact(...e)) }),
      );
    for (let d = 0; d < 100; d++)
      lists.push(
        rec(`R${d}`, "Q", "A", { facts: edges.filter((e) => e[1] === d).map((e) => fact(...e)) }),
      );
    const groups = new Set(leakageGroups(lists));
    expect(groups.size).toBe(1);

    const { splits, report, events } = await splitRecords(lists, { seed: 3 });
    const again = await splitRecords([...lists].reverse(), { seed: 3 });
    for (const s of SPLIT_NAMES)
      expect(again.splits[s].map((r) => r.id).sort()).toEqual(splits[s].map((r) => r.id).sort());
    expect(findLeaks(splits)).toEqual([]);
    const kept = SPLIT_NAMES.reduce((n, s) => n + splits[s].length, 0);
    expect(kept + report.dropped).toBe(lists.length);
    // Only hubs go: the disease lists (6 edges each), never most of the data.
    expect(report.dropped).toBeLessThan(lists.length * 0.1);
    expect(events.every((e) => e.reason === "bridges leakage groups across splits")).toBe(true);
    expect(events.every((e) => e.id.startsWith("R"))).toBe(true);
    expect(report.extra.largestGroupBeforeBreaking).toBe(400);
    expect(report.extra.bridgesDropped).toBe(report.dropped);
    for (const [s, want] of [
      ["train", 0.8],
      ["valid", 0.1],
      ["test", 0.1],
    ] as const)
      expect(Math.abs(splits[s].length / kept - want), s).toBeLessThan(0.03);
  });

  it("cuts only groups over the limit, and never a key across splits", () => {
    const keys = [["a"], ["a", "b"], ["b", "c"], ["c"], ["x"], ["x", "y"]];
    const whole = breakOversized(keys, 10);
    expect(whole.removed).toEqual([]);
    const cut = breakOversized(keys, 2);
    // The chain a-b-c (4 records) loses its most connected link; the x-y pair is left alone.
    expect(cut.removed.length).toBeGreaterThan(0);
    expect(cut.removed.every((i) => i < 4)).toBe(true);
    const sizes = new Map<number, number>();
    cut.groups.forEach((g, i) => {
      if (!cut.removed.includes(i)) sizes.set(g, (sizes.get(g) ?? 0) + 1);
    });
    expect(Math.max(...sizes.values())).toBeLessThanOrEqual(2);
  });

  it("splits the bundled Hetionet sample within 3% of 80/10/10", async () => {
    const records: InstructionRecord[] = [];
    for await (const ev of readHetionet([
      path.join(repoRoot, "data/raw/hetionet/hetionet-v1.0-sample.json.bz2"),
    ]))
      if (ev.type === "record") records.push(ev.record);
    const { splits, report } = await splitRecords(records, { seed: 13 });
    expect(findLeaks(splits)).toEqual([]);
    expect(Number(report.extra.largestGroupBeforeBreaking)).toBeGreaterThan(records.length * 0.3);
    expect(report.dropped).toBeLessThan(records.length * 0.05);
    const kept = records.length - report.dropped;
    expect(Math.abs(splits.valid.length / kept - 0.1)).toBeLessThan(0.03);
    expect(Math.abs(splits.test.length / kept - 0.1)).toBeLessThan(0.03);
  });
});
