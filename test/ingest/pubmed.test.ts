/**
 * PubMed reader: the shared real baseline/update/efetch fixtures, the bundled sample, DeleteCitation
 * and revisions across files, retractions, bad input, and peak RSS flat from a 3 MB to a 30 MB generated file.
 *
 *   npx vitest run test/ingest/pubmed.test.ts
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { readPubmed } from "../../src/ingest/pubmed.js";
import { IngestError, type IngestOptions } from "../../src/ingest/types.js";
import type { InstructionRecord } from "../../src/data/record.js";
import { validateRecord } from "../../src/data/record.js";
import {
  collect as collectEvents,
  countTasks,
  fixtures,
  readerRssOnTwoSizes,
  repoRoot,
  writeGenerated,
} from "./helpers.js";

const shared = path.join(fixtures, "pubmed");
const BASELINE = path.join(shared, "baseline", "pubmed26n1334.xml.gz");
const UPDATE = path.join(shared, "updatefiles", "pubmed26n1335.xml.gz");
const EFETCH = [
  path.join(shared, "efetch", "efetch_pubmed_27797938.xml"),
  path.join(shared, "efetch", "efetch_pubmed_28775130.xml"),
];
const SAMPLE = [
  path.join(repoRoot, "data/raw/pubmed/baseline/pubmed25n0001.xml.gz"),
  path.join(repoRoot, "data/raw/pubmed/updatefiles/pubmed25n1275.xml.gz"),
];

const tmp = mkdtempSync(path.join(os.tmpdir(), "medtune-pubmed-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const collect = (files: string[], opts: IngestOptions = {}) =>
  collectEvents(readPubmed(files, opts));

const byPmid = (records: InstructionRecord[], pmid: string) =>
  records.filter((r) => r.metadata.citations.includes(`PMID:${pmid}`));

function article(pmid: string, body = "") {
  return `<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">${pmid}</PMID><Article><ArticleTitle>Study ${pmid} title</ArticleTitle>${body}</Article></MedlineCitation></PubmedArticle>`;
}
const structured = (n: string) =>
  `<Abstract><AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Background ${n} text that is long enough to matter in this abstract.</AbstractText><AbstractText Label="METHODS" NlmCategory="METHODS">Methods ${n} describe a randomized design with several hundred participants.</AbstractText><AbstractText Label="RESULTS" NlmCategory="RESULTS">Results ${n} show a difference between groups.</AbstractText><AbstractText Label="CONCLUSIONS" NlmCategory="CONCLUSIONS">Conclusions ${n}.</AbstractText></Abstract>`;
const set = (inner: string) =>
  `<?xml version="1.0"?>\n<PubmedArticleSet>\n${inner}\n</PubmedArticleSet>\n`;

describe("shared real fixtures", () => {
  it("parses the 2026 baseline, update and efetch files into cited records", async () => {
    const { records, skips, events } = await collect([UPDATE, ...EFETCH, BASELINE]);
    for (const r of records) validateRecord(r);
    expect(countTasks(records)).toEqual({
      "pubmed.reasoning_chain": 18,
      "pubmed.conclusion": 18,
      "pubmed.title": 57,
      "pubmed.mesh": 27,
    });
    // Structured baseline abstract: BACKGROUND → METHODS → RESULTS → CONCLUSIONS.
    const chain = records.find((r) => r.id === "pubmed-41576520-reasoning_chain")!;
    expect(chain.metadata.citations).toEqual(["PMID:41576520"]);
    expect(chain.metadata.doi).toBe("10.1016/j.pediatrneurol.2025.12.024");
    expect(chain.metadata.year).toBe(2026);
    expect(chain.input).toMatch(/^Title: The Relationship of Serum Uric Acid/);
    expect(chain.output).toMatch(
      /Step 1\. Background: Pediatric chronic kidney disease[\s\S]*Step 3\. Results:[\s\S]*Conclusion: In one of the first studies/,
    );
    // Inline markup (<i>TERT</i>) is kept as text in efetch titles; labels without NlmCategory still classify.
    const tert = byPmid(records, "27797938");
    expect(tert.find((r) => r.metadata.task === "pubmed.title")!.output).toBe(
      "Leucocyte telomere length, genetic variants at the TERT gene region and risk of pancreatic cancer.",
    );
    expect(tert.find((r) => r.metadata.task === "pubmed.reasoning_chain")!.output).toMatch(
      /Step 1\. Objective: Telomere shortening[\s\S]*Methods: We measured/,
    );
    expect(byPmid(records, "28775130").length).toBeGreaterThan(0);
    // MeSH with major topics and qualifiers, from the update file's first record.
    expect(records.find((r) => r.id === "pubmed-26228458-mesh")!.output).toContain(
      "Obesity (major topic) / complications, epidemiology, prevention & control",
    );
    // Unusable articles are audited, never dropped silently.
    const reasons = Object.fromEntries(skips.map((s) => [s.reason.split(":")[0], s.reason]));
    expect(reasons["PMID 41578200"]).toMatch(/Retraction Notice/);
    expect(reasons["PMID 41599792"]).toMatch(/Published Erratum/);
    expect(reasons["PMID 41605226"]).toMatch(/ArticleTitle missing or empty/);
    expect(reasons["PMID 41590990"]).toMatch(/no abstract/);
    expect(skips.find((s) => s.reason.startsWith("PMID 41605226"))!.location).toMatch(
      /^PubmedArticle #30 \(line 4, column \d+\)$/,
    );
    // Progress for every file, ending at the file size.
    const last = events.filter((e) => e.type === "progress" && e.file === BASELINE).pop();
    expect(last).toMatchObject({
      bytesRead: readFileSync(BASELINE).length,
      bytesTotal: readFileSync(BASELINE).length,
    });
  });

  it("drops articles deleted by a later file's DeleteCitation and keeps the last revision", async () => {
    // An older file (sorts before pubmed26n1335) that holds PMIDs the real update deletes or revises.
    const older = path.join(tmp, "pubmed26n1300.xml.gz");
    writeFileSync(
      older,
      gzipSync(
        set(
          [
            article("41456105", structured("a")),
            article("26228458", structured("b")),
            article("99000001", structured("c")),
          ].join("\n"),
        ),
      ),
    );
    const { records, skips } = await collect([UPDATE, older]);
    expect(byPmid(records, "41456105")).toHaveLength(0);
    expect(skips.find((s) => s.reason.startsWith("PMID 41456105"))!.reason).toBe(
      `PMID 41456105 deleted by DeleteCitation in ${UPDATE}`,
    );
    // 26228458 appears again in the update: only the update's version survives.
    const revised = byPmid(records, "26228458");
    expect(revised.length).toBeGreaterThan(0);
    expect(
      revised.every(
        (r) => (r.metadata.provenance as { file: string }).file === "pubmed26n1335.xml.gz",
      ),
    ).toBe(true);
    expect(skips.find((s) => s.reason.startsWith("PMID 26228458"))!.reason).toMatch(
      /superseded by a later version/,
    );
    expect(byPmid(records, "99000001").length).toBe(3);
  });
});

describe("bundled sample (data/raw/pubmed)", () => {
  it("yields the documented records, applies the update file and skips retractions", async () => {
    const { records, skips } = await collect(SAMPLE);
    for (const r of records) validateRecord(r);
    expect(records.length).toBe(74);
    expect(byPmid(records, "21714641")).toHaveLength(0); // deleted by the update's DeleteCitation
    const dapa = records.find((r) => r.id === "pubmed-31535829-mesh")!;
    expect(dapa.output).toContain("Heart Failure (major topic)"); // the revision added MeSH
    expect((dapa.metadata.provenance as { file: string }).file).toBe("pubmed25n1275.xml.gz");
    expect(records.filter((r) => r.id === "pubmed-31535829-reasoning_chain")).toHaveLength(1);
    expect(skips.find((s) => s.reason.startsWith("PMID 9500320"))!.reason).toMatch(
      /retracted publication \(PublicationType\)/,
    );
    expect(skips.find((s) => s.reason.startsWith("PMID 32450107"))!.reason).toMatch(/RetractionIn/);
    expect(byPmid(records, "9500320")).toHaveLength(0);
    expect(byPmid(records, "32450107")).toHaveLength(0);
    expect(records.find((r) => r.id === "pubmed-32678530-conclusion")!.output).toMatch(
      /Dexamethasone lowered 28-day mortality/,
    );
    expect(records.find((r) => r.id === "pubmed-9742977-reasoning_chain")!.output).toMatch(
      /Results: Compared with conventional/,
    );
  });

  it("stops at the limit", async () => {
    const { records } = await collect(SAMPLE, { limit: 5 });
    expect(records).toHaveLength(5);
  });
});

describe("bad input", () => {
  it("skips malformed articles with their position", async () => {
    const file = path.join(tmp, "bad-article.xml");
    writeFileSync(
      file,
      set(
        [
          article("1001", structured("ok")),
          `<PubmedArticle><MedlineCitation><Article><ArticleTitle>No PMID</ArticleTitle></Article></MedlineCitation></PubmedArticle>`,
          `<PubmedArticle><MedlineCitation><PMID Version="1">12x</PMID><Article><ArticleTitle>Bad PMID</ArticleTitle></Article></MedlineCitation></PubmedArticle>`,
        ].join("\n"),
      ),
    );
    const { records, skips } = await collect([file]);
    expect(records.length).toBe(3);
    expect(skips.map((s) => [s.location, s.reason])).toEqual([
      ["PubmedArticle #2 (line 4, column 15)", "missing MedlineCitation/PMID"],
      ["PubmedArticle #3 (line 5, column 15)", 'PMID "12x" is not a number (/^[1-9]\\d{0,9}$/)'],
    ]);
  });

  it("rejects XML that is not well-formed, with the line", async () => {
    const file = path.join(tmp, "broken.xml");
    writeFileSync(
      file,
      set(article("1", structured("x")) + "\n<PubmedArticle><MedlineCitation></PubmedArticle>"),
    );
    const err = await collect([file]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IngestError);
    expect((err as IngestError).message).toMatch(
      /broken\.xml \(line 4\): not well-formed PubMed XML/,
    );
  });

  it("rejects a truncated gzip file and a truncated XML document", async () => {
    const whole = gzipSync(
      set(
        Array.from({ length: 200 }, (_, k) =>
          article(String(5000 + k), structured(String(k))),
        ).join("\n"),
      ),
    );
    const cut = path.join(tmp, "pubmed26n9999.xml.gz");
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    await expect(collect([cut])).rejects.toThrow(
      /pubmed26n9999\.xml\.gz: expected a complete gzip stream/,
    );
    const xml = path.join(tmp, "cut.xml");
    writeFileSync(xml, set(article("7", structured("y"))).slice(0, -30));
    await expect(collect([xml])).rejects.toThrow(/cut\.xml \(line \d+\): XML ends early/);
  });

  it("rejects files that are not PubmedArticleSet XML", async () => {
    const other = path.join(tmp, "drugbank.xml");
    writeFileSync(other, `<?xml version="1.0"?><drugbank><drug/></drugbank>`);
    await expect(collect([other])).rejects.toThrow(
      /expected root element <PubmedArticleSet>, found <drugbank>/,
    );
    const empty = path.join(tmp, "empty.xml");
    writeFileSync(empty, "");
    await expect(collect([empty])).rejects.toThrow(
      /empty\.xml: expected PubmedArticleSet XML, found no elements/,
    );
    await expect(collect([path.join(tmp, "missing.xml.gz")])).rejects.toThrow(IngestError);
  });
});

describe("memory", () => {
  it("peak RSS stays flat when a PubMed file grows 10× (3 → 30 MB)", async () => {
    const write = async (name: string, articles: number) => {
      const file = path.join(tmp, name);
      await writeGenerated(
        file,
        (function* () {
          yield '<?xml version="1.0"?>\n<PubmedArticleSet>\n';
          for (let k = 0; k < articles; k++)
            yield (
              article(
                String(10_000_000 + k),
                structured(`${k} ${"lorem ipsum dolor ".repeat(20)}`),
              ) + "\n"
            );
          yield "</PubmedArticleSet>\n";
        })(),
      );
      return file;
    };
    const small = await write("pubmed26n0500.xml.gz", 3_700); // ≈ 3 MB of XML
    const large = await write("pubmed26n0501.xml.gz", 37_000); // ≈ 30 MB
    // A 96 MB heap cap: a reader that held the file's articles would die, not just grow.
    const { small: a, large: b } = await readerRssOnTwoSizes("pubmed", [small], [large], 96);
    expect(a.records).toBe(3_700 * 3); // reasoning_chain, conclusion and title per article
    expect(b.records).toBe(37_000 * 3);
    expect(b.maxRssBytes - a.maxRssBytes).toBeLessThan(64 * 2 ** 20);
  }, 180_000);
});
