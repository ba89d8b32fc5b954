// `medtune train` flags (src/train/cli.ts) and the records a run selects (src/train/select.ts):
// every preset key is a flag, --datasets/--epochs/--batch-size override the preset, config errors
// name the key and flag with the expected range or a suggestion, a missing config file is named,
// and the stratified selection takes equal shares of each source.
import { describe, expect, it } from "vitest";
import { ConfigError, loadTrainingConfig, TRAINING_CONFIG_KEYS } from "../../src/train/config.js";
import { flagName, main, overridesFromFlags, SPEC } from "../../src/train/cli.js";
import { selectRecords } from "../../src/train/select.js";
import type { TrainingRecord } from "../../src/train/batches.js";
import { projectPaths } from "../../src/paths.js";
import { join } from "node:path";
import { captured } from "../cli/capture.js";

const PRESET = join(projectPaths.configs, "training_configs", "quick_test.yaml");

describe("medtune train flags", () => {
  it("has one flag per preset key", () => {
    for (const key of TRAINING_CONFIG_KEYS) expect(SPEC.flags[flagName(key)]).toBeDefined();
    expect(flagName("memoryLimitBytes")).toBe("memory-limit-bytes");
  });

  it("the spec's example overrides the preset (epochs replaces the preset's steps)", async () => {
    const overrides = overridesFromFlags({
      datasets: ["hetionet", "chembl_sqlite"],
      epochs: "2",
      "batch-size": "1",
      "memory-limit-bytes": "3 GiB",
      dora: true,
    });
    const cfg = await loadTrainingConfig(PRESET, overrides);
    expect(cfg.datasets).toEqual(["hetionet", "chembl_sqlite"]);
    expect([cfg.epochs, cfg.iters, cfg.batchSize]).toEqual([2, null, 1]);
    expect(cfg.memoryLimitBytes).toBe(3 * 2 ** 30);
    expect(cfg.dora).toBe(true);
    const iters = await loadTrainingConfig(PRESET, overridesFromFlags({ iters: "3" }));
    expect([iters.iters, iters.epochs]).toEqual([3, null]);
  });

  it("config errors name the key, the flag and the expectation, or suggest a dataset", async () => {
    const err = await loadTrainingConfig(
      PRESET,
      overridesFromFlags({ "lora-rank": "0", datasets: ["hetionett"] }),
      (k) => `--${flagName(k)}`,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain("loraRank (--lora-rank): expected an integer in [1, 1024], got 0");
    expect(msg).toMatch(
      /datasets \(--datasets\): unknown dataset "hetionett" \(did you mean hetionet\?\)/,
    );
  });

  it("exit 2 with the reason: no preset, an unknown preset, an unreadable --config, a bad value", async () => {
    const run = (argv: string[]) => captured(() => main(argv));
    expect((await run([])).value).toBe(2);
    const typo = await run(["--preset", "quick_tset"]);
    expect(typo.value).toBe(2);
    expect(typo.err).toContain('did you mean "quick_test"');
    const missing = await run(["--config", "/nonexistent/x.yaml"]);
    expect(missing.value).toBe(2);
    expect(missing.err).toMatch(/\/nonexistent\/x\.yaml \(file\): cannot read the file/);
    const bad = await run(["--preset", "quick_test", "--warmup-steps", "-1"]);
    expect(bad.err).toContain("warmupSteps (--warmup-steps): expected an integer ≥ 0, got -1");
  });
});

const rec = (id: string, source: string): TrainingRecord =>
  ({
    id,
    instruction: "q",
    input: "",
    output: "a",
    metadata: { source, task: "t", confidence: 1, citations: [], license: "x", provenance: {} },
  }) as TrainingRecord;

describe("selectRecords", () => {
  const records = [
    ...Array.from({ length: 30 }, (_, i) => rec(`h${i}`, "hetionet")),
    ...Array.from({ length: 3 }, (_, i) => rec(`c${i}`, "chembl")),
    ...Array.from({ length: 10 }, (_, i) => rec(`p${i}`, "pubmed")),
  ];
  const count = (rs: TrainingRecord[], s: string) =>
    rs.filter((r) => (r.metadata as { source: string }).source === s).length;

  it("takes equal shares, gives a short source's rest to the others, in file order, seeded", () => {
    const picked = selectRecords(records, { datasets: null, examples: 15, seed: 0 }, "f");
    expect(picked).toHaveLength(15);
    expect([count(picked, "hetionet"), count(picked, "chembl"), count(picked, "pubmed")]).toEqual([
      6, 3, 6,
    ]);
    const ids = picked.map((r) => r.id);
    expect(ids).toEqual(records.map((r) => r.id).filter((id) => ids.includes(id)));
    expect(selectRecords(records, { datasets: null, examples: 15, seed: 0 }, "f")).toEqual(picked);
    expect(selectRecords(records, { datasets: null, examples: 15, seed: 1 }, "f")).not.toEqual(
      picked,
    );
  });

  it("selects sources by ingest id (chembl_sqlite is metadata.source chembl)", () => {
    const picked = selectRecords(
      records,
      { datasets: ["chembl_sqlite", "pubmed"], examples: null, seed: 0 },
      "f",
    );
    expect([count(picked, "hetionet"), count(picked, "chembl"), count(picked, "pubmed")]).toEqual([
      0, 3, 10,
    ]);
    expect(() =>
      selectRecords(records, { datasets: ["drugbank"], examples: null, seed: 0 }, "train.jsonl"),
    ).toThrow(
      /train\.jsonl: datasets drugbank have no records here \(metadata\.source values in the file: hetionet, chembl, pubmed\)/,
    );
  });
});
