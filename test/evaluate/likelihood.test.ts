// Likelihood scoring (src/evaluate/likelihood.ts): a tiny random model trained for a few steps to
// continue a prompt with option A scores A above B; results do not depend on how options are
// batched; an aborted signal stops scoring; the chat prompter puts the answer where the model's
// template puts the assistant turn (bundled model's ChatML).
import { describe, expect, it } from "vitest";
import {
  ChatPrompter,
  EvaluationCancelled,
  optionProbabilities,
  scoreOptions,
} from "../../src/evaluate/likelihood.js";
import { bundledModelPath } from "../../src/paths.js";
import { train } from "../../src/train/trainer.js";
import { tinyModel } from "../train/native-helpers.js";

const PROMPT = [5, 17, 33, 2, 90, 41];
const A = [100, 101, 102, 103];
const B = [200, 201, 202, 203];

describe("scoreOptions", () => {
  it("prefers the option a tiny model was trained to continue with", async () => {
    const m = tinyModel(4);
    m.addAdapters({ loraRank: 8, loraAlpha: 16, seed: 1 });
    const before = await scoreOptions(m, PROMPT, [A, B]);
    const tokens = Int32Array.from([...PROMPT, ...A]);
    const supervised = new Uint8Array(tokens.length).map((_, j) => (j >= PROMPT.length ? 1 : 0));
    await train(m, {
      train: [{ tokens, supervised }],
      batches: [[0]],
      iters: 25,
      learningRate: 1e-2,
      warmupSteps: 2,
    });
    const after = await scoreOptions(m, PROMPT, [A, B]);
    expect(after[0]!.logprob).toBeGreaterThan(after[1]!.logprob + 5);
    expect(after[0]!.logprob).toBeGreaterThan(before[0]!.logprob);
    expect(after[0]!.tokens).toBe(4);
    expect(after[0]!.meanLogprob).toBeCloseTo(after[0]!.logprob / 4, 5);
    expect(after[0]!.tokenLogprobs.reduce((a, b) => a + b, 0)).toBeCloseTo(after[0]!.logprob, 4);
    // Adapters off: the base model has no such preference.
    m.setAdaptersEnabled(false);
    const base = await scoreOptions(m, PROMPT, [A, B]);
    expect(base[0]!.logprob).toBeCloseTo(before[0]!.logprob, 4);
    const p = optionProbabilities(after.map((s) => s.logprob));
    expect(p[0]).toBeGreaterThan(0.99);
    m.dispose();
  });

  it("gives the same scores however the options are batched, and stops on abort", async () => {
    const m = tinyModel(5);
    const long = Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
    const options = [A, B, long.slice(0, 250), long.slice(40, 300), [7]];
    const together = await scoreOptions(m, PROMPT, options);
    for (const [i, o] of options.entries()) {
      const [alone] = await scoreOptions(m, PROMPT, [o]);
      expect(alone!.logprob).toBeCloseTo(together[i]!.logprob, 3);
    }
    const c = new AbortController();
    c.abort();
    await expect(scoreOptions(m, PROMPT, [A], c.signal)).rejects.toBeInstanceOf(
      EvaluationCancelled,
    );
    await expect(scoreOptions(m, [], [A])).rejects.toThrow(/prompt has no tokens/);
    m.dispose();
  });
});

describe("ChatPrompter", () => {
  it("puts options where the template's assistant turn goes, closed by the end-of-turn token", async () => {
    const chat = await ChatPrompter.forModel(await bundledModelPath());
    const q = "Is aspirin an NSAID?";
    const prompt = chat.prompt(q);
    expect(chat.tokenizer.decode(prompt)).toMatch(
      /<\|im_start\|>user\nIs aspirin an NSAID\?<\|im_end\|>\n<\|im_start\|>assistant\n$/,
    );
    const yes = chat.completion(q, "Yes");
    expect(chat.tokenizer.decode(yes)).toBe("Yes<|im_end|>");
    // Prompt + completion tokenizes like the whole rendered conversation.
    const whole = chat.tokenizer.encode(
      chat.template.render([
        { role: "user", content: q },
        { role: "assistant", content: "Yes" },
      ]),
    );
    expect(whole.slice(0, prompt.length + yes.length)).toEqual([...prompt, ...yes]);
    expect(chat.stopTokens()).toContain(chat.tokenizer.specialTokens.get("<|im_end|>"));
  });
});
