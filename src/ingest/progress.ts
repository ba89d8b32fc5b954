/**
 * Progress display for long reads and downloads, on stderr so stdout stays clean for data.
 *
 * On a TTY: one line redrawn in place (records/s, bytes read, ETA when the total is known), at
 * most every 100 ms. Elsewhere (CI logs, pipes): a plain line every `intervalMs` and a final line,
 * so logs show progress without carriage-return noise.
 */

export interface ProgressOptions {
  label: string;
  /** Total bytes when known (file size or Content-Length), for percent and ETA. */
  bytesTotal?: number;
  stream?: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Force TTY or plain mode; default: the stream's isTTY. */
  tty?: boolean;
  /** Plain mode: how often a line is printed. */
  intervalMs?: number;
  /** Injectable clock for tests. */
  now?: () => number;
  /** Show the record count and rate (ingest); off for downloads. */
  showRecords?: boolean;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, "0")}s`;
  return `${sec}s`;
}

export class Progress {
  private readonly stream: NodeJS.WritableStream;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly startedAt: number;
  private lastDrawAt = -Infinity;
  private bytes = 0;
  private records = 0;
  private bytesTotal: number | undefined;
  private label: string;
  private finished = false;
  private readonly showRecords: boolean;

  constructor(opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? Boolean((this.stream as NodeJS.WriteStream).isTTY);
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.now = opts.now ?? (() => performance.now());
    this.startedAt = this.now();
    this.label = opts.label;
    this.bytesTotal = opts.bytesTotal;
    this.showRecords = opts.showRecords ?? true;
    // Plain mode: the first line comes after one interval, not at time zero.
    if (!this.tty) this.lastDrawAt = this.startedAt;
  }

  /** Report the current totals (not increments); draws only when the throttle allows. */
  update(state: {
    bytesRead?: number;
    records?: number;
    bytesTotal?: number;
    label?: string;
  }): void {
    if (state.bytesRead !== undefined) this.bytes = state.bytesRead;
    if (state.records !== undefined) this.records = state.records;
    if (state.bytesTotal !== undefined) this.bytesTotal = state.bytesTotal;
    if (state.label !== undefined) this.label = state.label;
    const t = this.now();
    if (t - this.lastDrawAt >= (this.tty ? 100 : this.intervalMs)) {
      this.lastDrawAt = t;
      this.draw(false);
    }
  }

  /** Print the final line (always, in both modes). */
  done(note?: string): void {
    if (this.finished) return;
    this.finished = true;
    this.draw(true, note);
  }

  /** The status text without terminal control codes (also used by tests). */
  line(note?: string): string {
    const elapsed = Math.max((this.now() - this.startedAt) / 1000, 1e-9);
    const parts = [this.label];
    if (this.showRecords) {
      parts.push(
        `${this.records.toLocaleString("en-US")} records (${Math.round(this.records / elapsed).toLocaleString("en-US")}/s)`,
      );
    }
    const rate = this.bytes / elapsed;
    if (this.bytesTotal && this.bytesTotal > 0) {
      const pct = Math.min(100, (100 * this.bytes) / this.bytesTotal);
      parts.push(
        `${formatBytes(this.bytes)} / ${formatBytes(this.bytesTotal)} (${pct.toFixed(1)}%)`,
      );
      parts.push(`${formatBytes(rate)}/s`);
      if (!this.finished && rate > 0)
        parts.push(`ETA ${formatDuration((this.bytesTotal - this.bytes) / rate)}`);
    } else {
      parts.push(`${formatBytes(this.bytes)} read`, `${formatBytes(rate)}/s`);
    }
    parts.push(`${formatDuration(elapsed)} elapsed`);
    if (note) parts.push(note);
    return parts.join("  ");
  }

  private draw(final: boolean, note?: string): void {
    const text = this.line(note);
    if (this.tty) {
      // \x1b[K clears what a longer previous line left behind.
      this.stream.write(`\r${text}\x1b[K${final ? "\n" : ""}`);
    } else {
      this.stream.write(`${text}\n`);
    }
  }
}
