/**
 * The model paraphraser over the trainer's generate API, with the bundled SmolLM2 model: its
 * replies reach `paraphrase`, which keeps only those that pass the entity and ROUGE-L checks.
 * Skipped only where the bundled model is absent (`npm run setup` fetches it).
 *
 *   npx vitest run test/augment/model-paraphraser.test.ts
 */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EntityLexicon, factEntities } from "../../src/augment/lexicon.js";
import { loadModelParaphraser } from "../../src/augment/model-paraphraser.js";
import { checkParaphrase, paraphrase } from "../../src/augment/paraphrase.js";
import { main } from "../../src/augment/cli.js";
import { bundledModelInfo } from "../../src/paths.js";
import { rec, repoRoot } from "./helpers.js";

const model = join(repoRoot, "models", "base", bundledModelInfo().file);
const records = [
  rec("m1", "Does Cisplatin treat testicular cancer?", "Yes.", {
    facts: [{ subject: "Cisplatin", relation: "treats", object: "testicular cancer" }],
  }),
];

describe("model paraphraser", () => {
  it.skipIf(!existsSync(model))(
    "generates through the bundled model and keeps only replies that pass the checks",
    async () => {
      const para = await loadModelParaphraser(model, { maxTokens: 16, temperature: 0, seed: 1 });
      const replies: string[] = [];
      const generate = async (prompt: string) => {
        const r = await para.generate(prompt);
        replies.push(r);
        return r;
      };
      try {
        const lexicon = EntityLexicon.from([factEntities(records)]);
        const { records: out, report } = await paraphrase(records, {
          lexicon,
          rate: 1,
          rules: false,
          generate,
        });
        expect(para.stats.calls).toBe(1);
        expect(para.stats.tokens).toBeGreaterThan(0);
        expect(replies[0]!.trim().length).toBeGreaterThan(0);
        expect(report.extra.modelCalls).toBe(1);
        // Kept or rejected, never unchecked: a kept reply passes the same checks as a rule's.
        const how = (r: (typeof out)[number]) =>
          r.metadata.augmentation as { kind?: string; method?: string } | undefined;
        const kept = out.filter((r) => how(r)?.kind === "paraphrase");
        const rejected = report.extra.rejectedCandidates as Record<string, number>;
        expect(kept.length + rejected.near_copy! + rejected.lost_entity!).toBe(1);
        for (const k of kept) {
          expect(how(k)?.method).toBe("model");
          expect(checkParaphrase(records[0]!.instruction, k.instruction, lexicon).ok).toBe(true);
        }
      } finally {
        para.dispose();
      }
    },
    120_000,
  );

  it("medtune augment names a model it cannot load and writes nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-aug-model-"));
    writeFileSync(join(dir, "hetionet.jsonl"), records.map((r) => JSON.stringify(r)).join("\n"));
    const missing = join(dir, "no-such-model.gguf");
    const err: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (err.push(s), true)) as typeof process.stderr.write;
    let code: number;
    try {
      code = await main(["--in", dir, "--out", join(dir, "out"), "--paraphrase-model", missing]);
    } finally {
      process.stderr.write = write;
    }
    expect(code).toBe(1);
    expect(err.join("")).toContain(`--paraphrase-model ${missing}: cannot load the model`);
    expect(existsSync(join(dir, "out", "train.jsonl"))).toBe(false);
  });
});
