/**
 * ClinicalTrials.gov reader: the six real v2 studies, the bundled sample (single studies and a
 * /studies page envelope), arrays, directories and zip archives, the "no invented results" and
 * "no contact details" rules, bad input, and peak RSS flat as the input grows 10×.
 *
 *   npx vitest run test/ingest/clinicaltrials.test.ts
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { readClinicalTrials, scrubContacts } from "../../src/ingest/clinicaltrials.js";
import { IngestError, type IngestOptions } from "../../src/ingest/types.js";
import { validateRecord, type InstructionRecord } from "../../src/data/record.js";
import {
  collect as collectEvents,
  fixtures,
  readerRssOnTwoSizes,
  repoRoot,
  writeGenerated,
  writeZip,
} from "./helpers.js";

const SHARED = path.join(fixtures, "clinicaltrials");
const SAMPLE = path.join(repoRoot, "data/raw/clinicaltrials");
const WITH_RESULTS = ["NCT00763412", "NCT02210780", "NCT02552212", "NCT05594173"];
const WITHOUT_RESULTS = ["NCT00973089", "NCT06171568"];
const PROTOCOL_TASKS = [
  "conditions",
  "interventions",
  "phase_status",
  "primary_outcomes",
  "overview",
  "results_status",
].map((t) => `clinicaltrials.${t}`);
const tmp = mkdtempSync(path.join(os.tmpdir(), "medtune-ctgov-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const collect = (files: string[], opts: IngestOptions = {}) =>
  collectEvents(readClinicalTrials(files, opts));
const ofStudy = (records: InstructionRecord[], nct: string) =>
  records.filter((r) => r.metadata.citations[0] === nct);
const sharedStudy = (nct: string) =>
  JSON.parse(readFileSync(path.join(SHARED, `${nct}.json`), "utf8")) as Record<string, unknown>;

/** Every name, e-mail and phone in a study's contact modules (the strings that must never be copied). */
function contactStrings(study: Record<string, unknown>): string[] {
  const out: string[] = [];
  const walk = (v: unknown, keys: string[]): void => {
    if (Array.isArray(v)) v.forEach((x) => walk(x, keys));
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (typeof x === "string" && keys.includes(k)) out.push(x);
        else walk(x, keys);
      }
    }
  };
  const protocol = study.protocolSection as Record<string, unknown> | undefined;
  const results = study.resultsSection as
    { moreInfoModule?: { pointOfContact?: unknown } } | undefined;
  walk(protocol?.contactsLocationsModule, ["name", "email", "phone"]);
  walk(results?.moreInfoModule?.pointOfContact, ["title", "email", "phone"]);
  return out.filter((s) => s.length >= 6);
}

describe("shared real v2 studies", () => {
  it("reads the folder of six studies into cited records", async () => {
    const { records, skips, events } = await collect([SHARED]);
    for (const r of records) validateRecord(r);
    expect(skips).toEqual([]);
    expect(new Set(records.map((r) => r.metadata.citations[0]))).toEqual(
      new Set([...WITH_RESULTS, ...WITHOUT_RESULTS]),
    );
    const czp = ofStudy(records, "NCT02552212");
    expect(czp[0]!.metadata.citations).toEqual([
      "NCT02552212",
      "PMID:35296532",
      "PMID:35733363",
      "PMID:34715908",
      "PMID:30848558",
    ]);
    const asdas = czp.find((r) =>
      r.instruction.includes(
        '"Percentage of Subjects With Ankylosing Spondylitis Disease Activity Score Major Improvement',
      ),
    )!;
    expect(asdas.output).toContain(
      "Placebo (FAS) (n=158): 7.0; CZP 200 mg Q2W (FAS) (n=159): 47.2",
    );
    expect(asdas.output).toContain(
      "Odds Ratio (OR) 15.231, 95% CI 7.336 to 31.623, p < 0.001, method: Regression, Logistic.",
    );
    expect(czp.filter((r) => r.metadata.task === "clinicaltrials.outcome_result")).toHaveLength(30);
    expect(czp.find((r) => r.metadata.task === "clinicaltrials.phase_status")!.output).toBe(
      "interventional study; phase: phase 3; overall status: completed.",
    );
    const dupi = ofStudy(records, "NCT02210780").find(
      (r) => r.metadata.task === "clinicaltrials.adverse_events",
    )!;
    expect(dupi.output).toContain(
      "Dupilumab 300 mg qw: serious adverse events in 3/97 participants",
    );
    expect(dupi.output).toContain(
      "- Conjunctivitis (Infections and infestations): Placebo qw 0/97, Dupilumab 300 mg qw 8/97",
    );
    expect(
      ofStudy(records, "NCT05594173").find(
        (r) => r.metadata.task === "clinicaltrials.outcome_result",
      )!.output,
    ).toContain("Healthy Participants: Carrot (n=14): 22 (Standard Deviation 11)");
    const progress = events.filter((e) => e.type === "progress");
    const last = progress.at(-1) as { file: string; bytesRead: number; bytesTotal: number };
    expect(last.file).toBe(SHARED);
    expect(last.bytesRead).toBe(last.bytesTotal);
  });

  it("never states results for a study without them", async () => {
    const { records } = await collect([SHARED]);
    for (const nct of WITHOUT_RESULTS) {
      const own = ofStudy(records, nct);
      expect(own.length).toBeGreaterThan(0);
      expect(own.every((r) => PROTOCOL_TASKS.includes(r.metadata.task))).toBe(true);
      expect(own.find((r) => r.metadata.task === "clinicaltrials.results_status")!.output).toMatch(
        /^No\. This ClinicalTrials\.gov record .* has no posted results/,
      );
    }
    for (const nct of WITH_RESULTS) {
      expect(
        ofStudy(records, nct).find((r) => r.metadata.task === "clinicaltrials.results_status")!
          .output,
      ).toMatch(/^Yes\./);
    }
    // The same real study with its results removed: not one number from them may survive.
    const study = sharedStudy("NCT02552212");
    delete study.resultsSection;
    study.hasResults = false;
    const file = path.join(tmp, "NCT02552212-no-results.json");
    writeFileSync(file, JSON.stringify(study));
    const stripped = (await collect([file])).records;
    expect(stripped.every((r) => PROTOCOL_TASKS.includes(r.metadata.task))).toBe(true);
    const text = JSON.stringify(stripped);
    for (const value of ["15.231", "47.2", "7.336", "Odds Ratio", "Glaucoma"])
      expect(text).not.toContain(value);
  });

  it("copies no contact details", async () => {
    const { records } = await collect([SHARED, SAMPLE]);
    const text = JSON.stringify(records);
    const studies = [...WITH_RESULTS, ...WITHOUT_RESULTS].map(sharedStudy);
    for (const f of ["NCT01131676.json", "studies_page_1.json"]) {
      const j = JSON.parse(readFileSync(path.join(SAMPLE, f), "utf8"));
      studies.push(...(j.studies ?? [j]));
    }
    const secrets = studies.flatMap(contactStrings);
    expect(secrets).toEqual(
      expect.arrayContaining([
        "camille.heslot@aphp.fr",
        "01.49.95.81.69",
        "UCBCares@ucb.com",
        "trial-office@example.org",
      ]),
    );
    for (const s of secrets) expect(text, s).not.toContain(s);
  });
});

describe("bundled sample and container formats", () => {
  it("reads single studies and /studies page envelopes", async () => {
    const { records, skips } = await collect([SAMPLE]);
    for (const r of records) validateRecord(r);
    expect(skips).toEqual([]);
    expect(new Set(records.map((r) => r.metadata.citations[0]))).toEqual(
      new Set([
        "NCT01131676",
        "NCT03036124",
        "NCT04368728",
        "NCT04381936",
        "NCT03574597",
        "NCT01206062",
      ]),
    );
    expect(records.length).toBe(41);
    const dapa = ofStudy(records, "NCT03036124").find(
      (r) => r.metadata.task === "clinicaltrials.outcome_result",
    )!;
    expect(dapa.output).toContain("Hazard Ratio (HR) 0.74, 95% CI 0.65 to 0.85, p < 0.001");
    expect(dapa.metadata.citations).toEqual(["NCT03036124", "PMID:31535829"]);
    const bnt = ofStudy(records, "NCT04368728")[0]!;
    expect(bnt.metadata.provenance).toMatchObject({
      file: "studies_page_1.json",
      location: "studies[0] (line 3)",
    });
    expect(
      ofStudy(records, "NCT04381936").some(
        (r) => r.metadata.task === "clinicaltrials.outcome_result",
      ),
    ).toBe(false);
  });

  it("reads a plain array, a gzip file, JSON Lines and a zip archive of study files", async () => {
    const a = readFileSync(path.join(SHARED, "NCT00973089.json"), "utf8");
    const b = readFileSync(path.join(SHARED, "NCT02210780.json"), "utf8");
    const arrayFile = path.join(tmp, "array.json.gz");
    writeFileSync(arrayFile, gzipSync(`[\n${a},\n${b}\n]\n`));
    const fromArray = await collect([arrayFile]);
    const fromFolder = await collect([
      path.join(SHARED, "NCT00973089.json"),
      path.join(SHARED, "NCT02210780.json"),
    ]);
    expect(fromArray.records.map((r) => r.output)).toEqual(fromFolder.records.map((r) => r.output));
    const lines = path.join(tmp, "studies.jsonl");
    writeFileSync(
      lines,
      `${JSON.stringify(JSON.parse(a))}\n{not json}\n${JSON.stringify(JSON.parse(b))}\n`,
    );
    const fromLines = await collect([lines]);
    expect(fromLines.records.map((r) => r.output)).toEqual(fromFolder.records.map((r) => r.output));
    expect(fromLines.skips.map((s) => s.location)).toEqual(["line 2"]);
    const zip = path.join(tmp, "ctg-studies.json.zip");
    writeZip(zip, [
      ["ctg-studies/NCT00973089.json", Buffer.from(a)],
      ["ctg-studies/NCT02210780.json", Buffer.from(b)],
      ["ctg-studies/README.txt", Buffer.from("not a study")],
    ]);
    const fromZip = await collect([zip]);
    expect(fromZip.records.map((r) => r.output)).toEqual(fromFolder.records.map((r) => r.output));
    expect(fromZip.skips.map((s) => s.location)).toEqual(["zip entry ctg-studies/README.txt"]);
    expect(fromZip.records[0]!.metadata.provenance).toMatchObject({
      file: "NCT00973089.json",
      location: "study",
    });
  });

  it("stops at the limit", async () => {
    expect((await collect([SHARED], { limit: 3 })).records).toHaveLength(3);
  });
});

describe("bad input", () => {
  it("skips malformed studies with index and line", async () => {
    const good = readFileSync(path.join(SHARED, "NCT00973089.json"), "utf8").trimEnd();
    const first = good.split("\n").length + 2; // line 1 is the envelope's opening
    const file = path.join(tmp, "page.json");
    writeFileSync(
      file,
      `{"studies": [\n${good},\n{oops},\n{"protocolSection": {"identificationModule": {"nctId": "NCT123"}}},\n{"protocolSection": {}}\n], "nextPageToken": "abc"}`,
    );
    const { records, skips } = await collect([file]);
    expect(new Set(records.map((r) => r.metadata.citations[0]))).toEqual(new Set(["NCT00973089"]));
    expect(skips.map((s) => [s.location, s.reason.replace(/:.*/, "")])).toEqual([
      [`studies[1] (line ${first})`, "not valid JSON"],
      [`studies[2] (line ${first + 1})`, 'nct id "NCT123" does not match /^NCT\\d{8}$/'],
      [`studies[3] (line ${first + 2})`, "missing protocolSection.identificationModule.nctId"],
    ]);
  });

  it("rejects truncated, non-JSON, classic-API and unknown JSON files", async () => {
    const good = readFileSync(path.join(SHARED, "NCT02552212.json"), "utf8");
    const cut = path.join(tmp, "cut.json");
    writeFileSync(cut, `[${good}, ${good.slice(0, 5000)}`);
    const err = await collect([cut]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IngestError);
    expect((err as Error).message).toMatch(
      /cut\.json \(line \d+\): not ClinicalTrials\.gov v2 JSON: file ends inside \[1\] \(truncated\?\)/,
    );
    const gz = path.join(tmp, "cut.json.gz");
    const whole = gzipSync(good);
    writeFileSync(gz, whole.subarray(0, whole.length - 40));
    await expect(collect([gz])).rejects.toThrow(/cut\.json\.gz: expected a complete gzip stream/);
    const csv = path.join(tmp, "studies.csv");
    writeFileSync(csv, "NCT Number,Study Title\nNCT00973089,Alternative Treatment\n");
    await expect(collect([csv])).rejects.toThrow(
      /studies\.csv \(line 1\): not ClinicalTrials\.gov v2 JSON: expected "\{" or "\[" at the start, found "N"/,
    );
    const classic = path.join(tmp, "classic.json");
    writeFileSync(
      classic,
      JSON.stringify({ FullStudiesResponse: { APIVrs: "1.01.05", FullStudies: [] } }),
    );
    await expect(collect([classic])).rejects.toThrow(
      /classic \(pre-2024\) API JSON, which is obsolete/,
    );
    const other = path.join(tmp, "other.json");
    writeFileSync(other, JSON.stringify({ nodes: [], edges: [] }));
    await expect(collect([other])).rejects.toThrow(
      /expected a ClinicalTrials\.gov v2 study \(protocolSection\) or a \/studies page \(studies\); top-level keys: nodes, edges/,
    );
    const emptyDir = path.join(tmp, "empty-dir");
    mkdirSync(emptyDir);
    await expect(collect([emptyDir])).rejects.toThrow(
      /expected \*\.json study files in this folder/,
    );
    const badZip = path.join(tmp, "bad.zip");
    writeFileSync(badZip, "PK\u0003\u0004 not really a zip");
    await expect(collect([badZip])).rejects.toThrow(/bad\.zip: expected a zip archive/);
  });
});

describe("bounded memory", () => {
  it("peak RSS stays flat when a JSON Lines file of studies grows 10× (3 → 30 MB)", async () => {
    // The six real studies, repeated with fresh NCT ids.
    const studies = WITH_RESULTS.concat(WITHOUT_RESULTS).map((n) => JSON.stringify(sharedStudy(n)));
    const bytesPerRound = studies.reduce((n, s) => n + s.length + 1, 0);
    const write = async (name: string, bytes: number) => {
      const file = path.join(tmp, name);
      const rounds = Math.ceil(bytes / bytesPerRound);
      await writeGenerated(
        file,
        (function* () {
          for (let k = 0; k < rounds; k++)
            for (const s of studies)
              yield (
                s.replace(/"NCT(\d{8})"/g, (_m, d: string) => {
                  const id = (Number(d) * 7 + k) % 1e8;
                  return `"NCT${String(id).padStart(8, "0")}"`;
                }) + "\n"
              );
        })(),
      );
      return { file, studies: rounds * studies.length };
    };
    const small = await write("small.jsonl.gz", 3 * 2 ** 20);
    const large = await write("large.jsonl.gz", 30 * 2 ** 20);
    const { small: a, large: b } = await readerRssOnTwoSizes(
      "clinicaltrials",
      [small.file],
      [large.file],
      96,
    );
    expect(a.records).toBeGreaterThan(small.studies * 5);
    expect(b.records / a.records).toBeCloseTo(large.studies / small.studies, 1);
    expect(b.maxRssBytes - a.maxRssBytes).toBeLessThan(64 * 2 ** 20);
  }, 180_000);
});

describe("scrubContacts", () => {
  it("removes e-mails and phone numbers but keeps doses, dates and decimals", () => {
    expect(
      scrubContacts(
        "Call 314-286-1138, +33 1 49 95 81 69, (416) 597-3422 or 01.49.95.81.69, or write to a.b@uhn.ca.",
      ),
    ).toBe(
      "Call [phone removed], [phone removed], [phone removed] or [phone removed], or write to [e-mail removed].",
    );
    const keep =
      "Doses of 100 200 400 mg from 2017-02-15; 0.121 × 2.5-3.0; weeks 12 24 36 52; p=0.001.";
    expect(scrubContacts(keep)).toBe(keep);
  });
});
