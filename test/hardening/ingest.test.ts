/**
 * Malformed-input suite for `ingest`: every reader and file kind (JSON, gz, bz2, TSV/SIF, SQLite,
 * XML, JSON Lines, zip, CSV) gets a truncated, a garbage, an empty and an oversized input, run
 * through `runIngest` into a folder that holds a good previous output. Each case asserts how the
 * source ends (failed, or succeeded with an audited skip), that the error or skip names the file and
 * the position and what was expected, that the previous output is byte-identical after a failure,
 * and that no temporary is left (outputs, logs, and a private TMPDIR for the Hetionet sorter).
 * Oversized cases run with small caps (limits.maxRecordChars = 1 MiB) so they are fast; the
 * bounded-memory runs at the default caps are in memory.test.ts.
 *
 *   npx vitest run test/hardening
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runIngest, sourceDir } from "../../src/ingest/index.js";
import type { IngestSourceId } from "../../src/ingest/types.js";
import { writeZip } from "../ingest/helpers.js";
import {
  auditLines,
  bz2,
  expectNoTemporaries,
  garbage,
  good,
  gz,
  previousOutputs,
  truncated,
  writeFiles,
} from "./helpers.js";

const SMALL = { maxRecordChars: 1 << 20, maxDepth: 64 };
const BIG = "x".repeat(3 << 20);
const DEEP = 100_000;

let work: string;
let privateTmp: string;
let savedTmp: string | undefined;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), "medtune-test-hardening-"));
  // The Hetionet sorter makes its run folder in os.tmpdir(): give it a private one to inspect.
  privateTmp = path.join(work, "tmp");
  mkdirSync(privateTmp);
  savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = privateTmp;
});
afterAll(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  rmSync(work, { recursive: true, force: true });
});

interface Case {
  name: string;
  source: IngestSourceId;
  /** Input files, relative to the source's folder. */
  files: (dir: string) => Record<string, Buffer | string>;
  /** The file the error or skip must name. */
  file: string;
  /** The source fails with a message matching this … */
  error?: RegExp;
  /** … or succeeds with an audited skip whose location and reason match these. */
  skip?: { location: RegExp; reason: RegExp };
}

async function runCase(c: Case) {
  const root = mkdtempSync(path.join(work, "case-"));
  const inDir = path.join(root, "raw");
  const outDir = path.join(root, "out");
  const logDir = path.join(root, "logs");
  writeFiles(path.join(inDir, sourceDir(c.source)), c.files(root));
  const previous = previousOutputs(outDir, [`${c.source}.jsonl`]);
  const result = await runIngest({
    sources: [c.source],
    inDir,
    outDir,
    logDir,
    progress: false,
    limits: SMALL,
  });
  const s = result.sources[0]!;
  const audit = auditLines(result.auditLog);
  expectNoTemporaries(outDir, logDir, privateTmp);
  if (!s.ok) previous.check();
  if (c.error) {
    expect(s.ok, `${c.name} should fail`).toBe(false);
    expect(s.error).toMatch(c.error);
    expect(s.error).toContain(c.file);
    expect(s.error).not.toMatch(/Cannot read properties|undefined|\[object /);
    expect(audit.some((e) => e.type === "error" && String(e.message).includes(c.file))).toBe(true);
  }
  if (c.skip) {
    // The rest of the input is still read: every skip case holds good records beside the bad one.
    expect(s.ok, `${c.name}: ${s.error}`).toBe(true);
    expect(s.records).toBeGreaterThan(0);
    const skips = audit.filter((e) => e.type === "skip");
    const hit = skips.find(
      (e) =>
        String(e.file).includes(c.file) &&
        c.skip!.location.test(String(e.location)) &&
        c.skip!.reason.test(String(e.reason)),
    );
    expect(hit, `${c.name}: no matching skip in ${JSON.stringify(skips.slice(0, 5))}`).toBeTruthy();
  }
  return { s, audit };
}

const hetionetOversized = `{"nodes":[{"kind":"Gene","identifier":1,"name":"${BIG}"}],"edges":[]}`;
const hetionetDeep = `{"nodes":[${"[".repeat(DEEP)}${"]".repeat(DEEP)}],"edges":[]}`;
const bupropion = (ext: string) => `bupropion.json${ext}`;

const HETIONET: Case[] = [
  {
    name: "JSON truncated",
    source: "hetionet",
    files: () => ({ [bupropion("")]: truncated(good.hetionetJson) }),
    file: bupropion(""),
    error: /file truncated\?/,
  },
  {
    name: "JSON garbage",
    source: "hetionet",
    files: () => ({ [bupropion("")]: garbage() }),
    file: bupropion(""),
    error: /expected a JSON object/,
  },
  {
    name: "JSON empty",
    source: "hetionet",
    files: () => ({ [bupropion("")]: "" }),
    file: bupropion(""),
    error: /empty file/,
  },
  {
    name: "JSON oversized element",
    source: "hetionet",
    files: () => ({ [bupropion("")]: hetionetOversized }),
    file: bupropion(""),
    error: /\(nodes\[0\]\): one element is over the 1048576-character record cap/,
  },
  {
    name: "JSON nested 100k deep (reported as too deep, not as a missing array)",
    source: "hetionet",
    files: () => ({ [bupropion("")]: hetionetDeep }),
    file: bupropion(""),
    error: /\(nodes\[0\]\): this element is nested deeper than the 64-level cap/,
  },
  {
    name: "gzip truncated",
    source: "hetionet",
    files: () => ({ [bupropion(".gz")]: truncated(gz(good.hetionetJson)) }),
    file: bupropion(".gz"),
    error: /expected a complete gzip stream: the file is truncated or corrupt/,
  },
  {
    name: "gzip garbage",
    source: "hetionet",
    files: () => ({ [bupropion(".gz")]: garbage() }),
    file: bupropion(".gz"),
    error: /expected a complete gzip stream/,
  },
  {
    name: "gzip empty",
    source: "hetionet",
    files: () => ({ [bupropion(".gz")]: "" }),
    file: bupropion(".gz"),
    error: /empty file: expected a gzip stream/,
  },
  {
    name: "gzip oversized element",
    source: "hetionet",
    files: () => ({ [bupropion(".gz")]: gz(hetionetOversized) }),
    file: bupropion(".gz"),
    error: /record cap/,
  },
  {
    name: "bzip2 garbage",
    source: "hetionet",
    files: () => ({ [bupropion(".bz2")]: Buffer.concat([Buffer.from("BZh9"), garbage()]) }),
    file: bupropion(".bz2"),
    error: /expected a complete bzip2 stream: the file is truncated or corrupt/,
  },
  {
    name: "bzip2 empty",
    source: "hetionet",
    files: () => ({ [bupropion(".bz2")]: "" }),
    file: bupropion(".bz2"),
    error: /empty file: expected a bzip2 stream/,
  },
  {
    name: "bzip2 oversized element",
    source: "hetionet",
    files: (dir) => ({ [bupropion(".bz2")]: bz2(hetionetOversized, dir) }),
    file: bupropion(".bz2"),
    error: /record cap/,
  },
  {
    name: "nodes TSV garbage",
    source: "hetionet",
    files: () => ({ "nodes.tsv": garbage(), "edges.sif": good.sif }),
    file: "nodes.tsv",
    error: /\(line 1\): expected the Hetionet nodes header/,
  },
  {
    name: "nodes TSV empty",
    source: "hetionet",
    files: () => ({ "nodes.tsv": "", "edges.sif": good.sif }),
    file: "nodes.tsv",
    error: /no nodes read \(empty file\?\)/,
  },
  {
    name: "nodes TSV oversized line",
    source: "hetionet",
    files: () => ({
      "nodes.tsv": `id\tname\tkind\nGene::1\t${BIG}\tGene\n`,
      "edges.sif": good.sif,
    }),
    file: "nodes.tsv",
    error: /\(line 2\): line 2 is over the 1048576-character record cap/,
  },
  {
    name: "edges SIF oversized line",
    source: "hetionet",
    files: () => ({
      "nodes.tsv": good.nodesTsv,
      "edges.sif": `source\tmetaedge\ttarget\n${BIG}\n`,
    }),
    file: "edges.sif",
    error: /\(line 2\): .*record cap/,
  },
];

/** A SIF cut right after the second field of a line: that last line is a skip naming it. */
const sifLines = good.sif.toString("utf8").split("\n");
const cutSifLastLine = Math.floor(sifLines.length / 3);
const cutSif = [
  ...sifLines.slice(0, cutSifLastLine - 1),
  sifLines[cutSifLastLine - 1]!.split("\t").slice(0, 2).join("\t") + "\t",
].join("\n");
HETIONET.push({
  name: "edges SIF truncated mid-line",
  source: "hetionet",
  files: () => ({ "nodes.tsv": good.nodesTsv, "edges.sif": cutSif }),
  file: "edges.sif",
  skip: {
    location: new RegExp(`^line ${cutSifLastLine}$`),
    reason: /expected 3 tab-separated fields/,
  },
});

function chemblVariant(dir: string, sql: string, params: unknown[] = []): Buffer {
  const f = path.join(dir, `variant-${Math.random().toString(36).slice(2)}.db`);
  writeFiles(dir, { [path.basename(f)]: good.chemblDb });
  const db = new Database(f);
  db.prepare(sql).run(...params);
  db.close();
  return readFileSync(f);
}

const CHEMBL: Case[] = [
  {
    name: "SQLite truncated",
    source: "chembl_sqlite",
    files: () => ({ "chembl_33.db": truncated(good.chemblDb, 0.3) }),
    file: "chembl_33.db",
    error: /SQLite error \(expected a readable ChEMBL database\)|not a ChEMBL database/,
  },
  {
    name: "SQLite garbage",
    source: "chembl_sqlite",
    files: () => ({ "chembl_33.db": garbage() }),
    file: "chembl_33.db",
    error: /file header is not 'SQLite format 3'/,
  },
  {
    name: "SQLite empty",
    source: "chembl_sqlite",
    files: () => ({ "chembl_33.db": "" }),
    file: "chembl_33.db",
    error: /file header is not 'SQLite format 3'/,
  },
  {
    name: "SQLite oversized text cell",
    source: "chembl_sqlite",
    files: (dir) => ({
      "chembl_33.db": chemblVariant(
        dir,
        "UPDATE molecule_dictionary SET pref_name = ? WHERE molregno = (SELECT min(molregno) FROM molecule_dictionary WHERE pref_name IS NOT NULL)",
        [BIG],
      ),
    }),
    file: "chembl_33.db",
    skip: { location: /molregno=\d+/, reason: /column pref_name is over the 1048576-character/ },
  },
];

const article = (title: string, pmid = "1") =>
  `<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID>${pmid}</PMID><Article><ArticleTitle>${title}</ArticleTitle><Abstract><AbstractText>Aspirin reduced events.</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle>`;
const pubmedDoc = (body: string) =>
  `<?xml version="1.0"?>\n<PubmedArticleSet>\n${body}\n</PubmedArticleSet>\n`;

const PUBMED: Case[] = [
  {
    name: "XML truncated",
    source: "pubmed",
    files: () => ({ "efetch.xml": truncated(good.pubmedXml) }),
    file: "efetch.xml",
    error: /\(line \d+\): XML ends early \(file truncated\?\)/,
  },
  {
    name: "XML garbage",
    source: "pubmed",
    files: () => ({ "efetch.xml": garbage() }),
    file: "efetch.xml",
    error: /\(line \d+\): not well-formed PubMed XML/,
  },
  {
    name: "XML empty",
    source: "pubmed",
    files: () => ({ "efetch.xml": "" }),
    file: "efetch.xml",
    error: /found no elements \(empty file\?\)/,
  },
  {
    name: "XML oversized article",
    source: "pubmed",
    files: () => ({ "efetch.xml": pubmedDoc(article("A") + article(BIG, "2")) }),
    file: "efetch.xml",
    error: /\(PubmedArticle #2 \(line 3, column \d+\)\): this record is over the 1048576-character/,
  },
  {
    name: "XML nested 100k deep",
    source: "pubmed",
    files: () => ({ "efetch.xml": pubmedDoc(`${"<a>".repeat(DEEP)}${"</a>".repeat(DEEP)}`) }),
    file: "efetch.xml",
    error: /this element is nested deeper than the 64-level cap/,
  },
  {
    name: "gzip truncated",
    source: "pubmed",
    files: () => ({ "pubmed26n0001.xml.gz": truncated(gz(good.pubmedXml)) }),
    file: "pubmed26n0001.xml.gz",
    error: /expected a complete gzip stream/,
  },
];

const studyWithTitle = (nct: string, title: string) =>
  JSON.stringify({
    protocolSection: { identificationModule: { nctId: nct, briefTitle: title } },
    hasResults: false,
  });

const CLINICALTRIALS: Case[] = [
  {
    name: "JSON truncated",
    source: "clinicaltrials",
    files: () => ({ "NCT02552212.json": truncated(good.ctStudy) }),
    file: "NCT02552212.json",
    error:
      /\(line \d+\): not ClinicalTrials.gov v2 JSON: file ends inside the top-level object \(truncated\?\)/,
  },
  {
    name: "JSON garbage",
    source: "clinicaltrials",
    files: () => ({ "NCT02552212.json": garbage() }),
    file: "NCT02552212.json",
    error: /\(line 1\): not ClinicalTrials.gov v2 JSON: expected "\{" or "\["/,
  },
  {
    name: "JSON empty",
    source: "clinicaltrials",
    files: () => ({ "NCT02552212.json": "" }),
    file: "NCT02552212.json",
    error: /no JSON value \(empty file\?\)/,
  },
  {
    name: "JSON oversized study in a /studies page",
    source: "clinicaltrials",
    files: () => ({
      "page.json": `{"studies": [${good.ctStudy}, ${studyWithTitle("NCT99999999", BIG)}]}`,
    }),
    file: "page.json",
    skip: { location: /^studies\[1\] \(line \d+\)$/, reason: /this study is over the 1048576/ },
  },
  {
    name: "JSON oversized single study (skipped without reading the rest)",
    source: "clinicaltrials",
    files: () => ({
      "NCT02552212.json": good.ctStudy,
      "NCT99999999.json": studyWithTitle("NCT99999999", BIG),
    }),
    file: "NCT99999999.json",
    skip: {
      location: /^study, member "protocolSection" \(line 1\)$/,
      reason: /over the 1048576-character record cap/,
    },
  },
  {
    name: "JSON nested 100k deep",
    source: "clinicaltrials",
    files: () => ({
      "page.json": `{"studies": [${good.ctStudy}, ${"[".repeat(DEEP)}${"]".repeat(DEEP)}]}`,
    }),
    file: "page.json",
    skip: { location: /^studies\[1\]/, reason: /nested deeper than the 64-level cap/ },
  },
  {
    name: "JSON Lines truncated",
    source: "clinicaltrials",
    files: () => {
      const text = `${JSON.stringify(JSON.parse(good.ctStudy.toString()))}\n${JSON.stringify(JSON.parse(good.ctStudy2.toString()))}\n`;
      return { "studies.jsonl": text.slice(0, text.length - 500) };
    },
    file: "studies.jsonl",
    skip: { location: /^line 2$/, reason: /not valid JSON/ },
  },
  {
    name: "JSON Lines garbage after a good study",
    source: "clinicaltrials",
    files: () => ({
      "studies.jsonl": Buffer.concat([
        Buffer.from(`${JSON.stringify(JSON.parse(good.ctStudy.toString()))}\n`),
        garbage(),
      ]),
    }),
    file: "studies.jsonl",
    skip: { location: /^line 2$/, reason: /not valid JSON/ },
  },
  {
    name: "JSON Lines empty",
    source: "clinicaltrials",
    files: () => ({ "studies.jsonl": "\n\n" }),
    file: "studies.jsonl",
    error: /empty file: expected JSON Lines/,
  },
  {
    name: "JSON Lines oversized line",
    source: "clinicaltrials",
    files: () => ({
      "studies.jsonl": `${JSON.stringify(JSON.parse(good.ctStudy.toString()))}\n${studyWithTitle("NCT99999999", BIG)}\n`,
    }),
    file: "studies.jsonl",
    skip: { location: /^line 2$/, reason: /this study is over the 1048576-character record cap/ },
  },
  {
    name: "zip truncated",
    source: "clinicaltrials",
    files: (dir) => {
      const f = path.join(dir, "z.zip");
      writeZip(f, [["NCT02552212.json", good.ctStudy]]);
      return { "ctg-studies.json.zip": truncated(readFileSync(f)) };
    },
    file: "ctg-studies.json.zip",
    error: /expected a zip archive|damaged or truncated/,
  },
  {
    name: "zip garbage",
    source: "clinicaltrials",
    files: () => ({ "ctg-studies.json.zip": garbage() }),
    file: "ctg-studies.json.zip",
    error: /expected a zip archive of study JSON files/,
  },
  {
    name: "zip empty",
    source: "clinicaltrials",
    files: () => ({ "ctg-studies.json.zip": "" }),
    file: "ctg-studies.json.zip",
    error: /expected a zip archive of study JSON files/,
  },
  {
    name: "zip oversized entry",
    source: "clinicaltrials",
    files: (dir) => {
      const f = path.join(dir, "z.zip");
      // The oversized entry first: the entry after it must still be read.
      writeZip(f, [
        ["NCT99999999.json", Buffer.from(studyWithTitle("NCT99999999", BIG))],
        ["NCT02552212.json", good.ctStudy],
      ]);
      return { "ctg-studies.json.zip": readFileSync(f) };
    },
    file: "ctg-studies.json.zip!NCT99999999.json",
    skip: { location: /^study, member "protocolSection"/, reason: /record cap/ },
  },
];

const drugXml = (indication: string) =>
  good.drugbankXml
    .toString()
    .replace(/<indication>[\s\S]*?<\/indication>/, `<indication>${indication}</indication>`);

function zipOf(dir: string, name: string, data: Buffer | string): Buffer {
  const f = path.join(dir, `${Math.random().toString(36).slice(2)}.zip`);
  writeZip(f, [[name, Buffer.from(data)]]);
  return readFileSync(f);
}

const DRUGBANK: Case[] = [
  {
    name: "XML truncated",
    source: "drugbank",
    files: () => ({ "full database.xml": truncated(good.drugbankXml) }),
    file: "full database.xml",
    error: /\(line \d+, column \d+\): malformed XML: file truncated\?/,
  },
  {
    name: "XML garbage",
    source: "drugbank",
    files: () => ({ "full database.xml": garbage() }),
    file: "full database.xml",
    error: /\(line \d+, column \d+\): malformed XML/,
  },
  {
    name: "XML empty",
    source: "drugbank",
    files: () => ({ "full database.xml": "" }),
    file: "full database.xml",
    error: /empty file: expected a DrugBank <drugbank> document/,
  },
  {
    name: "XML oversized drug",
    source: "drugbank",
    files: () => ({ "full database.xml": drugXml(BIG) }),
    file: "full database.xml",
    error:
      /\(drug #1 \(line \d+\), line \d+, column \d+\): this record is over the 1048576-character/,
  },
  {
    name: "XML nested 100k deep",
    source: "drugbank",
    files: () => ({ "full database.xml": drugXml(`${"<b>".repeat(DEEP)}${"</b>".repeat(DEEP)}`) }),
    file: "full database.xml",
    error: /this element is nested deeper than the 64-level cap/,
  },
  {
    name: "zip truncated",
    source: "drugbank",
    files: (dir) => ({
      "drugbank.xml.zip": truncated(zipOf(dir, "full database.xml", good.drugbankXml), 0.6),
    }),
    file: "drugbank.xml.zip",
    error: /no end-of-central-directory record|truncated/,
  },
  {
    name: "zip garbage",
    source: "drugbank",
    files: () => ({ "drugbank.xml.zip": garbage() }),
    file: "drugbank.xml.zip",
    error: /not a zip file, or truncated/,
  },
  {
    name: "zip empty",
    source: "drugbank",
    files: () => ({ "drugbank.xml.zip": "" }),
    file: "drugbank.xml.zip",
    error: /not a zip file, or truncated/,
  },
  {
    name: "zip oversized drug",
    source: "drugbank",
    files: (dir) => ({ "drugbank.xml.zip": zipOf(dir, "full database.xml", drugXml(BIG)) }),
    file: "drugbank.xml.zip",
    error: /record cap/,
  },
  {
    name: "CSV truncated inside a quoted field",
    source: "drugbank",
    files: () => ({ "vocabulary.csv": `${good.drugbankCsv.toString().trimEnd()}\nDB99999,,"Cut` }),
    file: "vocabulary.csv",
    error: /malformed CSV: .*quote/i,
  },
  {
    name: "CSV garbage",
    source: "drugbank",
    files: () => ({ "vocabulary.csv": garbage() }),
    file: "vocabulary.csv",
    error: /not a DrugBank Vocabulary CSV|malformed CSV/,
  },
  {
    name: "CSV empty",
    source: "drugbank",
    files: () => ({ "vocabulary.csv": "" }),
    file: "vocabulary.csv",
    error: /empty file: expected the DrugBank Vocabulary CSV header/,
  },
  {
    name: "CSV oversized row",
    source: "drugbank",
    files: () => ({
      "vocabulary.csv": `${good.drugbankCsv.toString().trimEnd()}\nDB99999,,Big,,,"${BIG}",\n`,
    }),
    file: "vocabulary.csv",
    error: /\(line \d+\): one CSV row is over the 1048576-character record cap/,
  },
];

for (const [title, cases] of [
  ["hetionet (JSON, gz, bz2, TSV/SIF)", HETIONET],
  ["chembl (SQLite)", CHEMBL],
  ["pubmed (XML, gz)", PUBMED],
  ["clinicaltrials (JSON, JSON Lines, zip)", CLINICALTRIALS],
  ["drugbank (XML, zip, CSV)", DRUGBANK],
] as const) {
  describe(`malformed input: ${title}`, () => {
    for (const c of cases) it(c.name, () => runCase(c).then(() => undefined));
  });
}

describe("malformed input: bzip2 cut at any point", () => {
  it("names the file and says truncated or corrupt, never an internal JS message", async () => {
    const dir = mkdtempSync(path.join(work, "bz-"));
    // A small real graph (the bupropion subgraph's first nodes): one bzip2 block, cut anywhere.
    const graph = JSON.parse(good.hetionetJson.toString()) as { nodes: unknown[] };
    const whole = bz2(
      JSON.stringify({ ...graph, nodes: graph.nodes.slice(0, 300), edges: [] }),
      dir,
    );
    // Cuts inside the stream header, the first block, between blocks and just before the end.
    for (const cut of [5, 100, Math.floor(whole.length / 2), whole.length - 1]) {
      await runCase({
        name: `bz2 cut at ${cut}`,
        source: "hetionet",
        files: () => ({ [bupropion(".bz2")]: whole.subarray(0, cut) }),
        file: bupropion(".bz2"),
        error: /expected a complete bzip2 stream: the file is truncated or corrupt/,
      });
    }
  });
});
