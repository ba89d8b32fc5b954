// One name per setting from YAML to C++: the native readers take the preset keys, require every
// value (a missing or mistyped key is an error naming it; the defaults live in TypeScript), and
// the native list of LoRA modules is LORA_MODULES.
import { describe, expect, it } from "vitest";
import type { NativeTrainOptions } from "../../src/native/binding.js";
import { loadNative } from "../../src/native/loader.js";
import { TRAINING_DEFAULTS, type TrainingConfig } from "../../src/train/config.js";
import { LORA_MODULES } from "../../src/train/modules.js";
import { packBatches, packDataset, TRAINER_DEFAULTS } from "../../src/train/trainer.js";
import { examples, tinyModel } from "./native-helpers.js";

function fullOptions(): NativeTrainOptions {
  return {
    ...TRAINER_DEFAULTS,
    iters: 1,
    train: packDataset(examples(2, 1)),
    batches: packBatches([[0, 1]]),
    valid: null,
    validBatches: null,
    resumeOptimizerFile: null,
  };
}

describe("native options", () => {
  it("lists the same seven LoRA modules as LORA_MODULES", () => {
    expect([...loadNative().loraModules]).toEqual([...LORA_MODULES]);
  });

  it("train() names a missing or mistyped setting instead of defaulting it", async () => {
    const m = tinyModel(1);
    m.addAdapters({ loraRank: 2, seed: 1 });
    try {
      for (const key of ["gradClip", "adamBeta1", "reportEvery", "distributed", "iters"] as const) {
        const o: Partial<NativeTrainOptions> = fullOptions();
        delete o[key];
        expect(() => m.native.train(o as NativeTrainOptions)).toThrow(
          new RegExp(`train options\\.${key}: expected .*, got undefined \\(missing\\)`),
        );
      }
      const typo = { ...fullOptions(), learningRate: "1e-4" } as unknown as NativeTrainOptions;
      expect(() => m.native.train(typo)).toThrow(
        /train options\.learningRate: expected a number, got a string/,
      );
      // The old names are gone: a renamed key reads as missing.
      const { gradClip: _g, ...old } = { ...fullOptions(), maxGradNorm: 1 };
      expect(() => m.native.train(old as unknown as NativeTrainOptions)).toThrow(
        /train options\.gradClip: expected a number, got undefined/,
      );
      const done = await m.native.train(fullOptions());
      expect(done.iteration).toBe(1);
      expect(done.worldSize).toBe(1);
    } finally {
      m.dispose();
    }
  });

  it("addAdapters() requires every LoRA setting", () => {
    const m = tinyModel(1);
    try {
      expect(() =>
        m.native.addAdapters({
          loraRank: 2,
          loraScale: 2,
          loraDropout: 0,
          loraLayers: -1,
          seed: 0,
          dora: false,
        } as never),
      ).toThrow(/addAdapters options\.loraKeys: expected an array of module names, got undefined/);
      expect(() =>
        m.native.addAdapters({
          loraRank: 2,
          loraScale: 2,
          loraDropout: 0,
          loraKeys: ["self_attn.x_proj"],
          loraLayers: -1,
          seed: 0,
          dora: false,
        } as never),
      ).toThrow(/loraKeys: unknown module 'self_attn.x_proj'/);
    } finally {
      m.dispose();
    }
  });

  it("the trainer's settings are preset keys, with the presets' defaults where the trainer keeps them", () => {
    const preset = new Set(Object.keys(TRAINING_DEFAULTS));
    // Run state, not settings: where to start and write, and whether ranks share the work.
    const runState = new Set(["startIteration", "checkpointDir", "distributed"]);
    for (const key of Object.keys(TRAINER_DEFAULTS)) {
      if (runState.has(key)) continue;
      expect(preset.has(key), key).toBe(true);
      const k = key as keyof TrainingConfig & keyof typeof TRAINER_DEFAULTS;
      // Off unless asked for in the bare trainer: clipping, periodic eval and save.
      if (!["gradClip", "evalEvery", "saveEvery"].includes(key))
        expect(TRAINER_DEFAULTS[k], key).toEqual(TRAINING_DEFAULTS[k]);
    }
  });
});
