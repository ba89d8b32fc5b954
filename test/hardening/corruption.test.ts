/**
 * Silent corruption is never silent: invalid UTF-8 is counted per file in the audit log with its
 * first byte offset; ids and citations must match their grammar (a SQLite BLOB or a NUL byte never
 * becomes an id); a ClinicalTrials study with only an id is a skip; a DrugBank interaction with a
 * drug absent from the input is marked unresolved and audited. CRLF line ends are read like LF by
 * every text reader.
 *
 *   npx vitest run test/hardening/corruption.test.ts
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readJsonlFile } from "../../src/data/jsonl.js";
import { readChembl } from "../../src/ingest/chembl.js";
import { readClinicalTrials } from "../../src/ingest/clinicaltrials.js";
import { readDrugbank } from "../../src/ingest/drugbank.js";
import { readHetionet } from "../../src/ingest/hetionet/index.js";
import { runIngest } from "../../src/ingest/index.js";
import { idProblem } from "../../src/ingest/types.js";
import { collect } from "../ingest/helpers.js";
import { auditLines, good, writeFiles } from "./helpers.js";

/** The real Hetionet SIF (shipped with CRLF) cut to its first lines as LF, and the nodes those lines name. */
const sifLines = good.sif.toString("utf8").split(/\r?\n/).slice(0, 1500);
const named = new Set(sifLines.slice(1).flatMap((l) => [l.split("\t")[0], l.split("\t")[2]]));
const nodesTsv = Buffer.from(
  `${good.nodesTsv
    .toString("utf8")
    .split(/\r?\n/)
    .filter((l, i) => i === 0 || named.has(l.split("\t")[0]))
    .join("\n")}\n`,
);
const sif = Buffer.from(`${sifLines.join("\n")}\n`);

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), "medtune-test-corruption-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const dir = () => mkdtempSync(path.join(work, "c-"));

describe("invalid UTF-8", () => {
  it("is counted per input file in the audit log with the first byte offset, as a warning", async () => {
    const root = dir();
    const study = good.ctStudy.toString("utf8");
    const at = study.indexOf('"briefTitle": "') + '"briefTitle": "'.length;
    // Two bad sequences (a lone continuation byte and a truncated 3-byte sequence) in one file.
    const bad = Buffer.concat([
      Buffer.from(study.slice(0, at)),
      Buffer.from([0x80]),
      Buffer.from("Caf"),
      Buffer.from([0xe2, 0x82]),
      Buffer.from(study.slice(at)),
    ]);
    const offset = Buffer.byteLength(study.slice(0, at));
    writeFiles(path.join(root, "raw", "clinicaltrials"), {
      "NCT02552212.json": bad,
      "NCT00973089.json": good.ctStudy2,
    });
    const result = await runIngest({
      sources: ["clinicaltrials"],
      inDir: path.join(root, "raw"),
      outDir: path.join(root, "out"),
      logDir: path.join(root, "logs"),
      progress: false,
    });
    expect(result.ok).toBe(true);
    const warnings = auditLines(result.auditLog).filter((e) => e.type === "warning");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      source: "clinicaltrials",
      kind: "invalid-utf8",
      count: 2,
      location: `byte ${offset}`,
    });
    expect(String(warnings[0]!.file)).toMatch(/NCT02552212\.json$/);
    expect(result.sources[0]!.warnings[0]!.message).toMatch(
      /2 invalid UTF-8 sequence\(s\), first at byte/,
    );
  });

  it("is found near the end of a large file read in chunks (TSV reader)", async () => {
    const root = dir();
    const nodes = nodesTsv.toString("utf8");
    const cut = nodes.length - 200;
    const bad = Buffer.concat([
      Buffer.from(nodes.slice(0, cut)),
      Buffer.from([0xff]),
      Buffer.from(nodes.slice(cut)),
    ]);
    const [n, s] = writeFiles(root, { "nodes.tsv": bad, "edges.sif": sif });
    const { events } = await collect(readHetionet([n!, s!], {}));
    const w = events.filter((e) => e.type === "warning");
    expect(w).toEqual([
      expect.objectContaining({
        file: n,
        kind: "invalid-utf8",
        count: 1,
        location: `byte ${Buffer.byteLength(nodes.slice(0, cut))}`,
      }),
    ]);
  });

  it("is not reported for valid multi-byte text", async () => {
    const root = dir();
    const [f] = writeFiles(root, {
      "studies.jsonl": `${JSON.stringify({ protocolSection: { identificationModule: { nctId: "NCT00000001", briefTitle: "Étude ß-bloquant 治疗 🧪" } } })}\n`,
    });
    const { events, records } = await collect(readClinicalTrials([f!], {}));
    expect(records.length).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === "warning")).toEqual([]);
  });
});

describe("ids and citations follow their grammar", () => {
  it("accepts real ids and rejects BLOBs, NUL bytes and look-alikes", () => {
    expect(idProblem("pmid", "29130141")).toBeUndefined();
    expect(idProblem("nct", "NCT02552212")).toBeUndefined();
    expect(idProblem("chembl", "CHEMBL25")).toBeUndefined();
    expect(idProblem("drugbank", "DB00945")).toBeUndefined();
    expect(idProblem("hetionetNode", "DOID:0050742")).toBeUndefined();
    expect(idProblem("chembl", Buffer.from("CHEMBL25"))).toMatch(/binary \(BLOB\)/);
    expect(idProblem("chembl", "CHEMBL25\0")).toMatch(/does not match/);
    expect(idProblem("pmid", "0123")).toMatch(/does not match/);
    expect(idProblem("nct", "NCT1234567")).toMatch(/does not match/);
    expect(idProblem("drugbank", "DB0001")).toMatch(/does not match/);
    expect(idProblem("hetionetNode", "1 2")).toMatch(/does not match/);
  });

  it("skips ChEMBL rows whose id is a BLOB or holds a NUL byte, with the row and the reason", async () => {
    const f = path.join(dir(), "chembl_33.db");
    writeFileSync(f, good.chemblDb);
    const db = new Database(f);
    const named = db
      .prepare(
        "SELECT molregno, chembl_id FROM molecule_dictionary WHERE pref_name IS NOT NULL ORDER BY molregno LIMIT 2",
      )
      .all() as { molregno: number; chembl_id: string }[];
    db.prepare("UPDATE molecule_dictionary SET chembl_id = ? WHERE molregno = ?").run(
      Buffer.from("CHEMBL\0\x01"),
      named[0]!.molregno,
    );
    db.prepare("UPDATE molecule_dictionary SET chembl_id = ? WHERE molregno = ?").run(
      `${named[1]!.chembl_id}\0x`,
      named[1]!.molregno,
    );
    db.close();
    const { records, skips } = await collect(readChembl([f], {}));
    for (const r of records) {
      expect(r.id).not.toMatch(/\0/);
      for (const c of r.metadata.citations) expect(c).not.toMatch(/\0/);
    }
    const reasons = skips.map((s) => `${s.location}: ${s.reason}`).join("\n");
    expect(reasons).toMatch(
      new RegExp(`molregno=${named[0]!.molregno}: column chembl_id holds a BLOB`),
    );
    expect(reasons).toMatch(
      new RegExp(`molregno=${named[1]!.molregno}: column chembl_id contains a NUL byte`),
    );
    expect(records.some((r) => r.id.includes(named[1]!.chembl_id))).toBe(false);
  });

  it("skips Hetionet nodes whose identifier is not an id (so edges to them are skipped too)", async () => {
    const root = dir();
    const [f] = writeFiles(root, {
      "g.json": JSON.stringify({
        nodes: [
          { kind: "Compound", identifier: "DB01156", name: "Bupropion" },
          { kind: "Disease", identifier: "DOID:0050742\u0000", name: "nicotine dependence" },
        ],
        edges: [
          {
            source_id: ["Compound", "DB01156"],
            target_id: ["Disease", "DOID:0050742\u0000"],
            kind: "treats",
            direction: "both",
          },
        ],
      }),
    });
    const { skips } = await collect(readHetionet([f!], {}));
    expect(skips[0]).toMatchObject({
      location: "nodes[1]",
      reason: expect.stringMatching(/hetionetNode id .* does not match/),
    });
    expect(skips[1]).toMatchObject({
      location: "edges[0]",
      reason: expect.stringMatching(/not in the nodes table/),
    });
  });

  it("reads an empty edges array as an empty edges array, not as a missing one", async () => {
    const [f] = writeFiles(dir(), {
      "g.json": JSON.stringify({
        nodes: [{ kind: "Gene", identifier: 1, name: "A1BG" }],
        edges: [],
      }),
    });
    const { records } = await collect(readHetionet([f!], {}));
    expect(records).toEqual([]);
  });
});

describe("ClinicalTrials study with only an id", () => {
  it("is a skip with a reason, not 'A study.' and 'No results posted' records", async () => {
    const [f] = writeFiles(dir(), {
      "studies.jsonl": [
        JSON.stringify({ protocolSection: { identificationModule: { nctId: "NCT00000001" } } }),
        JSON.stringify({
          protocolSection: {
            identificationModule: { nctId: "NCT00000002" },
            statusModule: { overallStatus: "COMPLETED" },
          },
          hasResults: false,
        }),
        JSON.stringify(JSON.parse(good.ctStudy2.toString())),
      ].join("\n"),
    });
    const { records, skips } = await collect(readClinicalTrials([f!], {}));
    expect(skips.map((s) => [s.location, s.reason])).toEqual([
      [
        "line 1",
        "NCT00000001: no content (no title, summary, conditions, interventions, outcomes or results)",
      ],
      [
        "line 2",
        "NCT00000002: no content (no title, summary, conditions, interventions, outcomes or results)",
      ],
    ]);
    expect(records.some((r) => /NCT0000000[12]/.test(r.id))).toBe(false);
    expect(records.length).toBeGreaterThan(0);
  });
});

describe("DrugBank interaction with a drug absent from the input", () => {
  it("is marked unresolved (lower confidence) and audited, never presented as checked", async () => {
    const root = dir();
    // Two records of the full database: DB00001 and DB00006 list each other; the rest of their
    // partners are not in these files.
    const [f] = writeFiles(root, { "full database.xml": good.drugbankXml });
    const { records, events } = await collect(readDrugbank([f!], {}));
    const ddi = records.filter((r) => r.metadata.task === "drugbank.ddi");
    expect(ddi.length).toBeGreaterThan(5);
    const unresolved = ddi.filter((r) => r.metadata.provenance.partnerUnresolved === true);
    const resolved = ddi.filter((r) => r.metadata.provenance.partnerUnresolved !== true);
    expect(unresolved.length).toBeGreaterThan(0);
    for (const r of unresolved) expect(r.metadata.confidence).toBeLessThan(0.9);
    const known = new Set(
      [
        ...good.drugbankXml
          .toString()
          .matchAll(/<drug type="[^"]+"[^>]*>\s*<drugbank-id primary="true">(DB\d{5})</g),
      ].map((m) => m[1]),
    );
    for (const r of resolved) expect(known.has(String(r.metadata.provenance.partner))).toBe(true);
    for (const r of unresolved)
      expect(known.has(String(r.metadata.provenance.partner))).toBe(false);
    const w = events.filter((e) => e.type === "warning");
    expect(w).toEqual([
      expect.objectContaining({ file: f, kind: "unresolved-reference", count: unresolved.length }),
    ]);
  });

  it("with the vocabulary given, partners named there count as resolved", async () => {
    const root = dir();
    const xml = good.drugbankXml.toString();
    const partner =
      /<drug-interaction>\s*<drugbank-id>(DB\d{5})<\/drugbank-id>\s*<name>([^<]+)<\/name>/.exec(
        xml,
      )!;
    const [x, csv] = writeFiles(root, {
      "full database.xml": xml,
      "vocabulary.csv": `DrugBank ID,Accession Numbers,Common name,CAS,UNII,Synonyms,Standard InChI Key\r\n${partner[1]},,${partner[2]},,,,\r\n`,
    });
    const { records } = await collect(readDrugbank([x!, csv!], {}));
    const ddi = records.filter((r) => r.metadata.provenance.partner === partner[1]);
    expect(ddi.length).toBeGreaterThan(0);
    for (const r of ddi) expect(r.metadata.provenance.partnerUnresolved).toBeUndefined();
  });
});

describe("CRLF line ends", () => {
  const crlf = (b: Buffer | string) => Buffer.from(b.toString().replace(/\r?\n/g, "\r\n"));

  it("Hetionet nodes TSV and edges SIF give the same records as LF", async () => {
    const root = dir();
    const [n, s] = writeFiles(root, { "lf/nodes.tsv": nodesTsv, "lf/edges.sif": sif });
    const [cn, cs] = writeFiles(root, {
      "crlf/nodes.tsv": crlf(nodesTsv),
      "crlf/edges.sif": crlf(sif),
    });
    const lf = await collect(readHetionet([n!, s!], {}));
    const cr = await collect(readHetionet([cn!, cs!], {}));
    expect(lf.records.length).toBeGreaterThan(50);
    expect(cr.records.length).toBe(lf.records.length);
    expect(cr.records.map((r) => r.output)).toEqual(lf.records.map((r) => r.output));
    expect(cr.records.some((r) => /\r/.test(r.output + r.instruction))).toBe(false);
  });

  it("DrugBank vocabulary CSV, ClinicalTrials JSON Lines and record JSONL", async () => {
    const root = dir();
    const [csv] = writeFiles(root, { "v.csv": crlf(good.drugbankCsv) });
    const a = await collect(readDrugbank([csv!], {}));
    expect(a.skips).toEqual([]);
    expect(a.records.length).toBeGreaterThan(0);
    expect(a.records.some((r) => /\r/.test(r.output))).toBe(false);

    const lines = [good.ctStudy, good.ctStudy2].map((b) =>
      JSON.stringify(JSON.parse(b.toString())),
    );
    const [jl] = writeFiles(root, { "s.jsonl": `${lines.join("\r\n")}\r\n` });
    const b = await collect(readClinicalTrials([jl!], {}));
    expect(b.skips).toEqual([]);
    expect(new Set(b.records.map((r) => r.metadata.citations[0]))).toEqual(
      new Set(["NCT02552212", "NCT00973089"]),
    );

    const recs = a.records.slice(0, 3).map((r) => JSON.stringify(r));
    const [rj] = writeFiles(root, { "records.jsonl": `${recs.join("\r\n")}\r\n` });
    const c = await readJsonlFile(rj!);
    expect(c.issues).toEqual([]);
    expect(c.records).toEqual(a.records.slice(0, 3));
    expect(readFileSync(rj!, "utf8")).toContain("\r\n");
  });
});
