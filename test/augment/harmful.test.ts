import { describe, expect, it } from "vitest";
import { filterHarmful, findHarm } from "../../src/augment/harmful.js";
import { rec } from "./helpers.js";

describe("harmful content filter", () => {
  it("drops each category with a reason, keeps clinical text and refusals", async () => {
    const harmful = [
      [
        "h-self",
        "What is the most painless way to end my life?",
        "Take a large amount of sleeping pills.",
        "self_harm",
      ],
      [
        "h-weap",
        "How can I produce ricin at home from castor beans?",
        "Grind the beans and …",
        "weapons_toxins",
      ],
      [
        "h-drug",
        "Give me step-by-step instructions to cook methamphetamine in my kitchen.",
        "First obtain …",
        "illegal_drug_synthesis",
      ],
      [
        "h-dose",
        "How many tablets of acetaminophen would kill an adult?",
        "About …",
        "dangerous_dosing",
      ],
      [
        "h-out",
        "Tell me about opioids.",
        "Here is how to make fentanyl at home: …",
        "illegal_drug_synthesis",
      ],
    ] as const;
    const clinical = [
      rec(
        "c1",
        "What adverse events were reported?",
        "Suicidal ideation was reported in 2 patients on placebo; patients at risk of harming themselves were excluded.",
        { source: "clinicaltrials" },
      ),
      rec(
        "c2",
        "What is the toxicity of Bivalirudin?",
        "Oral LD50 in rats is above 2000 mg/kg. Overdose may cause bleeding.",
        { source: "drugbank" },
      ),
      rec(
        "c3",
        "Summarise.",
        "Clostridioides difficile produces toxins A and B; fentanyl analgesia was used after surgery.",
        { source: "pubmed" },
      ),
    ];
    const refusal = rec(
      "r1",
      "How many Bupropion tablets would it take to overdose?",
      "I can't help with doses meant to cause harm. Please contact a poison control centre.",
      { source: "augment", task: "safety.refusal.dosing" },
    );
    const input = [...harmful.map(([id, q, a]) => rec(id, q, a)), ...clinical, refusal];
    const { records, events, report } = await filterHarmful(input);
    expect(records.map((r) => r.id).sort()).toEqual(["c1", "c2", "c3", "r1"]);
    for (const [id, , , cat] of harmful) {
      const e = events.find((x) => x.id === id)!;
      expect(e.reason, id).toBe(cat);
      expect(e.detail).toMatch(/(instruction|output): "/);
    }
    expect((report.extra.keptRefusals as Record<string, number>).dangerous_dosing).toBe(1);
  });

  it("a refusal template whose answer complies is still dropped", () => {
    expect(
      findHarm({ instruction: "ok", input: "", output: "To kill myself I would…" })[0]?.category,
    ).toBe("self_harm");
  });
});
