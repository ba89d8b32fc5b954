/**
 * Validation bites for every source: the bundled samples are ingested by the real readers, a fact
 * index and lexicon are built from them as the pipeline builds them (configs/augment.yaml's
 * vocabularies included), and copies of real records with one planted wrong claim each — declared
 * or in the text — must be dropped, while every untouched ingest record is kept.
 *
 *   npx vitest run test/augment/validate-sources.test.ts
 */
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Fact, InstructionRecord, SourceName } from "../../src/data/record.js";
import { FactIndex } from "../../src/augment/facts.js";
import {
  drugBankVocabulary,
  EntityLexicon,
  factEntities,
  loadHetionetNodes,
  meshTerms,
} from "../../src/augment/lexicon.js";
import { validateFacts, type SourceValidation } from "../../src/augment/validate.js";
import { readChembl } from "../../src/ingest/chembl.js";
import { readClinicalTrials } from "../../src/ingest/clinicaltrials.js";
import { readDrugbank } from "../../src/ingest/drugbank.js";
import { readHetionet } from "../../src/ingest/hetionet/index.js";
import { readPubmed } from "../../src/ingest/pubmed.js";
import type { IngestEvent } from "../../src/ingest/types.js";
import { repoRoot } from "./helpers.js";

const raw = (...p: string[]) => path.join(repoRoot, "data", "raw", ...p);

async function records(gen: AsyncGenerator<IngestEvent>): Promise<InstructionRecord[]> {
  const out: InstructionRecord[] = [];
  for await (const ev of gen) if (ev.type === "record") out.push(ev.record);
  return out;
}

/** A copy of `r` with id `id`, its facts replaced by `edit`, and its text edited by `text`. */
function plant(
  r: InstructionRecord,
  id: string,
  edit: (facts: Fact[]) => Fact[],
  text: (s: string) => string = (s) => s,
): InstructionRecord {
  const c = structuredClone(r);
  c.id = id;
  c.metadata.facts = edit(c.metadata.facts ?? []);
  c.output = text(c.output);
  return c;
}

describe("validation against the index built from the bundled ingest records", () => {
  let clean: InstructionRecord[];
  let index: FactIndex;
  const by = (
    source: SourceName,
    task: string,
    pred: (r: InstructionRecord) => boolean = () => true,
  ) => {
    const r = clean.find(
      (x) => x.metadata.source === source && x.metadata.task === task && pred(x),
    );
    if (!r) throw new Error(`no ${source} record of task ${task} in the bundled sample`);
    return r;
  };

  beforeAll(async () => {
    clean = [
      ...(await records(readHetionet([raw("hetionet", "hetionet-v1.0-sample.json.bz2")]))),
      ...(await records(readDrugbank([raw("drugbank", "drugbank_sample_full_database.xml")]))),
      ...(await records(readChembl([raw("chembl", "chembl_sample.db")]))),
      ...(await records(
        readClinicalTrials(
          ["NCT01131676.json", "NCT03036124.json"].map((f) => raw("clinicaltrials", f)),
        ),
      )),
      ...(await records(
        readPubmed([
          raw("pubmed", "baseline", "pubmed25n0001.xml.gz"),
          raw("pubmed", "updatefiles", "pubmed25n1275.xml.gz"),
        ]),
      )),
    ];
    const lexicon = EntityLexicon.from([
      factEntities(clean),
      meshTerms(clean),
      drugBankVocabulary(raw("drugbank", "drugbank_sample_vocabulary.csv")),
      await loadHetionetNodes(raw("hetionet", "hetionet-v1.0-sample.json.bz2")),
    ]);
    index = FactIndex.fromRecords(clean, lexicon);
  });

  it("has facts from every source and keeps every clean ingest record", async () => {
    for (const s of ["hetionet", "drugbank", "chembl", "clinicaltrials", "pubmed"])
      expect(index.factsFrom(s), s).toBeGreaterThan(5);
    const { records: kept, report } = await validateFacts(clean, { index });
    expect(kept).toHaveLength(clean.length);
    const bySource = report.extra.bySource as Record<string, SourceValidation>;
    for (const s of ["hetionet", "drugbank", "chembl", "clinicaltrials", "pubmed"]) {
      expect(bySource[s]!.checkedRecords, s).toBeGreaterThan(0);
      expect(bySource[s]!.uncheckedRecords, s).toBe(0);
    }
  });

  it("drops each source's planted unsupported or contradicted claims, and counts them per source", async () => {
    const ctdF = by("hetionet", "hetionet.CtD");
    const other = by("hetionet", "hetionet.CtD", (r) => r.id !== ctdF.id);
    const otherDisease = other.metadata.facts!.find(
      (f) => !ctdF.metadata.facts!.some((g) => g.objectId === f.objectId),
    )!;
    const no = by("hetionet", "hetionet.CtD.no");
    const ddi = by("drugbank", "drugbank.ddi", (r) => /may increase/.test(r.output));
    const ddiOther = by(
      "drugbank",
      "drugbank.ddi",
      (r) => !r.id.includes(ddi.metadata.citations[0]!.slice(9)),
    );
    const mw = by("chembl", "chembl.property.mw");
    const mech = by("chembl", "chembl.mechanism.target");
    const mech2 = by(
      "chembl",
      "chembl.mechanism.target",
      (r) => r.metadata.facts![0]!.objectId !== mech.metadata.facts![0]!.objectId,
    );
    const cond = by("clinicaltrials", "clinicaltrials.conditions");
    const cond2 = by("clinicaltrials", "clinicaltrials.conditions", (r) => r.id !== cond.id);
    const mesh = by("pubmed", "pubmed.mesh");
    const mesh2 = by("pubmed", "pubmed.mesh", (r) =>
      r.metadata.facts!.some((f) => !mesh.metadata.facts!.some((g) => g.object === f.object)),
    );
    const foreignHeading = mesh2.metadata.facts!.find(
      (f) => !mesh.metadata.facts!.some((g) => g.object === f.object),
    )!;

    const planted: Record<string, { r: InstructionRecord; source: SourceName }> = {
      // A compound's indication list gains a disease the graph gives another compound.
      hetionetDeclared: {
        source: "hetionet",
        r: plant(ctdF, "plant-het-1", (fs) => [
          ...fs,
          { ...fs[0]!, object: otherDisease.object, objectId: otherDisease.objectId! },
        ]),
      },
      // A "no" answer that denies an edge the graph holds.
      hetionetContradicted: {
        source: "hetionet",
        r: plant(no, "plant-het-2", (fs) =>
          fs.map((f) =>
            f.negated && f.relation === "CtD" ? { ...f, ...pick(fs.find((g) => !g.negated)!) } : f,
          ),
        ),
      },
      // The text alone claims a treatment the graph does not hold.
      hetionetText: {
        source: "hetionet",
        r: plant(
          ctdF,
          "plant-het-3",
          (fs) => fs,
          (s) =>
            `${s} ${other.metadata.facts![0]!.subject} treats ${ctdF.metadata.facts![0]!.object}.`.replace(
              /\.\.$/,
              ".",
            ),
        ),
      },
      // An interaction pair DrugBank does not list (the partner of another interaction).
      drugbankDeclared: {
        source: "drugbank",
        r: plant(ddi, "plant-db-1", (fs) => [
          { ...fs.find((f) => f.relation === "interacts")!, ...pick(ddiOther.metadata.facts![0]!) },
        ]),
      },
      // Flipped effect direction in the text: "may decrease" where DrugBank says "may increase".
      drugbankText: {
        source: "drugbank",
        r: plant(
          ddi,
          "plant-db-2",
          (fs) => fs.filter((f) => f.relation === "interacts"),
          (s) => s.replace("may increase", "may decrease"),
        ),
      },
      chemblValue: {
        source: "chembl",
        r: plant(mw, "plant-ch-1", (fs) =>
          fs.map((f) => ({ ...f, object: (Number(f.object) + 100).toFixed(2) })),
        ),
      },
      chemblTarget: {
        source: "chembl",
        r: plant(mech, "plant-ch-2", (fs) =>
          fs.map((f) => ({
            ...f,
            object: mech2.metadata.facts![0]!.object,
            objectId: mech2.metadata.facts![0]!.objectId!,
          })),
        ),
      },
      clinicaltrials: {
        source: "clinicaltrials",
        r: plant(cond, "plant-ct-1", (fs) => [
          ...fs,
          { ...fs[0]!, object: cond2.metadata.facts![0]!.object },
        ]),
      },
      pubmed: {
        source: "pubmed",
        r: plant(mesh, "plant-pm-1", (fs) => [
          ...fs,
          {
            ...fs[0]!,
            relation: foreignHeading.relation,
            object: foreignHeading.object,
            objectId: foreignHeading.objectId!,
          },
        ]),
      },
    };
    const plantedIds = new Set(Object.values(planted).map((p) => p.r.id));
    const {
      records: kept,
      events,
      report,
    } = await validateFacts([...clean, ...Object.values(planted).map((p) => p.r)], { index });
    const dropped = new Set(events.filter((e) => e.disposition === "dropped").map((e) => e.id));
    expect(dropped).toEqual(plantedIds);
    expect(kept).toHaveLength(clean.length);
    const reasons = new Map(events.map((e) => [e.id, e.reason]));
    expect(reasons.get("plant-het-2")).toBe("contradicted claim");
    expect(reasons.get("plant-het-1")).toBe("unsupported claim");
    const bySource = report.extra.bySource as Record<string, SourceValidation>;
    for (const s of ["hetionet", "drugbank", "chembl", "clinicaltrials", "pubmed"]) {
      const n = Object.values(planted).filter((p) => p.source === s).length;
      expect(bySource[s]!.failedRecords, s).toBe(n);
      expect(bySource[s]!.unsupported + bySource[s]!.contradicted, s).toBeGreaterThanOrEqual(n);
    }
  });
});

/** The object half of a fact, to move a positive edge into a negated one. */
function pick(f: Fact): Pick<Fact, "object" | "objectId"> {
  return { object: f.object, ...(f.objectId ? { objectId: f.objectId } : {}) };
}
