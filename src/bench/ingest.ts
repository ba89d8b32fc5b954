/**
 * `npm run bench -- ingest [--mb N] [--sources a,b] [--keep]`: ingest throughput and peak memory.
 *
 * Scales the bundled samples (data/raw) up to about N MB of uncompressed input per source
 * (default 100) in a temp dir, gzipped as the real dumps are, then runs each source's full ingest
 * (reader + validation + atomic write + audit) in its own child process to read its peak RSS.
 * `gzip -dc` on the same files is the floor: no reader can beat decompression.
 * ChEMBL is a SQLite file and is not scaled here; it runs on the bundled sample as is.
 */
import { execFile, execFileSync } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, mkdir, readFile, readdir, rm, stat, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createGzip } from "node:zlib";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createRequire } from "node:module";
import type { IngestSourceId } from "../ingest/types.js";

const SELF = fileURLToPath(import.meta.url);
const ALL: IngestSourceId[] = ["hetionet", "drugbank", "pubmed", "clinicaltrials", "chembl_sqlite"];

interface ChildResult {
  ok: boolean;
  error?: string;
  records: number;
  seconds: number;
  maxRssBytes: number;
}

/** Streams text chunks into a gzip file; returns the uncompressed byte count. */
async function gzipWrite(file: string, chunks: () => Generator<string>): Promise<number> {
  const gz = createGzip({ level: 6 });
  const out = createWriteStream(file);
  gz.pipe(out);
  let n = 0;
  for (const c of chunks()) {
    n += Buffer.byteLength(c);
    if (!gz.write(c)) await new Promise<void>((r) => gz.once("drain", () => r()));
  }
  gz.end();
  await new Promise<void>((r, j) => out.once("finish", () => r()).once("error", j));
  return n;
}

/** Hetionet: the sample's nodes as a nodes TSV, and random edges of templated metaedges as a SIF. */
async function scaleHetionet(raw: string, dir: string, bytes: number): Promise<void> {
  const require = createRequire(import.meta.url);
  const bz2 = require("unbzip2-stream") as () => NodeJS.ReadWriteStream;
  const { Readable } = await import("node:stream");
  const { createReadStream } = await import("node:fs");
  const src = path.join(raw, "hetionet", "hetionet-v1.0-sample.json.bz2");
  let text = "";
  for await (const c of new Readable().wrap(createReadStream(src).pipe(bz2()))) text += String(c);
  const g = JSON.parse(text) as {
    nodes: { kind: string; identifier: string | number; name: string }[];
  };
  const ids = (k: string) =>
    g.nodes.filter((n) => n.kind === k).map((n) => `${n.kind}::${n.identifier}`);
  const byKind: Record<string, string[]> = {
    C: ids("Compound"),
    D: ids("Disease"),
    PC: ids("Pharmacologic Class"),
    S: ids("Symptom"),
    A: ids("Anatomy"),
  };
  const metaedges: [string, string, string][] = [
    ["C", "CtD", "D"],
    ["C", "CpD", "D"],
    ["D", "DpS", "S"],
    ["D", "DlA", "A"],
    ["D", "DrD", "D"],
    ["PC", "PCiC", "C"],
  ];
  await gzipWrite(path.join(dir, "hetionet-v1.0-nodes.tsv.gz"), function* () {
    yield "id\tname\tkind\n";
    for (const n of g.nodes) yield `${n.kind}::${n.identifier}\t${n.name}\t${n.kind}\n`;
  });
  let seed = 1;
  const rnd = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  await gzipWrite(path.join(dir, "hetionet-v1.0-edges.sif.gz"), function* () {
    yield "source\tmetaedge\ttarget\n";
    let n = 0;
    while (n < bytes) {
      let buf = "";
      for (let i = 0; i < 2000; i++) {
        const [s, m, t] = metaedges[rnd(metaedges.length)]!;
        const a = byKind[s]!;
        const b = byKind[t]!;
        buf += `${a[rnd(a.length)]}\t${m}\t${b[rnd(b.length)]}\n`;
      }
      n += buf.length;
      yield buf;
    }
  });
}

/** DrugBank: the sample's drug elements repeated under one root with fresh ids. */
async function scaleDrugbank(raw: string, dir: string, bytes: number): Promise<void> {
  const text = await readFile(
    path.join(raw, "drugbank", "drugbank_sample_full_database.xml"),
    "utf8",
  );
  const head = text.slice(0, text.indexOf("<drug "));
  const body = text.slice(text.indexOf("<drug "), text.lastIndexOf("</drugbank>"));
  await gzipWrite(path.join(dir, "drugbank_full_database.xml.gz"), function* () {
    yield head;
    let n = 0;
    for (let copy = 0; n < bytes; copy++) {
      const b = body.replace(
        /<drugbank-id primary="true">DB(\d{5})</g,
        (_m, d: string) => `<drugbank-id primary="true">DB${copy}${d}<`,
      );
      n += b.length;
      yield b;
    }
    yield "</drugbank>\n";
  });
}

/** PubMed: the sample baseline's articles repeated with fresh PMIDs in one PubmedArticleSet. */
async function scalePubmed(raw: string, dir: string, bytes: number): Promise<void> {
  const { gunzipSync } = await import("node:zlib");
  const files = (await readdir(path.join(raw, "pubmed"), { recursive: true })).filter((f) =>
    /\.xml\.gz$/.test(String(f)),
  );
  if (!files[0]) throw new Error("no data/raw/pubmed/**/*.xml.gz sample to scale");
  const text = gunzipSync(await readFile(path.join(raw, "pubmed", String(files[0])))).toString(
    "utf8",
  );
  const start = text.indexOf("<PubmedArticle>");
  const end = text.lastIndexOf("</PubmedArticle>") + "</PubmedArticle>".length;
  const head = text.slice(0, start);
  const articles = text.slice(start, end);
  await gzipWrite(path.join(dir, "pubmed26n9001.xml.gz"), function* () {
    yield head;
    let n = 0;
    let pmid = 60_000_000; // realistic 8-digit PMIDs, unique per copy
    for (let copy = 1; n < bytes; copy++) {
      const ids = new Map<string, number>();
      const a = articles.replace(
        /<PMID Version="(\d+)">(\d+)<\/PMID>/g,
        (_m, v: string, id: string) => {
          if (!ids.has(id)) ids.set(id, pmid++);
          return `<PMID Version="${v}">${ids.get(id)}</PMID>`;
        },
      );
      n += a.length;
      yield a;
    }
    yield "</PubmedArticleSet>\n";
  });
}

/** ClinicalTrials.gov: the sample studies repeated as JSON Lines with fresh NCT ids. */
async function scaleClinicalTrials(raw: string, dir: string, bytes: number): Promise<void> {
  const names = (await readdir(path.join(raw, "clinicaltrials"))).filter((f) =>
    /^NCT\d+\.json$/.test(f),
  );
  const studies = await Promise.all(
    names.map(async (f) =>
      JSON.stringify(JSON.parse(await readFile(path.join(raw, "clinicaltrials", f), "utf8"))),
    ),
  );
  if (studies.length === 0) throw new Error("no data/raw/clinicaltrials/NCT*.json sample to scale");
  await gzipWrite(path.join(dir, "studies.jsonl.gz"), function* () {
    let n = 0;
    for (let copy = 0; n < bytes; copy++) {
      for (const s of studies) {
        const line =
          s.replace(
            /"NCT(\d{8})"/g,
            (_m, d: string) => `"NCT${String((copy * 97 + Number(d)) % 1e8).padStart(8, "0")}"`,
          ) + "\n";
        n += line.length;
        yield line;
      }
    }
  });
}

function childArgs(): string[] {
  return SELF.endsWith(".ts") ? ["--import", "tsx", SELF] : [SELF];
}

function runChild(source: IngestSourceId, inDir: string, outDir: string): Promise<ChildResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...childArgs(), "--child", source, inDir, outDir],
      { maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        const last = stdout.trim().split("\n").pop() ?? "";
        try {
          resolve(JSON.parse(last) as ChildResult);
        } catch {
          resolve({
            ok: false,
            error: (err?.message ?? "") + stderr.slice(-500),
            records: 0,
            seconds: 0,
            maxRssBytes: 0,
          });
        }
      },
    );
  });
}

async function child(source: IngestSourceId, inDir: string, outDir: string): Promise<void> {
  const { runIngest } = await import("../ingest/index.js");
  const t0 = performance.now();
  const r = await runIngest({ sources: [source], inDir, outDir, logDir: outDir, progress: false });
  const s = r.sources[0]!;
  const out: ChildResult = {
    ok: s.ok,
    ...(s.error ? { error: s.error } : {}),
    records: s.records,
    seconds: (performance.now() - t0) / 1000,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  process.stdout.write(JSON.stringify(out) + "\n");
}

async function gunzipFloorSeconds(files: string[]): Promise<number | null> {
  const gz = files.filter((f) => f.endsWith(".gz"));
  if (gz.length === 0) return null;
  const t0 = performance.now();
  for (const f of gz) execFileSync("sh", ["-c", 'gzip -dc "$1" > /dev/null', "sh", f]);
  return (performance.now() - t0) / 1000;
}

async function uncompressedBytes(files: string[]): Promise<number> {
  let n = 0;
  for (const f of files) {
    if (f.endsWith(".gz"))
      n += Number(execFileSync("sh", ["-c", 'gzip -dc "$1" | wc -c', "sh", f]).toString().trim());
    else n += (await stat(f)).size;
  }
  return n;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--child") {
    await child(argv[1] as IngestSourceId, argv[2]!, argv[3]!);
    return 0;
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      mb: { type: "string" },
      sources: { type: "string" },
      keep: { type: "boolean" },
      raw: { type: "string" },
    },
  });
  const mb = Number(values.mb ?? 100);
  const bytes = mb * 2 ** 20;
  const sources = (values.sources?.split(",") ?? ALL) as IngestSourceId[];
  const raw = values.raw ?? "data/raw";
  const root = await mkdtemp(path.join(tmpdir(), "medtune-bench-ingest-"));
  const rows: string[][] = [
    [
      "source",
      "input",
      "records",
      "seconds",
      "MB/s (uncompressed)",
      "peak RSS",
      "gzip -dc",
      "vs floor",
    ],
  ];
  try {
    for (const source of sources) {
      const dirName = source === "chembl_sqlite" ? "chembl" : source;
      const inDir = path.join(root, "raw");
      const dir = path.join(inDir, dirName);
      await mkdir(dir, { recursive: true });
      process.stderr.write(`bench ingest: generating ${source} input…\n`);
      if (source === "hetionet") await scaleHetionet(raw, dir, bytes);
      else if (source === "drugbank") await scaleDrugbank(raw, dir, bytes);
      else if (source === "pubmed") await scalePubmed(raw, dir, bytes);
      else if (source === "clinicaltrials") await scaleClinicalTrials(raw, dir, bytes);
      else
        for (const f of await readdir(path.join(raw, "chembl")))
          if (/\.db$/.test(f)) await copyFile(path.join(raw, "chembl", f), path.join(dir, f));
      const files = (await readdir(dir)).map((f) => path.join(dir, f));
      const ub = await uncompressedBytes(files);
      const floor = await gunzipFloorSeconds(files);
      process.stderr.write(`bench ingest: running ${source} on ${(ub / 2 ** 20).toFixed(1)} MB…\n`);
      const r = await runChild(source, inDir, path.join(root, "out", source));
      if (!r.ok) {
        rows.push([
          source,
          `${(ub / 2 ** 20).toFixed(1)} MB`,
          "FAILED",
          r.error?.slice(0, 80) ?? "",
          "",
          "",
          "",
          "",
        ]);
        continue;
      }
      const rate = ub / 2 ** 20 / r.seconds;
      rows.push([
        source + (source === "chembl_sqlite" ? " (sample, not scaled)" : ""),
        `${(ub / 2 ** 20).toFixed(1)} MB`,
        String(r.records),
        r.seconds.toFixed(2),
        rate.toFixed(1),
        `${(r.maxRssBytes / 2 ** 20).toFixed(0)} MB`,
        floor === null ? "-" : `${floor.toFixed(2)} s`,
        floor === null ? "-" : `${(r.seconds / floor).toFixed(1)}×`,
      ]);
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    if (!values.keep) await rm(root, { recursive: true, force: true });
    else process.stderr.write(`bench ingest: inputs kept in ${root}\n`);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  for (const r of rows)
    process.stdout.write(r.map((c, i) => c.padEnd(widths[i]!)).join("  ") + "\n");
  return 0;
}

if (process.argv[1] === SELF) {
  main(process.argv.slice(2)).then((c) => (process.exitCode = c));
}
