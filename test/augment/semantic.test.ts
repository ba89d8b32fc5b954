/**
 * Semantic near-duplicates and semantic decontamination with the REAL bundled embedder
 * (models/embeddings/all-MiniLM-L6-v2; `node scripts/setup.mjs --only embedder` installs it) over
 * real records: DrugBank's Bivalirudin record and a ClinicalTrials.gov study from
 * ../shared/datasets, read by the ingest readers; PubMedQA questions as the eval set.
 *
 *   npx vitest run test/augment/semantic.test.ts
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decontaminate } from "../../src/augment/decontam.js";
import { dedup, jaccard, shingles } from "../../src/augment/dedup.js";
import {
  numberKey,
  openEmbedder,
  questionForm,
  semanticDedup,
  semanticText,
  VectorIndex,
} from "../../src/augment/semantic.js";
import { defaultConfig, mergeConfig } from "../../src/augment/config.js";
import { augmentRecords } from "../../src/augment/pipeline.js";
import type { InstructionRecord } from "../../src/data/record.js";
import { loadEmbedder, type Embedder } from "../../src/models/embedder.js";
import { drugAndTrialRecords, rec, sharedDatasets } from "./helpers.js";

let embedder: Embedder;
let bivalirudin: InstructionRecord[];
let trial: InstructionRecord[];

beforeAll(async () => {
  embedder = await loadEmbedder();
  ({ bivalirudin, trial } = await drugAndTrialRecords(12));
}, 120_000);
afterAll(() => embedder?.close());

const byId = (rs: InstructionRecord[], id: string) => {
  const r = rs.find((x) => x.id === id);
  if (!r) throw new Error(`no record ${id} in the ingested sample`);
  return r;
};

/** The mechanism record reworded, question and answer: what a second source or a rewrite adds. */
function rewordedMechanism(): InstructionRecord {
  const m = byId(bivalirudin, "drugbank:mechanism:DB00006");
  return {
    ...structuredClone(m),
    id: "reworded-mechanism",
    instruction: "How does Bivalirudin work?",
    output:
      "It blocks thrombin by binding to both its catalytic site and its anion-binding exosite. Thrombin, a serine proteinase central to thrombosis, cleaves fibrinogen into fibrin monomers and activates Factor XIII to Factor XIIIa, letting fibrin form a covalently cross-linked framework that stabilizes the thrombus.",
  };
}

describe("semanticDedup (real all-MiniLM-L6-v2)", () => {
  it("drops a reworded duplicate MinHash misses and keeps distinct records on the same drug and trial", async () => {
    const mech = byId(bivalirudin, "drugbank:mechanism:DB00006");
    const dup = rewordedMechanism();
    // MinHash cannot see it: the word 5-gram Jaccard of the pair is far below its 0.8 threshold.
    const j = jaccard(shingles(semanticText(mech)), shingles(semanticText(dup)));
    expect(j).toBeLessThan(0.1);
    const input = [...bivalirudin, ...trial, dup];
    const minhash = await dedup(input);
    expect(minhash.records.map((r) => r.id)).toContain("reworded-mechanism");

    const { records: kept, events, report } = await semanticDedup(minhash.records, { embedder });
    const dropped = events.filter((e) => e.disposition === "dropped");
    expect(dropped.map((e) => e.id)).toEqual(["reworded-mechanism"]);
    expect(dropped[0]!.reason).toBe("semantic duplicate");
    expect(dropped[0]!.detail).toMatch(
      /^of drugbank:mechanism:DB00006 \(cosine 0\.9\d\d, answers 0\.9\d\d\)$/,
    );
    // Every real record is kept: indication, mechanism, targets, food, interactions on one drug,
    // and the trial's outcome records that differ only in the week (the number guard).
    expect(kept.map((r) => r.id)).toEqual(minhash.records.slice(0, -1).map((r) => r.id));
    expect(report.reasons["dropped:semantic duplicate"]).toBe(1);
    expect(report.extra.semanticDuplicates).toBe(1);
    expect(report.extra.model).toBe("all-MiniLM-L6-v2");
  }, 300_000);

  it("is deterministic and keeps the first of a duplicate pair", async () => {
    const dup = rewordedMechanism();
    const mech = byId(bivalirudin, "drugbank:mechanism:DB00006");
    const a = await semanticDedup([dup, mech], { embedder });
    expect(a.records.map((r) => r.id)).toEqual(["reworded-mechanism"]);
    expect(a.events[0]!.detail).toMatch(/^of reworded-mechanism /);
    const b = await semanticDedup([dup, mech], { embedder });
    expect(b.events).toEqual(a.events);
  }, 120_000);

  it("runs in the pipeline after MinHash, counted as its own step", async () => {
    const res = await augmentRecords(
      [...bivalirudin, ...trial, rewordedMechanism()],
      defaultConfig(),
      {
        embedder,
      },
    );
    const steps = res.steps.map((s) => s.step);
    expect(steps.slice(0, 4)).toEqual(["phi", "dedup", "semantic_dedup", "decontaminate"]);
    const sem = res.steps[2]!;
    expect(sem.in).toBe(res.steps[1]!.out);
    expect(sem.reasons).toEqual({ "dropped:semantic duplicate": 1 });
    expect(res.events.find((e) => e.reason === "semantic duplicate")?.id).toBe(
      "reworded-mechanism",
    );
  }, 300_000);

  it("numberKey separates records that differ only in their numbers", () => {
    expect(numberKey("at Week 2: 36.4 (95% CI 33.0 to 40.1)")).not.toBe(
      numberKey("at Week 4: 36.4 (95% CI 33.0 to 40.1)"),
    );
    expect(numberKey("What is it?")).toBe("");
  });

  it("questionForm tells yes/no questions from open ones", () => {
    expect(questionForm("Is Indomethacin a disease-modifying treatment for gout?")).toBe("yes/no");
    expect(questionForm("Does X treat Y?")).toBe("yes/no");
    expect(questionForm("Which diseases is Indomethacin used to treat?")).toBe("open");
    expect(questionForm("Could you tell me the targets of Bivalirudin?")).toBe("open");
  });

  it("VectorIndex finds rows above a cosine, best first, and the best overall", () => {
    const ix = new VectorIndex(2, 1);
    ix.add(Float32Array.of(1, 0));
    ix.add(Float32Array.of(0, 1));
    ix.add(Float32Array.of(Math.SQRT1_2, Math.SQRT1_2));
    const { hits, best } = ix.above(Float32Array.of(1, 0), 0.5);
    expect(hits.map((h) => h.row)).toEqual([0, 2]);
    expect(best).toBeCloseTo(1);
    expect(ix.nearest(Float32Array.of(0, 1), 2).map((h) => h.row)).toEqual([1, 2]);
    expect(() => ix.add(Float32Array.of(1))).toThrow(/2-d vector/);
  });
});

describe("semantic decontamination (real all-MiniLM-L6-v2)", () => {
  const pqaDir = join(sharedDatasets, "eval", "pubmedqa");
  const pqal = JSON.parse(readFileSync(join(pqaDir, "ori_pqal.json"), "utf8")) as Record<
    string,
    { QUESTION: string }
  >;

  it("removes a reworded PubMedQA question the n-gram and question checks miss, keeps real records", async () => {
    const original = pqal["10808977"]!.QUESTION;
    expect(original).toBe("Can tailored interventions increase mammography use among HMO women?");
    const reworded = rec(
      "reworded-eval",
      "Can tailored interventions raise the use of mammography among women in HMOs?",
      "Yes: in the trial, tailored telephone counselling increased mammography use.",
      { source: "pubmed" },
    );
    const clean = [...bivalirudin.slice(0, 6), ...trial.slice(0, 6)];
    const surface = await decontaminate([reworded, ...clean], { evalPaths: [pqaDir] });
    expect(surface.records.map((r) => r.id)).toContain("reworded-eval");

    const {
      records: kept,
      events,
      report,
    } = await decontaminate([reworded, ...clean], {
      evalPaths: [pqaDir],
      embedder,
    });
    expect(events.map((e) => [e.id, e.reason])).toEqual([
      ["reworded-eval", "eval overlap (semantic)"],
    ]);
    expect(events[0]!.detail).toMatch(
      /^ori_pqal\.json: 10808977 \(cosine 0\.9\d\d\): Can tailored/,
    );
    expect(kept.map((r) => r.id)).toEqual(clean.map((r) => r.id));
    expect((report.extra.semantic as { removed: number }).removed).toBe(1);
  }, 300_000);
});

describe("semantic settings", () => {
  it("off means no embedder; a model folder that is not there is an error naming it and the set-up command", async () => {
    expect(await openEmbedder(false)).toBeUndefined();
    const saved = process.env.MEDTUNE_MODELS_DIR;
    process.env.MEDTUNE_MODELS_DIR = "/nonexistent-models";
    try {
      // auto: off when the bundled model is not installed; true: an error saying how to install it.
      expect(await openEmbedder("auto")).toBeUndefined();
      await expect(openEmbedder(true)).rejects.toThrow(
        /\/nonexistent-models\/embeddings\/all-MiniLM-L6-v2: .*node scripts\/setup\.mjs --only embedder/,
      );
    } finally {
      if (saved === undefined) delete process.env.MEDTUNE_MODELS_DIR;
      else process.env.MEDTUNE_MODELS_DIR = saved;
    }
    await expect(openEmbedder(true, { path: "/nonexistent/embedder" })).rejects.toThrow(
      /\/nonexistent\/embedder: .*--no-semantic/,
    );
    const c = mergeConfig(defaultConfig(), { semantic: { enabled: false } }, "test");
    expect(c.semantic.enabled).toBe(false);
    expect(() => mergeConfig(defaultConfig(), { semantic: { enabled: "yes" } }, "x.yaml")).toThrow(
      /semantic\.enabled: expected true, false or auto/,
    );
  });
});
