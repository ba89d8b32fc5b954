/** Atomic JSONL writer, audit log, progress display, and the orchestrator's "nothing lost" guarantees. */
import { describe, expect, it } from "vitest";
import { readFile, readdir, writeFile, mkdir } from "node:fs/promises";
import { Writable } from "node:stream";
import path from "node:path";
import { AtomicJsonlWriter } from "../../src/ingest/writer.js";
import { Progress } from "../../src/ingest/progress.js";
import { runIngest } from "../../src/ingest/index.js";
import { IngestError, type IngestEvent } from "../../src/ingest/types.js";
import type { InstructionRecord } from "../../src/data/record.js";
import { tempDir } from "./helpers.js";

const rec = (i: number, license = "CC0-1.0"): InstructionRecord => ({
  id: `t:${i}`,
  instruction: `q${i}`,
  input: "",
  output: `a${i}`,
  metadata: {
    source: "hetionet",
    task: "t.test",
    confidence: 1,
    citations: [],
    license,
    provenance: { file: "in.txt", line: i },
  },
});

describe("AtomicJsonlWriter", () => {
  it("shows nothing at the target until commit, then all lines", async () => {
    const dir = await tempDir("writer");
    const target = path.join(dir, "out.jsonl");
    const w = await AtomicJsonlWriter.open(target);
    for (let i = 0; i < 1000; i++) await w.write(rec(i));
    await expect(readFile(target)).rejects.toThrow(/ENOENT/);
    expect(path.dirname(w.tempPath)).toBe(dir);
    await w.commit();
    const lines = (await readFile(target, "utf8")).trim().split("\n");
    expect(lines).toHaveLength(1000);
    expect(JSON.parse(lines[999]!)).toEqual(rec(999));
    expect(await readdir(dir)).toEqual(["out.jsonl"]);
  });

  it("abort keeps the previous file and leaves no temp file", async () => {
    const dir = await tempDir("writer-abort");
    const target = path.join(dir, "out.jsonl");
    await writeFile(target, "previous\n");
    const w = await AtomicJsonlWriter.open(target);
    await w.write(rec(1));
    await w.abort();
    expect(await readFile(target, "utf8")).toBe("previous\n");
    expect(await readdir(dir)).toEqual(["out.jsonl"]);
    await expect(w.write(rec(2))).rejects.toThrow(/after commit\/abort/);
  });
});

describe("Progress", () => {
  const sink = () => {
    const chunks: string[] = [];
    return {
      chunks,
      stream: new Writable({ write: (c, _e, cb) => (chunks.push(String(c)), cb()) }),
    };
  };

  it("redraws one line on a TTY with rate, percent and ETA", () => {
    let t = 0;
    const s = sink();
    const p = new Progress({
      label: "hetionet",
      bytesTotal: 100 * 2 ** 20,
      stream: s.stream,
      tty: true,
      now: () => t,
    });
    t = 2000;
    p.update({ bytesRead: 20 * 2 ** 20, records: 5000 });
    const line = s.chunks.at(-1)!;
    expect(line.startsWith("\r")).toBe(true);
    expect(line).toContain("5,000 records (2,500/s)");
    expect(line).toContain("20.0 MiB / 100.0 MiB (20.0%)");
    expect(line).toContain("10.0 MiB/s");
    expect(line).toContain("ETA 8s");
    p.done();
    expect(s.chunks.at(-1)!.endsWith("\n")).toBe(true);
  });

  it("prints plain periodic lines when not a TTY, and no ETA without a total", () => {
    let t = 0;
    const s = sink();
    const p = new Progress({
      label: "pubmed",
      stream: s.stream,
      tty: false,
      intervalMs: 10_000,
      now: () => t,
    });
    for (t = 0; t <= 25_000; t += 1000) p.update({ bytesRead: t * 1000, records: t });
    expect(s.chunks).toHaveLength(2); // at 10 s and 20 s
    expect(s.chunks.every((c) => !c.includes("\r") && c.endsWith("\n"))).toBe(true);
    expect(s.chunks[0]).toContain("read");
    expect(s.chunks[0]).not.toContain("ETA");
    p.done();
    expect(s.chunks).toHaveLength(3);
  });
});

describe("runIngest: nothing lost", () => {
  async function setup() {
    const root = await tempDir("orchestrator");
    const inDir = path.join(root, "raw");
    await mkdir(path.join(inDir, "hetionet"), { recursive: true });
    await writeFile(path.join(inDir, "hetionet", "g.json"), "{}");
    await writeFile(path.join(inDir, "hetionet", "README.md"), "about");
    await writeFile(path.join(inDir, "hetionet", "g.json.bz2.part"), "partial");
    return { root, inDir, outDir: path.join(root, "out"), logDir: path.join(root, "logs") };
  }

  it("a reader that fails midway leaves the previous output untouched and the failure in the audit log", async () => {
    const d = await setup();
    await mkdir(d.outDir, { recursive: true });
    await writeFile(path.join(d.outDir, "hetionet.jsonl"), "old output\n");
    async function* failing(files: string[]): AsyncGenerator<IngestEvent> {
      for (let i = 0; i < 50; i++) yield { type: "record", record: rec(i) };
      yield { type: "skip", file: files[0]!, location: "line 7", reason: "bad line" };
      throw new IngestError("expected a complete bzip2 stream", files[0]!);
    }
    const r = await runIngest({
      sources: ["hetionet"],
      ...d,
      progress: false,
      readers: { hetionet: failing },
    });
    expect(r.ok).toBe(false);
    expect(r.sources[0]!.error).toMatch(/complete bzip2 stream/);
    expect(await readFile(path.join(d.outDir, "hetionet.jsonl"), "utf8")).toBe("old output\n");
    expect(await readdir(d.outDir)).toEqual(["hetionet.jsonl"]);
    const audit = (await readFile(r.auditLog, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit[0]).toMatchObject({ type: "run" });
    expect(audit).toContainEqual(
      expect.objectContaining({
        type: "input",
        file: path.join(d.inDir, "hetionet", "g.json"),
        sha256: "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
      }),
    );
    expect(audit).toContainEqual(
      expect.objectContaining({
        type: "ignored",
        reason: expect.stringMatching(/partial download/),
      }),
    );
    expect(audit).toContainEqual(
      expect.objectContaining({ type: "ignored", file: expect.stringMatching(/README\.md$/) }),
    );
    expect(audit).toContainEqual(
      expect.objectContaining({ type: "skip", location: "line 7", reason: "bad line" }),
    );
    expect(audit).toContainEqual(
      expect.objectContaining({
        type: "error",
        source: "hetionet",
        message: expect.stringMatching(/bzip2/),
      }),
    );
    expect(audit).toContainEqual(
      expect.objectContaining({ type: "summary", source: "hetionet", output: null, records: 50 }),
    );
    expect(audit.at(-1)).toMatchObject({ type: "end", ok: false });
  });

  it("a successful run replaces the output, counts per task, and drops non-commercial records when asked", async () => {
    const d = await setup();
    async function* ok(): AsyncGenerator<IngestEvent> {
      for (let i = 0; i < 10; i++)
        yield { type: "record", record: rec(i, i % 2 ? "CC-BY-NC-4.0" : "CC0-1.0") };
    }
    const r = await runIngest({
      sources: ["hetionet"],
      ...d,
      progress: false,
      excludeNonCommercial: true,
      readers: { hetionet: ok },
    });
    expect(r.ok).toBe(true);
    expect(r.sources[0]).toMatchObject({ records: 5, skipped: 5, recordsByTask: { "t.test": 5 } });
    const out = (await readFile(path.join(d.outDir, "hetionet.jsonl"), "utf8")).trim().split("\n");
    expect(out).toHaveLength(5);
  });

  it("a reader emitting a record that breaks the schema fails the source", async () => {
    const d = await setup();
    async function* bad(): AsyncGenerator<IngestEvent> {
      yield { type: "record", record: { ...rec(1), output: 3 } as unknown as InstructionRecord };
    }
    const r = await runIngest({
      sources: ["hetionet"],
      ...d,
      progress: false,
      readers: { hetionet: bad },
    });
    expect(r.sources[0]!.error).toMatch(/invalid record "t:1".*output/);
  });
});
