/**
 * Structured facts (metadata.facts) from every ingest reader, on the real fixtures: each fact names
 * its entities exactly as the record's text does, carries the source's ids, and says only what the
 * record says (negated for Hetionet's vouched "no" answers, outcomes only from posted results).
 *
 *   npx vitest run test/ingest/facts.test.ts
 */
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Fact, InstructionRecord } from "../../src/data/record.js";
import { readChembl } from "../../src/ingest/chembl.js";
import { readClinicalTrials } from "../../src/ingest/clinicaltrials.js";
import { indicationTerms, interactionFacts, readDrugbank } from "../../src/ingest/drugbank.js";
import { readHetionet } from "../../src/ingest/hetionet/index.js";
import { MESH_CHECK_TAGS, readPubmed } from "../../src/ingest/pubmed.js";
import { collect, fixtures, repoRoot } from "./helpers.js";

const text = (r: InstructionRecord) => `${r.instruction}\n${r.input}\n${r.output}`;

/** Every fact's subject and object must be written in the record; returns the facts checked. */
function expectNamedInText(records: InstructionRecord[]): number {
  let n = 0;
  for (const r of records) {
    for (const f of r.metadata.facts ?? []) {
      const t = text(r);
      if (!t.includes(f.subject) || !t.includes(f.object))
        throw new Error(`${r.id}: fact ${JSON.stringify(f)} names something its text does not`);
      n++;
    }
  }
  return n;
}

const factsOf = (r: InstructionRecord | undefined): Fact[] => r?.metadata.facts ?? [];

describe("hetionet facts", () => {
  let sample: InstructionRecord[];
  beforeAll(async () => {
    sample = (
      await collect(
        readHetionet([path.join(repoRoot, "data/raw/hetionet/hetionet-v1.0-sample.json.bz2")]),
      )
    ).records;
  });

  it("states every edge of a list answer, with node ids, in the metaedge's direction", async () => {
    const sub = await collect(
      readHetionet([path.join(fixtures, "hetionet", "bupropion-CbGpPWpGaD-subgraph.json.gz")]),
    );
    expect(expectNamedInText(sub.records)).toBeGreaterThan(500);
    for (const r of sub.records) {
      const f = factsOf(r);
      // One fact per listed node id (citations: metaedge, the asked node, then the listed nodes).
      expect(f.length, r.id).toBe(r.metadata.citations.length - 2);
      const node = r.metadata.provenance.node as string;
      const reverse = r.id.includes(":R:");
      for (const x of f) {
        expect(x.relation).toBe(r.metadata.provenance.metaedge);
        expect(reverse ? x.objectId : x.subjectId).toBe(node);
        expect(x.negated).toBeUndefined();
      }
    }
    const rev = sub.records.find((r) => r.id === "hetionet:CbG:R:Gene::10")!;
    expect(factsOf(rev)).toContainEqual({
      subject: "Acetaminophen",
      relation: "CbG",
      object: "NAT2",
      subjectId: "Compound::DB00316",
      objectId: "Gene::10",
      subjectType: "Compound",
      objectType: "Gene",
    });
  });

  it("marks the vouched absent edges of a 'no' answer as negated and restates the indications", () => {
    const no = sample.filter((r) => r.metadata.task === "hetionet.CtD.no");
    expect(no.length).toBeGreaterThan(100);
    expectNamedInText(no);
    for (const r of no) {
      const negated = factsOf(r).filter((f) => f.negated);
      expect(negated.map((f) => f.relation).sort()).toEqual(["CpD", "CtD"]);
      expect(negated[0]!.objectId).toBe(r.metadata.citations[2]);
      const positives = factsOf(r).filter((f) => !f.negated);
      expect(positives.length).toBeGreaterThan(0);
      // The restated indications are exactly the compound's forward CtD answer.
      const forward = sample.find((x) => x.id === `hetionet:CtD:F:${r.metadata.provenance.node}`)!;
      expect(positives.map((f) => f.objectId).sort()).toEqual(
        factsOf(forward)
          .map((f) => f.objectId)
          .sort(),
      );
    }
    const yes = sample.filter((r) => r.metadata.task === "hetionet.CtD.yes");
    for (const r of yes) expect(factsOf(r)).toHaveLength(1);
  });
});

describe("drugbank facts", () => {
  it("states interaction pairs, targets with DrugBank ids and conservative indications", async () => {
    const r = await collect(
      readDrugbank([path.join(fixtures, "drugbank", "drugbank_record_small_molecule_DB00006.xml")]),
    );
    expectNamedInText(r.records);
    const ddi = r.records.filter((x) => x.metadata.task === "drugbank.ddi");
    for (const x of ddi) {
      const pair = factsOf(x).find((f) => f.relation === "interacts")!;
      expect(pair.subjectId).toBe("DrugBank:DB00006");
      expect(pair.objectId).toBe(x.metadata.citations[1]);
    }
    const apixaban = r.records.find((x) => x.id === "drugbank:ddi:DB00006:DB06605")!;
    expect(factsOf(apixaban)).toContainEqual(
      expect.objectContaining({
        subject: "Apixaban",
        relation: "increases",
        object: "Bivalirudin",
        subjectId: "DrugBank:DB06605",
      }),
    );
    const targets = r.records.find((x) => x.id === "drugbank:targets:DB00006")!;
    expect(factsOf(targets)).toContainEqual(
      expect.objectContaining({
        relation: "targets",
        object: "Prothrombin",
        objectId: "DrugBank:BE0000048",
      }),
    );
    const ind = r.records.find((x) => x.id === "drugbank:indication:DB00006")!;
    expect(factsOf(ind).map((f) => f.object)).toEqual([
      "heparin-induced thrombocytopenia",
      "thrombosis",
    ]);
  });

  it("reads the direction of DrugBank's interaction templates, and none where there is none", () => {
    const it = (description: string) =>
      interactionFacts("Warfarin", "DB00682", {
        id: "DB01118",
        name: "Amiodarone",
        description,
        line: 1,
      }).map((f) => `${f.subject} ${f.relation} ${f.object}`);
    expect(
      it("The metabolism of Warfarin can be decreased when combined with Amiodarone."),
    ).toEqual(["Warfarin interacts Amiodarone", "Amiodarone decreases Warfarin"]);
    expect(it("Amiodarone may increase the anticoagulant activities of Warfarin.")).toEqual([
      "Warfarin interacts Amiodarone",
      "Amiodarone increases Warfarin",
    ]);
    expect(
      it(
        "The risk or severity of bleeding can be increased when Warfarin is combined with Amiodarone.",
      ),
    ).toEqual(["Warfarin interacts Amiodarone"]);
  });

  it("reads only condition phrases from indication text, verbatim", () => {
    const t =
      "Treatment of gastro-oesophageal reflux disease, gastric and duodenal ulcers and Zollinger-Ellison syndrome, and eradication of Helicobacter pylori in combination regimens.";
    expect(indicationTerms(t)).toEqual([
      "gastro-oesophageal reflux disease",
      "duodenal ulcers",
      "Zollinger-Ellison syndrome",
    ]);
    expect(indicationTerms("Lowering of LDL cholesterol in patients at increased risk.")).toEqual(
      [],
    );
    for (const term of indicationTerms(t)) expect(t).toContain(term);
  });
});

describe("chembl facts", () => {
  let records: InstructionRecord[];
  beforeAll(async () => {
    records = (await collect(readChembl([path.join(repoRoot, "data/raw/chembl/chembl_sample.db")])))
      .records;
  });

  it("states mechanism targets, indications with their phase and property values", () => {
    expect(expectNamedInText(records)).toBeGreaterThan(100);
    const mech = records.filter((r) => r.metadata.task === "chembl.mechanism.target");
    expect(mech.length).toBeGreaterThan(0);
    for (const r of mech) {
      const [f] = factsOf(r);
      expect(f!.subjectId).toBe(r.metadata.citations[0]);
      expect(f!.objectId).toBe(r.metadata.citations[1]);
      expect(f!.relation).toMatch(/ of$/);
    }
    for (const r of records.filter((x) => x.metadata.task === "chembl.indications.phase")) {
      const [f] = factsOf(r);
      const phase = /approved for/.test(r.output)
        ? "approved for"
        : /phase (\d)/.exec(r.output)![0];
      expect(f!.relation).toContain(phase);
      expect(f!.objectId).toBe(r.metadata.citations[1]);
    }
  });

  it("gives property values as Quantity facts that the rule-of-five summary restates", () => {
    const mw = records.find((r) => r.metadata.task === "chembl.property.mw")!;
    const [f] = factsOf(mw);
    expect(f).toMatchObject({ relation: "has molecular weight", objectType: "Quantity" });
    expect(mw.output.startsWith(`${f!.object} g/mol`)).toBe(true);
    const chemblId = mw.metadata.citations[0];
    const summary = records.find((r) => r.id === `chembl-${chemblId}-ro5-summary`)!;
    expect(factsOf(summary)).toContainEqual(f);
  });
});

describe("clinicaltrials facts", () => {
  const dir = path.join(fixtures, "clinicaltrials");
  it("states conditions and interventions, and outcome facts only from posted results", async () => {
    const r = await collect(
      readClinicalTrials(["NCT02552212", "NCT06171568"].map((id) => path.join(dir, `${id}.json`))),
    );
    expectNamedInText(r.records);
    const cond = r.records.find((x) => x.id === "clinicaltrials-NCT02552212-conditions")!;
    expect(factsOf(cond)[0]).toEqual({
      subject: "NCT02552212",
      relation: "studies",
      object: "Axial Spondyloarthritis",
      subjectId: "NCT02552212",
      subjectType: "ClinicalTrial",
      objectType: "Condition",
    });
    const outcomes = r.records.flatMap((x) =>
      factsOf(x).filter((f) => f.relation === "reported results for"),
    );
    expect(outcomes.length).toBeGreaterThan(0);
    // NCT06171568 has no posted results: no record of it may state an outcome or adverse event.
    const noResults = r.records.filter((x) => x.id.includes("NCT06171568"));
    expect(noResults.length).toBeGreaterThan(3);
    for (const x of noResults)
      for (const f of factsOf(x)) expect(["studies", "tests"]).toContain(f.relation);
    const ae = r.records.find((x) => x.id === "clinicaltrials-NCT02552212-adverse_events")!;
    expect(factsOf(ae).length).toBeGreaterThan(3);
    for (const f of factsOf(ae)) expect(ae.output).toContain(`- ${f.object}`);
  });
});

describe("pubmed facts", () => {
  it("states the article's MeSH topics by title and descriptor UI, without check tags", async () => {
    const r = await collect(
      readPubmed([path.join(fixtures, "pubmed", "efetch", "efetch_pubmed_27797938.xml")]),
    );
    expectNamedInText(r.records);
    const mesh = r.records.find((x) => x.id === "pubmed-27797938-mesh")!;
    const f = factsOf(mesh);
    expect(f.length).toBeGreaterThan(3);
    for (const x of f) {
      expect(x.subjectId).toBe("PMID:27797938");
      expect(x.objectId).toMatch(/^MeSH:D\d{6}$/);
      expect(MESH_CHECK_TAGS.has(x.object)).toBe(false);
    }
    expect(mesh.output).toMatch(/\bHumans\b/); // check tags are in the answer, not in the facts
    expect(f).toContainEqual(
      expect.objectContaining({ relation: "has major MeSH topic", object: "Adenocarcinoma" }),
    );
  });
});
