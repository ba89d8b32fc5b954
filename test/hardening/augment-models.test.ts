/**
 * Malformed-input suite, second half: augment's JSONL input (through `runAugment` into a folder
 * holding good previous splits), the model files (GGUF through `Model.load`, safetensors through the
 * native validator), YAML configs, and the exit status of `medtune ingest` and `medtune augment`
 * on a bad input. Each case: truncated, garbage, empty and oversized; the error names the file and,
 * where the format has one, the position.
 *
 *   npx vitest run test/hardening/augment-models.test.ts
 */
import { execFile } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultConfig, loadConfig } from "../../src/augment/config.js";
import { loadEvalFile } from "../../src/augment/decontam.js";
import { runAugment } from "../../src/augment/files.js";
import { loadNative } from "../../src/native/loader.js";
import { loadTrainingConfig } from "../../src/train/config.js";
import { Model } from "../../src/train/model.js";
import {
  expectNoTemporaries,
  garbage,
  good,
  listFiles,
  previousOutputs,
  repoRoot,
  writeFiles,
} from "./helpers.js";

const GGUF = path.join(repoRoot, "models", "base", "SmolLM2-135M-Instruct.Q4_1.gguf");
const SPLITS = ["train.jsonl", "valid.jsonl", "test.jsonl"];
const DEEP = 100_000;

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), "medtune-test-hardening-am-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const record = JSON.stringify({
  id: "r1",
  instruction: "What does aspirin inhibit?",
  input: "",
  output: "Aspirin irreversibly inhibits cyclooxygenase (COX-1 and COX-2).",
  metadata: {
    source: "drugbank",
    task: "drugbank.mechanism",
    confidence: 0.9,
    citations: ["DrugBank:DB00945"],
    license: "CC-BY-NC-4.0",
    provenance: {},
  },
});

describe("augment input (JSON Lines of records)", () => {
  const cases: { name: string; text: Buffer | string; issue?: RegExp }[] = [
    {
      name: "truncated",
      text: record.slice(0, record.length >> 1),
      issue: /expected one JSON object per line/,
    },
    { name: "garbage", text: garbage(), issue: /expected one JSON object per line|expected/ },
    { name: "empty", text: "" },
    {
      name: "oversized record (skipped as it streams)",
      text: record.replace("Aspirin irreversibly", "x".repeat(3 << 20)),
      issue: /record is over the 1048576-character cap/,
    },
    {
      name: "nested 100k deep",
      text: `{"id": ${"[".repeat(DEEP)}${"]".repeat(DEEP)}}`,
      issue: /record is nested deeper than the 32-level cap/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: fails, names the file and line, keeps the previous splits`, async () => {
      const root = mkdtempSync(path.join(work, "aug-"));
      const inDir = path.join(root, "in");
      const outDir = path.join(root, "out");
      const [input] = writeFiles(inDir, { "drugbank.jsonl": c.text });
      const previous = previousOutputs(outDir, SPLITS);
      const r = await runAugment({ inDir, outDir, config: defaultConfig() });
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error).toContain(inDir);
      if (c.issue) {
        expect(r.input.malformedLines[0]).toMatchObject({ file: input, line: 1 });
        expect(r.input.malformedLines[0]!.message).toMatch(c.issue);
      }
      previous.check();
      expect(listFiles(outDir)).toEqual([...SPLITS].sort());
      expectNoTemporaries(inDir, outDir);
    });
  }
});

describe("eval files for decontamination", () => {
  it("truncated, garbage, empty and 100k-deep JSON name the file (and line) and what was expected", () => {
    const dir = mkdtempSync(path.join(work, "eval-"));
    const pubmedqa = JSON.stringify({
      "21645374": {
        QUESTION: "Do mitochondria play a role in remodelling lace plant leaves?",
        final_decision: "yes",
      },
    });
    const cases: [string, string | Buffer, RegExp][] = [
      ["truncated.json", pubmedqa.slice(0, 40), /expected JSON: /],
      ["garbage.json", garbage(), /expected JSON: /],
      ["empty.json", "", /expected JSON: /],
      [
        "deep.json",
        `{"1": ${"[".repeat(DEEP)}${"]".repeat(DEEP)}}`,
        /:1: JSON nested deeper than the 32-level cap/,
      ],
      [
        "deep.jsonl",
        `{"question": "q"}\n{"question": ${"[".repeat(DEEP)}${"]".repeat(DEEP)}}\n`,
        /:2: JSON nested deeper/,
      ],
    ];
    for (const [name, text, want] of cases) {
      const f = path.join(dir, name);
      writeFileSync(f, text);
      expect(() => loadEvalFile(f), name).toThrow(want);
      expect(() => loadEvalFile(f), name).toThrow(f);
    }
  });
});

/** The first `bytes` of the bundled model: a download that stopped early. */
function ggufHead(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  const fd = openSync(GGUF, "r");
  try {
    readSync(fd, b, 0, bytes, 0);
  } finally {
    closeSync(fd);
  }
  return b;
}

describe("model files", () => {
  it("GGUF: truncated, garbage, empty and oversized headers name the file and what is wrong", async () => {
    const dir = mkdtempSync(path.join(work, "gguf-"));
    // A header that claims 2^40 tensors and 2^40 metadata entries: must fail, not allocate.
    const huge = Buffer.alloc(64);
    huge.write("GGUF");
    huge.writeUInt32LE(3, 4);
    huge.writeBigUInt64LE(1n << 40n, 8);
    huge.writeBigUInt64LE(1n << 40n, 16);
    const cases: [string, Buffer, RegExp][] = [
      [
        "truncated.gguf",
        ggufHead(4 << 20),
        /truncated GGUF file: tensor '[^']+' needs bytes up to \d+ but the file has 4194304/,
      ],
      ["garbage.gguf", garbage(), /not a GGUF file \(bad magic\)/],
      ["empty.gguf", Buffer.alloc(0), /truncated GGUF header/],
      ["oversized.gguf", huge, /truncated GGUF header/],
    ];
    for (const [name, bytes, want] of cases) {
      const f = path.join(dir, name);
      writeFileSync(f, bytes);
      const err = await Model.load(f).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err, name).toBeInstanceOf(Error);
      expect(err!.message).toContain(f);
      expect(err!.message).toMatch(want);
    }
  });

  it("safetensors: truncated, garbage, empty and oversized headers name the file and what is wrong", () => {
    const dir = mkdtempSync(path.join(work, "st-"));
    const header = JSON.stringify({
      w: { dtype: "F32", shape: [1000, 1000], data_offsets: [0, 4e6] },
    });
    const cut = Buffer.alloc(8 + header.length + 100);
    cut.writeBigUInt64LE(BigInt(header.length));
    cut.write(header, 8);
    const huge = Buffer.alloc(64);
    huge.writeBigUInt64LE(1n << 40n); // a 1 TiB header length
    const cases: [string, Buffer, RegExp][] = [
      [
        "truncated.safetensors",
        cut,
        /truncated safetensors file: tensor data needs 4000076 bytes but the file has 176/,
      ],
      ["garbage.safetensors", garbage(), /corrupt safetensors header/],
      ["empty.safetensors", Buffer.alloc(0), /truncated safetensors file \(0 bytes, no header\)/],
      [
        "oversized.safetensors",
        huge,
        /corrupt safetensors header \(header length 1099511627776 but file has 64 bytes\)/,
      ],
    ];
    const mlx = loadNative();
    for (const [name, bytes, want] of cases) {
      const f = path.join(dir, name);
      writeFileSync(f, bytes);
      expect(() => mlx.validateSafetensors(f), name).toThrow(want);
      expect(() => mlx.validateSafetensors(f), name).toThrow(f);
    }
  });
});

describe("YAML configs", () => {
  const cases: [string, string, RegExp | null][] = [
    ["truncated.yaml", "seed: 13\ndedup:\n  enabled: [true,\n", /:4\b|line 4/],
    ["garbage.yaml", "\u0000\u0001\u0002 :: {{{ ]]] garbage", /:1\b|line 1/],
    ["empty.yaml", "", null],
    ["oversized.yaml", `a: ${"[".repeat(DEEP)}${"]".repeat(DEEP)}\n`, /:1\b|line 1/],
  ];
  it("training presets: each bad file is a ConfigError naming the file and line", async () => {
    const dir = mkdtempSync(path.join(work, "yaml-"));
    for (const [name, text, where] of cases) {
      const f = path.join(dir, name);
      writeFileSync(f, text);
      const err = await loadTrainingConfig(f).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err, name).toBeInstanceOf(Error);
      expect(err!.message).toContain(f);
      // An empty preset is valid YAML with the required keys missing.
      expect(err!.message).toMatch(where ?? /model: required, missing/);
    }
  });

  it("augment config: bad files name the file and line; an empty one means the defaults", () => {
    const dir = mkdtempSync(path.join(work, "yaml-"));
    for (const [name, text, where] of cases) {
      const f = path.join(dir, name);
      writeFileSync(f, text);
      if (!where) {
        expect(loadConfig(f)).toEqual(defaultConfig());
        continue;
      }
      expect(() => loadConfig(f), name).toThrow(f);
      expect(() => loadConfig(f), name).toThrow(where);
    }
  });
});

function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", path.join(repoRoot, "src", "cli.ts"), ...args],
      { cwd: repoRoot, timeout: 120_000 },
      (err, _stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

describe("exit status", () => {
  it("`medtune ingest` on a truncated dump exits non-zero, names the file, keeps the output", async () => {
    const root = mkdtempSync(path.join(work, "cli-"));
    writeFiles(path.join(root, "raw", "pubmed"), {
      "efetch.xml": good.pubmedXml.subarray(0, good.pubmedXml.length >> 1),
    });
    const outDir = path.join(root, "out");
    const previous = previousOutputs(outDir, ["pubmed.jsonl"]);
    const r = await cli([
      "ingest",
      "--sources",
      "pubmed",
      "--in",
      path.join(root, "raw"),
      "--out",
      outDir,
      "--log-dir",
      path.join(root, "logs"),
      "--no-progress",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/efetch\.xml \(line \d+\): XML ends early/);
    previous.check();
    expectNoTemporaries(outDir, path.join(root, "logs"));
  });

  it("`medtune augment` on garbage input exits non-zero and keeps the previous splits", async () => {
    const root = mkdtempSync(path.join(work, "cli-"));
    const inDir = path.join(root, "in");
    const outDir = path.join(root, "out");
    writeFiles(inDir, { "pubmed.jsonl": garbage() });
    const previous = previousOutputs(outDir, SPLITS);
    const r = await cli(["augment", "--in", inDir, "--out", outDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(path.join(inDir, "pubmed.jsonl"));
    previous.check();
    expectNoTemporaries(inDir, outDir);
  });
});
