// The bundled SmolLM2-135M-Instruct Q4_1 GGUF: the addon loads in a child process first (a broken
// binary fails this test, not the runner), then the model loads with the right hyperparameters and
// greedy-generates the right answer (GGUF Q/K un-permuted correctly, RoPE and GQA right), and
// adapters switch on and off without a reload.
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { nativePaths } from "../../src/native/loader.js";
import { Model } from "../../src/train/model.js";
import { BUNDLED_GGUF } from "../train/native-helpers.js";

const GGUF = BUNDLED_GGUF;
// "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n", tokenized
// by llama.cpp (node-llama-cpp) from the GGUF's own vocabulary.
const PROMPT = [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198];
// "The capital of France is Paris."
const ANSWER = [504, 3575, 282, 4649, 314, 7042, 30];
const IM_END = 2;

describe("bundled GGUF model", () => {
  let model: Model;

  beforeAll(async () => {
    const { addon } = nativePaths();
    const probe = spawnSync(
      process.execPath,
      [
        "-e",
        `const m = require(${JSON.stringify(addon)}); const x = m.loadGguf(${JSON.stringify(GGUF)}); process.stdout.write(String(x.config.numLayers))`,
      ],
      { encoding: "utf8", timeout: 120_000 },
    );
    if (probe.status !== 0)
      throw new Error(`child process failed (${probe.status}, ${probe.signal}): ${probe.stderr}`);
    expect(probe.stdout).toBe("30");
    model = await Model.load(GGUF);
  });

  it("reads the hyperparameters from GGUF metadata", () => {
    expect(model.config).toMatchObject({
      architecture: "llama",
      numLayers: 30,
      hiddenSize: 576,
      numHeads: 9,
      numKvHeads: 3,
      vocabSize: 49152,
      intermediateSize: 1536,
      tieWordEmbeddings: true,
    });
  });

  it("greedy-generates the expected answer, streaming tokens", async () => {
    const streamed: number[] = [];
    const r = await model.generate(PROMPT, {
      maxTokens: 12,
      stopTokens: [IM_END],
      onToken: (t) => streamed.push(t),
    });
    expect(r.tokens).toEqual(ANSWER);
    expect(streamed).toEqual(ANSWER);
    expect(r.stopReason).toBe("stop");
  });

  it("stops on the shouldStop hook (stop strings) and switches adapters without reloading", async () => {
    const r = await model.generate(PROMPT, { maxTokens: 12, shouldStop: (t) => t.length === 3 });
    expect(r.tokens).toEqual(ANSWER.slice(0, 3));
    expect(r.stopReason).toBe("stop-string");

    model.addAdapters({ loraRank: 4, seed: 1, loraKeys: ["v"], loraLayers: 2 });
    const base = model.score([{ prompt: PROMPT, completion: ANSWER }])[0]!.sum;
    const w = model.native.getAdapterWeights();
    const upd: Record<string, { b: Float32Array }> = {};
    for (const [n, x] of Object.entries(w)) upd[n] = { b: x.b.map((_, i) => 0.5 * Math.sin(i)) };
    model.native.setAdapterWeights(upd);
    const tuned = model.score([{ prompt: PROMPT, completion: ANSWER }])[0]!.sum;
    expect(tuned).not.toBeCloseTo(base, 3);
    model.setAdaptersEnabled(false);
    expect(model.score([{ prompt: PROMPT, completion: ANSWER }])[0]!.sum).toBeCloseTo(base, 5);
    expect(base).toBeGreaterThan(-6); // the base model is confident in its own greedy answer
  });
});
