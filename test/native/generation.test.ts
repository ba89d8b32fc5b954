// Generation and scoring over the pre-allocated KV cache: batched greedy output equals one-by-one
// greedy output token for token (left padding masked, positions shifted per row), chunked prompts
// equal one-shot prompts, cached log-probs (scoreOptions) equal the no-cache score(), and a cancel
// mid-batch ends every unfinished sequence. Tiny random models, plus the bundled GGUF once.
import { describe, expect, it } from "vitest";
import { Model } from "../../src/train/model.js";
import { ints, tinyModel, TINY, BUNDLED_GGUF } from "../train/native-helpers.js";

const GGUF = BUNDLED_GGUF;

// Prompts of different lengths so that the batch is ragged (left padding of 0..9 positions).
const PROMPTS = [
  ints(3, TINY.vocabSize, 11),
  ints(12, TINY.vocabSize, 12),
  ints(7, TINY.vocabSize, 13),
];

async function oneByOne(m: Model, prompts: ArrayLike<number>[], maxTokens: number[]) {
  const out: number[][] = [];
  for (let i = 0; i < prompts.length; i++) {
    out.push((await m.generate(prompts[i]!, { maxTokens: maxTokens[i]! })).tokens);
  }
  return out;
}

describe("generation over the KV cache", () => {
  it("batched greedy output equals one-by-one greedy output, ragged prompts and own limits", async () => {
    const m = tinyModel(3);
    const maxTokens = [9, 4, 14];
    const single = await oneByOne(m, PROMPTS, maxTokens);
    const streamed: number[][] = PROMPTS.map(() => []);
    const batch = await m.generateBatch(
      PROMPTS.map((prompt, i) => ({ prompt, maxTokens: maxTokens[i] })),
      { onToken: (seq, tok, index) => (streamed[seq]![index] = tok) },
    );
    expect(batch.sequences.map((s) => Array.from(s.tokens))).toEqual(single);
    expect(streamed).toEqual(single);
    expect(batch.sequences.map((s) => s.stopReason)).toEqual(["length", "length", "length"]);
    expect(batch.generatedTokens).toBe(9 + 4 + 14);
  });

  it("stops each sequence at its own stop token and keeps decoding the others", async () => {
    const m = tinyModel(3);
    const single = await oneByOne(m, PROMPTS, [12, 12, 12]);
    // Stop the second sequence at its 3rd generated token (a token it has not produced before).
    const stopAt = single[1]!.findIndex((t, i) => single[1]!.indexOf(t) === i && i >= 2);
    const stop = single[1]![stopAt]!;
    const batch = await m.generateBatch(
      PROMPTS.map((prompt, i) => ({ prompt, stopTokens: i === 1 ? [stop] : [] })),
      { maxTokens: 12 },
    );
    expect(Array.from(batch.sequences[1]!.tokens)).toEqual(single[1]!.slice(0, stopAt));
    expect(batch.sequences[1]!.stopReason).toBe("stop");
    expect(Array.from(batch.sequences[0]!.tokens)).toEqual(single[0]);
    expect(Array.from(batch.sequences[2]!.tokens)).toEqual(single[2]);
  });

  it("processes a prompt in chunks with the same result as in one call", async () => {
    const m = tinyModel(4);
    const prompt = ints(40, TINY.vocabSize, 21);
    const whole = await m.native.generate({ prompt, maxTokens: 10 });
    const chunked = await m.native.generate({ prompt, maxTokens: 10, prefillChunk: 7 });
    expect(Array.from(chunked.tokens)).toEqual(Array.from(whole.tokens));
  });

  it("decodes across a cache growth like a no-cache greedy loop over forward()", async () => {
    const m = tinyModel(8);
    const V = TINY.vocabSize;
    // 250 prompt tokens + 12 new ones cross the cache's first 256-position allocation.
    const seq = Array.from(ints(250, V, 61));
    const cached = await m.generate(seq, { maxTokens: 12 });
    const expected: number[] = [];
    for (let i = 0; i < 12; i++) {
      const logits = m.forward(Int32Array.from(seq), [1, seq.length]);
      const last = logits.subarray((seq.length - 1) * V);
      let best = 0;
      for (let v = 1; v < V; v++) if (last[v]! > last[best]!) best = v;
      expected.push(best);
      seq.push(best);
    }
    expect(cached.tokens).toEqual(expected);
  });

  it("scoreOptions (shared prompt cache) equals the no-cache score()", async () => {
    const m = tinyModel(5);
    m.addAdapters({ loraRank: 4, seed: 2 });
    const prompt = ints(9, TINY.vocabSize, 31);
    const options = [
      ints(4, TINY.vocabSize, 32),
      ints(1, TINY.vocabSize, 33),
      [],
      ints(7, TINY.vocabSize, 34),
    ];
    const progress: number[] = [];
    const cached = await m.scoreOptions(prompt, options, {
      batchSize: 3,
      onProgress: (scored) => progress.push(scored),
    });
    const plain = m.score(options.map((completion) => ({ prompt, completion })));
    expect(cached).toHaveLength(options.length);
    for (let i = 0; i < options.length; i++) {
      expect(cached[i]!.tokenLogprobs.length).toBe(options[i]!.length);
      expect(cached[i]!.sum).toBeCloseTo(plain[i]!.sum, 4);
      for (let j = 0; j < options[i]!.length; j++) {
        expect(cached[i]!.tokenLogprobs[j]).toBeCloseTo(plain[i]!.tokenLogprobs[j]!, 4);
      }
    }
    expect(progress).toEqual([3, 4]);
  });

  it("cancels mid-batch: unfinished sequences end 'cancelled' and the model is free again", async () => {
    const m = tinyModel(6);
    const controller = new AbortController();
    let seen = 0;
    const batch = await m.generateBatch(
      PROMPTS.map((prompt) => ({ prompt })),
      {
        maxTokens: 500,
        signal: controller.signal,
        onToken: () => {
          if (++seen === 6) controller.abort();
        },
      },
    );
    expect(batch.sequences.map((s) => s.stopReason)).toEqual([
      "cancelled",
      "cancelled",
      "cancelled",
    ]);
    for (const s of batch.sequences) expect(s.tokens.length).toBeLessThan(500);
    expect(m.native.busy).toBe(false);
    // Scoring rejects with the abort reason (enough options that the job outlives the event).
    const c2 = new AbortController();
    const options = Array.from({ length: 400 }, (_, i) => ints(3, TINY.vocabSize, 40 + i));
    const scoring = m.scoreOptions(ints(5, TINY.vocabSize, 50), options, {
      batchSize: 1,
      signal: c2.signal,
      onProgress: (n) => n === 1 && c2.abort(new Error("stop scoring")),
    });
    await expect(scoring).rejects.toThrow("stop scoring");
    expect(m.native.busy).toBe(false);
  });

  it("rejects bad prompts with the prompt's index", async () => {
    const m = tinyModel(7);
    await expect(m.generateBatch([{ prompt: [1, 2] }, { prompt: [] }])).rejects.toThrow(
      "prompts[1].prompt is empty",
    );
    await expect(m.generateBatch([{ prompt: [1, 2] }, { prompt: [1, 9999] }])).rejects.toThrow(
      /prompt 1 token 9999 is outside the vocabulary/,
    );
  });

  it("on the bundled GGUF: batched greedy equals one-by-one, and cached scores equal score()", async () => {
    const m = await Model.load(GGUF);
    const prompts = [
      [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198],
      [1, 4093, 198, 504, 3575, 2],
      [1, 520, 9531, 198, 504],
    ];
    const single = await oneByOne(m, prompts, [5, 5, 5]);
    const batch = await m.generateBatch(prompts.map((prompt) => ({ prompt, maxTokens: 5 })));
    expect(batch.sequences.map((s) => Array.from(s.tokens))).toEqual(single);
    const options = [[504, 3575, 282, 4649, 314, 7042, 30], [7042], [4649, 314]];
    const cached = await m.scoreOptions(prompts[0]!, options);
    const plain = m.score(options.map((completion) => ({ prompt: prompts[0]!, completion })));
    for (let i = 0; i < options.length; i++) expect(cached[i]!.sum).toBeCloseTo(plain[i]!.sum, 2);
  }, 400_000);
});
