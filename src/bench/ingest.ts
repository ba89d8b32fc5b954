/**
 * `npm run bench -- ingest [--mb 32] [--chembl-mb 100] [--sources a,b] [--repeats 2] [--keep]`:
 * ingest throughput and peak memory per source, against `gzip -dc` of the same input as the floor
 * (no reader can beat decompressing its input), run A B A B.
 *
 * Scales the bundled samples (data/raw) up to about N MB of uncompressed input per source in a
 * temp dir, gzipped as the real dumps are; ChEMBL gets a generated SQLite database of ≥ 100 MB in
 * the real schema (the sample's rows copied with fresh keys and CHEMBL ids), whose floor is
 * `gzip -dc` of the database gzipped, as ChEMBL ships it. Each source's full ingest (reader +
 * validation + atomic write + audit) runs in its own child process, so its peak RSS is its own.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, createWriteStream } from "node:fs";
import { mkdtemp, mkdir, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createGzip } from "node:zlib";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import type { IngestSourceId } from "../ingest/types.js";
import { projectPaths } from "../paths.js";
import type { BenchOptions, Log, SuiteOutcome } from "./options.js";
import { childEntry, runNodeChild } from "./peers.js";
import { alternate, goal, numberField, ratioOf, type Comparison, type Goal } from "./stats.js";

const SELF = fileURLToPath(import.meta.url);
const ALL: IngestSourceId[] = ["hetionet", "drugbank", "pubmed", "clinicaltrials", "chembl_sqlite"];

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

/** DrugBank: the sample's drug elements repeated under one root with fresh primary ids. */
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
    // DrugBank ids are DB + 5 digits. Copy 0 keeps the sample's ids (interaction partners point
    // at them); later copies get fresh ids from DB20000 up.
    let fresh = 0;
    for (let copy = 0; n < bytes; copy++) {
      const b =
        copy === 0
          ? body
          : body.replace(
              /<drugbank-id primary="true">DB\d{5}</g,
              () =>
                `<drugbank-id primary="true">DB${String(20000 + (fresh++ % 80000)).padStart(5, "0")}<`,
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

/** Integer keys that must stay unique per copy; tid, assay_id and doc_id stay shared (real targets). */
const CHEMBL_SHIFTED = new Set([
  "molregno",
  "mec_id",
  "mecref_id",
  "record_id",
  "drugind_id",
  "indref_id",
  "activity_id",
]);
const CHEMBL_COPIED = [
  "molecule_dictionary",
  "compound_properties",
  "drug_mechanism",
  "mechanism_refs",
  "drug_indication",
  "indication_refs",
  "activities",
];

/**
 * ChEMBL: the sample database (data/raw/chembl, real chembl_33 schema and indexes) grown to `bytes`
 * by copying its molecules with their properties, mechanisms, indications and activities under
 * fresh keys and CHEMBL ids, copy k adding k·10⁷ to every key.
 */
async function scaleChembl(raw: string, dir: string, bytes: number): Promise<void> {
  const { default: Database } = await import("better-sqlite3");
  const src = (await readdir(path.join(raw, "chembl"))).find((f) => /\.db$/.test(f));
  if (!src) throw new Error(`no ${path.join(raw, "chembl")}/*.db sample to scale`);
  const file = path.join(dir, "chembl_bench.db");
  copyFileSync(path.join(raw, "chembl", src), file);
  const db = new Database(file);
  try {
    db.pragma("journal_mode = OFF");
    db.pragma("synchronous = OFF");
    const OFF = 10_000_000;
    const inserts = CHEMBL_COPIED.map((t) => {
      db.exec(`CREATE TEMP TABLE orig_${t} AS SELECT * FROM main.${t}`);
      const cols = (
        db.prepare(`SELECT name FROM pragma_table_info('${t}')`).all() as { name: string }[]
      ).map((c) => c.name);
      const exprs = cols.map((c) =>
        CHEMBL_SHIFTED.has(c)
          ? `${c} + CAST(@k AS INTEGER) * ${OFF}`
          : c === "chembl_id"
            ? `'CHEMBL' || (CAST(substr(chembl_id, 7) AS INTEGER) + CAST(@k AS INTEGER) * ${OFF})`
            : c,
      );
      return db.prepare(
        `INSERT INTO main.${t} (${cols.join(", ")}) SELECT ${exprs.join(", ")} FROM orig_${t}`,
      );
    });
    const copy = db.transaction((from: number, to: number) => {
      for (let k = from; k < to; k++) for (const ins of inserts) ins.run({ k });
    });
    const size = () => {
      const pages = db.pragma("page_count", { simple: true }) as number;
      return pages * (db.pragma("page_size", { simple: true }) as number);
    };
    let k = 1;
    while (size() < bytes) {
      const per = Math.max(1, (size() / k) | 0);
      const step = Math.max(1, Math.min(5000, Math.ceil((bytes - size()) / per)));
      copy(k, k + step);
      k += step;
    }
  } finally {
    db.close();
  }
}

interface ChildArgs {
  source: IngestSourceId;
  inDir: string;
  outDir: string;
}

/** The child: one source's full ingest, timed. */
async function child(a: ChildArgs): Promise<Record<string, unknown>> {
  const { runIngest } = await import("../ingest/index.js");
  const t0 = performance.now();
  const r = await runIngest({
    sources: [a.source],
    inDir: a.inDir,
    outDir: a.outDir,
    logDir: a.outDir,
    progress: false,
  });
  const s = r.sources[0]!;
  if (!s.ok) throw new Error(s.error ?? `${a.source} failed`);
  return { records: s.records, seconds: (performance.now() - t0) / 1000 };
}

/** Seconds `gzip -dc` takes to decompress `files` to /dev/null. */
export function gzipFloorSeconds(files: string[]): number {
  const t0 = performance.now();
  execFileSync("sh", ["-c", 'for f in "$@"; do gzip -dc "$f"; done > /dev/null', "sh", ...files]);
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

const SCALE: Record<IngestSourceId, (raw: string, dir: string, bytes: number) => Promise<void>> = {
  hetionet: scaleHetionet,
  drugbank: scaleDrugbank,
  pubmed: scalePubmed,
  clinicaltrials: scaleClinicalTrials,
  chembl_sqlite: scaleChembl,
};

export async function bench(o: BenchOptions, log: Log): Promise<SuiteOutcome> {
  const sources = (o.sources ?? ALL) as IngestSourceId[];
  const raw = projectPaths.rawData;
  const root = await mkdtemp(path.join(tmpdir(), "medtune-bench-ingest-"));
  const comparisons: Comparison[] = [];
  const goals: Goal[] = [];
  try {
    for (const source of sources) {
      const inDir = path.join(root, "raw");
      const dir = path.join(inDir, source === "chembl_sqlite" ? "chembl" : source);
      await mkdir(dir, { recursive: true });
      const mb = source === "chembl_sqlite" ? o.chemblMb : o.mb;
      log(`bench ingest: generating ${mb} MB of ${source} input…`);
      await SCALE[source](raw, dir, mb * 2 ** 20);
      const files = (await readdir(dir)).map((f) => path.join(dir, f));
      let floorFiles = files.filter((f) => f.endsWith(".gz"));
      if (source === "chembl_sqlite") {
        // ChEMBL ships its SQLite database gzipped (chembl_NN_sqlite.tar.gz): that is the floor.
        const gz = path.join(root, "chembl_bench.db.gz");
        execFileSync("sh", ["-c", 'gzip -c "$1" > "$2"', "sh", files[0]!, gz]);
        floorFiles = [gz];
      }
      const ub = await uncompressedBytes(files);
      const mib = ub / 2 ** 20;
      const c: Comparison = {
        suite: "ingest",
        title: `${source}, ${mib.toFixed(1)} MB uncompressed${source === "chembl_sqlite" ? " (generated SQLite in the chembl_33 schema)" : " (gzipped)"}`,
        ours: "medtune",
        subjects: ["medtune", "gzip -dc"],
        metrics: [
          {
            key: "mbPerSecond",
            label: "MB/s of uncompressed input",
            unit: "MB/s",
            higherIsBetter: true,
            chart: true,
          },
          { key: "seconds", label: "wall time", unit: "s", higherIsBetter: false },
          { key: "recordsPerSecond", label: "records/s", unit: "records/s", higherIsBetter: true },
          {
            key: "peakRssMiB",
            label: "peak RSS, process tree",
            unit: "MiB",
            higherIsBetter: false,
          },
        ],
        samples: [],
        notes: [],
      };
      let records = 0;
      await alternate(
        c,
        o.repeats ?? 2,
        async (subject, round) => {
          if (subject === "gzip -dc") {
            const seconds = gzipFloorSeconds(floorFiles);
            return { values: { seconds, mbPerSecond: mib / seconds } as Record<string, number> };
          }
          const outDir = path.join(root, "out", `${source}-${round}`);
          const run = await runNodeChild(SELF, { source, inDir, outDir } satisfies ChildArgs, {
            who: `medtune ingest ${source}`,
            timeoutSeconds: 1800,
          });
          await rm(outDir, { recursive: true, force: true });
          const who = `ingest ${source}`;
          const seconds = numberField(who, run.result, "seconds");
          records = numberField(who, run.result, "records");
          return {
            values: {
              seconds,
              mbPerSecond: mib / seconds,
              recordsPerSecond: records / seconds,
              peakRssMiB:
                Math.max(run.treePeakRssBytes, numberField(who, run.result, "peakRssBytes")) /
                2 ** 20,
            },
          };
        },
        log,
      );
      c.notes.push(
        `${records} records per run; medtune's wall time includes starting the child's ingest (reader, validation, atomic JSONL write, audit log)`,
      );
      comparisons.push(c);
      goals.push(
        goal(`ingest ${source} time vs gzip -dc floor`, ratioOf(c, "gzip -dc", "seconds"), "≤", 2),
      );
      if (!o.keep) await rm(dir, { recursive: true, force: true });
    }
  } finally {
    if (!o.keep) await rm(root, { recursive: true, force: true });
    else log(`bench ingest: inputs kept in ${root}`);
  }
  return { comparisons, goals };
}

childEntry(SELF, child as (a: never) => Promise<Record<string, unknown>>);
