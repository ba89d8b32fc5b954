// Hallucination and citation checks on a hand-built corpus with known answers: a planted
// fabricated PMID is caught, a contradicted claim is caught, a supported claim and a real citation
// pass, a real id cited for a claim its record does not mention is flagged; false-premise answers.
import { describe, expect, it } from "vitest";
import type { InstructionRecord } from "../../src/data/record.js";
import { corpusFromRecords, findIds, normalizeIds } from "../../src/evaluate/corpus.js";
import {
  checkCitations,
  checkClaims,
  flagsFalsePremise,
} from "../../src/evaluate/hallucination.js";

const rec = (
  id: string,
  output: string,
  citations: string[],
  facts: InstructionRecord["metadata"]["facts"],
  source: InstructionRecord["metadata"]["source"] = "hetionet",
): InstructionRecord => ({
  id,
  instruction: "q",
  input: "",
  output,
  metadata: {
    source,
    task: "t",
    confidence: 1,
    citations,
    license: "CC0-1.0",
    provenance: {},
    facts,
  },
});

const corpus = corpusFromRecords([
  rec(
    "ctd",
    "Octreotide is a disease-modifying treatment for thymus cancer.",
    ["Hetionet:CtD", "Compound::DB00104", "Disease::DOID:3277"],
    [
      {
        subject: "Octreotide",
        relation: "CtD",
        object: "thymus cancer",
        subjectId: "Compound::DB00104",
        objectId: "Disease::DOID:3277",
        subjectType: "Compound",
        objectType: "Disease",
      },
    ],
  ),
  rec(
    "cpd",
    "Choline is a symptomatic treatment for osteoarthritis.",
    ["Hetionet:CpD", "Compound::DB00122", "Disease::DOID:8398"],
    [
      {
        subject: "Choline",
        relation: "CpD",
        object: "osteoarthritis",
        subjectId: "Compound::DB00122",
        objectId: "Disease::DOID:8398",
        subjectType: "Compound",
        objectType: "Disease",
      },
    ],
  ),
  rec(
    "trial",
    "The trial NCT01131676 studies empagliflozin in type 2 diabetes mellitus.",
    ["NCT01131676", "PMID:26378978"],
    [
      {
        subject: "Empagliflozin",
        relation: "studies",
        object: "type 2 diabetes mellitus",
        subjectId: "NCT01131676",
        subjectType: "ClinicalTrial",
        objectType: "Condition",
      },
    ],
    "clinicaltrials",
  ),
]);

describe("identifiers", () => {
  it("normalises the schemes the sources use", () => {
    expect(normalizeIds("PMID 123")).toEqual(["PMID:123"]);
    expect(normalizeIds("DrugBank:DB00682")).toEqual(["DB00682"]);
    expect(normalizeIds("Compound::DB00104")).toEqual(["Compound::DB00104", "DB00104"]);
    expect(normalizeIds("Disease::DOID:3277")).toEqual(["Disease::DOID:3277", "DOID:3277"]);
    expect(normalizeIds("chembl25")).toEqual(["CHEMBL25"]);
    expect(
      findIds("See PMID: 26378978 and NCT01131676; also DB00104.").map((f) => f.ids[0]),
    ).toEqual(["PMID:26378978", "NCT01131676", "DB00104"]);
  });
});

describe("claims against the fact index", () => {
  it("supported, contradicted, unsupported, unverifiable", () => {
    const v = (t: string) => checkClaims(t, corpus).map((c) => c.verdict);
    expect(v("Octreotide treats thymus cancer.")).toEqual(["supported"]);
    // The sources say Octreotide treats (disease-modifying) thymus cancer: "palliates" contradicts it.
    expect(v("Octreotide palliates thymus cancer.")).toEqual(["contradicted"]);
    expect(v("Octreotide does not treat thymus cancer.")).toEqual(["contradicted"]);
    expect(v("Choline treats thymus cancer.")).toEqual(["unsupported"]);
    expect(v("Octreotide binds thymus cancer.")).toEqual(["unverifiable"]);
  });
});

describe("citations", () => {
  it("catches a planted fabricated PMID and passes a real, relevant one", () => {
    const c = checkCitations(
      "Empagliflozin was studied in type 2 diabetes mellitus (PMID:26378978). Octreotide cures thymus cancer (PMID:99999999).",
      corpus,
    );
    expect(c.map((x) => [x.id, x.verdict])).toEqual([
      ["PMID:26378978", "supported"],
      ["PMID:99999999", "fabricated"],
    ]);
  });
  it("flags a real id cited for a claim its record does not mention", () => {
    const c = checkCitations("Choline relieves osteoarthritis (NCT01131676).", corpus);
    expect(c[0]!.verdict).toBe("unsupported");
    expect(c[0]!.reason).toMatch(/Choline/);
    const ok = checkCitations("Choline relieves osteoarthritis (Compound::DB00122).", corpus);
    expect(ok[0]!.verdict).toBe("supported");
  });
});

describe("false premises", () => {
  it("tells declining from playing along", () => {
    expect(flagsFalsePremise("I do not know; this process does not exist.").flagged).toBe(true);
    expect(flagsFalsePremise("The answer is C, because the cytosol hosts it.").flagged).toBe(false);
  });
});
