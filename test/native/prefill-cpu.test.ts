// The CPU prompt path (CpuDecoder::prefill in native/src/decode_cpu.cc: a prompt chunk through
// register-tiled products over the packed weights, RoPE, in-place cache writes and causal
// attention, no MLX ops) gives the MLX path's next-token log-probabilities to float tolerance and
// its greedy continuation token for token: prompts of 1, 7, 65 and 300 positions, in chunks of 32
// (crossing chunk boundaries) and in one call, batched with left padding, across the flavours the
// decode path serves. Scores of multi-token options, which MLX computes over the cache the CPU
// path wrote, equal those over an MLX-written cache. MEDTUNE_CPU_DECODE=mlx selects the MLX path;
// MEDTUNE_DECODE_INT8=0 keeps the float32 products (int8 ones, the default where there is AMX, are
// tested in decode-cpu.test.ts and quantized-matmul.test.ts).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadNative } from "../../src/native/loader.js";
import { Model } from "../../src/train/model.js";
import { loadTokenizer } from "../../src/train/tokenizer.js";
import { TINY, ints, BUNDLED_GGUF } from "../train/native-helpers.js";
import { CPU_PATH_FLAVOURS, withLora } from "./cpu-path-flavours.js";

const GGUF = BUNDLED_GGUF;

type Mode = "cpu" | "mlx";

function select(mode: Mode) {
  if (mode === "mlx") process.env.MEDTUNE_CPU_DECODE = "mlx";
  else delete process.env.MEDTUNE_CPU_DECODE;
}

// Greedy continuations of a left-padded batch; checks that the prompt took the path asked for.
async function greedy(
  m: Model,
  prompts: Int32Array[],
  maxTokens: number,
  mode: Mode,
  prefillChunk?: number,
) {
  select(mode);
  const r = await m.native.generateBatch({
    prompts: prompts.map((prompt) => ({ prompt })),
    maxTokens,
    prefillChunk,
  });
  const padded = prompts.length * Math.max(...prompts.map((p) => p.length));
  expect(r.cpuPrefillPositions).toBe(mode === "mlx" ? 0 : padded);
  return r.sequences.map((s) => Array.from(s.tokens));
}

// log p(t | prompt) for every `every`-th vocabulary token t: the prompt's last-position logits, normalised
// (scoreOptions prefills the prompt once; single-token options need no further forward).
async function nextLogprobs(
  m: Model,
  prompt: Int32Array,
  mode: Mode,
  every = 1,
): Promise<number[]> {
  select(mode);
  const all = Array.from({ length: Math.ceil(m.config.vocabSize / every) }, (_, i) => [i * every]);
  return (await m.scoreOptions(prompt, all)).map((r) => r.sum);
}

function maxAbsDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i]!)), 0);
}

function argmax(a: number[]): number {
  return a.reduce((best, v, i) => (v > a[best]! ? i : best), 0);
}

beforeEach(() => {
  process.env.MEDTUNE_DECODE_INT8 = "0";
});

afterEach(() => {
  delete process.env.MEDTUNE_CPU_DECODE;
  delete process.env.MEDTUNE_DECODE_INT8;
  delete process.env.MEDTUNE_DECODE_KV;
});

const native = loadNative();

describe("CPU prompt path", () => {
  for (const [name, config, load, lora] of CPU_PATH_FLAVOURS) {
    it(`${name}: next-token log-probs and greedy output equal the MLX path`, async () => {
      const m = Model.random({ ...TINY, maxPositionEmbeddings: 1024, ...config }, 9, load);
      if (lora) withLora(m);
      for (const [n, seed] of [
        [1, 41],
        [7, 42],
        [65, 43],
        [300, 44],
      ] as const) {
        const prompt = ints(n, TINY.vocabSize, seed);
        const mlx = await nextLogprobs(m, prompt, "mlx");
        const cpu = await nextLogprobs(m, prompt, "cpu");
        expect(maxAbsDiff(cpu, mlx), `${n} positions`).toBeLessThan(5e-5);
        expect(argmax(cpu)).toBe(argmax(mlx));
        const want = await greedy(m, [prompt], 8, "mlx");
        expect(await greedy(m, [prompt], 8, "cpu", 32), `${n} positions, chunks of 32`).toEqual(
          want,
        );
        expect(await greedy(m, [prompt], 8, "cpu"), `${n} positions, one call`).toEqual(want);
      }
      // Ragged batch: left padding of 0..62 positions, two chunks of 32 for the longest row.
      const batch = [3, 40, 65].map((n, i) => ints(n, TINY.vocabSize, 50 + i));
      const want = await greedy(m, batch, 8, "mlx", 32);
      expect(await greedy(m, batch, 8, "cpu", 32)).toEqual(want);
      expect(want.flat().length).toBe(24);
      m.dispose();
    });
  }

  // The attention kernel (attendKvGroup in native/src/cpu_gemm.cc) per head size and query heads
  // per KV head: a 1-position prompt runs each head as its own work item, longer ones (and
  // decode steps of 6 rows) a KV head's query heads together, in passes of up to 4 heads. Head
  // size 40 (not a multiple of 16) takes the per-head fallback.
  for (const [hd, heads, kvHeads] of [
    [16, 8, 1],
    [32, 6, 2],
    [48, 4, 1],
    [64, 9, 3],
    [128, 5, 1],
    [40, 4, 2],
  ] as const) {
    it(`attention: head size ${hd}, ${heads / kvHeads} query heads per KV head`, async () => {
      const config = {
        ...TINY,
        maxPositionEmbeddings: 1024,
        headDim: hd,
        numHeads: heads,
        numKvHeads: kvHeads,
      };
      const m = Model.random(config, 11 + hd, {});
      for (const [n, seed] of [
        [1, 71],
        [20, 72],
        [33, 73],
      ] as const) {
        const prompt = ints(n, TINY.vocabSize, seed);
        const mlx = await nextLogprobs(m, prompt, "mlx");
        const cpu = await nextLogprobs(m, prompt, "cpu");
        expect(maxAbsDiff(cpu, mlx), `${n} positions`).toBeLessThan(5e-5);
      }
      const batch = [3, 17, 9, 30, 1, 16].map((n, i) => ints(n, TINY.vocabSize, 80 + i));
      const want = await greedy(m, batch, 6, "mlx");
      expect(await greedy(m, batch, 6, "cpu")).toEqual(want);
      expect(want.flat().length).toBe(36);
      m.dispose();
    });
  }

  it("the cache it writes serves MLX's scoring of multi-token options as MLX's own does", async () => {
    const m = Model.random({ ...TINY, maxPositionEmbeddings: 1024 }, 10, {
      quantize: { bits: 4, groupSize: 32 },
    });
    const prompt = ints(70, TINY.vocabSize, 61);
    const options = [ints(5, TINY.vocabSize, 62), ints(2, TINY.vocabSize, 63), [7]];
    select("mlx");
    const mlx = await m.scoreOptions(prompt, options);
    select("cpu");
    const cpu = await m.scoreOptions(prompt, options);
    for (let i = 0; i < options.length; i++) {
      const a = Array.from(cpu[i]!.tokenLogprobs);
      const b = Array.from(mlx[i]!.tokenLogprobs);
      expect(maxAbsDiff(a, b), `option ${i}`).toBeLessThan(5e-5);
    }
    m.dispose();
  });

  // Generation keeps its KV cache in float16 where the attention kernels read it (half the bytes
  // a batched step reads); the greedy tokens stay the float32 cache's, which equal the MLX path's
  // (above): with float32 products the first logits move by ~0.005.
  // Scoring keeps float32 (the log-prob tests above compare it to 5e-5).
  it("the float16 KV cache: what the machine and MEDTUNE_DECODE_KV ask for", () => {
    expect(["float16", "float32"]).toContain(native.decodeKvCache());
    expect(native.decodeKvCache(40)).toBe("float32"); // no kernel for a head of 40
    process.env.MEDTUNE_DECODE_KV = "f32";
    expect(native.decodeKvCache()).toBe("float32");
  });

  it.skipIf(native.decodeKvCache() !== "float16")(
    "on the bundled GGUF: the float16 KV cache gives the float32 cache's greedy tokens, ragged batch included",
    async () => {
      // Float32 products (this file's default): with int8 ones, x's rounding to int8 re-rolls at
      // any change of its inputs (a logit moves by ~0.1-0.5 either way), and near-ties flip.
      const m = await Model.load(GGUF);
      const tok = await loadTokenizer(GGUF);
      const prompts = [
        "Aspirin irreversibly inhibits cyclooxygenase, which reduces the synthesis of",
        "Question: Which enzyme does warfarin inhibit?\nAnswer:",
        "The most common adverse effect of ACE inhibitors is",
      ].map((t) => Int32Array.from(tok.encode(t)));
      const half = await greedy(m, prompts, 24, "cpu", 16);
      process.env.MEDTUNE_DECODE_KV = "f32";
      const full = await greedy(m, prompts, 24, "cpu", 16);
      expect(half).toEqual(full);
      expect(half.flat().length).toBe(72);
      m.dispose();
    },
    300_000,
  );

  it("on the bundled GGUF: a real prompt's log-probs and greedy continuation equal the MLX path", async () => {
    const m = await Model.load(GGUF);
    const tok = await loadTokenizer(GGUF);
    const text =
      "Metformin is a first-line medication for the treatment of type 2 diabetes, particularly " +
      "in people who are overweight. It lowers blood glucose mainly by reducing hepatic glucose " +
      "production. Common adverse effects include diarrhea, nausea and abdominal pain. The main " +
      "mechanism of action of metformin is";
    const prompt = Int32Array.from(tok.encode(text));
    expect(prompt.length).toBeGreaterThan(50);
    // Every 8th token's log-prob (6144 of them); the greedy run checks the argmax itself.
    const mlx = await nextLogprobs(m, prompt, "mlx", 8);
    const cpu = await nextLogprobs(m, prompt, "cpu", 8);
    expect(maxAbsDiff(cpu, mlx)).toBeLessThan(5e-4);
    const want = await greedy(m, [prompt], 12, "mlx");
    expect(await greedy(m, [prompt], 12, "cpu", 32)).toEqual(want);
    m.dispose();
  }, 300_000);
});
