// Suite files: the shipped quick and full suites load; unknown keys fail naming the key, its line
// and the nearest known key; bad values name the key. Item planning is deterministic for a seed.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { InstructionRecord } from "../../src/data/record.js";
import { summarizeTask } from "../../src/evaluate/metrics.js";
import { loadSuite, parseSuite } from "../../src/evaluate/suite.js";
import {
  nerCounts,
  parseEntityList,
  planKnowledge,
  planRelations,
  type ItemResult,
} from "../../src/evaluate/tasks.js";
import { projectPaths } from "../../src/paths.js";

describe("suites", () => {
  it("quick and full load, with paths resolved against the project root", () => {
    const q = loadSuite("quick");
    expect(q.name).toBe("quick");
    expect(q.tasks.pubmedqa).toBeGreaterThan(0);
    expect(q.data.pubmedqa).toBe(
      join(projectPaths.root, "..", "shared", "datasets", "eval", "pubmedqa", "ori_pqal.json"),
    );
    const f = loadSuite(join(projectPaths.configs, "eval_suites", "full.yaml"));
    expect(f.tasks.pubmedqa).toBeGreaterThan(q.tasks.pubmedqa);
    expect(f.data.medqa).toBeNull();
  });
  it("rejects unknown keys, naming them", () => {
    expect(() => parseSuite("seed: 1\ntasks:\n  pubmedq: 3\n", "s.yaml")).toThrow(
      /s\.yaml: line 3: unknown key "tasks\.pubmedq"; did you mean "tasks\.pubmedqa"\?/,
    );
    expect(() => parseSuite("sed: 1\ntasks: {}\n", "s.yaml")).toThrow(
      /line 1: unknown key "sed"; did you mean "seed"/,
    );
    expect(() => parseSuite("tasks: {}\ndata:\n  medqaa: x\n", "s.yaml")).toThrow(
      /unknown key "data\.medqaa"/,
    );
    expect(() => parseSuite("tasks:\n  ddi: -2\n", "s.yaml")).toThrow(
      /"tasks\.ddi" must be an integer ≥ 0, got -2/,
    );
    expect(() => parseSuite("tasks:\n  medqa: 5\n", "s.yaml")).toThrow(/needs "data\.medqa"/);
  });
});

const test: InstructionRecord[] = readFileSync(
  join(projectPaths.root, "test", "evaluate", "fixtures", "test-split.jsonl"),
  "utf8",
)
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l) as InstructionRecord);

describe("item planning", () => {
  it("knowledge: yes/no items and list items with same-template distractors, fixed for a seed", () => {
    const a = planKnowledge(test, 6, 3);
    expect(planKnowledge(test, 6, 3)).toEqual(a);
    const yn = a.filter((p) => p.kind === "choice" && p.item.options[0] === "Yes");
    expect(yn.length).toBeGreaterThan(0);
    for (const p of a) {
      if (p.kind !== "choice") continue;
      const gold = test.find((r) => r.id === p.item.id)!;
      if (p.item.options[0] !== "Yes") {
        expect(p.item.options[p.item.answer]).toBe(gold.output);
        expect(p.item.options.length).toBeGreaterThan(1);
        expect(new Set(p.item.options).size).toBe(p.item.options.length);
      } else expect(p.item.answer).toBe(gold.output.startsWith("Yes") ? 0 : 1);
    }
  });
  it("relations: the gold label is the normalised relation of the record's fact", () => {
    const r = planRelations(test, 10, 1);
    expect(r.length).toBeGreaterThan(0);
    for (const p of r)
      if (p.kind === "choice")
        expect([
          "treats",
          "palliates",
          "resembles",
          "includes",
          "localizes",
          "interacts",
          "targets",
        ]).toContain(p.labels!.relation);
  });
});

describe("metrics from items", () => {
  it("NER strict and partial matches", () => {
    expect(parseEntityList("1. Aspirin\n2. type 2 diabetes\n- warfarin.")).toEqual([
      "Aspirin",
      "type 2 diabetes",
      "warfarin",
    ]);
    const c = nerCounts(
      ["aspirin", "diabetes", "heart"],
      ["Aspirin", "type 2 diabetes mellitus", "warfarin"],
    );
    expect(c).toEqual({ strictTp: 1, partialTp: 2, predictedCount: 3, goldCount: 3 });
  });
  it("accuracy with Wilson interval and chance; calibration fields", () => {
    const item = (correct: boolean, conf: number, n = 4): ItemResult => ({
      task: "pubmedqa",
      id: String(Math.random()),
      variant: "base",
      prompt: "",
      score: correct ? 1 : 0,
      seconds: 0,
      metrics: {},
      options: Array.from({ length: n }, () => ({
        text: "",
        logprob: 0,
        meanLogprob: 0,
        tokens: 1,
        probability: 1 / n,
      })),
      answer: 0,
      predicted: correct ? 0 : 1,
      correct,
      correctNormalized: correct,
      confidence: conf,
    });
    const s = summarizeTask("pubmedqa", [
      item(true, 0.9),
      item(true, 0.8),
      item(false, 0.3),
      item(false, 0.4),
    ]);
    expect(s.metrics.accuracy!.value).toBe(0.5);
    expect(s.metrics.accuracy!.chance).toBe(0.25);
    expect(s.metrics.accuracy!.low).toBeCloseTo(0.15, 2);
    expect(s.metrics.auroc!.value).toBe(1);
  });
});
