import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path, { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../src/augment/cli.js";
import { defaultConfig, loadConfig } from "../../src/augment/config.js";
import { augmentRecords } from "../../src/augment/pipeline.js";
import {
  approxTokens,
  lengthRows,
  modelTokenCounter,
  tokenLengthFrame,
  tokenReport,
} from "../../src/augment/report.js";
import { findLeaks } from "../../src/augment/split.js";
import { syntheticRecords } from "../../src/augment/synthetic.js";
import { RecordFormatError } from "../../src/data/record.js";
import { loadTokenizer } from "../../src/train/tokenizer.js";
import { rec, repoRoot, sharedDatasets } from "./helpers.js";

describe("pipeline", () => {
  it("chains the steps, reports each, and leaves no PHI, leaks or harmful records", async () => {
    const { records } = syntheticRecords({ count: 2000, seed: 5 });
    const res = await augmentRecords(records, { ...defaultConfig(), seed: 5 });
    expect(res.steps.map((s) => s.step)).toEqual([
      "phi",
      "dedup",
      "decontaminate",
      "chain_of_thought",
      "paraphrase",
      "negatives",
      "validate",
      "harmful",
      "dedup_final",
      "split",
    ]);
    for (let i = 1; i < res.steps.length; i++) expect(res.steps[i]!.in).toBe(res.steps[i - 1]!.out);
    expect(res.leaks).toEqual([]);
    const all = [...res.splits.train, ...res.splits.valid, ...res.splits.test];
    expect(all.some((r) => /@example\.org|617-555/.test(r.output))).toBe(false);
    expect(all.some((r) => r.metadata.task === "negative.false_premise")).toBe(true);
    expect(findLeaks(res.splits)).toEqual([]);
  });

  it("builds a danfojs DataFrame of token lengths with an injectable tokenizer", () => {
    const { records } = syntheticRecords({ count: 50, seed: 1 });
    const rows = lengthRows(
      { train: records.slice(0, 40), valid: records.slice(40, 45), test: records.slice(45) },
      (t) => t.length,
    );
    const df = tokenLengthFrame(rows);
    expect(df.shape).toEqual([50, 7]);
    expect(rows[0]!.totalTokens).toBe(records[0]!.instruction.length + records[0]!.output.length);
    // "Bupropion" 9 chars → 3, "binds" → 2, "CHRNA3" → 2, "." → 1.
    expect(approxTokens("Bupropion binds CHRNA3.")).toBe(8);
  });
});

describe("medtune augment (CLI)", () => {
  it("writes splits and a report, and names malformed input lines", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-aug-"));
    const { records } = syntheticRecords({ count: 600, seed: 9 });
    writeFileSync(
      join(dir, "hetionet.jsonl"),
      records.map((r) => JSON.stringify(r)).join("\n") + "\n{broken\n",
    );
    writeFileSync(join(dir, "train.jsonl"), "not an input\n"); // our own output: must be ignored
    const out = join(dir, "out");
    const code = await main([
      "--in",
      dir,
      "--out",
      out,
      "--seed",
      "3",
      "--decontaminate",
      join(sharedDatasets, "eval", "pubmedqa"),
      "--export",
      "chat",
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(readFileSync(join(out, "augment-report.json"), "utf8"));
    expect(report.input.records).toBe(600);
    expect(report.input.malformedLines).toEqual([
      {
        file: join(dir, "hetionet.jsonl"),
        line: 601,
        message: expect.stringMatching(/^expected one JSON object per line/),
      },
    ]);
    expect(report.figures.lengths.data).toHaveLength(3);
    // Defaults come from configs/augment.yaml; validation counts per source; the token counter
    // is the bundled model's when its file is there, else the estimate with a note.
    expect(report.configFile).toBe(join(repoRoot, "configs", "augment.yaml"));
    const validate = report.steps.find((s: { step: string }) => s.step === "validate");
    expect(validate.extra.bySource.hetionet.records).toBeGreaterThan(0);
    const model = join(repoRoot, "models", "base", "SmolLM2-135M-Instruct.Q4_1.gguf");
    if (existsSync(model)) expect(report.tokens.counter).toMatch(/gguf tokenizer$/);
    else expect(report.tokens.note).toMatch(/estimate/);
    const n = ["train", "valid", "test"].map(
      (s) =>
        readFileSync(join(out, `${s}.jsonl`), "utf8")
          .trim()
          .split("\n").length,
    );
    expect(n[0]! + n[1]! + n[2]!).toBe(
      report.splits.train + report.splits.valid + report.splits.test,
    );
    expect(readFileSync(join(out, "valid.chat.jsonl"), "utf8")).toContain('"messages"');
    expect(readFileSync(join(out, "augment-events.jsonl"), "utf8")).toContain(
      '"disposition":"added"',
    );
  });

  it("rejects config typos naming the file and key", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-cfg-"));
    const f = join(dir, "augment.yaml");
    writeFileSync(f, "dedup:\n  treshold: 0.8\n");
    expect(() => loadConfig(f)).toThrow(RecordFormatError);
    expect(() => loadConfig(f)).toThrow(`${f}: unknown key "dedup.treshold"`);
  });
});

describe("token counts from the bundled model's tokenizer", () => {
  const model = path.join(repoRoot, "models", "base", "SmolLM2-135M-Instruct.Q4_1.gguf");
  const texts = [
    "Bupropion binds CHRNA3.",
    "Acetylsalicylic acid may increase the anticoagulant activities of Warfarin.",
  ];

  it("falls back to the estimate, with a note naming the missing file", async () => {
    const missing = path.join(repoRoot, "models", "base", "no-such-model.gguf");
    const c = await modelTokenCounter(missing);
    expect(c.name).toBe("approx word-piece");
    expect(c.note).toMatch(/no-such-model\.gguf/);
    expect(texts.map(c.count)).toEqual(texts.map(approxTokens));
    const report = tokenReport(
      lengthRows({ train: [rec("a", texts[0]!, texts[1]!)], valid: [], test: [] }, c.count),
      c.name,
      c.note,
    );
    expect(report.note).toBe(c.note);
  });

  it.skipIf(!existsSync(model))(
    "counts with the GGUF's own tokenizer when the model is there",
    async () => {
      const c = await modelTokenCounter(model);
      expect(c.note).toBeUndefined();
      expect(c.name).toBe("SmolLM2-135M-Instruct.Q4_1.gguf tokenizer");
      const tok = await loadTokenizer(model);
      for (const t of texts) expect(c.count(t)).toBe(tok.encode(t).length);
      // A real BPE count, not the estimate: the chemical name splits differently.
      expect(texts.map(c.count)).not.toEqual(texts.map(approxTokens));
    },
  );
});
