// runEvaluation end to end on the bundled model: a tiny adapter made here (random LoRA B, so the
// fine-tuned variant differs from the base), a handful of items from a fixture of our test split,
// base and fine-tuned in one loaded model → summary.json, items.jsonl, figures.json, report.html;
// progress events carry an ETA; an aborted run throws and leaves earlier results untouched.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EvaluationCancelled } from "../../src/evaluate/likelihood.js";
import { runEvaluation, type EvaluationEvent } from "../../src/evaluate/run.js";
import { parseSuite } from "../../src/evaluate/suite.js";
import { bundledModelPath, projectPaths } from "../../src/paths.js";
import { Model } from "../../src/train/model.js";

const FIXTURE = join(projectPaths.root, "test", "evaluate", "fixtures", "test-split.jsonl");

async function workspace() {
  const dir = mkdtempSync(join(tmpdir(), "medtune-eval-run-"));
  const processed = join(dir, "processed");
  mkdirSync(processed);
  copyFileSync(FIXTURE, join(processed, "hetionet.jsonl"));
  const adapters = join(dir, "adapters");
  mkdirSync(adapters);
  const model = await Model.load(await bundledModelPath());
  model.addAdapters({ loraRank: 2, loraKeys: ["q", "v"], seed: 3 });
  const w = model.native.getAdapterWeights();
  const b: Record<string, { b: Float32Array }> = {};
  for (const [n, x] of Object.entries(w)) b[n] = { b: x.b.map((_, i) => 0.02 * Math.sin(i * 1.7)) };
  model.native.setAdapterWeights(b);
  model.saveAdapters(adapters, "mlx");
  model.dispose();
  const suite = parseSuite(
    [
      "name: e2e",
      "seed: 7",
      "maxNewTokens: 6",
      "bootstrapResamples: 200",
      "tasks:",
      "  knowledge: 2",
      "  referenceNll: 1",
      "  ddi: 2",
      "  safetyHarmful: 1",
      "  hallucination: 1",
      "data:",
      `  testSplit: ${FIXTURE}`,
      `  validSplit: ${join(dir, "none.jsonl")}`,
      `  processed: ${processed}`,
    ].join("\n"),
    "e2e.yaml",
  );
  return { dir, adapters, suite };
}

describe("runEvaluation on the bundled model", () => {
  it(
    "scores base and fine-tuned on the same items and writes every output",
    { timeout: 1_800_000 },
    async () => {
      const { dir, adapters, suite } = await workspace();
      const events: EvaluationEvent[] = [];
      const outDir = join(dir, "out");
      const r = await runEvaluation({
        model: await bundledModelPath(),
        adapters,
        suite,
        outDir,
        onEvent: (e) => events.push(e),
      });
      expect(r.variants).toEqual(["base", "fine-tuned"]);
      const tasks = r.tasks.base!.map((t) => t.task);
      expect(tasks).toEqual(["knowledge", "referenceNll", "ddi", "safetyHarmful", "hallucination"]);
      const acc = r.tasks.base!.find((t) => t.task === "knowledge")!.metrics.accuracy!;
      expect(acc.n).toBe(2);
      expect(acc.low).toBeLessThanOrEqual(acc.value);
      expect(acc.chance).toBeGreaterThan(0);
      expect(
        r.tasks["fine-tuned"]!.find((t) => t.task === "referenceNll")!.metrics.meanNll!.value,
      ).toBeGreaterThan(0);
      expect(r.comparisons.map((c) => c.task)).toEqual(tasks);
      // The adapter changes the model: reference NLL differs between variants.
      const nll = r.comparisons.find((c) => c.task === "referenceNll")!;
      expect(nll.base).not.toBe(nll.fineTuned);
      expect(r.validator.length).toBe(5);
      expect(r.sideBySide.length).toBe(2);
      for (const f of Object.values(r.files)) expect(existsSync(f)).toBe(true);
      const items = readFileSync(r.files.items, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(items.length).toBe(2 * (2 + 1 + 2 + 1 + 1));
      const choice = items.find((i) => i.task === "knowledge");
      expect(choice.prompt).toMatch(/<\|im_start\|>assistant\n$/);
      expect(choice.options.length).toBeGreaterThan(1);
      expect(choice.metrics.correct.reasons[0]).toMatch(/highest total log-prob/);
      const gen = items.find((i) => i.task === "safetyHarmful");
      expect(typeof gen.output).toBe("string");
      expect(gen.metrics.harmful_compliance.reasons.length).toBeGreaterThan(0);
      const progress = events.filter((e) => e.type === "progress");
      expect(progress.length).toBe(items.length);
      expect(progress.at(-1)).toMatchObject({
        done: items.length,
        total: items.length,
        etaSeconds: 0,
      });
      expect(events.at(-1)!.type).toBe("done");
      const summary = JSON.parse(readFileSync(r.files.summary, "utf8"));
      expect(summary.comparisons.length).toBe(5);
      const figures = JSON.parse(readFileSync(r.files.figures, "utf8"));
      expect(Object.keys(figures)).toEqual(
        expect.arrayContaining(["accuracy", "reliability", "safety", "deltas"]),
      );

      // Cancelled after the first item: throws, and the results above stay as they were.
      const before = statSync(r.files.summary).mtimeMs;
      const c = new AbortController();
      await expect(
        runEvaluation({
          model: await bundledModelPath(),
          adapters,
          suite,
          outDir,
          signal: c.signal,
          onEvent: (e) => e.type === "item" && c.abort(),
        }),
      ).rejects.toBeInstanceOf(EvaluationCancelled);
      expect(statSync(r.files.summary).mtimeMs).toBe(before);
    },
  );

  it("fails early, naming the file, when the held-out split is missing", async () => {
    const suite = parseSuite(
      `tasks:\n  knowledge: 2\ndata:\n  testSplit: /nonexistent/test.jsonl\n`,
      "x.yaml",
    );
    await expect(runEvaluation({ suite, adapters: "/nonexistent-adapters" })).rejects.toThrow(
      /nonexistent-adapters: no adapter_config\.json/,
    );
    await expect(runEvaluation({ suite })).rejects.toThrow(
      /\/nonexistent\/test\.jsonl: the held-out split is missing/,
    );
  });
});
