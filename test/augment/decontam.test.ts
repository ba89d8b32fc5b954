import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decontaminate, loadEvalSets } from "../../src/augment/decontam.js";
import { words } from "../../src/augment/text.js";
import { RecordFormatError } from "../../src/data/record.js";
import { rec, sharedDatasets } from "./helpers.js";

const pqaDir = join(sharedDatasets, "eval", "pubmedqa");
const pqal = JSON.parse(readFileSync(join(pqaDir, "ori_pqal.json"), "utf8")) as Record<
  string,
  { QUESTION: string; CONTEXTS: string[]; LONG_ANSWER: string }
>;
const testPmids = Object.keys(
  JSON.parse(readFileSync(join(pqaDir, "test_ground_truth.json"), "utf8")) as Record<
    string,
    string
  >,
);

describe("decontaminate", () => {
  it("removes planted PubMedQA items by PMID, by question and by 13-gram, and keeps clean records", async () => {
    const pmids = Object.keys(pqal);
    const [p1, p2, p3, p4] = [testPmids[0]!, pmids[10]!, pmids[20]!, pmids[30]!];
    const q2 = pqal[p2]!.QUESTION;
    const ctx3 = pqal[p3]!.CONTEXTS[0]!.split(" ").slice(5, 30).join(" ");
    const planted = [
      rec("by-pmid", "Summarise this abstract.", "A summary.", {
        source: "pubmed",
        citations: [`PMID:${p1}`],
      }),
      rec("by-question", q2, "Yes, according to the study.", {
        source: "pubmed",
        citations: ["PMID:1"],
      }),
      rec("by-ngram", "What did the study find?", `In short: ${ctx3} and more.`, {
        source: "pubmed",
        citations: ["PMID:2"],
      }),
      rec("by-pmid-in-text", "Summarise PMID:" + p4 + ".", "A summary.", { source: "pubmed" }),
    ];
    const clean = [
      rec(
        "clean1",
        "Does Bupropion treat nicotine dependence?",
        "Yes. According to PharmacotherapyDB, Bupropion is a disease-modifying treatment for nicotine dependence.",
      ),
      rec("clean2", "What was the primary outcome of NCT02552212?", "ASAS40 response at week 12.", {
        source: "clinicaltrials",
        citations: ["NCT02552212"],
      }),
      // Shares 12 words (fewer than 13) with a context: must stay.
      rec(
        "clean3",
        "Paraphrase.",
        words(pqal[p3]!.CONTEXTS[0]!).slice(5, 17).join(" ") + " — rewritten entirely otherwise.",
        { source: "pubmed" },
      ),
    ];
    const { records, report, events } = await decontaminate([...planted, ...clean], {
      evalPaths: [pqaDir],
    });
    expect(records.map((r) => r.id).sort()).toEqual(["clean1", "clean2", "clean3"]);
    const reasons = Object.fromEntries(events.map((e) => [e.id, e.reason]));
    expect(reasons["by-pmid"]).toBe("eval overlap (pmid)");
    expect(reasons["by-question"]).toMatch(/eval overlap \((question|pmid|ngram)\)/);
    expect(reasons["by-ngram"]).toBe("eval overlap (ngram)");
    expect(reasons["by-pmid-in-text"]).toBe("eval overlap (pmid)");
    expect(report.dropped).toBe(4);
    expect((report.extra.evalSets as { items: number }[]).map((s) => s.items).sort()).toEqual([
      1000, 500,
    ]);
  });

  it("reads MedSafetyBench and Med-HALT CSVs and removes their requests", async () => {
    const dir = join(sharedDatasets, "eval", "medsafetybench", "test", "gpt4");
    const sets = loadEvalSets([dir, join(sharedDatasets, "eval", "medhalt", "reasoning_fake.csv")]);
    expect(sets.reduce((n, s) => n + s.items.length, 0)).toBe(9 * 50 + 1858);
    const request = sets[0]!.items[0]!.question!;
    const { records } = await decontaminate(
      [
        rec("msb", request, "I cannot help with that.", { source: "augment" }),
        rec("ok", "Does aspirin bind PTGS1?", "Yes."),
      ],
      { evalSets: sets },
    );
    expect(records.map((r) => r.id)).toEqual(["ok"]);
  });

  it("names the file when an eval file has an unknown shape", () => {
    expect(() => loadEvalSets([join(sharedDatasets, "hetionet", "definitions.json")])).toThrow(
      RecordFormatError,
    );
    expect(() => loadEvalSets([join(sharedDatasets, "hetionet", "definitions.json")])).toThrow(
      /definitions\.json: expected PubMedQA-style keys/,
    );
  });
});
