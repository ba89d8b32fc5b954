import { describe, expect, it } from "vitest";
import { extractClaims, FactIndex } from "../../src/augment/facts.js";
import { EntityLexicon, factEntities } from "../../src/augment/lexicon.js";
import { validateFacts } from "../../src/augment/validate.js";
import { rec } from "./helpers.js";

const graph = [
  rec(
    "g1",
    "Does Bupropion treat nicotine dependence?",
    "Yes. Bupropion treats nicotine dependence.",
    { facts: [{ subject: "Bupropion", relation: "CtD", object: "nicotine dependence" }] },
  ),
  rec("g2", "Which genes does Bupropion bind?", "Bupropion binds CHRNA3 and SLC6A3.", {
    facts: [
      { subject: "Bupropion", relation: "CbG", object: "CHRNA3" },
      { subject: "Bupropion", relation: "CbG", object: "SLC6A3" },
    ],
  }),
  rec("g3", "Which genes are associated with nicotine dependence?", "CHRNA3.", {
    facts: [{ subject: "nicotine dependence", relation: "DaG", object: "CHRNA3" }],
  }),
  rec(
    "g4",
    "Does Varenicline treat nicotine dependence?",
    "Yes. Varenicline treats nicotine dependence.",
    { facts: [{ subject: "Varenicline", relation: "CtD", object: "nicotine dependence" }] },
  ),
  rec("g5", "Does Metformin treat type 2 diabetes mellitus?", "Yes.", {
    facts: [{ subject: "Metformin", relation: "CtD", object: "type 2 diabetes mellitus" }],
  }),
  rec("d1", "Interaction?", "Apixaban may increase the anticoagulant activities of Bivalirudin.", {
    source: "drugbank",
    facts: [{ subject: "Apixaban", relation: "increases", object: "Bivalirudin" }],
  }),
];

describe("validation against the source graph", () => {
  const lexicon = EntityLexicon.from([factEntities(graph)]);
  const index = FactIndex.fromRecords(graph, lexicon);

  it("extracts entity–relation–entity claims from text, with negation", () => {
    const c = extractClaims(
      "Bupropion binds CHRNA3. Metformin does not treat nicotine dependence.",
      lexicon,
    );
    expect(c.map((x) => [x.subjectName, x.relation, x.objectName, x.negated])).toEqual([
      ["Bupropion", "binds", "CHRNA3", false],
      ["Metformin", "treats", "nicotine dependence", true],
    ]);
  });

  it("flags every planted unsupported claim and nothing else", async () => {
    const planted = [
      rec(
        "p1",
        "Q",
        "Yes. Bupropion treats nicotine dependence. Bupropion also treats type 2 diabetes mellitus.",
      ), // 2nd unsupported
      rec("p2", "Q", "Metformin binds CHRNA3."), // unsupported
      rec("p3", "Q", "Varenicline is associated with SLC6A3."), // unsupported
      rec(
        "p4",
        "Q",
        "Metformin is not used for nicotine dependence; Bupropion treats nicotine dependence.",
      ), // fine
      rec("p5", "Q", "Bupropion does not bind CHRNA3."), // contradicted
      rec("p6", "Q", "OK", {
        facts: [{ subject: "Varenicline", relation: "binds", object: "SLC6A3" }],
      }), // declared, unsupported
      rec("p7", "Q", "Apixaban may decrease the anticoagulant activities of Bivalirudin.", {
        source: "drugbank",
      }), // wrong direction of effect
      rec("p8", "Q", "Apixaban may increase the anticoagulant activities of Bivalirudin.", {
        source: "drugbank",
      }), // fine
      rec("p9", "Q", "Bupropion binds SLC6A3, and nicotine dependence is associated with CHRNA3."), // fine
    ];
    const bad = new Set(["p1", "p2", "p3", "p5", "p6", "p7"]);
    const { records, events, report } = await validateFacts([...graph, ...planted], {
      index,
      mode: "flag",
    });
    const flagged = new Set(events.filter((e) => e.disposition === "flagged").map((e) => e.id));
    expect(flagged).toEqual(bad);
    expect(records).toHaveLength(graph.length + planted.length);
    const p5 = records.find((r) => r.id === "p5")!;
    expect(p5.metadata.validation).toMatchObject({
      status: "unsupported",
      claims: [{ verdict: "contradicted" }],
    });
    expect(report.extra.unsupported).toBe(5);
    expect(report.extra.contradicted).toBe(1);

    const dropped = await validateFacts([...graph, ...planted], { index });
    expect(dropped.records.map((r) => r.id).filter((id) => id.startsWith("p"))).toEqual([
      "p4",
      "p8",
      "p9",
    ]);
  });

  it("reads a passive effect backwards and leaves claims outside the source's relations unverified", async () => {
    const passive = extractClaims(
      "The anticoagulant activities of Bivalirudin can be increased when combined with Apixaban.",
      lexicon,
    );
    expect(passive.map((x) => [x.subjectName, x.relation, x.objectName])).toEqual([
      ["Apixaban", "increases", "Bivalirudin"],
    ]);
    // DrugBank states interactions, not treatments: its silence on "treats" decides nothing.
    const r = rec("u1", "Q", "Apixaban treats nicotine dependence.", { source: "drugbank" });
    const { records, report } = await validateFacts([...graph, r], { index });
    expect(records.map((x) => x.id)).toContain("u1");
    expect(report.extra.unverifiable).toBe(1);
  });

  it("counts records of sources without a graph as unchecked, not unsupported", async () => {
    const pm = rec("pm", "Q", "Bupropion treats type 2 diabetes mellitus.", {
      source: "pubmed",
      citations: ["PMID:1"],
    });
    const { records, report } = await validateFacts([...graph, pm], { index });
    expect(records.map((r) => r.id)).toContain("pm");
    expect(report.extra.uncheckedRecords).toBe(1);
  });
});
