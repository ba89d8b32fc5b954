/**
 * Citation checks by meaning, with the REAL bundled embedder (all-MiniLM-L6-v2) over a corpus of
 * real records (DrugBank's Bivalirudin record and ClinicalTrials.gov NCT02552212 from
 * ../shared/datasets, read by the ingest readers): a paraphrased claim is matched to the passage of
 * the cited record that says it, a claim its cited record does not make is unsupported, and an
 * unknown id gets the corpus records the claim most resembles.
 *
 *   npx vitest run test/evaluate/citation-retrieval.test.ts
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CitationRetriever, claimText } from "../../src/evaluate/citation-retrieval.js";
import { corpusFromRecords, type Corpus } from "../../src/evaluate/corpus.js";
import { checkCitations } from "../../src/evaluate/hallucination.js";
import { loadEmbedder, type Embedder } from "../../src/models/embedder.js";
import { drugAndTrialRecords } from "../augment/helpers.js";

let embedder: Embedder;
let corpus: Corpus;

beforeAll(async () => {
  embedder = await loadEmbedder();
  const { bivalirudin, trial } = await drugAndTrialRecords(20);
  corpus = corpusFromRecords([...bivalirudin, ...trial]);
}, 120_000);
afterAll(() => embedder?.close());

describe("CitationRetriever (real all-MiniLM-L6-v2)", () => {
  it("checks each cited id by meaning and names the record an unknown id's claim resembles", async () => {
    const answer = [
      // A paraphrase of DrugBank's mechanism text, citing the drug's id.
      "Bivalirudin stops thrombin from working by attaching to its catalytic site as well as its anion-binding exosite (DB00006).",
      // A claim the cited record does not make.
      "DB00006 is an antibiotic for urinary tract infections.",
      // An invented PMID for a finding of the trial in the corpus.
      "In adults with non-radiographic axial spondyloarthritis, certolizumab pegol improved ASAS40 response compared with placebo (PMID:99999999).",
    ].join(" ");
    const retriever = new CitationRetriever(corpus, embedder);
    const checked = await retriever.check(answer);
    expect(checked.map((c) => [c.id, c.verdict])).toEqual([
      ["DB00006", "supported"],
      ["DB00006", "unsupported"],
      ["PMID:99999999", "not-found"],
    ]);
    const [para, wrong, unknown] = checked;
    expect(para!.record).toBe("drugbank:mechanism:DB00006");
    expect(para!.passage).toMatch(
      /^What is the mechanism of action of Bivalirudin\? .*anion-binding exosite/,
    );
    expect(para!.cosine).toBeGreaterThanOrEqual(retriever.supportThreshold);
    expect(wrong!.cosine).toBeLessThan(retriever.supportThreshold);
    expect(wrong!.nearest).toHaveLength(3);
    expect(unknown!.nearest[0]!.id).toMatch(/^clinicaltrials-NCT02552212-/);
    expect(unknown!.reason).toMatch(/most resembles clinicaltrials-NCT02552212-/);

    // The surface check cannot tell the wrong claim apart: it names no corpus entity besides the
    // id, so it is "no-claim" (counted as verified by `ask`); the semantic check reports it.
    const surface = checkCitations(answer, corpus);
    expect(surface.map((c) => c.verdict)).toEqual(["supported", "no-claim", "fabricated"]);
  }, 300_000);

  it("claimText strips the identifiers and the brackets around them", () => {
    expect(claimText("Aspirin inhibits COX-1 (PMID:123, NCT01234567).")).toBe(
      "Aspirin inhibits COX-1.",
    );
  });
});
