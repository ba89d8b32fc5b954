import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { drugBankVocabulary, EntityLexicon, factEntities } from "../../src/augment/lexicon.js";
import { checkParaphrase, paraphrase } from "../../src/augment/paraphrase.js";
import { lcsLength, rougeL } from "../../src/augment/text.js";
import { rec, sharedDatasets } from "./helpers.js";

const records = [
  rec("h1", "Does Cisplatin treat testicular cancer?", "Yes.", {
    facts: [
      {
        subject: "Cisplatin",
        relation: "treats",
        object: "testicular cancer",
        subjectId: "DrugBank:DB00515",
      },
    ],
  }),
  rec("h2", "Which genes are associated with multiple sclerosis?", "IL7R, HLA-DRB1.", {
    facts: [{ subject: "multiple sclerosis", relation: "associates", object: "IL7R" }],
  }),
  rec(
    "h3",
    "What is the mechanism of action of Phenobarbital?",
    "It potentiates GABA-A receptors.",
    {
      source: "drugbank",
      facts: [
        {
          subject: "Phenobarbital",
          relation: "binds",
          object: "GABRA1",
          subjectId: "DrugBank:DB01174",
        },
      ],
    },
  ),
  rec("h4", "Does Amifostine reduce the renal toxicity of Cisplatin at 910 mg/m2?", "Yes.", {
    source: "drugbank",
    facts: [
      {
        subject: "Amifostine",
        relation: "decreases",
        object: "Cisplatin",
        subjectId: "DrugBank:DB01143",
        objectId: "DrugBank:DB00515",
      },
    ],
  }),
  rec("h5", "Which drugs treat hypertension?", "…", {
    facts: [{ subject: "Amlodipine", relation: "treats", object: "hypertension" }],
  }),
];
const lexicon = EntityLexicon.from([
  factEntities(records),
  drugBankVocabulary(join(sharedDatasets, "drugbank", "drugbank_vocabulary_5.1.10_subset.csv")),
]);

describe("ROUGE-L", () => {
  it("computes LCS-based F1", () => {
    expect(lcsLength(["a", "b", "c", "d"], ["a", "c", "d", "e"])).toBe(3);
    const r = rougeL("the cat sat on the mat", "the cat lay on the mat");
    expect(r.precision).toBeCloseTo(5 / 6);
    expect(r.recall).toBeCloseTo(5 / 6);
    expect(rougeL("x y", "x y").f1).toBe(1);
    expect(rougeL("", "x").f1).toBe(0);
  });
});

describe("paraphrase", () => {
  it("keeps every entity of the original (by concept, synonyms allowed) and is never a near-copy", async () => {
    const { records: out, report } = await paraphrase(records, {
      lexicon,
      rate: 1,
      perRecord: 2,
      seed: 5,
    });
    const paras = out.filter((r) => r.id.includes("~para"));
    expect(paras.length).toBeGreaterThanOrEqual(records.length);
    for (const p of paras) {
      const orig = records.find((r) => r.id === (p.metadata.augmentation as { of: string }).of)!;
      const chk = checkParaphrase(orig.instruction, p.instruction, lexicon);
      expect(chk.missing, `${orig.instruction} → ${p.instruction}`).toEqual([]);
      expect(chk.rougeL).toBeLessThan(0.7);
      expect(p.output).toBe(orig.output);
      expect(p.metadata.task).toBe(orig.metadata.task);
    }
    // Code-like tokens survive verbatim.
    for (const p of paras.filter((x) => x.id.startsWith("h4")))
      expect(p.instruction).toContain("910 mg");
    expect(report.added).toBe(paras.length);
  });

  it("uses vocabulary synonyms for entities (DrugBank: Cisplatin → CDDP …)", async () => {
    const all = new Set<string>();
    for (let seed = 0; seed < 12; seed++) {
      const { records: out } = await paraphrase([records[0]!], {
        lexicon,
        rate: 1,
        perRecord: 3,
        seed,
      });
      for (const r of out.slice(1)) all.add(r.instruction);
    }
    const syn = [...all].filter((q) => !/cisplatin/i.test(q));
    expect(syn.length).toBeGreaterThan(0);
    for (const q of syn)
      expect(lexicon.find(q).some((m) => m.ids.includes("DrugBank:DB00515"))).toBe(true);
  });

  it("rejects candidates that drop an entity or copy the original", () => {
    const q = "Does Cisplatin treat testicular cancer?";
    expect(
      checkParaphrase(q, "Is there evidence that this drug treats testicular cancer?", lexicon)
        .missing,
    ).toEqual(["Cisplatin"]);
    expect(checkParaphrase(q, "Does Cisplatin treat testicular cancer ?", lexicon).ok).toBe(false);
    expect(
      checkParaphrase(q, "Is there evidence that CDDP treats testicular cancer?", lexicon).ok,
    ).toBe(true);
  });

  it("accepts an injected model paraphraser and filters its output", async () => {
    const prompts: string[] = [];
    const generate = async (prompt: string) => {
      prompts.push(prompt);
      return prompt.includes("Cisplatin")
        ? 'Rewritten question: "Is Cisplatin used in the therapy of testicular cancer?"'
        : "What is it?";
    };
    const { records: out, report } = await paraphrase(records.slice(0, 2), {
      lexicon,
      rate: 1,
      generate,
      rules: false,
    });
    expect(prompts).toHaveLength(2);
    expect(out.map((r) => r.instruction)).toContain(
      "Is Cisplatin used in the therapy of testicular cancer?",
    );
    // The second reply lost "multiple sclerosis": rejected.
    expect(out).toHaveLength(3);
    expect((report.extra.rejectedCandidates as Record<string, number>).lost_entity).toBe(1);
  });
});
