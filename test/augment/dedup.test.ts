import { describe, expect, it } from "vitest";
import { dedup, jaccard, minhash, shingles } from "../../src/augment/dedup.js";
import { syntheticRecords } from "../../src/augment/synthetic.js";
import { rec } from "./helpers.js";

// Long, realistic passages; each "dup" is an edit of its "orig" that a human would call the same.
const PASSAGES = [
  "Bivalirudin is a synthetic 20 residue peptide which reversibly inhibits thrombin. Once bound to the active site, thrombin cannot activate fibrinogen into fibrin, the crucial step in the formation of thrombus. It is administered intravenously during percutaneous coronary intervention in patients with unstable angina.",
  "Certolizumab pegol was compared with placebo in adults with active axial spondyloarthritis. At week 52 the proportion of patients reaching the primary endpoint was higher with certolizumab pegol, and the odds ratio from the logistic regression favoured treatment with a confidence interval that excluded one.",
  "Dupilumab blocks the shared receptor component for interleukin 4 and interleukin 13. In this phase 2 study of adults with moderate to severe atopic dermatitis, weekly and every other week dosing improved eczema area and severity index scores compared with placebo over sixteen weeks of treatment.",
  "Repaglinide stimulates insulin release from pancreatic beta cells by closing ATP dependent potassium channels. In adolescents with type 1 diabetes, adding repaglinide to insulin did not change glycated haemoglobin at twelve weeks, and the small sample size limited the conclusions of the trial.",
  "Programmed cell death in the lace plant produces perforations in the leaves. Mitochondrial dynamics were delineated into four categories based on distribution, motility and membrane potential, and cyclosporine treatment reduced the number of perforations compared with controls in window stage leaves.",
  "Cisplatin forms intrastrand crosslinks with purine bases in DNA, which interferes with DNA repair and triggers apoptosis in rapidly dividing cells. Nephrotoxicity, ototoxicity and severe nausea limit the dose, and hydration with saline is used to reduce kidney injury during each treatment cycle.",
];

// Abstract-length texts (~90 words): one substituted word changes 5 of ~90 shingles. (In a text of
// under ~50 words a single substitution already falls below Jaccard 0.8: a known limit of 5-grams.)
const LONG = PASSAGES.map((p, i) => `${p} ${PASSAGES[(i + 1) % PASSAGES.length]}`);

function variants(p: string): string[] {
  const words = p.split(" ");
  const swapped = [...words];
  swapped[Math.floor(words.length / 2)] = "notably";
  return [
    p.toUpperCase().replace(/\./g, " ."), // case and punctuation only → exact after normalisation
    swapped.join(" "), // one word changed
    `${p} These findings were reported in the original article.`, // a sentence appended
    p.replace(/,/g, "").replace(/\s+the\s+/g, " the  "), // commas dropped, spacing changed
  ];
}

describe("dedup", () => {
  it("catches labelled near-duplicates and keeps distinct records (precision and recall)", async () => {
    const records = [];
    const truthDup = new Set<string>();
    LONG.forEach((p, i) => {
      records.push(rec(`orig${i}`, "Summarise the passage.", p, { source: "pubmed" }));
      variants(p).forEach((v, j) => {
        records.push(rec(`dup${i}.${j}`, "Summarise the passage.", v, { source: "pubmed" }));
        truthDup.add(`dup${i}.${j}`);
      });
    });
    // Distinct but similar-looking: same template, different facts; and related but different text.
    for (let i = 0; i < 20; i++) {
      const c = `Compound${String.fromCharCode(65 + i)}ine`;
      records.push(
        rec(
          `tpl${i}`,
          `Does ${c} treat asthma?`,
          `Yes. According to PharmacotherapyDB, ${c} is a disease-modifying treatment for asthma in adults and children, based on curated indications.`,
          {
            facts: [{ subject: c, relation: "treats", object: "asthma" }],
          },
        ),
      );
    }
    records.push(
      rec(
        "rel0",
        "Summarise the passage.",
        `${PASSAGES[0]!.slice(0, 120)} Its half-life is about twenty-five minutes in patients with normal renal function, and it is cleared by proteolysis.`,
        { source: "pubmed" },
      ),
    );
    const { records: kept, events, report } = await dedup(records);
    const dropped = new Set(events.filter((e) => e.disposition === "dropped").map((e) => e.id));
    const tp = [...dropped].filter((id) => truthDup.has(id)).length;
    const precision = tp / dropped.size;
    const recall = tp / truthDup.size;
    expect(precision).toBe(1);
    expect(recall).toBeGreaterThanOrEqual(0.9);
    for (let i = 0; i < 20; i++) expect(kept.some((r) => r.id === `tpl${i}`)).toBe(true);
    expect(kept.some((r) => r.id === "rel0")).toBe(true);
    expect(report.reasons["dropped:exact duplicate"]).toBeGreaterThanOrEqual(PASSAGES.length);
    // Originals (first seen) are the ones kept.
    for (let i = 0; i < PASSAGES.length; i++)
      expect(kept.some((r) => r.id === `orig${i}`)).toBe(true);
  });

  it("MinHash estimates Jaccard", () => {
    const a = shingles(PASSAGES[1]!);
    const b = shingles(`${PASSAGES[1]!} An extra closing sentence is here.`);
    const exact = jaccard(a, b);
    const sa = minhash(a, 256, 1);
    const sb = minhash(b, 256, 1);
    const est = sa.filter((x, i) => x === sb[i]).length / 256;
    expect(Math.abs(est - exact)).toBeLessThan(0.1);
  });

  it("is deterministic and sub-quadratic on 20k generated records", async () => {
    const { records } = syntheticRecords({ count: 20_000, seed: 3 });
    const t0 = performance.now();
    const a = await dedup(records);
    const ms = performance.now() - t0;
    const b = await dedup(records);
    expect(a.records.map((r) => r.id)).toEqual(b.records.map((r) => r.id));
    // Candidate pairs stay near-linear in n (all pairs would be 2e8).
    expect(a.report.extra.candidatePairs as number).toBeLessThan(records.length * 5);
    expect(ms).toBeLessThan(30_000);
  });
});
