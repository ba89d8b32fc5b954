/**
 * External sort of text lines: lines are sorted in memory in runs of `spillLines`, spilled to a
 * temp dir, and k-way merged with a small heap (in passes of `fanIn` runs, so open files stay
 * bounded). Memory is one run plus one read batch per merged run, whatever the input size.
 *
 *   const sorter = new ExternalSorter(tmpDir, 200_000);
 *   for (const line of lines) if (sorter.push(line)) await sorter.spill();
 *   for await (const batch of sorter.sortedBatches()) for (const line of batch) use(line);
 *
 * Work is batched: adding a line is synchronous (one await per spilled run, not per line), and the
 * merge hands out arrays of lines, awaiting only when a run's read buffer is empty. Per-line
 * promises were most of the time of a Hetionet ingest before this.
 *
 * Bucketed mode: when every line is pushed with a small integer bucket (`push(line, bucket)`, with
 * `buckets` given), runs are counting-sorted by bucket instead of compared as strings, so the output
 * is ordered by bucket only: lines of one bucket come out together, in no particular order. That
 * is all a group-by needs, and it is O(n) per run instead of O(n log n) string comparisons. Buckets
 * must follow string order (a line of a lower bucket is a smaller string, as with a fixed-width
 * prefix): the merge compares whole lines, which then keeps every bucket together.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { splitLineChunks } from "./io.js";

export class ExternalSorter {
  private buf: string[] = [];
  private runs: string[] = [];
  /** Total lines added. */
  count = 0;

  constructor(
    private readonly dir: string,
    private readonly spillLines: number,
    /** Runs merged at once; more runs are merged in passes, so open files stay bounded. */
    private readonly fanIn = 64,
    /** Lines per batch handed out by `sortedBatches`. */
    private readonly batchLines = 4096,
    /** Bucket count for bucketed mode (see above); 0 sorts whole lines. */
    private readonly buckets = 0,
  ) {}

  private bucketOf: number[] = [];

  get runCount(): number {
    return this.runs.length;
  }

  /** Add a line; true when the in-memory run is full and `spill()` must be awaited next. */
  push(line: string, bucket?: number): boolean {
    if (this.buckets > 0) {
      if (bucket === undefined || !(bucket >= 0 && bucket < this.buckets))
        throw new RangeError(`bucket ${bucket} outside 0..${this.buckets - 1}`);
      this.bucketOf.push(bucket);
    }
    this.buf.push(line);
    this.count++;
    return this.buf.length >= this.spillLines;
  }

  /** `push`, spilling when the run is full. */
  async add(line: string, bucket?: number): Promise<void> {
    if (this.push(line, bucket)) await this.spill();
  }

  /** Order the in-memory run: by bucket (counting sort), or by whole line. */
  private sortRun(): void {
    if (this.buckets === 0) {
      this.buf.sort();
      return;
    }
    const start = new Uint32Array(this.buckets + 1);
    for (const b of this.bucketOf) start[b + 1]!++;
    for (let b = 0; b < this.buckets; b++) start[b + 1]! += start[b]!;
    const out = new Array<string>(this.buf.length);
    this.bucketOf.forEach((b, i) => (out[start[b]!++] = this.buf[i]!));
    this.buf = out;
    this.bucketOf = [];
  }

  /** Sort the in-memory run and write it to disk (a no-op when it is empty). */
  async spill(): Promise<void> {
    if (this.buf.length === 0) return;
    this.sortRun();
    const file = path.join(this.dir, `run-${this.runs.length}-${Date.now()}.txt`);
    await writeLines(file, this.buf);
    this.runs.push(file);
    this.buf = [];
  }

  /**
   * The added lines in code-unit order (bucket order in bucketed mode), in batches. The sorter
   * cannot be reused afterwards.
   */
  async *sortedBatches(): AsyncGenerator<string[], void, undefined> {
    if (this.runs.length === 0) {
      this.sortRun();
      const b = this.buf;
      this.buf = [];
      for (let i = 0; i < b.length; i += this.batchLines) yield b.slice(i, i + this.batchLines);
      return;
    }
    await this.spill();
    let pass = 0;
    while (this.runs.length > this.fanIn) {
      const next: string[] = [];
      for (let i = 0; i < this.runs.length; i += this.fanIn) {
        const group = this.runs.slice(i, i + this.fanIn);
        const file = path.join(this.dir, `merge-${pass}-${i}.txt`);
        const out = createWriteStream(file, { highWaterMark: 1 << 20 });
        for await (const batch of mergeRuns(group, this.batchLines)) {
          if (!out.write(batch.join("\n") + "\n"))
            await new Promise<void>((r) => out.once("drain", () => r()));
        }
        await new Promise<void>((res, rej) => out.end((e?: Error | null) => (e ? rej(e) : res())));
        await Promise.all(group.map((f) => rm(f, { force: true })));
        next.push(file);
      }
      this.runs = next;
      pass++;
    }
    yield* mergeRuns(this.runs, this.batchLines);
  }

  /** The added lines in code-unit order, one at a time. */
  async *sorted(): AsyncGenerator<string, void, undefined> {
    for await (const batch of this.sortedBatches()) yield* batch;
  }
}

async function writeLines(file: string, lines: string[]): Promise<void> {
  const out = createWriteStream(file, { highWaterMark: 1 << 20 });
  const batch = 4096;
  for (let i = 0; i < lines.length; i += batch) {
    const ok = out.write(lines.slice(i, i + batch).join("\n") + "\n");
    if (!ok) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  await new Promise<void>((res, rej) => {
    out.once("error", rej);
    out.end(() => res());
  });
}

/** Non-empty lines of a byte stream, one array per chunk. */
export async function* lineBatches(stream: Readable): AsyncGenerator<string[]> {
  for await (const lines of splitLineChunks(stream as AsyncIterable<Buffer>)) {
    // Runs never hold empty lines; other inputs may (a filter call per line would cost more).
    const kept = lines.includes("") ? lines.filter((l) => l !== "") : lines;
    if (kept.length > 0) yield kept;
  }
}

/** k-way merge of sorted run files, ties in run order; yields batches of `batchLines` lines. */
async function* mergeRuns(files: string[], batchLines: number): AsyncGenerator<string[]> {
  // Streams stay paused until read, so runs opened now and read later lose nothing.
  const readers = files.map((f) =>
    lineBatches(createReadStream(f, { highWaterMark: 1 << 16 }))[Symbol.asyncIterator](),
  );
  const cur: string[][] = files.map(() => []);
  const pos: number[] = files.map(() => 0);
  /** Load run i's next batch; false when the run is exhausted. */
  const refill = async (i: number): Promise<boolean> => {
    for (;;) {
      const r = await readers[i]!.next();
      if (r.done) return false;
      if (r.value.length > 0) {
        cur[i] = r.value;
        pos[i] = 0;
        return true;
      }
    }
  };
  // Binary min-heap of run indices, keyed by each run's current line.
  const heap: number[] = [];
  const less = (a: number, b: number) => {
    const x = cur[a]![pos[a]!]!;
    const y = cur[b]![pos[b]!]!;
    return x < y || (x === y && a < b);
  };
  const down = (k: number) => {
    for (;;) {
      const l = 2 * k + 1;
      const r = l + 1;
      let m = k;
      if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
      if (m === k) return;
      [heap[k], heap[m]] = [heap[m]!, heap[k]!];
      k = m;
    }
  };
  try {
    for (let i = 0; i < files.length; i++) if (await refill(i)) heap.push(i);
    for (let k = (heap.length >> 1) - 1; k >= 0; k--) down(k);
    let out: string[] = [];
    while (heap.length > 0) {
      const i = heap[0]!;
      out.push(cur[i]![pos[i]!++]!);
      if (pos[i]! >= cur[i]!.length && !(await refill(i))) {
        const last = heap.pop()!;
        if (heap.length > 0) heap[0] = last;
      }
      if (heap.length > 0) down(0);
      if (out.length >= batchLines) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  } finally {
    await Promise.all(readers.map((it) => it.return?.(undefined)));
  }
}
