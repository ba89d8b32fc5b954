// `medtune augment` never replaces good splits with nothing: no valid input line, splits far
// smaller than the input (minOutputRatio, from configs/augment.yaml or --min-output-ratio) or an
// empty valid/test split fail with the reasons and leave every previous output byte for byte;
// --allow-empty overrides. Input: the bundled DrugBank sample through the real ingest.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/augment/cli.js";
import { runAugment } from "../../src/augment/files.js";
import { runIngest } from "../../src/ingest/index.js";
import { projectPaths } from "../../src/paths.js";
import { captured } from "./capture.js";

const OUTPUTS = [
  "train.jsonl",
  "valid.jsonl",
  "test.jsonl",
  "augment-events.jsonl",
  "augment-report.json",
];

/** An output folder holding a previous run's files; returns a check that they are unchanged. */
function previousOutputs(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const before = OUTPUTS.map((f, i) => {
    const bytes = Buffer.from(`{"previous":"${f}","n":${i}}\n`);
    writeFileSync(join(dir, f), bytes);
    return bytes;
  });
  return () => {
    expect(readdirSync(dir).sort()).toEqual([...OUTPUTS].sort()); // and no temporaries
    OUTPUTS.forEach((f, i) => expect(readFileSync(join(dir, f)).equals(before[i]!), f).toBe(true));
  };
}

let drugbankLines: string[] = [];

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "medtune-aug-in-"));
  const r = await runIngest({
    sources: ["drugbank"],
    inDir: projectPaths.rawData,
    outDir: dir,
    logDir: dir,
    progress: false,
  });
  expect(r.ok).toBe(true);
  drugbankLines = readFileSync(join(dir, "drugbank.jsonl"), "utf8").trim().split("\n");
  expect(drugbankLines.length).toBeGreaterThan(50);
});

function inputDir(lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "medtune-aug-"));
  writeFileSync(join(dir, "drugbank.jsonl"), lines.join("\n") + "\n");
  return dir;
}

describe("augment: nothing lost", () => {
  it("an input with no valid line fails, names the reasons and keeps the previous splits", async () => {
    // Real records cut short (a truncated copy) and records missing their output field.
    const broken = [
      ...drugbankLines.slice(0, 5).map((l) => l.slice(0, 80)),
      ...drugbankLines.slice(5, 8).map((l) => l.replace(/"output":"[^"]*",/, "")),
    ];
    const dir = inputDir(broken);
    const out = join(dir, "out");
    const unchanged = previousOutputs(out);
    const r = await captured(() => main(["--in", dir, "--out", out]));
    expect(r.value).toBe(1);
    expect(r.err).toMatch(
      /FAILED: augment input \(.*drugbank\.jsonl\): nothing to write \(8 read, 0 kept\)/,
    );
    expect(r.err).toMatch(/left out: "expected one JSON object per line[^"]*" ×5/);
    expect(r.err).toMatch(/output/); // the missing field is named
    expect(r.err).toMatch(/The previous output is kept/);
    unchanged();

    const result = await runAugment({ inDir: dir, outDir: out });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.input.malformedLines).toHaveLength(8);
    unchanged();
  });

  it("splits far smaller than the input fail (config minOutputRatio and --min-output-ratio)", async () => {
    const dir = inputDir(drugbankLines);
    const out = join(dir, "out");
    const unchanged = previousOutputs(out);
    // A healthy run keeps about as many records as it reads (augment adds some, drops some);
    // a ratio of 10 asks for ten times that, so this run counts as having lost data.
    const flag = await captured(() =>
      main(["--in", dir, "--out", out, "--min-output-ratio", "10"]),
    );
    expect(flag.value).toBe(1);
    expect(flag.err).toMatch(
      /augment splits: only \d+ kept of \d+ read \([\d.]+%, below the minimum output ratio 10\)/,
    );
    unchanged();
    const cfg = join(dir, "strict.yaml");
    writeFileSync(cfg, "minOutputRatio: 10\n");
    const fromConfig = await captured(() => main(["--in", dir, "--out", out, "--config", cfg]));
    expect(fromConfig.value).toBe(1);
    expect(fromConfig.err).toMatch(/below the minimum output ratio 10/);
    unchanged();

    const ok = await captured(() => main(["--in", dir, "--out", out]));
    expect(ok.value, ok.err).toBe(0);
    const train = readFileSync(join(out, "train.jsonl"), "utf8").trim().split("\n");
    expect(train.length).toBeGreaterThan(10);
  });

  it("an empty valid or test split fails unless --allow-empty; shares of 0 may be empty", async () => {
    const dir = inputDir(drugbankLines.slice(0, 2));
    const out = join(dir, "out");
    const unchanged = previousOutputs(out);
    const r = await captured(() => main(["--in", dir, "--out", out]));
    expect(r.value).toBe(1);
    expect(r.err).toMatch(/the (valid|test) split is empty/);
    unchanged();

    const allowed = await captured(() => main(["--in", dir, "--out", out, "--allow-empty"]));
    expect(allowed.value, allowed.err).toBe(0);
    const sizes = ["train", "valid", "test"].map(
      (s) =>
        readFileSync(join(out, `${s}.jsonl`), "utf8")
          .split("\n")
          .filter(Boolean).length,
    );
    expect(sizes.some((n) => n === 0)).toBe(true);

    // A split the config gives no share is meant to be empty: not a failure.
    const cfg = join(dir, "train-only.yaml");
    writeFileSync(cfg, "splits: { train: 1, valid: 0, test: 0 }\n");
    const trainOnly = await captured(() => main(["--in", dir, "--out", out, "--config", cfg]));
    expect(trainOnly.value, trainOnly.err).toBe(0);
  });
});
