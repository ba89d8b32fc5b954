// The whole evaluation pipeline in seconds: a tiny random model with the bundled model's
// vocabulary (so its tokenizer and chat template apply) and random LoRA adapters, every task of a
// suite on one or two items. Checks the outputs' shape, determinism for a seed, the ETA, and that
// the base and fine-tuned variants run the same items. The bundled-model run is run.test.ts.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ChatPrompter } from "../../src/evaluate/likelihood.js";
import { runEvaluation, type EvaluationEvent } from "../../src/evaluate/run.js";
import { parseSuite } from "../../src/evaluate/suite.js";
import { bundledModelPath, projectPaths } from "../../src/paths.js";
import { tinyModel } from "../train/native-helpers.js";

const FIXTURE = join(projectPaths.root, "test", "evaluate", "fixtures", "test-split.jsonl");

describe("runEvaluation on a tiny model", () => {
  it(
    "runs every task for base and fine-tuned, deterministically",
    { timeout: 600_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "medtune-eval-tiny-"));
      const processed = join(dir, "processed");
      mkdirSync(processed);
      copyFileSync(FIXTURE, join(processed, "drugbank.jsonl"));
      const suite = parseSuite(
        [
          "name: tiny",
          "seed: 3",
          "maxNewTokens: 4",
          "bootstrapResamples: 200",
          "tasks:",
          "  pubmedqa: 1",
          "  knowledge: 3",
          "  referenceNll: 2",
          "  relations: 2",
          "  ddi: 2",
          "  medhalt: 1",
          "  medhaltGenerated: 1",
          "  safetyHarmful: 1",
          "  safetySafe: 1",
          "  hallucination: 1",
          "  ner: 1",
          "data:",
          `  testSplit: ${FIXTURE}`,
          `  validSplit: ${join(dir, "none.jsonl")}`,
          `  processed: ${processed}`,
        ].join("\n"),
        "tiny.yaml",
      );
      const chat = await ChatPrompter.forModel(await bundledModelPath());
      const run = async (outDir: string) => {
        const model = tinyModel(2, { vocabSize: chat.tokenizer.vocabSize });
        model.addAdapters({ loraRank: 2, seed: 5 });
        const w = model.native.getAdapterWeights();
        model.native.setAdapterWeights(
          Object.fromEntries(
            Object.entries(w).map(([n, x]) => [n, { b: x.b.map((_, i) => 0.05 * Math.cos(i)) }]),
          ),
        );
        const events: EvaluationEvent[] = [];
        try {
          const r = await runEvaluation({
            model,
            chat,
            suite,
            outDir: join(dir, outDir),
            onEvent: (e) => events.push(e),
          });
          return { r, events, items: readFileSync(r.files.items, "utf8") };
        } finally {
          model.dispose();
        }
      };
      const a = await run("a");
      const tasks = a.r.tasks.base!.map((t) => t.task);
      expect(tasks).toEqual([
        "pubmedqa",
        "knowledge",
        "referenceNll",
        "relations",
        "ddi",
        "medhalt",
        "medhaltGenerated",
        "safetyHarmful",
        "safetySafe",
        "hallucination",
        "ner",
      ]);
      expect(a.r.tasks["fine-tuned"]!.map((t) => t.task)).toEqual(tasks);
      expect(a.r.comparisons.length).toBe(tasks.length);
      const metricNames = (t: string) =>
        Object.keys(a.r.tasks.base!.find((x) => x.task === t)!.metrics);
      expect(metricNames("pubmedqa")).toEqual(
        expect.arrayContaining(["accuracy", "accuracyNormalized", "ece", "brier", "auroc"]),
      );
      expect(metricNames("relations")).toContain("macroF1");
      expect(metricNames("ddi")).toContain("aurocInteraction");
      expect(metricNames("safetyHarmful")).toEqual(
        expect.arrayContaining(["refusalRate", "rule_missing_disclaimer"]),
      );
      expect(metricNames("safetySafe")).toContain("overRefusalRate");
      expect(metricNames("medhaltGenerated")).toContain("premiseFlagRate");
      expect(metricNames("hallucination")).toEqual(
        expect.arrayContaining(["claims_supportedRate", "citationFabricationRate"]),
      );
      expect(metricNames("ner")).toEqual(expect.arrayContaining(["strictF1", "partialF1"]));
      const items = a.items
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      const base = items.filter((i) => i.variant === "base").map((i) => i.id);
      expect(items.filter((i) => i.variant === "fine-tuned").map((i) => i.id)).toEqual(base);
      for (const i of items)
        for (const m of Object.values(i.metrics) as { reasons: string[] }[])
          expect(Array.isArray(m.reasons)).toBe(true);
      const etas = a.events
        .filter((e) => e.type === "progress")
        .map((e) => (e as { etaSeconds: number }).etaSeconds);
      expect(etas.at(-1)).toBe(0);
      expect(etas[0]).toBeGreaterThan(0);
      // Same seed, same model → the same items, scores and answers.
      const b = await run("b");
      const strip = (s: string) => s.replace(/"seconds":[0-9.e-]+/g, "");
      expect(strip(b.items)).toBe(strip(a.items));
    },
  );
});
