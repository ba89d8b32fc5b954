/**
 * The statistics of the evaluation: Wilson intervals for accuracies, paired bootstrap intervals
 * and McNemar's exact test for base vs fine-tuned, and calibration (ECE, Brier, AUROC, reliability
 * bins). Plain functions over numbers, checked against textbook values in test/evaluate/stats.test.ts.
 */
import { mulberry32 } from "../augment/text.js";

/** z for a two-sided 95% interval. */
const Z95 = 1.959963984540054;

export interface Interval {
  low: number;
  high: number;
}

export interface Proportion extends Interval {
  value: number;
  successes: number;
  n: number;
}

/** k successes of n with the Wilson score 95% interval (well-behaved near 0, 1 and small n). */
export function wilson(successes: number, n: number, z = Z95): Proportion {
  if (n === 0) return { value: Number.NaN, low: Number.NaN, high: Number.NaN, successes, n };
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return {
    value: p,
    low: Math.max(0, center - half),
    high: Math.min(1, center + half),
    successes,
    n,
  };
}

export const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export interface PairedDelta extends Interval {
  /** mean(after) − mean(before) over the same items. */
  delta: number;
  n: number;
  resamples: number;
}

/** Paired bootstrap 95% percentile interval of mean(after − before); seeded, so reproducible. */
export function pairedBootstrap(
  before: readonly number[],
  after: readonly number[],
  seed: number,
  resamples = 2000,
): PairedDelta {
  if (before.length !== after.length)
    throw new RangeError(`pairedBootstrap: ${before.length} vs ${after.length} values`);
  const n = before.length;
  const d = before.map((b, i) => after[i]! - b);
  if (n === 0) return { delta: Number.NaN, low: Number.NaN, high: Number.NaN, n, resamples };
  const rand = mulberry32(seed);
  const means: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[Math.floor(rand() * n)]!;
    means.push(s / n);
  }
  means.sort((a, b) => a - b);
  return {
    delta: mean(d),
    low: quantile(means, 0.025),
    high: quantile(means, 0.975),
    n,
    resamples,
  };
}

export interface McNemar {
  /** Items right before and wrong after. */
  onlyBefore: number;
  /** Items wrong before and right after. */
  onlyAfter: number;
  /** Exact two-sided binomial p-value on the discordant pairs. */
  pValue: number;
}

function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

/** McNemar's exact test of paired correctness (same items, two systems). */
export function mcnemar(before: readonly boolean[], after: readonly boolean[]): McNemar {
  if (before.length !== after.length)
    throw new RangeError(`mcnemar: ${before.length} vs ${after.length} items`);
  let b = 0;
  let c = 0;
  before.forEach((x, i) => {
    if (x && !after[i]) b++;
    if (!x && after[i]) c++;
  });
  const n = b + c;
  let tail = 0;
  for (let i = 0; i <= Math.min(b, c); i++) tail += Math.exp(logChoose(n, i) - n * Math.LN2);
  return { onlyBefore: b, onlyAfter: c, pValue: n === 0 ? 1 : Math.min(1, 2 * tail) };
}

export interface ReliabilityBin {
  /** Bin edges of confidence. */
  low: number;
  high: number;
  count: number;
  meanConfidence: number;
  accuracy: number;
}

export interface Calibration {
  n: number;
  /** Expected calibration error over equal-width confidence bins. */
  ece: number;
  /** Mean squared error of confidence against correctness (0 = perfect). */
  brier: number;
  /** Whether confidence ranks right answers above wrong ones (0.5 = no better than chance). */
  auroc: number;
  bins: ReliabilityBin[];
}

/** Calibration of confidences in [0, 1] against correctness. */
export function calibration(
  confidence: readonly number[],
  correct: readonly boolean[],
  binCount = 10,
): Calibration {
  if (confidence.length !== correct.length)
    throw new RangeError(`calibration: ${confidence.length} confidences, ${correct.length} labels`);
  const n = confidence.length;
  const bins: ReliabilityBin[] = Array.from({ length: binCount }, (_, i) => ({
    low: i / binCount,
    high: (i + 1) / binCount,
    count: 0,
    meanConfidence: 0,
    accuracy: 0,
  }));
  confidence.forEach((c, i) => {
    const b = bins[Math.min(binCount - 1, Math.max(0, Math.floor(c * binCount)))]!;
    b.count++;
    b.meanConfidence += c;
    b.accuracy += correct[i] ? 1 : 0;
  });
  let ece = 0;
  for (const b of bins) {
    if (b.count === 0) continue;
    b.meanConfidence /= b.count;
    b.accuracy /= b.count;
    ece += (b.count / n) * Math.abs(b.accuracy - b.meanConfidence);
  }
  const brier = mean(confidence.map((c, i) => (c - (correct[i] ? 1 : 0)) ** 2));
  return { n, ece: n ? ece : Number.NaN, brier, auroc: auroc(confidence, correct), bins };
}

/** Area under the ROC curve (Mann–Whitney U with midranks for ties); NaN without both classes. */
export function auroc(scores: readonly number[], positive: readonly boolean[]): number {
  const idx = scores.map((s, i) => ({ s, p: positive[i]! })).sort((a, b) => a.s - b.s);
  const ranks = new Array<number>(idx.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1]!.s === idx[i]!.s) j++;
    for (let k = i; k <= j; k++) ranks[k] = (i + j) / 2 + 1;
    i = j + 1;
  }
  let pos = 0;
  let rankSum = 0;
  idx.forEach((x, i) => {
    if (x.p) {
      pos++;
      rankSum += ranks[i]!;
    }
  });
  const neg = idx.length - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

export interface F1 {
  precision: number;
  recall: number;
  f1: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
}

export function f1(tp: number, fp: number, fn: number): F1 {
  const precision = tp + fp === 0 ? Number.NaN : tp / (tp + fp);
  const recall = tp + fn === 0 ? Number.NaN : tp / (tp + fn);
  const f =
    !(precision + recall > 0) || Number.isNaN(precision) || Number.isNaN(recall)
      ? tp + fp + fn === 0
        ? Number.NaN
        : 0
      : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1: f, truePositives: tp, falsePositives: fp, falseNegatives: fn };
}

/** A seeded Fisher–Yates shuffle (a copy). */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const a = [...items];
  const rand = mulberry32(seed);
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
