/**
 * Training config: the three presets and four model notes load and validate, their commented
 * arithmetic matches runArithmetic, and bad values are reported with file, line, key, expectation.
 *
 *   npx vitest run test/train/config.test.ts
 */
import { readdirSync } from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import {
  ConfigError,
  loadModelConfig,
  loadTrainingConfig,
  parseBytes,
  parseTrainingConfig,
  runArithmetic,
} from "../../src/train/config.js";
import { LORA_MODULES } from "../../src/train/modules.js";

const PRESETS = path.resolve("configs/training_configs");
const MODELS = path.resolve("configs/model_configs");

describe("presets", () => {
  it("quick_test: the bundled model, 100 examples over five sources, all seven projections", async () => {
    const cfg = await loadTrainingConfig(path.join(PRESETS, "quick_test.yaml"));
    expect(cfg.model).toBe("models/base/SmolLM2-135M-Instruct.Q4_1.gguf");
    expect(cfg.examples).toBe(100);
    expect(cfg.datasets).toEqual([
      "hetionet",
      "chembl_sqlite",
      "pubmed",
      "clinicaltrials",
      "drugbank",
    ]);
    expect(cfg.loraKeys).toEqual([...LORA_MODULES]);
    expect([cfg.loraRank, cfg.loraAlpha]).toEqual([16, 32]);
    expect(cfg.memoryLimitBytes).toBe(2 * 2 ** 30);
    expect(runArithmetic(cfg, 100)).toEqual({
      sequencesPerStep: 4,
      maxTokensPerStep: 1024,
      stepsPerEpoch: 25,
      totalSteps: 25,
    });
  });

  it("overnight and full_training: the arithmetic in their comments", async () => {
    const night = await loadTrainingConfig(path.join(PRESETS, "overnight.yaml"));
    expect(night.examples).toBe(10000);
    expect(runArithmetic(night, 10000)).toEqual({
      sequencesPerStep: 8,
      maxTokensPerStep: 16384,
      stepsPerEpoch: 1250,
      totalSteps: 1250,
    });
    const full = await loadTrainingConfig(path.join(PRESETS, "full_training.yaml"));
    expect(full.quantizeBits).toBe(4);
    expect(full.examples).toBe(50000);
    expect(full.iters).toBeNull();
    expect(runArithmetic(full, 50000)).toEqual({
      sequencesPerStep: 16,
      maxTokensPerStep: 32768,
      stepsPerEpoch: 3125,
      totalSteps: 4688,
    });
  });

  it("overrides win over the file", async () => {
    const cfg = await loadTrainingConfig(path.join(PRESETS, "quick_test.yaml"), {
      iters: 3,
      seed: 9,
    });
    expect([cfg.iters, cfg.seed]).toEqual([3, 9]);
  });

  it("every model config loads, and every preset's modelConfig exists", async () => {
    const files = readdirSync(MODELS).filter((f) => f.endsWith(".yaml"));
    expect(files.sort()).toEqual([
      "biogpt.yaml",
      "llama-3.2-1b.yaml",
      "mistral-7b-instruct.yaml",
      "qwen2.5-0.5b.yaml",
      "smollm2-135m-instruct.yaml",
    ]);
    for (const f of files) {
      const m = await loadModelConfig(path.join(MODELS, f));
      expect(`${m.name}.yaml`).toBe(f);
    }
    for (const p of readdirSync(PRESETS)) {
      const cfg = await loadTrainingConfig(path.join(PRESETS, p));
      expect(files).toContain(`${cfg.modelConfig}.yaml`);
    }
  });
});

describe("validation errors name file, line, key and expectation", () => {
  const base = "model: m.gguf\ntrainData: t.jsonl\niters: 10\n";

  it("reports every bad value at once, with lines", () => {
    const text = `${base}loraRank: -4\nloraKeys: [self_attn.q_proj, attn.qkv]\nschedule: linear\nquantizeBits: 3\n`;
    let err: ConfigError | null = null;
    try {
      parseTrainingConfig(text, "my.yaml");
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const lines = (err as ConfigError).message.split("\n");
    expect(lines).toEqual([
      "my.yaml:4 loraRank: expected an integer in [1, 1024], got -4",
      'my.yaml:5 loraKeys: unknown projection "attn.qkv"; expected some of self_attn.q_proj, self_attn.k_proj, self_attn.v_proj, self_attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj',
      'my.yaml:6 schedule: expected one of "cosine", "constant", got "linear"',
      "my.yaml:7 quantizeBits: expected one of 4, 8, null, got 3",
    ]);
  });

  it("unknown keys suggest the closest one", () => {
    expect(() => parseTrainingConfig(`${base}learning_rate: 0.001\n`, "a.yaml")).toThrow(
      "a.yaml:4 learning_rate: unknown key; did you mean learningRate?",
    );
  });

  it("missing required keys and iters/epochs rules", () => {
    expect(() => parseTrainingConfig("iters: 5\n", "b.yaml")).toThrow(
      /b\.yaml model: required, missing/,
    );
    expect(() => parseTrainingConfig("model: m\ntrainData: t\n", "c.yaml")).toThrow(
      /c\.yaml iters: set iters/,
    );
    expect(() => parseTrainingConfig(`${base}epochs: 2\n`, "d.yaml")).toThrow(
      /d\.yaml:4 epochs: set iters or epochs, not both/,
    );
    expect(() =>
      parseTrainingConfig(`${base}learningRate: 1e-4\nminLearningRate: 1e-3\n`, "e.yaml"),
    ).toThrow(/e\.yaml:5 minLearningRate: expected ≤ learningRate/);
  });

  it("YAML syntax errors and unreadable files", async () => {
    expect(() => parseTrainingConfig("model: [unclosed\n", "f.yaml")).toThrow(
      /f\.yaml:\d+ \(yaml\):/,
    );
    await expect(loadTrainingConfig("configs/training_configs/nope.yaml")).rejects.toThrow(
      /nope\.yaml \(file\): cannot read/,
    );
  });

  it("memory sizes accept units", () => {
    expect(parseBytes("12 GiB")).toBe(12 * 2 ** 30);
    expect(parseBytes("1.5GB")).toBe(1.5e9);
    expect(parseBytes("lots")).toBe("lots");
    expect(() => parseTrainingConfig(`${base}memoryLimitBytes: lots\n`, "g.yaml")).toThrow(
      /g\.yaml:4 memoryLimitBytes: expected an integer ≥ 1, got "lots"/,
    );
  });
});
