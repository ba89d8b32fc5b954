/**
 * The shape every augment step shares: records in (an array or any (async) iterable), records out
 * plus a StepReport that counts what came in, what went out, and why records were dropped,
 * flagged, changed or added — per source and per task. Steps are pure: inputs are never mutated.
 */
import type { InstructionRecord } from "../data/record.js";

export type RecordStream = Iterable<InstructionRecord> | AsyncIterable<InstructionRecord>;

export type Disposition = "dropped" | "flagged" | "modified" | "added";

/** One dropped / flagged / changed / added record and why: the audit trail of a run. */
export interface RecordEvent {
  step: string;
  disposition: Disposition;
  id: string;
  source: string;
  task: string;
  reason: string;
  detail?: string;
}

export interface Tally {
  in: number;
  out: number;
  dropped: number;
  added: number;
}

export interface StepReport {
  step: string;
  in: number;
  out: number;
  dropped: number;
  flagged: number;
  modified: number;
  added: number;
  /** `${disposition}:${reason}` → count. */
  reasons: Record<string, number>;
  bySource: Record<string, Tally>;
  byTask: Record<string, Tally>;
  /** Up to a few example events per reason, for the summary. */
  examples: RecordEvent[];
  durationMs: number;
  /** Step-specific figures (thresholds, candidate pairs, eval items loaded …). */
  extra: Record<string, unknown>;
}

export interface StepResult {
  records: InstructionRecord[];
  report: StepReport;
  /** Every event, one per record touched: written to the run's audit file. */
  events: RecordEvent[];
}

export async function collect(stream: RecordStream): Promise<InstructionRecord[]> {
  if (Array.isArray(stream)) return stream as InstructionRecord[];
  const out: InstructionRecord[] = [];
  for await (const r of stream as AsyncIterable<InstructionRecord>) out.push(r);
  return out;
}

/** Task family used in per-task tallies: the full task name. */
const taskOf = (r: InstructionRecord): string => r.metadata.task || "(none)";

const EXAMPLES_PER_REASON = 3;

/** Accumulates a step's events and builds its report. */
export class StepTracker {
  readonly events: RecordEvent[] = [];
  readonly extra: Record<string, unknown> = {};
  private readonly start = performance.now();
  private readonly bySource: Record<string, Tally> = {};
  private readonly byTask: Record<string, Tally> = {};
  private readonly exampleCount = new Map<string, number>();
  private readonly examples: RecordEvent[] = [];

  constructor(
    readonly step: string,
    private readonly input: readonly InstructionRecord[],
  ) {
    for (const r of input) {
      this.tally(r).forEach((t) => t.in++);
    }
  }

  private tally(r: InstructionRecord): Tally[] {
    const s = (this.bySource[r.metadata.source] ??= { in: 0, out: 0, dropped: 0, added: 0 });
    const t = (this.byTask[taskOf(r)] ??= { in: 0, out: 0, dropped: 0, added: 0 });
    return [s, t];
  }

  private record(r: InstructionRecord, disposition: Disposition, reason: string, detail?: string) {
    const e: RecordEvent = {
      step: this.step,
      disposition,
      id: r.id,
      source: r.metadata.source,
      task: taskOf(r),
      reason,
      ...(detail !== undefined ? { detail } : {}),
    };
    this.events.push(e);
    const key = `${disposition}:${reason}`;
    const n = this.exampleCount.get(key) ?? 0;
    if (n < EXAMPLES_PER_REASON) this.examples.push(e);
    this.exampleCount.set(key, n + 1);
  }

  drop(r: InstructionRecord, reason: string, detail?: string): void {
    this.tally(r).forEach((t) => t.dropped++);
    this.record(r, "dropped", reason, detail);
  }
  flag(r: InstructionRecord, reason: string, detail?: string): void {
    this.record(r, "flagged", reason, detail);
  }
  modify(r: InstructionRecord, reason: string, detail?: string): void {
    this.record(r, "modified", reason, detail);
  }
  add(r: InstructionRecord, reason: string, detail?: string): void {
    this.tally(r).forEach((t) => t.added++);
    this.record(r, "added", reason, detail);
  }

  finish(output: InstructionRecord[]): StepResult {
    for (const r of output) this.tally(r).forEach((t) => t.out++);
    const reasons: Record<string, number> = {};
    for (const [k, v] of this.exampleCount) reasons[k] = v;
    const count = (d: Disposition) =>
      // A record can be modified for several reasons; count records, not reasons.
      new Set(this.events.filter((e) => e.disposition === d).map((e) => e.id)).size;
    const report: StepReport = {
      step: this.step,
      in: this.input.length,
      out: output.length,
      dropped: count("dropped"),
      flagged: count("flagged"),
      modified: count("modified"),
      added: count("added"),
      reasons,
      bySource: this.bySource,
      byTask: this.byTask,
      examples: this.examples,
      durationMs: performance.now() - this.start,
      extra: this.extra,
    };
    return { records: output, report, events: this.events };
  }
}

/** Deep-copy a record so a step can change it without touching its input. */
export function cloneRecord(r: InstructionRecord): InstructionRecord {
  return structuredClone(r);
}
