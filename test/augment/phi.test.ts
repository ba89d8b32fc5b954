import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { detectPhi, phiGuard } from "../../src/augment/phi.js";
import { rec, sharedDatasets } from "./helpers.js";

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
});
