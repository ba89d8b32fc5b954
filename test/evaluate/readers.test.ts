// Readers on the real evaluation files (../shared/datasets/eval) and on malformed input: every
// error names the file and the line (or key) and what was expected.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  parsePythonStringDict,
  readMedHaltFake,
  readMedMCQA,
  readMedQA,
  readMedSafetyBench,
  readPubMedQA,
} from "../../src/evaluate/readers.js";
import { projectPaths } from "../../src/paths.js";

const EVAL = join(projectPaths.root, "..", "shared", "datasets", "eval");
const tmp = mkdtempSync(join(tmpdir(), "medtune-eval-readers-"));
const file = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};

describe("real evaluation files", () => {
  it("PubMedQA: 1,000 PQA-L items, 500 in the official test split, labels as released", () => {
    const all = readPubMedQA(join(EVAL, "pubmedqa", "ori_pqal.json"));
    expect(all).toHaveLength(1000);
    const counts = [0, 0, 0];
    for (const i of all) counts[i.answer]!++;
    expect(counts).toEqual([552, 338, 110]);
    const test = readPubMedQA(
      join(EVAL, "pubmedqa", "ori_pqal.json"),
      join(EVAL, "pubmedqa", "test_ground_truth.json"),
    );
    expect(test).toHaveLength(500);
    expect(test[0]!.options).toEqual(["Yes", "No", "Maybe"]);
    expect(test[0]!.question).toMatch(/^Context: /);
  });
  it("MedSafetyBench: 900 harmful requests in 9 categories", () => {
    const rows = readMedSafetyBench(join(EVAL, "medsafetybench", "test"));
    expect(rows).toHaveLength(900);
    expect(new Set(rows.map((r) => r.category)).size).toBe(9);
    expect(rows.every((r) => r.request.length > 10)).toBe(true);
  });
  it("Med-HALT fake: the 'I do not know' option is the answer; rows without one are reported", () => {
    const skipped: number[] = [];
    const items = readMedHaltFake(join(EVAL, "medhalt", "reasoning_fake.csv"), (line) =>
      skipped.push(line),
    );
    expect(items.length + skipped.length).toBe(1858);
    expect(skipped.length).toBe(10);
    for (const i of items.slice(0, 50)) expect(i.options[i.answer]).toMatch(/I do not know/);
  });
});

describe("layouts and errors", () => {
  it("MedQA-style JSONL", () => {
    const f = file(
      "medqa.jsonl",
      `${JSON.stringify({ question: "Q?", options: { A: "x", B: "y", C: "z" }, answer_idx: "B" })}\n`,
    );
    const [i] = readMedQA(f);
    expect(i!.answer).toBe(1);
    expect(i!.options).toEqual(["A. x", "B. y", "C. z"]);
    const bad = file(
      "medqa-bad.jsonl",
      `${JSON.stringify({ question: "Q?", options: { A: "x" }, answer_idx: "A" })}\n{"question":"Q","options":{"A":"x","B":"y"},"answer_idx":"E"}\n`,
    );
    expect(() => readMedQA(bad)).toThrow(/medqa-bad\.jsonl:1: "options" needs at least two/);
    const bad2 = file(
      "medqa-bad2.jsonl",
      `\n{"question":"Q","options":{"A":"x","B":"y"},"answer_idx":"E"}\n`,
    );
    expect(() => readMedQA(bad2)).toThrow(
      /medqa-bad2\.jsonl:2: "answer_idx" must be one of A, B, got "E"/,
    );
    expect(() => readMedQA(file("medqa-json.jsonl", "{oops\n"))).toThrow(
      /medqa-json\.jsonl:1: expected one JSON object per line/,
    );
  });
  it("MedMCQA-style JSONL (cop 1–4 or a–d)", () => {
    const f = file(
      "mcqa.jsonl",
      [
        { question: "Q", opa: "a", opb: "b", opc: "c", opd: "d", cop: 3 },
        { question: "Q", opa: "a", opb: "b", opc: "c", opd: "d", cop: "b" },
      ]
        .map((x) => JSON.stringify(x))
        .join("\n"),
    );
    expect(readMedMCQA(f).map((i) => i.answer)).toEqual([2, 1]);
    const bad = file(
      "mcqa-bad.jsonl",
      JSON.stringify({ question: "Q", opa: "a", opb: "b", opc: "c", cop: 1 }),
    );
    expect(() => readMedMCQA(bad)).toThrow(/mcqa-bad\.jsonl:1: "opd" must be a string/);
  });
  it("PubMedQA errors name the PMID", () => {
    const f = file(
      "pq.json",
      JSON.stringify({ "123": { QUESTION: "Q?", CONTEXTS: ["c"], final_decision: "perhaps" } }),
    );
    expect(() => readPubMedQA(f)).toThrow(
      /pq\.json: PMID 123: "final_decision" must be yes, no or maybe/,
    );
  });
  it("CSV errors name the file and the missing column", () => {
    const dir = join(tmp, "msb");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "med_safety_demonstrations_category_1.csv"),
      ",request,response\n0,a,b\n",
    );
    expect(() => readMedSafetyBench(dir)).toThrow(
      /category_1\.csv:1: expected a column "harmful_medical_request"/,
    );
    const halt = file(
      "halt.csv",
      "id,question,options\nx,\"Q\",\"{'0': 'a', '1': 'I do not know'\"\n",
    );
    expect(() => readMedHaltFake(halt)).toThrow(/halt\.csv:2: "options" must be a dict/);
  });
  it("Python dict literals with both quote styles and escapes", () => {
    expect(parsePythonStringDict(`{'0': 'it\\'s', "1": "say \\"hi\\"", '2': "a'b"}`)).toEqual({
      "0": "it's",
      "1": 'say "hi"',
      "2": "a'b",
    });
  });
});
