/**
 * ChEMBL reader: the shared real chembl_33 subset (only some tables), the bundled sample DB built by
 * scripts/make-sample-chembl.mts, the missing-table policy, wrong schemas, malformed rows, and peak
 * RSS flat as the database grows 10×.
 *
 *   npx vitest run test/ingest/chembl.test.ts
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { readChembl, type ChemblIngestOptions } from "../../src/ingest/chembl.js";
import { IngestError } from "../../src/ingest/types.js";
import { validateRecord, type InstructionRecord } from "../../src/data/record.js";
import {
  collect as collectEvents,
  countTasks,
  fixtures,
  readerRssOnTwoSizes,
  repoRoot,
} from "./helpers.js";

const SUBSET = path.join(fixtures, "chembl", "chembl_33_subset.db");
const SAMPLE = path.join(repoRoot, "data/raw/chembl/chembl_sample.db");
const tmp = mkdtempSync(path.join(os.tmpdir(), "medtune-chembl-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const collect = (files: string[], opts: ChemblIngestOptions = {}) =>
  collectEvents(readChembl(files, opts));
const byId = (records: InstructionRecord[], id: string) => {
  const r = records.find((x) => x.id === id);
  if (!r) throw new Error(`no record ${id}`);
  return r;
};

/** A copy of the sample DB changed by `edit`, for schema and row tests. */
function variant(name: string, edit: (db: Database.Database) => void): string {
  const file = path.join(tmp, name);
  copyFileSync(SAMPLE, file);
  const db = new Database(file);
  edit(db);
  db.close();
  return file;
}

describe("shared real chembl_33 subset", () => {
  it("builds indication records from the tables it has and audits the families it cannot build", async () => {
    const { records, skips, events } = await collect([SUBSET]);
    for (const r of records) validateRecord(r);
    expect(countTasks(records)).toEqual({
      "chembl.indications.phase": 358,
      "chembl.indications.approved": 6,
    });
    const af = byId(records, "chembl-ind-CHEMBL25-D001281");
    expect(af.output).toBe(
      "Aspirin has reached phase 3 clinical trials for Atrial Fibrillation (MeSH D001281; EFO:0000275), the highest phase ChEMBL records for this indication.",
    );
    expect(af.metadata.citations).toEqual(["CHEMBL25", "MeSH:D001281", "chembl_33"]);
    expect(af.metadata.license).toBe("CC-BY-SA-3.0");
    expect(af.metadata.provenance).toMatchObject({ release: "chembl_33", drugind_ids: [22713] });
    // Two EFO terms for one MeSH heading merge into one record.
    expect(byId(records, "chembl-CHEMBL25-approved-indications").output).toContain(
      "Thrombosis (MeSH D013927; HP:0004419, MONDO:0000831)",
    );
    expect(byId(records, "chembl-CHEMBL11359-approved-indications").metadata.citations[0]).toBe(
      "CHEMBL11359",
    );
    expect(skips.map((s) => s.location)).toEqual([
      "table compound_properties",
      "table drug_mechanism",
      "table activities",
    ]);
    expect(skips[1]!.reason).toMatch(
      /record family "mechanism" needs tables drug_mechanism, target_dictionary, missing from this database; family skipped/,
    );
    const size = (await import("node:fs")).statSync(SUBSET).size;
    expect(events.at(-1)).toEqual({
      type: "progress",
      file: SUBSET,
      bytesRead: size,
      bytesTotal: size,
    });
  });

  it("is an IngestError when the caller demands a family whose table is missing", async () => {
    await expect(collect([SUBSET], { families: ["indications", "mechanism"] })).rejects.toThrow(
      /chembl_33_subset\.db: record family "mechanism" needs tables drug_mechanism, target_dictionary, missing/,
    );
    const { records } = await collect([SUBSET], { families: ["indications"] });
    expect(records).toHaveLength(364);
  });
});

describe("bundled sample DB", () => {
  it("covers properties, mechanisms, indications and potency with citations", async () => {
    const { records, skips } = await collect([SAMPLE]);
    for (const r of records) validateRecord(r);
    expect(countTasks(records)).toEqual({
      "chembl.property.mw": 11,
      "chembl.property.alogp": 11,
      "chembl.property.hba": 11,
      "chembl.property.hbd": 11,
      "chembl.property.psa": 11,
      "chembl.property.ro5": 11,
      "chembl.property.qed": 11,
      "chembl.property.ro5_summary": 11,
      "chembl.mechanism.target": 9,
      "chembl.mechanism": 7,
      "chembl.indications.phase": 27,
      "chembl.indications.approved": 11,
      "chembl.potency": 10,
    });
    expect(skips).toEqual([]);
    expect(byId(records, "chembl-CHEMBL25-alogp").output).toMatch(/^1\.31 /);
    expect(byId(records, "chembl-CHEMBL1487-ro5-summary").output).toMatch(
      /^No, it violates Lipinski's rule of five \(2 violations\)/,
    );
    // The sample says what it is: cited as medtune-sample, never as a ChEMBL release.
    expect(
      records.every(
        (r) =>
          r.metadata.citations.includes("medtune-sample") &&
          !r.metadata.citations.some((c) => /^chembl_\d/.test(c)),
      ),
    ).toBe(true);
    const imatinib = byId(records, "chembl-CHEMBL941-mechanism");
    expect(imatinib.output).toContain(
      "Tyrosine-protein kinase ABL1 inhibitor — inhibitor of Tyrosine-protein kinase ABL1 (CHEMBL1862",
    );
    expect(imatinib.metadata.citations).toEqual(
      expect.arrayContaining(["CHEMBL941", "CHEMBL1862", "CHEMBL1936", "PMID:11287972"]),
    );
    expect(byId(records, "chembl-ind-CHEMBL941-D015464").output).toBe(
      "Imatinib is approved for Leukemia, Myelogenous, Chronic, BCR-ABL Positive (MeSH D015464) (phase 4), the highest phase ChEMBL records for this indication.",
    );
    expect(byId(records, "chembl-ind-CHEMBL941-D015464").metadata.citations).toEqual(
      expect.arrayContaining(["NCT00006343", "PMID:12637609"]),
    );
    // Flagged (data_validity_comment) and duplicate activities are left out of the median.
    const gefitinib = byId(records, "chembl-potency-CHEMBL939-CHEMBL203-IC50");
    expect(gefitinib.output).toMatch(
      /^Median pChEMBL 7\.75 .* across 2 measurements \(range 7\.50–8\.00\)/,
    );
    expect(byId(records, "chembl-potency-CHEMBL192-CHEMBL1827-IC50").output).toMatch(
      /from a single measurement/,
    );
  });

  it("stops at the limit", async () => {
    expect((await collect([SAMPLE], { limit: 7 })).records).toHaveLength(7);
  });
});

describe("wrong input", () => {
  it("names a missing essential table and a missing column", async () => {
    const noMolecules = variant("no-md.db", (db) => db.exec("DROP TABLE molecule_dictionary"));
    await expect(collect([noMolecules])).rejects.toThrow(
      /no-md\.db: expected table molecule_dictionary \(essential\)/,
    );
    const noQed = variant("no-qed.db", (db) =>
      db.exec(
        "ALTER TABLE compound_properties RENAME TO cp_old; CREATE TABLE compound_properties AS SELECT molregno, mw_freebase, alogp, hba, hbd, psa, num_ro5_violations FROM cp_old; DROP TABLE cp_old",
      ),
    );
    await expect(collect([noQed])).rejects.toThrow(
      /no-qed\.db: table compound_properties lacks column qed_weighted \(family "properties"\)/,
    );
  });

  it("rejects files that are not SQLite databases", async () => {
    const text = path.join(tmp, "chembl_33.db");
    writeFileSync(text, "molregno\tchembl_id\n1280\tCHEMBL25\n");
    await expect(collect([text])).rejects.toThrow(/chembl_33\.db: expected a SQLite database/);
    const tarball = path.join(tmp, "chembl_33_sqlite.tar.gz");
    writeFileSync(tarball, "x");
    await expect(collect([tarball])).rejects.toThrow(/extract chembl_NN_sqlite\.tar\.gz first/);
    await expect(collect([path.join(tmp, "absent.db")])).rejects.toThrow(IngestError);
  });

  it("rejects a truncated database", async () => {
    const full = variant("full.db", () => undefined);
    const cut = path.join(tmp, "cut.db");
    const bytes = (await import("node:fs")).readFileSync(full);
    writeFileSync(cut, bytes.subarray(0, 8192));
    await expect(collect([cut])).rejects.toThrow(/cut\.db: SQLite error/);
  });

  it("skips malformed rows with their row id and audits unnamed molecules", async () => {
    const file = variant("bad-rows.db", (db) => {
      db.exec("UPDATE compound_properties SET alogp = 'n/a' WHERE molregno = 1280");
      db.exec("UPDATE compound_properties SET hba = -3 WHERE molregno = 2001");
      db.exec("UPDATE drug_indication SET max_phase_for_ind = NULL WHERE drugind_id = 104");
      db.exec("UPDATE molecule_dictionary SET pref_name = NULL WHERE chembl_id = 'CHEMBL113'");
    });
    const { records, skips } = await collect([file]);
    expect(skips.map((s) => [s.location, s.reason])).toEqual([
      [
        "table molecule_dictionary",
        "1 molecules without pref_name are not turned into records (policy: named compounds only)",
      ],
      ["compound_properties molregno=1280 column alogp", 'not a number ("n/a")'],
      ["compound_properties molregno=2001 column hba", "negative value -3"],
      ["drug_indication drugind_id=104", "max_phase_for_ind NULL gives no clinical phase"],
    ]);
    expect(records.some((r) => r.id === "chembl-CHEMBL25-alogp")).toBe(false);
    expect(records.some((r) => r.id === "chembl-CHEMBL25-mw")).toBe(true);
    expect(records.some((r) => r.metadata.citations.includes("CHEMBL113"))).toBe(false);
  });
});

/** Row keys that must stay unique per copy, and the one text key (chembl_id) that gets digits appended. */
const COPY_KEYS = ["molregno", "mec_id", "drugind_id", "activity_id", "record_id"];
const MOLECULE_TABLES = [
  "molecule_dictionary",
  "compound_properties",
  "drug_mechanism",
  "drug_indication",
  "activities",
];

/** The sample DB with its molecules (and every row hanging off them) repeated `copies` times. */
function scaledSample(name: string, copies: number): string {
  return variant(name, (db) => {
    db.transaction(() => {
      for (const table of MOLECULE_TABLES) {
        const cols = (db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name);
        db.exec(`CREATE TEMP TABLE base_${table} AS SELECT * FROM ${table}`);
        const select = cols
          .map((c) =>
            COPY_KEYS.includes(c)
              ? `${c} + @k * 10000000`
              : table === "molecule_dictionary" && c === "chembl_id"
                ? `chembl_id || '9' || printf('%04d', @k)` // still CHEMBL\d+, unique per copy
                : c,
          )
          .join(", ");
        const insert = db.prepare(
          `INSERT INTO ${table} (${cols.join(", ")}) SELECT ${select} FROM base_${table}`,
        );
        for (let k = 1; k < copies; k++) insert.run({ k });
      }
    })();
  });
}

describe("bounded memory", () => {
  it("peak RSS stays flat when the database holds 10× the molecules", async () => {
    const small = scaledSample("scaled-small.db", 60);
    const large = scaledSample("scaled-large.db", 600);
    const { small: a, large: b } = await readerRssOnTwoSizes("chembl_sqlite", [small], [large], 96);
    // 152 records per copy of the sample (see "bundled sample DB").
    expect(a.records).toBe(60 * 152);
    expect(b.records).toBe(600 * 152);
    expect(b.maxRssBytes - a.maxRssBytes).toBeLessThan(48 * 2 ** 20);
  }, 180_000);
});
