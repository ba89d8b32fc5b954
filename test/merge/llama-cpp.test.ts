/**
 * Exports of the bundled SmolLM2-135M-Instruct (Q4_1 GGUF) with a q/v LoRA, checked through
 * llama.cpp (node-llama-cpp's prebuilt CPU binary): the merged Q8_0 GGUF and the LoRA GGUF applied
 * at load both agree with our base + adapter logits; the Q4_K_M GGUF (every tensor requantized, so
 * it holds real Q4_K and Q6_K blocks) loads and generates, and llama.cpp's logits on it agree with
 * our forward over the same blocks dequantized by src/merge/quants.ts.
 *
 *   npx vitest run test/merge/llama-cpp.test.ts      (MEDTUNE_SKIP_LLAMA_CPP=1 skips it)
 *
 * Agreement cannot be 100%: llama.cpp quantizes activations to 8 bits for its quantized dot
 * products, so near-ties between the top two tokens can flip (see test/native/llama-cpp-agreement).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readGguf, ggmlTypeName } from "../../src/merge/gguf.js";
import { runConvert, runMerge } from "../../src/merge/index.js";
import { llamaCppCheck, promptLogits } from "../../src/merge/verify.js";
import { Model } from "../../src/train/model.js";
import { loadTokenizer } from "../../src/train/tokenizer.js";
import { ints } from "../train/native-helpers.js";

const BASE = resolve("models/base/SmolLM2-135M-Instruct.Q4_1.gguf");
// Minutes on a busy 2-core machine: a 135M model is merged, written, reloaded and run in llama.cpp.
const dir = mkdtempSync(join(tmpdir(), "medtune-merge-llama-"));
const adapters = join(dir, "adapters");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(process.env.MEDTUNE_SKIP_LLAMA_CPP === "1")("llama.cpp loads our exports", () => {
  beforeAll(async () => {
    // A q/v LoRA with weights large enough to change the model's answers.
    mkdirSync(adapters);
    const m = await Model.load(BASE);
    m.addAdapters({ loraRank: 8, loraAlpha: 16, loraKeys: ["q", "v"] });
    const patch: Record<string, { a: Float32Array; b: Float32Array }> = {};
    let seed = 1;
    const rnd = (n: number) => Float32Array.from(ints(n, 2001, seed++), (v) => (v - 1000) / 20000);
    for (const [name, w] of Object.entries(m.native.getAdapterWeights()))
      patch[name] = { a: rnd(w.a.length), b: rnd(w.b.length) };
    m.native.setAdapterWeights(patch);
    m.saveAdapters(adapters, "mlx");
    m.dispose();
  });

  it("merged Q8_0 GGUF and the LoRA GGUF agree with base + adapter in llama.cpp", async () => {
    const r = await runMerge({
      adapters,
      base: BASE,
      formats: ["gguf"],
      quantize: "q8_0",
      outDir: join(dir, "q8_0"),
      perplexityTokens: 64,
      llamaCppF16Reference: false,
    });
    const v = r.verification!;
    const ours = v.exports[0]!;
    expect(ours.reloadedBy).toBe("medtune");
    expect(ours.logits!.top1Agreement).toBeGreaterThanOrEqual(0.95);
    // The adapter changed the model: the base alone disagrees somewhere.
    expect(v.base.logitsVsReference.maxAbsDiff).toBeGreaterThan(0.1);
    const l = v.llamaCpp!;
    if ("skipped" in l) throw new Error(`llama.cpp check skipped: ${l.skipped}`);
    expect(l.top1Agreement).toBeGreaterThanOrEqual(0.9);
    expect(l.generated?.length).toBe(8);
    expect(Math.abs(l.perplexity! - ours.perplexity!) / ours.perplexity!).toBeLessThan(0.1);
    const lora = v.llamaCppLora!;
    if ("skipped" in lora) throw new Error(`llama.cpp LoRA check skipped: ${lora.skipped}`);
    expect(lora.top1Agreement).toBeGreaterThanOrEqual(0.9);
    console.log(
      `Q8_0: ours top-1 ${ours.logits!.top1Agreement}, llama.cpp top-1 ${l.top1Agreement.toFixed(3)}, ` +
        `LoRA GGUF in llama.cpp top-1 ${lora.top1Agreement.toFixed(3)}; perplexity ours ${ours.perplexity!.toFixed(2)}, llama.cpp ${l.perplexity!.toFixed(2)}`,
    );
  }, 900_000);

  it("Q4_K_M: Q4_K and Q6_K blocks load and generate in llama.cpp and match our dequantization", async () => {
    const r = await runMerge({
      adapters,
      base: BASE,
      formats: ["gguf"],
      quantize: "q4_k_m",
      requantizeAll: true,
      outDir: join(dir, "q4_k_m"),
      verify: false,
    });
    const types = new Set(readGguf(r.gguf!.path).tensors.map((t) => ggmlTypeName(t.type)));
    expect(types.has("Q4_K")).toBe(true);
    expect(types.has("Q6_K")).toBe(true);
    // Our reference for those blocks: dequantized by the TS codec into an HF directory (F16).
    const hf = join(dir, "q4_k_m-hf");
    await runConvert({ source: r.gguf!.path, to: "hf", out: hf, hfDtype: "float16" });
    const tok = await loadTokenizer(BASE);
    const prompts = [
      tok.encode("Atrial fibrillation increases the risk of ischemic stroke, so patients often"),
      tok.encode("Question: Which enzyme do statins inhibit?\nAnswer:"),
    ];
    const m = await Model.load(hf);
    const ours = promptLogits(m, prompts);
    const V = m.config.vocabSize;
    m.dispose();
    const c = await llamaCppCheck(r.gguf!.path, prompts, ours, V, { generateTokens: 8 });
    console.log(
      `Q4_K_M: llama.cpp vs our dequantized blocks, top-1 ${c.top1Agreement.toFixed(3)} of ${c.positions}`,
    );
    expect(c.top1Agreement).toBeGreaterThanOrEqual(0.9);
    expect(c.generated?.length).toBe(8);
  }, 900_000);
});
