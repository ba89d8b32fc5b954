// The interval, test and calibration code against textbook values: Wilson intervals, McNemar's
// exact p, Mann–Whitney AUROC, ECE of a perfectly calibrated and of an overconfident predictor,
// the paired bootstrap against the normal approximation.
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/augment/text.js";
import {
  auroc,
  calibration,
  f1,
  mcnemar,
  pairedBootstrap,
  shuffled,
  wilson,
} from "../../src/evaluate/stats.js";

describe("wilson", () => {
  it("matches published values", () => {
    // 8/10: 0.4902–0.9433; 0/10: 0–0.2775; 50/100: 0.4038–0.5962 (Newcombe 1998 / Wilson 1927).
    const a = wilson(8, 10);
    expect(a.value).toBe(0.8);
    expect(a.low).toBeCloseTo(0.4902, 4);
    expect(a.high).toBeCloseTo(0.9433, 4);
    const b = wilson(0, 10);
    expect(b.low).toBe(0);
    expect(b.high).toBeCloseTo(0.2775, 4);
    const c = wilson(50, 100);
    expect(c.low).toBeCloseTo(0.4038, 4);
    expect(c.high).toBeCloseTo(0.5962, 4);
  });
  it("is NaN without items", () => expect(wilson(0, 0).value).toBeNaN());
});

describe("mcnemar", () => {
  it("exact two-sided p for 10 vs 2 discordant pairs is 158/4096", () => {
    const before = [...Array(10).fill(true), ...Array(2).fill(false), ...Array(20).fill(true)];
    const after = [...Array(10).fill(false), ...Array(2).fill(true), ...Array(20).fill(true)];
    const r = mcnemar(before, after);
    expect(r.onlyBefore).toBe(10);
    expect(r.onlyAfter).toBe(2);
    expect(r.pValue).toBeCloseTo(158 / 4096, 10);
  });
  it("is 1 when nothing changes and when discordance is balanced", () => {
    expect(mcnemar([true, false], [true, false]).pValue).toBe(1);
    expect(mcnemar([true, false], [false, true]).pValue).toBe(1);
  });
});

describe("auroc", () => {
  it("matches the scikit-learn example (0.75) and handles ties by midranks", () => {
    expect(auroc([0.1, 0.4, 0.35, 0.8], [false, false, true, true])).toBeCloseTo(0.75, 12);
    expect(auroc([0.5, 0.5, 0.5, 0.5], [false, true, false, true])).toBe(0.5);
    expect(auroc([1, 2, 3], [false, false, false])).toBeNaN();
  });
});

describe("calibration", () => {
  it("a perfectly calibrated predictor has ECE 0 (exact) and ≈ 0 (sampled)", () => {
    const conf: number[] = [];
    const ok: boolean[] = [];
    for (let b = 0; b < 10; b++) {
      const c = (b + 0.5) / 10;
      for (let i = 0; i < 100; i++) {
        conf.push(c);
        ok.push(i < Math.round(c * 100));
      }
    }
    expect(calibration(conf, ok).ece).toBeCloseTo(0, 12);
    const rand = mulberry32(7);
    const c2: number[] = [];
    const o2: boolean[] = [];
    for (let i = 0; i < 20000; i++) {
      const c = rand();
      c2.push(c);
      o2.push(rand() < c);
    }
    const cal = calibration(c2, o2);
    expect(cal.ece).toBeLessThan(0.02);
    // Brier of a calibrated uniform predictor: E[c(1−c)] = 1/6.
    expect(cal.brier).toBeCloseTo(1 / 6, 2);
    expect(cal.auroc).toBeGreaterThan(0.8);
  });
  it("an overconfident predictor (0.9 confident, 60% right) has ECE 0.3", () => {
    const conf = Array(10).fill(0.9);
    const ok = [...Array(6).fill(true), ...Array(4).fill(false)];
    const cal = calibration(conf, ok);
    expect(cal.ece).toBeCloseTo(0.3, 12);
    expect(cal.bins[9]!.count).toBe(10);
    expect(cal.brier).toBeCloseTo((6 * 0.01 + 4 * 0.81) / 10, 12);
  });
});

describe("paired bootstrap", () => {
  it("is reproducible for a seed and agrees with the normal approximation", () => {
    const rand = mulberry32(3);
    const before = Array.from({ length: 400 }, () => (rand() < 0.5 ? 1 : 0));
    const after = before.map((b) => (rand() < 0.2 ? 1 - b : b));
    const a = pairedBootstrap(before, after, 11, 4000);
    const b = pairedBootstrap(before, after, 11, 4000);
    expect(a).toEqual(b);
    const d = before.map((x, i) => after[i]! - x);
    const m = d.reduce((s, x) => s + x, 0) / d.length;
    const sd = Math.sqrt(d.reduce((s, x) => s + (x - m) ** 2, 0) / (d.length - 1));
    const half = (1.96 * sd) / Math.sqrt(d.length);
    expect(a.delta).toBeCloseTo(m, 12);
    expect((a.high - a.low) / 2).toBeGreaterThan(0.85 * half);
    expect((a.high - a.low) / 2).toBeLessThan(1.15 * half);
  });
  it("a constant improvement has a zero-width interval", () => {
    const r = pairedBootstrap([0, 0, 0], [1, 1, 1], 1, 200);
    expect([r.delta, r.low, r.high]).toEqual([1, 1, 1]);
  });
});

describe("f1 and shuffles", () => {
  it("f1 from counts", () => {
    const s = f1(3, 1, 2);
    expect(s.precision).toBe(0.75);
    expect(s.recall).toBe(0.6);
    expect(s.f1).toBeCloseTo((2 * 0.75 * 0.6) / 1.35, 12);
  });
  it("seeded shuffles repeat and permute", () => {
    const xs = Array.from({ length: 50 }, (_, i) => i);
    expect(shuffled(xs, 5)).toEqual(shuffled(xs, 5));
    expect(shuffled(xs, 5)).not.toEqual(xs);
    expect([...shuffled(xs, 5)].sort((a, b) => a - b)).toEqual(xs);
  });
});
