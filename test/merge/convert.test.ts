/**
 * Format conversions around merge: the bundled GGUF's tokenizer → tokenizer.json /
 * tokenizer_config.json → GGUF metadata again (same vocabulary, merges, token types, pre-tokenizer,
 * special ids and chat template; same token ids for text), and sharded safetensors exports with an
 * index that our loader reads back.
 *
 *   npx vitest run test/merge/convert.test.ts
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { metadataValues, readGguf } from "../../src/merge/gguf.js";
import { runMerge } from "../../src/merge/index.js";
import { hfTokenizerToGguf } from "../../src/merge/tokenizer-gguf.js";
import { Model } from "../../src/train/model.js";
import { ggufTokenizerFiles, loadTokenizer } from "../../src/train/tokenizer.js";
import { maxAbsDiff } from "../train/native-helpers.js";
import { fixtureInputs, PARITY_DIR, referenceLogits } from "../train/weights-io.js";

const BASE = resolve("models/base/SmolLM2-135M-Instruct.Q4_1.gguf");
const dir = mkdtempSync(join(tmpdir(), "medtune-convert-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("tokenizer GGUF ↔ Hugging Face", () => {
  it("round-trips the bundled model's tokenizer metadata and token ids", async () => {
    const meta = metadataValues(readGguf(BASE).metadata);
    const { tokenizerJson, tokenizerConfig } = ggufTokenizerFiles(meta, BASE);
    const hf = join(dir, "tok");
    mkdirSync(hf);
    writeFileSync(join(hf, "tokenizer.json"), JSON.stringify(tokenizerJson));
    writeFileSync(join(hf, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
    const back = hfTokenizerToGguf(hf);
    for (const key of [
      "tokenizer.ggml.model",
      "tokenizer.ggml.pre",
      "tokenizer.ggml.tokens",
      "tokenizer.ggml.token_type",
      "tokenizer.ggml.merges",
      "tokenizer.ggml.bos_token_id",
      "tokenizer.ggml.eos_token_id",
      "tokenizer.chat_template",
    ])
      expect(back.get(key)?.value, key).toEqual(meta[key]);
    const text = "Warfarin 5 mg daily; INR 2–3. <|im_start|>user\nWhy?<|im_end|>";
    const a = await loadTokenizer(BASE);
    const b = await loadTokenizer(hf);
    expect(b.encode(text)).toEqual(a.encode(text));
  });

  it("refuses a pre-tokenizer llama.cpp has no name for, naming the file", () => {
    const hf = join(dir, "tok-bad");
    mkdirSync(hf);
    writeFileSync(
      join(hf, "tokenizer.json"),
      JSON.stringify({
        model: { type: "BPE", vocab: { a: 0 }, merges: [] },
        pre_tokenizer: { type: "Whitespace" },
        added_tokens: [],
      }),
    );
    expect(() => hfTokenizerToGguf(hf)).toThrow(
      /tok-bad\/tokenizer\.json: pre_tokenizer Whitespace/,
    );
  });
});

describe("sharded safetensors", () => {
  it("splits above the shard size, writes the index, and reloads with the same logits", async () => {
    const llama = join(PARITY_DIR, "llama");
    const r = await runMerge({
      adapters: join(llama, "adapter"),
      base: llama,
      formats: ["hf"],
      hfDtype: "float32",
      shardBytes: 40_000,
      outDir: join(dir, "sharded"),
      llamaCpp: false,
    });
    const files = readdirSync(r.hf!.dir);
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    expect(shards.length).toBeGreaterThan(1);
    expect(existsSync(join(r.hf!.dir, "model.safetensors"))).toBe(false);
    const index = JSON.parse(
      readFileSync(join(r.hf!.dir, "model.safetensors.index.json"), "utf8"),
    ) as {
      weight_map: Record<string, string>;
    };
    expect(new Set(Object.values(index.weight_map))).toEqual(new Set(shards));
    const { ids, shape } = fixtureInputs("llama");
    const m = await Model.load(r.hf!.dir);
    const got = m.forward(ids, shape);
    m.dispose();
    expect(maxAbsDiff(got, referenceLogits("llama", "logits_with_adapter"))).toBeLessThan(2e-4);
  });
});
