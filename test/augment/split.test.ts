import { describe, expect, it } from "vitest";
import { findLeaks, leakageKeys, splitRecords } from "../../src/augment/split.js";
import { syntheticRecords } from "../../src/augment/synthetic.js";
import { rec } from "./helpers.js";

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
});
