/** DrugBank reader on the real records (639 and 652 interactions), a multi-drug file, the Vocabulary CSV, zip, bad input, bounded memory. */
import { describe, expect, it } from "vitest";
import { createWriteStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { readDrugbank } from "../../src/ingest/drugbank.js";
import { IngestError } from "../../src/ingest/types.js";
import { validateRecord } from "../../src/data/record.js";
import { collect, fixtures, readerRssOnTwoSizes, tempDir } from "./helpers.js";

const D = path.join(fixtures, "drugbank");
const small = path.join(D, "drugbank_record_small_molecule_DB00006.xml");
const biotech = path.join(D, "drugbank_record_biotech_DB00001.xml");
const vocab = path.join(D, "drugbank_vocabulary_5.1.10_subset.csv");

/** The `<drug>…</drug>` element of a single-record fixture. */
async function drugElement(file: string): Promise<string> {
  const text = await readFile(file, "utf8");
  return text.slice(text.indexOf("<drug "), text.lastIndexOf("</drug>") + "</drug>".length);
}
const ROOT_OPEN =
  '<?xml version="1.0" encoding="UTF-8"?>\n<drugbank xmlns="http://www.drugbank.ca" version="5.1" exported-on="2024-03-14">\n';

describe("drugbank: full XML", () => {
  it("turns every interaction of the real records into a warning cited by both ids", async () => {
    for (const [file, id, name, n] of [
      [small, "DB00006", "Bivalirudin", 639],
      [biotech, "DB00001", "Lepirudin", 652],
    ] as const) {
      const r = await collect(readDrugbank([file], {}));
      const ddi = r.records.filter((x) => x.metadata.task === "drugbank.ddi");
      expect(ddi).toHaveLength(n);
      expect(r.skips).toEqual([]);
      for (const rec of ddi) {
        validateRecord(rec);
        expect(rec.metadata.citations[0]).toBe(`DrugBank:${id}`);
        expect(rec.metadata.citations[1]).toMatch(/^DrugBank:DB\d{5}$/);
        expect(rec.metadata.license).toBe("CC-BY-NC-4.0");
        expect(rec.instruction).toContain(name);
      }
      // Nested <drug> elements (pathways) are not records: one drug, one indication.
      expect(
        r.records.filter((x) => x.metadata.task === "drugbank.indication").map((x) => x.id),
      ).toEqual([`drugbank:indication:${id}`]);
    }
    const r = await collect(readDrugbank([small], {}));
    const apixaban = r.records.find((x) => x.id === "drugbank:ddi:DB00006:DB06605")!;
    expect(apixaban.output).toContain(
      "Apixaban may increase the anticoagulant activities of Bivalirudin.",
    );
    expect(apixaban.metadata.citations).toEqual(["DrugBank:DB00006", "DrugBank:DB06605"]);
    const targets = r.records.find((x) => x.id === "drugbank:targets:DB00006")!;
    expect(targets.output).toMatch(/Prothrombin \(inhibitor\)/);
    expect(targets.metadata.citations).toContain("PMID:11060732");
  });

  it("reads two records concatenated under one <drugbank> root (../shared/datasets/FORMATS.md §5.4)", async () => {
    const dir = await tempDir("drugbank-multi");
    const f = path.join(dir, "full database.xml");
    await writeFile(
      f,
      `${ROOT_OPEN}${await drugElement(small)}\n${await drugElement(biotech)}\n</drugbank>\n`,
    );
    const r = await collect(readDrugbank([f], {}));
    const ddi = r.records.filter((x) => x.metadata.task === "drugbank.ddi");
    // Both records list the Lepirudin–Bivalirudin pair; it is emitted once. Bivalirudin comes
    // first, and Lepirudin (the smaller id) is not read yet, so Bivalirudin's listing is the one.
    expect(ddi).toHaveLength(639 + 652 - 1);
    expect(ddi.filter((x) => x.id.startsWith("drugbank:ddi:DB00006:"))).toHaveLength(639);
    expect(ddi.filter((x) => x.id.startsWith("drugbank:ddi:DB00001:"))).toHaveLength(651);
    expect(ddi.map((x) => x.id)).toContain("drugbank:ddi:DB00006:DB00001");
    const pairKey = (x: (typeof ddi)[number]) =>
      [...x.metadata.citations.slice(0, 2)].sort().join("|");
    expect(new Set(ddi.map(pairKey)).size).toBe(ddi.length);
    // The same pair once whatever the order of the drugs in the file.
    const reversed = path.join(dir, "reversed.xml");
    await writeFile(
      reversed,
      `${ROOT_OPEN}${await drugElement(biotech)}\n${await drugElement(small)}\n</drugbank>\n`,
    );
    const rev = (await collect(readDrugbank([reversed], {}))).records.filter(
      (x) => x.metadata.task === "drugbank.ddi",
    );
    expect(rev.map(pairKey).sort()).toEqual(ddi.map(pairKey).sort());
    expect(rev.map((x) => x.id)).toContain("drugbank:ddi:DB00001:DB00006");
    expect(new Set(r.records.map((x) => x.id)).size).toBe(r.records.length);

    // The same file inside a zip, as DrugBank distributes it.
    execFileSync("zip", ["-q", "-j", path.join(dir, "drugbank_all_full_database.xml.zip"), f]);
    const z = await collect(
      readDrugbank([path.join(dir, "drugbank_all_full_database.xml.zip")], {}),
    );
    expect(z.records.map((x) => x.output)).toEqual(r.records.map((x) => x.output));
    expect(z.records[0]!.metadata.provenance).toMatchObject({ entry: "full database.xml" });
  });

  it("with --exclude-noncommercial reads only the CC0 vocabulary", async () => {
    const r = await collect(readDrugbank([small, vocab], { excludeNonCommercial: true }));
    expect(r.records.every((x) => x.metadata.license === "CC0-1.0")).toBe(true);
    expect(r.records.length).toBeGreaterThan(0);
    expect(r.skips).toContainEqual(
      expect.objectContaining({
        file: small,
        reason: expect.stringMatching(/exclude-noncommercial/),
      }),
    );
  });

  it("skips a malformed interaction or drug with its position", async () => {
    const dir = await tempDir("drugbank-skip");
    const el = await drugElement(small);
    const noDesc = el.replace(
      "<description>Apixaban may increase the anticoagulant activities of Bivalirudin.</description>",
      "",
    );
    const noId = (await drugElement(biotech))
      .replace('<drugbank-id primary="true">DB00001</drugbank-id>', "")
      .replace(/<drugbank-id>(APRD|BTD|BIOD|EXPT)\d+<\/drugbank-id>/g, "");
    const f = path.join(dir, "d.xml");
    await writeFile(f, `${ROOT_OPEN}${noDesc}\n${noId}\n</drugbank>\n`);
    const r = await collect(readDrugbank([f], {}));
    expect(r.records.filter((x) => x.metadata.task === "drugbank.ddi")).toHaveLength(638);
    expect(r.skips).toContainEqual(
      expect.objectContaining({
        location: expect.stringMatching(/drug #1 \(line 3\) DB00006 drug-interaction at line \d+/),
        reason: "drug-interaction lacks description",
      }),
    );
    expect(r.skips).toContainEqual(
      expect.objectContaining({
        location: expect.stringMatching(/^drug #2 \(line \d+\)$/),
        reason: expect.stringMatching(/no primary drugbank-id/),
      }),
    );
  });

  it("rejects truncated, non-DrugBank and empty files with an IngestError naming them", async () => {
    const dir = await tempDir("drugbank-bad");
    const text = await readFile(small, "utf8");
    const cut = path.join(dir, "cut.xml");
    await writeFile(cut, text.slice(0, text.length >> 1));
    await expect(collect(readDrugbank([cut], {}))).rejects.toThrow(IngestError);
    await expect(collect(readDrugbank([cut], {}))).rejects.toThrow(cut);
    const other = path.join(dir, "pubmed.xml");
    await writeFile(other, "<PubmedArticleSet><PubmedArticle/></PubmedArticleSet>");
    await expect(collect(readDrugbank([other], {}))).rejects.toThrow(
      /expected the root element <drugbank/,
    );
    const garbage = path.join(dir, "g.xml");
    await writeFile(garbage, `${ROOT_OPEN}<drug><name>x</nam></drug></drugbank>`);
    await expect(collect(readDrugbank([garbage], {}))).rejects.toThrow(
      /\(line 3, column \d+\): malformed XML/,
    );
    const badZip = path.join(dir, "x.xml.zip");
    await writeFile(badZip, "not a zip at all");
    await expect(collect(readDrugbank([badZip], {}))).rejects.toThrow(/not a zip file/);
  });
});

describe("drugbank: Vocabulary CSV", () => {
  it("gives synonyms and identifiers under CC0, from the real rows", async () => {
    const r = await collect(readDrugbank([vocab], {}));
    const cis = r.records.find((x) => x.id === "drugbank:synonyms:DB00515")!;
    expect(cis.instruction).toBe("What other names is Cisplatin known by?");
    expect(cis.output).toContain("CDDP; Cis-DDP; cis-diamminedichloroplatinum(II); cisplatino");
    expect(cis.output).not.toMatch(/: Cisplatin;|; Cisplatin;/);
    const ids = r.records.find((x) => x.id === "drugbank:identifiers:DB01174")!;
    expect(ids.output).toContain("CAS number 50-06-6");
    expect(ids.output).toContain("UNII YQE403BP4D");
    expect(r.records.filter((x) => x.metadata.task === "drugbank.identifiers")).toHaveLength(7);
    expect(r.records.every((x) => x.metadata.license === "CC0-1.0")).toBe(true);
  });

  it("rejects a CSV without the vocabulary header and skips a short row", async () => {
    const dir = await tempDir("drugbank-csv");
    const wrong = path.join(dir, "w.csv");
    await writeFile(wrong, "id,name\nDB1,x\n");
    await expect(collect(readDrugbank([wrong], {}))).rejects.toThrow(
      /not a DrugBank Vocabulary CSV/,
    );
    const short = path.join(dir, "s.csv");
    const text = await readFile(vocab, "utf8");
    await writeFile(short, text.replace("DB06145,,Spiramycin,24916-50-5", "DB06145,,Spiramycin"));
    const r = await collect(readDrugbank([short], {}));
    expect(r.skips).toContainEqual(
      expect.objectContaining({ location: "line 6", reason: "expected 7 columns, got 6" }),
    );
  });
});

describe("drugbank: bounded memory", () => {
  it("peak RSS stays flat when the XML grows 10×", async () => {
    const dir = await tempDir("drugbank-rss");
    const el = await drugElement(small);
    const write = async (file: string, copies: number) => {
      const out = createWriteStream(file);
      out.write(ROOT_OPEN);
      for (let i = 0; i < copies; i++) {
        const id = `DB${String(90000 + i).padStart(5, "0")}`;
        if (
          !out.write(
            el.replace(
              '<drugbank-id primary="true">DB00006</drugbank-id>',
              `<drugbank-id primary="true">${id}</drugbank-id>`,
            ) + "\n",
          )
        ) {
          await new Promise<void>((r) => out.once("drain", () => r()));
        }
      }
      out.end("</drugbank>\n");
      await new Promise<void>((r) => out.once("finish", () => r()));
    };
    await write(path.join(dir, "small.xml"), 12); // ≈ 3 MB
    await write(path.join(dir, "large.xml"), 120); // ≈ 28 MB
    const { small: a, large: b } = await readerRssOnTwoSizes(
      "drugbank",
      [path.join(dir, "small.xml")],
      [path.join(dir, "large.xml")],
      128,
    );
    expect(b.records).toBe(a.records * 10);
    expect(b.maxRssBytes - a.maxRssBytes).toBeLessThan(100 * 2 ** 20);
  }, 180_000);
});
