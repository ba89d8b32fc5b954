// The CPU decode path (native/src/decode_cpu.cc: decoded tokens computed over the packed weights
// without MLX ops) gives the MLX path's greedy output token for token, batched and ragged, across
// the model flavours it serves: GQA with tied embeddings, qwen2 q/k/v biases, a mistral sliding
// window, linear and llama3 RoPE scaling, 4- and 8-bit packed weights, LoRA adapters, and a cache
// that grows past its first allocation. MEDTUNE_CPU_DECODE=mlx selects the MLX path. Those
// comparisons run the float32 products (MEDTUNE_DECODE_INT8=0); with the int8 ones (the default
// where the CPU has AMX) batched output equals one-by-one output, token for token.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadNative } from "../../src/native/loader.js";
import { Model } from "../../src/train/model.js";
import { TINY, ints } from "../train/native-helpers.js";
import { CPU_PATH_FLAVOURS, withLora } from "./cpu-path-flavours.js";

async function greedy(m: Model, prompts: Int32Array[], maxTokens: number, mode: "cpu" | "mlx") {
  if (mode === "mlx") process.env.MEDTUNE_CPU_DECODE = "mlx";
  else delete process.env.MEDTUNE_CPU_DECODE;
  const r = await m.generateBatch(
    prompts.map((prompt) => ({ prompt })),
    { maxTokens },
  );
  // The path asked for is the path taken: every step after the prompt's first token.
  if (mode === "mlx") expect(r.cpuDecodeSteps).toBe(0);
  else expect(r.cpuDecodeSteps).toBeGreaterThanOrEqual(maxTokens - 1);
  return r.sequences.map((s) => Array.from(s.tokens));
}

afterEach(() => {
  delete process.env.MEDTUNE_CPU_DECODE;
  delete process.env.MEDTUNE_DECODE_INT8;
});

describe("CPU decode path", () => {
  beforeEach(() => {
    process.env.MEDTUNE_DECODE_INT8 = "0";
  });

  for (const [name, config, load, lora] of CPU_PATH_FLAVOURS) {
    it(`${name}: batched greedy equals the MLX path`, async () => {
      const m = Model.random({ ...TINY, ...config }, 7, load);
      if (lora) withLora(m);
      // Ragged: left padding of 0..9 positions, each row masked and shifted on its own.
      const prompts = [3, 12, 7].map((n, i) => ints(n, TINY.vocabSize, 20 + i));
      const mlx = await greedy(m, prompts, 10, "mlx");
      const cpu = await greedy(m, prompts, 10, "cpu");
      expect(cpu).toEqual(mlx);
      expect(cpu.flat().length).toBe(30);
      m.dispose();
    });
  }

  it("batch 1 across a cache growth (past 256 positions) equals the MLX path", async () => {
    const m = Model.random({ ...TINY, maxPositionEmbeddings: 1024 }, 8, {
      quantize: { bits: 4, groupSize: 32 },
    });
    const prompt = [ints(250, TINY.vocabSize, 31)];
    const mlx = await greedy(m, prompt, 12, "mlx");
    const cpu = await greedy(m, prompt, 12, "cpu");
    expect(cpu).toEqual(mlx);
    m.dispose();
  });
});

describe.skipIf(loadNative().decodeInt8().kernel !== "amx")("CPU decode path, int8 on AMX", () => {
  it("is the default where the CPU has AMX; MEDTUNE_DECODE_INT8=0 turns it off", () => {
    expect(loadNative().decodeInt8()).toEqual({ kernel: "amx", byDefault: true });
    process.env.MEDTUNE_DECODE_INT8 = "0";
    expect(loadNative().decodeInt8().byDefault).toBe(false);
  });

  for (const [name, config, load, lora] of CPU_PATH_FLAVOURS.filter(([, , l]) => l.quantize)) {
    it(`${name}: batched greedy equals one-by-one greedy`, async () => {
      const m = Model.random({ ...TINY, ...config }, 7, load);
      if (lora) withLora(m);
      const prompts = [3, 12, 7, 40].map((n, i) => ints(n, TINY.vocabSize, 20 + i));
      const batched = await greedy(m, prompts, 12, "cpu");
      const single = [];
      for (const p of prompts) single.push(...(await greedy(m, [p], 12, "cpu")));
      expect(batched).toEqual(single);
      m.dispose();
    });
  }
});

describe("decode profile (npm run bench -- profile)", () => {
  it("times a batched step of the CPU path by phase when asked for one", async () => {
    const m = Model.random({ ...TINY }, 9, { quantize: { bits: 4, groupSize: 32 } });
    const p = await m.native.profileDecode({
      prompt: ints(8, TINY.vocabSize, 41),
      tokens: 2,
      batch: 3,
    });
    const phase = (name: string) => p.phases.find((r) => r.phase === name)?.seconds;
    expect(p.batch).toBe(3);
    expect(phase("total.cpu_batch.decode_step")).toBeGreaterThan(0);
    // The step's phases are the CPU path's own, booked apart from its batch-1 rows.
    for (const name of [
      "cpu_batch.mlp.norm_and_gate_up_proj",
      "cpu_batch.lm_head",
      "cpu_path.lm_head",
    ])
      expect(phase(name)).toBeGreaterThan(0);
    const single = await m.native.profileDecode({ prompt: ints(8, TINY.vocabSize, 41), tokens: 2 });
    expect(single.phases.some((r) => r.phase.startsWith("cpu_batch."))).toBe(false);
    expect(() => m.native.profileDecode({ prompt: [1, 2], batch: 0 })).toThrow(/batch must be/);
    m.dispose();
  });
});
