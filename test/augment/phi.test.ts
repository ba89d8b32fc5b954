import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { detectPhi, phiGuard, redactPhi } from "../../src/augment/phi.js";
import { readChembl } from "../../src/ingest/chembl.js";
import { readClinicalTrials, scrubContacts } from "../../src/ingest/clinicaltrials.js";
import { readDrugbank } from "../../src/ingest/drugbank.js";
import type { Reader } from "../../src/ingest/index.js";
import { readPubmed } from "../../src/ingest/pubmed.js";
import { rec, repoRoot, sharedDatasets } from "./helpers.js";

interface Contact {
  name?: string;
  phone?: string;
  phoneExt?: string;
  email?: string;
}
interface Study {
  protocolSection: {
    contactsLocationsModule?: {
      centralContacts?: Contact[];
      locations?: { facility?: string; city?: string; contacts?: Contact[] }[];
    };
  };
  resultsSection?: {
    moreInfoModule?: {
      pointOfContact?: { title?: string; email?: string; phone?: string; phoneExt?: string };
    };
  };
}
const load = (nct: string) =>
  JSON.parse(readFileSync(join(sharedDatasets, "clinicaltrials", `${nct}.json`), "utf8")) as Study;

/** Render contact details the way an ingest template would put them in an answer. */
function contactText(s: Study): { text: string; secrets: string[] } {
  const lines: string[] = [];
  const secrets: string[] = [];
  const m = s.protocolSection.contactsLocationsModule;
  for (const c of [
    ...(m?.centralContacts ?? []),
    ...(m?.locations ?? []).flatMap((l) => l.contacts ?? []),
  ]) {
    lines.push(
      `Contact: ${c.name}, phone ${c.phone}${c.phoneExt ? ` (${c.phoneExt})` : ""}, email ${c.email}.`,
    );
    secrets.push(c.email!, c.phone!, c.name!.split(",")[0]!);
  }
  const poc = s.resultsSection?.moreInfoModule?.pointOfContact;
  if (poc) {
    lines.push(
      `Point of contact: ${poc.title}, ${poc.email}, phone: ${poc.phone}${poc.phoneExt ? ` ext ${poc.phoneExt}` : ""}.`,
    );
    secrets.push(poc.email!, poc.phone!);
  }
  return { text: lines.join(" "), secrets };
}

describe("PHI guard", () => {
  it("removes real ClinicalTrials.gov contact details planted in a record", async () => {
    const results =
      "The odds ratio was 2.31 (95% CI 1.45-3.67; p<0.001) at week 12 in NCT02552212 (PMID: 29130141).";
    const records = ["NCT06171568", "NCT00763412", "NCT05594173"].map((nct) => {
      const { text, secrets } = contactText(load(nct));
      return {
        r: rec(nct, `What are the results of ${nct}?`, `${results} ${text}`, {
          source: "clinicaltrials",
          citations: [nct],
        }),
        secrets,
      };
    });
    const { records: out, report } = await phiGuard(
      records.map((x) => x.r),
      { maxRedactedShare: 1 },
    );
    expect(out).toHaveLength(3);
    records.forEach(({ secrets }, i) => {
      const o = out[i]!.output;
      for (const s of secrets) expect(o).not.toContain(s);
      expect(o).toContain("[EMAIL]");
      expect(o).toContain("[PHONE]");
      // Study results and identifiers survive.
      expect(o).toContain("2.31 (95% CI 1.45-3.67; p<0.001)");
      expect(o).toContain("NCT02552212");
      expect(o).toContain("29130141");
    });
    expect(report.modified).toBe(3);
    expect((report.extra.identifiersByType as Record<string, number>).EMAIL).toBeGreaterThanOrEqual(
      5,
    );
  });

  it("detects each Safe Harbor identifier type", () => {
    const text =
      "Mr. John Smith (MRN: 00458821, DOB 03/14/1952) was admitted on 2020-01-02. He lives at 1200 Main Street, Apt 4B. SSN 123-45-6789. Logged in from 192.168.1.20, profile https://www.facebook.com/john.smith.5. Aged 93 years. Call (617) 555-0142 or mail jsmith@example.org.";
    const types = new Set(detectPhi(text).map((f) => f.type));
    for (const t of ["NAME", "MRN", "DATE", "ADDRESS", "SSN", "IP", "URL", "AGE", "PHONE", "EMAIL"])
      expect(types, t).toContain(t);
  });

  it("leaves clinical text without identifiers alone", () => {
    const text =
      "Patients with suicidal ideation were excluded. Aspirin 81 mg daily for 12 weeks reduced events (HR 0.78, 95% CI 0.61-0.99). Study start 2019-03-12; Version 2.1.0.4 of the protocol. Oral LD50 in rats is 200 mg/kg.";
    expect(detectPhi(text)).toEqual([]);
  });

  it("drops records in drop mode and records whose answer is mostly PHI", async () => {
    const r1 = rec(
      "a",
      "Who is the contact for NCT06171568?",
      "camille.heslot@aphp.fr, 01.49.95.81.69",
      { source: "clinicaltrials" },
    );
    const r2 = rec("b", "Outcome?", "Improved by 12%. Contact: Jane Doe, MD.", {
      source: "clinicaltrials",
    });
    const redact = await phiGuard([r1, r2]);
    expect(redact.records.map((r) => r.id)).toEqual(["b"]);
    expect(redact.events.find((e) => e.id === "a")?.reason).toBe("output is mostly PHI");
    const drop = await phiGuard([r1, r2], { mode: "drop" });
    expect(drop.records).toEqual([]);
  });

  it("redacts a street-less city with state and ZIP, keeping only the ZIP's first three digits", () => {
    const cases: [string, string][] = [
      ["The patient lives in Springfield, IL 62704.", "The patient lives in [CITY], IL 627[ZIP]."],
      // ZIP+4, a lower-case state code, a state name, a multi-word city.
      ["Springfield, IL 62704-1234", "[CITY], IL 627[ZIP]"],
      ["moved to Springfield, il 62704 last year", "moved to [CITY], il 627[ZIP] last year"],
      ["Boise, Idaho 83702", "[CITY], Idaho 837[ZIP]"],
      ["Salt Lake City, UT 84101", "[CITY], UT 841[ZIP]"],
      // A state code and ZIP without the city still lose the digits after the first three.
      ["Mail: PO box pending, TX 75001", "Mail: PO box pending, TX 750[ZIP]"],
      // Three-digit areas of 20,000 people or fewer keep no digits at all.
      ["Cheyenne, WY 82107", "[CITY], WY [ZIP]"],
    ];
    for (const [text, want] of cases) expect(redactPhi(text).text, text).toBe(want);
    expect(detectPhi("Springfield, IL 62704").map((f) => f.type)).toEqual(["CITY", "ZIP"]);
  });

  it("does not take ZIP-like numbers in dosing and counts for ZIP codes", () => {
    for (const text of [
      "Give 62704 mg over 24 hours.",
      "enrolled in 10000 patients across 12 sites",
      "IL 10000 pg/mL at baseline",
      "Vitamin D 50000 IU weekly; IN 12345 U of heparin",
      "MEDLINE 2019 12345 records; Springfield, IL was the site.",
      "PMID 29130141 and NCT02552212",
    ]) {
      expect(
        detectPhi(text).filter((f) => f.type === "ZIP" || f.type === "CITY"),
        text,
      ).toEqual([]);
    }
  });

  it("labels an SSN as an SSN, also in a trial title, never as a phone number", () => {
    for (const text of [
      "SSN 123-45-6789",
      "A Phase 2 Study of Drug X (123-45-6789) in Adults",
      "mobile 123-45-6789",
    ]) {
      const f = detectPhi(text);
      expect(
        f.map((x) => x.type),
        text,
      ).toEqual(["SSN"]);
      expect(redactPhi(text).text).toContain("[SSN]");
    }
    // The ClinicalTrials reader scrubs free text at ingest: an SSN is named, not called a phone.
    expect(scrubContacts("Study 123-45-6789 of aspirin")).toBe("Study [SSN removed] of aspirin");
    expect(scrubContacts("call 314-286-1138")).toBe("call [phone removed]");
  });

  it("finds no ZIP, city or SSN in the bundled and shared sources' records (no false positives)", async () => {
    const raw = join(repoRoot, "data", "raw");
    const sources: [Reader, string[]][] = [
      [readClinicalTrials, [join(raw, "clinicaltrials"), join(sharedDatasets, "clinicaltrials")]],
      [
        readPubmed,
        ["baseline/pubmed26n1334.xml.gz", "efetch/efetch_pubmed_27797938.xml"].map((f) =>
          join(sharedDatasets, "pubmed", f),
        ),
      ],
      [readDrugbank, [join(raw, "drugbank", "drugbank_sample_full_database.xml")]],
      [readChembl, [join(raw, "chembl", "chembl_sample.db")]],
    ];
    let texts = 0;
    for (const [read, files] of sources) {
      for await (const ev of read(files, {})) {
        if (ev.type !== "record") continue;
        const r = ev.record;
        for (const t of [r.instruction, r.input, r.output]) {
          texts++;
          const hits = detectPhi(t).filter((f) => ["ZIP", "CITY", "SSN"].includes(f.type));
          expect(hits, `${r.id}: ${t.slice(0, 80)}`).toEqual([]);
        }
      }
    }
    expect(texts).toBeGreaterThan(1000);
  });
});
