/** Shared helpers for the ingest tests: fixture paths, collecting reader events, child-process RSS runs. */
import { execFile } from "node:child_process";
import { createWriteStream, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { crc32, createGzip, deflateRawSync } from "node:zlib";
import type { InstructionRecord } from "../../src/data/record.js";
import type {
  IngestEvent,
  IngestSourceId,
  InputLimits,
  SkipEvent,
} from "../../src/ingest/types.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const fixtures = path.resolve(repoRoot, "..", "shared", "datasets");

export interface Collected {
  records: InstructionRecord[];
  skips: SkipEvent[];
  events: IngestEvent[];
  /** Number of progress events. */
  progress: number;
}

/** Drain a reader, keeping every event in order and records and skips apart. */
export async function collect(gen: AsyncGenerator<IngestEvent>): Promise<Collected> {
  const records: InstructionRecord[] = [];
  const skips: SkipEvent[] = [];
  const events: IngestEvent[] = [];
  let progress = 0;
  for await (const ev of gen) {
    events.push(ev);
    if (ev.type === "record") records.push(ev.record);
    else if (ev.type === "skip") skips.push(ev);
    else progress++;
  }
  return { records, skips, events, progress };
}

/** Records per metadata.task. */
export function countTasks(records: InstructionRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) out[r.metadata.task] = (out[r.metadata.task] ?? 0) + 1;
  return out;
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `medtune-test-${prefix}-`));
}

/** Run a TypeScript snippet file in a fresh Node process (through tsx) and parse its last stdout line as JSON. */
export function runChild<T>(
  script: string,
  args: string[] = [],
  timeoutMs = 120_000,
  nodeFlags: string[] = [],
): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...nodeFlags, "--import", "tsx", script, ...args],
      { cwd: repoRoot, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${err.message}\n${stderr}`));
        const last = stdout.trim().split("\n").pop() ?? "";
        try {
          resolve(JSON.parse(last) as T);
        } catch {
          reject(new Error(`child printed no JSON: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

export interface ReaderRss {
  records: number;
  skips: number;
  /** The IngestError, or the first over-the-cap skip or line issue (oversized cases). */
  error?: string;
  maxRssBytes: number;
}

/**
 * Run one source's reader over a small and a ten-times larger input, each in a fresh Node process
 * with a capped old space, and return both peaks. The cap proves the live heap is bounded (a reader
 * that kept the input would die with OOM); comparing the peaks bounds what GC slack adds on top.
 */
export async function readerRssOnTwoSizes(
  source: IngestSourceId | "jsonl" | "gguf" | "safetensors",
  small: string[],
  large: string[],
  maxOldSpaceMb: number,
  limits?: Partial<InputLimits>,
): Promise<{ small: ReaderRss; large: ReaderRss }> {
  const child = path.join(repoRoot, "test", "ingest", "child", "rss-reader.mts");
  const flags = [`--max-old-space-size=${maxOldSpaceMb}`];
  const pre = limits ? [`--limits=${JSON.stringify(limits)}`] : [];
  const a = await runChild<ReaderRss>(child, [...pre, source, ...small], 120_000, flags);
  const b = await runChild<ReaderRss>(child, [...pre, source, ...large], 170_000, flags);
  return { small: a, large: b };
}

/** Write a generated text file chunk by chunk (with backpressure), gzipped when it ends in .gz. */
export async function writeGenerated(file: string, chunks: Iterable<string>): Promise<void> {
  const out = createWriteStream(file);
  let sink: Writable = out;
  if (file.endsWith(".gz")) {
    const gz = createGzip({ level: 1 });
    gz.pipe(out);
    sink = gz;
  }
  for (const c of chunks) {
    if (!sink.write(c)) await new Promise<void>((r) => sink.once("drain", () => r()));
  }
  sink.end();
  await new Promise<void>((r, j) => out.once("finish", () => r()).once("error", j));
}

/** A minimal stored/deflated zip writer, so the test needs no zip tool. */
export function writeZip(file: string, entries: [string, Buffer][]): void {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const deflated = deflateRawSync(data);
    const nameBuf = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(deflated.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    const cen = Buffer.alloc(46);
    cen.writeUInt32LE(0x02014b50, 0);
    cen.writeUInt16LE(20, 4);
    cen.writeUInt16LE(20, 6);
    cen.writeUInt16LE(8, 10);
    cen.writeUInt32LE(crc, 16);
    cen.writeUInt32LE(deflated.length, 20);
    cen.writeUInt32LE(data.length, 24);
    cen.writeUInt16LE(nameBuf.length, 28);
    cen.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, deflated);
    central.push(cen, nameBuf);
    offset += 30 + nameBuf.length + deflated.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  writeFileSync(file, Buffer.concat([...locals, cd, end]));
}
