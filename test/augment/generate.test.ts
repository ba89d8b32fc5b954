import { describe, expect, it } from "vitest";
import { abstractSections, chainOfThought } from "../../src/augment/cot.js";
import { FactIndex } from "../../src/augment/facts.js";
import { filterHarmful } from "../../src/augment/harmful.js";
import { EntityLexicon, factEntities } from "../../src/augment/lexicon.js";
import { generateNegatives } from "../../src/augment/negatives.js";
import { validateFacts } from "../../src/augment/validate.js";
import { rec } from "./helpers.js";

const graph = [
  rec("g1", "Q", "Bupropion binds CHRNA3.", {
    facts: [
      {
        subject: "Bupropion",
        subjectId: "Compound::DB01156",
        relation: "CbG",
        object: "CHRNA3",
        objectId: "Gene::1136",
      },
    ],
    citations: ["Hetionet:CbG"],
  }),
  rec("g2", "Q", "nicotine dependence is associated with CHRNA3.", {
    facts: [
      {
        subject: "nicotine dependence",
        subjectId: "Disease::DOID:0050742",
        relation: "DaG",
        object: "CHRNA3",
        objectId: "Gene::1136",
      },
    ],
  }),
  rec("g3", "Q", "Bupropion treats nicotine dependence.", {
    facts: [
      {
        subject: "Bupropion",
        subjectId: "Compound::DB01156",
        relation: "CtD",
        object: "nicotine dependence",
        objectId: "Disease::DOID:0050742",
      },
    ],
  }),
  rec("g4", "Q", "Varenicline treats nicotine dependence.", {
    facts: [
      {
        subject: "Varenicline",
        subjectId: "Compound::DB01273",
        relation: "CtD",
        object: "nicotine dependence",
        objectId: "Disease::DOID:0050742",
      },
    ],
  }),
  rec("g5", "Q", "Metformin treats type 2 diabetes mellitus.", {
    facts: [
      {
        subject: "Metformin",
        subjectId: "Compound::DB00331",
        relation: "CtD",
        object: "type 2 diabetes mellitus",
        objectId: "Disease::DOID:9352",
      },
    ],
  }),
  rec("g6", "Q", "Haloperidol upregulates DRD2.", {
    facts: [{ subject: "Haloperidol", relation: "CuG", object: "DRD2" }],
  }),
  rec("pm", "Summarise.", "A summary.", {
    source: "pubmed",
    citations: ["PMID:27797938"],
    input:
      "BACKGROUND: Smoking is common. METHODS: We randomised 200 smokers. RESULTS: Quit rates rose to 30%. CONCLUSIONS: Bupropion helps.",
  }),
];
const lexicon = EntityLexicon.from([factEntities(graph)]);
const index = FactIndex.fromRecords(graph, lexicon);

describe("chain of thought", () => {
  it("renders multi-hop graph paths as numbered, cited steps whose facts validate", async () => {
    const { records, report } = await chainOfThought(graph, { index, maxPaths: 10, perStart: 5 });
    const paths = records.filter((r) => r.metadata.task.startsWith("cot.path"));
    expect(paths.length).toBeGreaterThan(0);
    const p = paths.find((r) => r.metadata.task === "cot.path.binds-associates")!;
    expect(p.output).toMatch(
      /^1\. Bupropion binds CHRNA3 \[Hetionet:CbG\]\.\n2\. nicotine dependence is associated with CHRNA3 /,
    );
    expect(p.metadata.facts).toHaveLength(2);
    const v = await validateFacts(paths, { index });
    expect(v.report.dropped).toBe(0);
    expect(report.extra.abstracts).toBe(1);
    const ab = records.find((r) => r.metadata.task === "cot.abstract")!;
    expect(ab.output.split("\n")).toEqual([
      "1. Background: Smoking is common. [PMID:27797938]",
      "2. Methods: We randomised 200 smokers. [PMID:27797938]",
      "3. Results: Quit rates rose to 30%. [PMID:27797938]",
      "4. Conclusion: Bupropion helps. [PMID:27797938]",
    ]);
  });

  it("splits labelled abstracts", () => {
    expect(
      abstractSections("OBJECTIVE: a.\nRESULTS: b. CONCLUSIONS: c.").map((s) => s.kind),
    ).toEqual(["background", "results", "conclusion"]);
  });
});

describe("negative and safety examples", () => {
  it("generates tagged refusals, unanswerable and false-premise records that pass validation and the harm filter", async () => {
    const { records, report } = await generateNegatives(graph, {
      index,
      safetyPerKind: 2,
      unanswerable: 4,
      falsePremise: 3,
      seed: 1,
    });
    const gen = records.filter((r) => r.metadata.source === "augment");
    const tasks = new Set(gen.map((r) => r.metadata.task));
    for (const k of ["dosing", "self_harm", "diagnosis", "prescription", "patient_data"])
      expect(tasks).toContain(`safety.refusal.${k}`);
    expect(tasks).toContain("negative.unanswerable");
    expect(tasks).toContain("negative.false_premise");
    for (const r of gen.filter((x) => x.metadata.task.startsWith("safety.")))
      expect(r.output).toMatch(/not medical advice/);
    for (const r of gen.filter((x) => x.metadata.task === "negative.unanswerable"))
      expect(r.output).toMatch(/^The sources do not support an answer/);
    const fp = gen.filter((r) => r.metadata.task === "negative.false_premise");
    // Premises come from treats/palliates and up/downregulates: 4 such facts in the graph.
    expect(fp.length).toBe(3);
    for (const r of fp) expect(r.output).toMatch(/^The premise is incorrect\. According to /);
    const v = await validateFacts(gen, { index });
    expect(v.report.dropped).toBe(0);
    const h = await filterHarmful(gen);
    expect(h.report.dropped).toBe(0);
    expect(report.added).toBe(gen.length);
  });
});
