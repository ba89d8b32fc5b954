/**
 * The "nothing lost" check every stage makes before it replaces its outputs: a stage that wrote
 * nothing, or far less than it read, fails with the reasons (skips counted by reason) and leaves
 * the previous outputs untouched, unless the user said `--allow-empty`.
 *
 *   const why = outputShortfall({ what: "hetionet", read: 120, written: 0, reasons, minRatio: 0.1 });
 *   if (why) throw new StageOutputError(why);       // then abort the atomic writes
 *
 * `read` counts the items the stage looked at (records written plus records skipped, for ingest;
 * valid input records, for augment), so the ratio says how much of the input survived.
 */

export interface OutputGuardOptions {
  /** Write even an empty or shrunken result (the `--allow-empty` flag). */
  allowEmpty?: boolean;
  /** Fail when written / read falls below this (0 disables the ratio check; empty still fails). */
  minOutputRatio?: number;
}

export interface OutputCheck {
  /** What was written, for the message: "hetionet.jsonl", "the splits". */
  what: string;
  read: number;
  written: number;
  minRatio: number;
  /** Why items were left out, with counts; the largest are listed in the message. */
  reasons?: Record<string, number>;
  allowEmpty?: boolean;
}

/** Thrown (or reported in a result) when a stage refuses to replace its outputs. */
export class StageOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StageOutputError";
  }
}

/** The largest reasons as `"reason" ×N`, for one line of an error message. */
export function formatReasons(reasons: Record<string, number>, max = 5): string {
  const rows = Object.entries(reasons).sort((a, b) => b[1] - a[1]);
  const shown = rows.slice(0, max).map(([r, n]) => `${JSON.stringify(r)} ×${n}`);
  if (rows.length > max) shown.push(`${rows.length - max} more reasons`);
  return shown.join("; ");
}

/** Why the output must not replace the previous one, or undefined when it may. */
export function outputShortfall(c: OutputCheck): string | undefined {
  if (c.allowEmpty) return undefined;
  const ratio = c.read > 0 ? c.written / c.read : 0;
  if (c.written > 0 && ratio >= c.minRatio) return undefined;
  const head =
    c.written === 0
      ? `${c.what}: nothing to write (${c.read} read, 0 kept)`
      : `${c.what}: only ${c.written} kept of ${c.read} read (${(100 * ratio).toFixed(1)}%, below the minimum output ratio ${c.minRatio})`;
  const reasons =
    c.reasons && Object.keys(c.reasons).length > 0 ? `; left out: ${formatReasons(c.reasons)}` : "";
  return (
    `${head}${reasons}. The previous output is kept. Fix the input, or pass --allow-empty ` +
    `(or a lower --min-output-ratio) to write this result anyway.`
  );
}
