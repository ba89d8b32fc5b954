/**
 * The arithmetic and the table of `npm run bench`: medians with min–max over interleaved rounds,
 * ratios of medtune to each peer, and the one-JSON-line result a peer process prints. Pure
 * functions, so test/bench/stats.test.ts checks them without running anything.
 */

/** One measured quantity of a comparison. */
export interface MetricSpec {
  key: string;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  /** Drawn in the comparison's figure (all charted metrics of one comparison share a unit). */
  chart?: boolean;
  digits?: number;
}

/** What one run of one subject (medtune or a peer) measured, in round `round`. */
export interface Sample {
  subject: string;
  round: number;
  values: Record<string, number>;
  detail?: Record<string, unknown>;
}

/** A benchmark case: medtune (`ours`) and its peers on the same work, run A B A B … */
export interface Comparison {
  suite: string;
  /** What was measured, with the shapes (e.g. "LoRA training, SmolLM2-135M, 4×512"). */
  title: string;
  ours: string;
  /** In run order; the first is `ours`. */
  subjects: string[];
  metrics: MetricSpec[];
  samples: Sample[];
  notes: string[];
  /** Subjects that failed, with their error (their columns show "failed"). */
  failures?: Record<string, string>;
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** A goal of the issue checked as a ratio from this run's table. */
export interface Goal {
  goal: string;
  ratio: number | null;
  target: number;
  /** "≥": the ratio must reach the target; "≤": it must stay at or under it. */
  op: "≥" | "≤";
  met: boolean | null;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of no values");
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function summarize(values: readonly number[]): Summary | undefined {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return undefined;
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
}

/** The metric's values of one subject across rounds. */
export function valuesOf(c: Comparison, subject: string, key: string): number[] {
  return c.samples
    .filter((s) => s.subject === subject && s.values[key] !== undefined)
    .map((s) => s.values[key]!);
}

export function summaryOf(c: Comparison, subject: string, key: string): Summary | undefined {
  return summarize(valuesOf(c, subject, key));
}

/** medtune's median over the peer's median; null where either is missing or the peer's is 0. */
export function ratioOf(c: Comparison, peer: string, key: string): number | null {
  const a = summaryOf(c, c.ours, key);
  const b = summaryOf(c, peer, key);
  if (!a || !b || b.median === 0) return null;
  return a.median / b.median;
}

export function goal(g: string, ratio: number | null, op: Goal["op"], target: number): Goal {
  return {
    goal: g,
    ratio,
    target,
    op,
    met: ratio === null ? null : op === "≥" ? ratio >= target : ratio <= target,
  };
}

/** Fixed significant figures for a table cell: 3 by default, no exponent for everyday sizes. */
export function formatNumber(x: number, digits?: number): string {
  if (!Number.isFinite(x)) return "–";
  if (digits !== undefined) return x.toFixed(digits);
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString("en-US");
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

export function formatSummary(s: Summary | undefined, digits?: number): string {
  if (!s) return "–";
  if (s.n === 1 || s.min === s.max) return formatNumber(s.median, digits);
  return `${formatNumber(s.median, digits)} [${formatNumber(s.min, digits)}–${formatNumber(s.max, digits)}]`;
}

export function formatRatio(r: number | null): string {
  return r === null ? "–" : `${r.toFixed(2)}×`;
}

/** One comparison as table rows: metric, each subject's median [min–max], then ours/peer ratios. */
export function comparisonTable(c: Comparison): { columns: string[]; rows: string[][] } {
  const peers = c.subjects.filter((s) => s !== c.ours);
  const columns = ["metric", ...c.subjects, ...peers.map((p) => `${c.ours}/${p}`)];
  const rows = c.metrics.map((m) => [
    `${m.label} (${m.unit}${m.higherIsBetter ? ", higher better" : ", lower better"})`,
    ...c.subjects.map((s) =>
      c.failures?.[s] !== undefined && valuesOf(c, s, m.key).length === 0
        ? "failed"
        : formatSummary(summaryOf(c, s, m.key), m.digits),
    ),
    ...peers.map((p) => formatRatio(ratioOf(c, p, m.key))),
  ]);
  return { columns, rows };
}

/** Columns padded to their widest cell, two spaces apart. */
export function formatTable(
  columns: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const all = [columns, ...rows];
  const widths = columns.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? "")].length)));
  const line = (r: readonly string[]) =>
    r
      .map((cell, i) => cell + " ".repeat(widths[i]! - [...cell].length))
      .join("  ")
      .trimEnd();
  return [line(columns), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The printed block of one comparison: title, table, rounds, failures and notes. */
export function formatComparison(c: Comparison): string {
  const { columns, rows } = comparisonTable(c);
  const rounds = Math.max(0, ...c.samples.map((s) => s.round + 1));
  const out = [
    `${c.suite}: ${c.title} — medians [min–max] of ${rounds} interleaved round${rounds === 1 ? "" : "s"}`,
    formatTable(columns, rows),
  ];
  for (const [s, e] of Object.entries(c.failures ?? {})) out.push(`  ${s} failed: ${e}`);
  for (const n of c.notes) out.push(`  note: ${n}`);
  return out.join("\n");
}

export function formatGoals(goals: readonly Goal[]): string {
  if (goals.length === 0) return "";
  return formatTable(
    ["goal", "ratio", "target", "met"],
    goals.map((g) => [
      g.goal,
      formatRatio(g.ratio),
      `${g.op} ${g.target}×`,
      g.met === null ? "not measured" : g.met ? "yes" : "no",
    ]),
  );
}

/** A peer or child process that did not deliver its result line. */
export class BenchChildError extends Error {
  constructor(
    readonly who: string,
    message: string,
  ) {
    super(`${who}: ${message}`);
    this.name = "BenchChildError";
  }
}

/**
 * The result of a child run: the last non-empty stdout line, a JSON object. `{"ok": false,
 * "error": …}` (the peer scripts' failure line) and anything unparsable throw BenchChildError
 * naming the child, with the tail of its stderr.
 */
export function parseResultLine(who: string, stdout: string, stderr = ""): Record<string, unknown> {
  const tail = stderr.trim().split("\n").slice(-8).join("\n");
  const hint = tail ? `\n  last stderr lines:\n    ${tail.replace(/\n/g, "\n    ")}` : "";
  const last = stdout.trim().split("\n").pop()?.trim() ?? "";
  if (last === "") throw new BenchChildError(who, `printed no result line${hint}`);
  let value: unknown;
  try {
    value = JSON.parse(last);
  } catch {
    throw new BenchChildError(
      who,
      `last line is not JSON: ${JSON.stringify(last.slice(0, 200))}${hint}`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new BenchChildError(who, `result line is not a JSON object: ${last.slice(0, 200)}`);
  const o = value as Record<string, unknown>;
  if (o.ok === false)
    throw new BenchChildError(who, `${typeof o.error === "string" ? o.error : "failed"}${hint}`);
  return o;
}

/** A numeric array field of a result line; throws naming the child and field when it is not one. */
export function numbers(who: string, o: Record<string, unknown>, key: string): number[] {
  const v = o[key];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "number" && Number.isFinite(x)))
    throw new BenchChildError(who, `result field "${key}" is not an array of numbers`);
  return v as number[];
}

export function numberField(who: string, o: Record<string, unknown>, key: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v))
    throw new BenchChildError(who, `result field "${key}" is not a number`);
  return v;
}

/**
 * Runs every subject once per round, in the same order each round (A B A B …), so slow drift of
 * the machine (other load, thermals) falls on all subjects alike. A subject that throws is
 * recorded as failed and not run again; the others go on.
 */
export async function alternate(
  c: Comparison,
  rounds: number,
  run: (subject: string, round: number) => Promise<Omit<Sample, "subject" | "round"> | null>,
  onLog: (line: string) => void = () => {},
): Promise<Comparison> {
  for (let round = 0; round < rounds; round++) {
    for (const subject of c.subjects) {
      if (c.failures?.[subject] !== undefined) continue;
      try {
        const s = await run(subject, round);
        if (s) c.samples.push({ subject, round, ...s });
      } catch (e) {
        c.failures = { ...c.failures, [subject]: (e as Error).message };
        onLog(`${c.suite}: ${subject} failed: ${(e as Error).message}`);
      }
    }
  }
  return c;
}
