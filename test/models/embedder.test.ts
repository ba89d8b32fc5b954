// loadEmbedder over the bundled all-MiniLM-L6-v2 (set-up step "embedder" installs it; this test
// fails, naming that step, when it is missing) against sentence-transformers' computation in
// transformers (test/fixtures/bert/minilm-reference.json): token ids equal, every vector's cosine
// ≥ 0.999, paraphrases score above unrelated pairs, batching and length sorting change nothing.
// Bad directories give errors that name the directory and file.
//   npx vitest run test/models/embedder.test.ts
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cosineSimilarity,
  defaultEmbedderPath,
  EmbedderLoadError,
  loadEmbedder,
  type Embedder,
} from "../../src/models/embedder.js";
import { loadEmbedderPreset } from "../../src/models/embedder-presets.js";
import { fromRoot } from "../../src/paths.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "bert");

interface Reference {
  maxSeqLength: number;
  sentences: string[];
  ids: number[][];
  vectors: number[][];
  tokenizerCases: { texts: string[]; ids: number[][] };
}
const REF = JSON.parse(
  readFileSync(join(FIXTURES, "minilm-reference.json"), "utf8"),
) as Reference;

describe("bundled embedder (all-MiniLM-L6-v2) vs the reference model", () => {
  let embedder: Embedder;
  let vectors: Float32Array[]; // REF.sentences, default batching
  const defaultBatches: number[] = [];

  beforeAll(async () => {
    try {
      embedder = await loadEmbedder();
    } catch (e) {
      throw new Error(
        `the bundled embedder is not usable at ${defaultEmbedderPath()}: run \`node scripts/setup.mjs --only embedder\` first\n${(e as Error).message}`,
      );
    }
    vectors = await embedder.embed(REF.sentences, {
      onProgress: (p) => defaultBatches.push(p.done),
    });
  });
  afterAll(() => embedder?.close());

  it("reads its settings from the directory, as its preset says", async () => {
    expect(embedder.name).toBe("all-MiniLM-L6-v2");
    expect(embedder.dimensions).toBe(384);
    expect(embedder.maxTokens).toBe(REF.maxSeqLength);
    expect(embedder.pooling).toBe("mean");
    expect(embedder.normalize).toBe(true);
    const preset = await loadEmbedderPreset("all-minilm-l6-v2");
    expect(preset).toMatchObject({
      dimensions: embedder.dimensions,
      maxTokens: embedder.maxTokens,
      pooling: embedder.pooling,
      normalize: embedder.normalize,
      weightBytes: statSync(join(embedder.directory, "model.safetensors")).size,
    });
    expect(fromRoot(preset.directory)).toBe(embedder.directory);
  });

  it("tokenizes exactly like the Hugging Face fast tokenizer, truncation included", () => {
    REF.sentences.forEach((s, i) => expect(embedder.tokenize(s), s).toEqual(REF.ids[i]));
    const cases = REF.tokenizerCases;
    cases.texts.forEach((s, i) => expect(embedder.tokenize(s), s).toEqual(cases.ids[i]));
    expect(REF.ids.at(-1)!.length).toBe(REF.maxSeqLength);
  });

  it("gives the reference vectors (cosine ≥ 0.999 for every sentence)", () => {
    const cosines = vectors.map((v, i) => cosineSimilarity(v, REF.vectors[i]!));
    console.log(
      `cosine to reference: worst 1 - ${(1 - Math.min(...cosines)).toExponential(2)} over ${cosines.length} sentences`,
    );
    for (const c of cosines) expect(c).toBeGreaterThanOrEqual(0.999);
    for (const v of vectors) {
      expect(v.length).toBe(384);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    }
  });

  it("starts a new batch where padding would fill over half of it", () => {
    // Longest first: the 256-token text shares its batch with the 25-token one only.
    expect(defaultBatches).toEqual([2, 9]);
  });

  it("scores paraphrases above unrelated sentences", () => {
    const [metforminA, metforminB, warfarinA, warfarinB, , , , cafeteria] = vectors;
    const paraphrase1 = cosineSimilarity(metforminA!, metforminB!);
    const paraphrase2 = cosineSimilarity(warfarinA!, warfarinB!);
    const unrelated = cosineSimilarity(metforminA!, cafeteria!);
    console.log({ paraphrase1, paraphrase2, unrelated });
    expect(paraphrase1).toBeGreaterThan(unrelated + 0.3);
    expect(paraphrase2).toBeGreaterThan(cosineSimilarity(warfarinA!, cafeteria!) + 0.3);
  });

  it("returns the same vectors batched (length-sorted) as one by one, in input order", async () => {
    const short = REF.sentences.slice(0, -1); // the 256-token one is alone in a batch anyway
    const progress: number[] = [];
    const batched = await embedder.embed(short, {
      batchSize: 3,
      onProgress: (p) => progress.push(p.done),
    });
    expect(progress).toEqual([3, 6, 8]);
    let worst = 0;
    for (const [i, s] of short.entries()) {
      const [alone] = await embedder.embed([s]);
      for (let k = 0; k < 384; k++)
        worst = Math.max(worst, Math.abs(alone![k]! - batched[i]![k]!));
    }
    for (const [i, v] of batched.entries())
      expect(cosineSimilarity(v, vectors[i]!)).toBeGreaterThan(0.99999);
    console.log(`max |batched - alone| = ${worst}`);
    expect(worst).toBeLessThan(1e-5);
  });

  it("queues concurrent calls, honours abort, and handles an empty list", async () => {
    const [a, b] = await Promise.all([
      embedder.embed(REF.sentences.slice(0, 3)),
      embedder.embed(REF.sentences.slice(3, 6)),
    ]);
    expect(a).toHaveLength(3);
    expect(b).toHaveLength(3);
    expect(await embedder.embed([])).toEqual([]);
    const ac = new AbortController();
    ac.abort(new Error("stop here"));
    await expect(embedder.embed(REF.sentences, { signal: ac.signal })).rejects.toThrow(
      "stop here",
    );
    await expect(embedder.embed(["ok"], { batchSize: 0 })).rejects.toThrow(/batchSize/);
  });
});

describe("embedder directories", () => {
  const tinyDir = join(FIXTURES, "tiny-gelu");
  const minilm = defaultEmbedderPath();

  /** A copy of the tiny checkpoint plus MiniLM's tokenizer files, with extra files written in. */
  function scratch(files: Record<string, unknown> = {}, { weights = true } = {}): string {
    const dir = mkdtempSync(join(tmpdir(), "embedder-"));
    copyFileSync(join(tinyDir, "config.json"), join(dir, "config.json"));
    if (weights) copyFileSync(join(tinyDir, "model.safetensors"), join(dir, "model.safetensors"));
    for (const [name, body] of Object.entries(files)) {
      mkdirSync(join(dir, name, ".."), { recursive: true });
      writeFileSync(join(dir, name), typeof body === "string" ? body : JSON.stringify(body));
    }
    return dir;
  }
  // A tiny vocabulary (128 ids) that covers [PAD], [UNK], [CLS], [SEP] and a few words.
  const words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "aspirin", "blocks", "cox", "-", "1", "."];
  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [0, 1, 2, 3].map((id) => ({
      id,
      content: words[id],
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [
        { SpecialToken: { id: "[CLS]", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "[SEP]", type_id: 0 } },
      ],
      pair: [],
      special_tokens: {
        "[CLS]": { id: "[CLS]", ids: [2], tokens: ["[CLS]"] },
        "[SEP]": { id: "[SEP]", ids: [3], tokens: ["[SEP]"] },
      },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(words.map((w, i) => [w, i])),
    },
  };

  it("loads any BERT directory by its files: pooling and normalisation from the sentence-transformers config", async () => {
    const dir = scratch({
      "tokenizer.json": tokenizerJson,
      "modules.json": [
        { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
        { idx: 1, name: "1", path: "1_Pooling", type: "sentence_transformers.models.Pooling" },
      ],
      "1_Pooling/config.json": { pooling_mode_cls_token: true, pooling_mode_mean_tokens: false },
    });
    const e = await loadEmbedder({ path: dir });
    expect([e.pooling, e.normalize, e.dimensions, e.maxTokens]).toEqual(["cls", false, 32, 40]);
    expect(e.tokenize("Aspirin blocks COX-1.")).toEqual([2, 4, 5, 6, 7, 8, 9, 3]);
    expect(e.tokenize("aspirin ".repeat(60))).toHaveLength(40);
    const [v] = await e.embed(["Aspirin blocks COX-1."]);
    expect(v).toHaveLength(32);
    e.close();
    await expect(e.embed(["after close"])).rejects.toThrow(/embedder .* is closed/);
    const overridden = await loadEmbedder({ path: dir, pooling: "mean", normalize: true });
    const [w] = await overridden.embed(["Aspirin blocks COX-1."]);
    expect(Math.hypot(...w!)).toBeCloseTo(1, 5);
    overridden.close();
  });

  it("names the directory and file that are missing or wrong", async () => {
    const missing = join(tmpdir(), "no-such-embedder-dir");
    await expect(loadEmbedder({ path: missing })).rejects.toThrow(
      new RegExp(`${missing}: not a directory`),
    );
    const noWeights = scratch({ "tokenizer.json": tokenizerJson }, { weights: false });
    await expect(loadEmbedder({ path: noWeights })).rejects.toThrow(
      new RegExp(`${noWeights}/model\\.safetensors: missing`),
    );
    const noTokenizer = scratch();
    await expect(loadEmbedder({ path: noTokenizer })).rejects.toThrow(
      new RegExp(`${noTokenizer}/tokenizer\\.json: missing`),
    );
    const llama = scratch({ "tokenizer.json": tokenizerJson, "config.json": { model_type: "llama" } });
    await expect(loadEmbedder({ path: llama })).rejects.toThrow(
      /config\.json: model_type "llama" is not supported/,
    );
    const maxPool = scratch({
      "tokenizer.json": tokenizerJson,
      "1_Pooling/config.json": { pooling_mode_max_tokens: true },
    });
    await expect(loadEmbedder({ path: maxPool })).rejects.toThrow(
      /1_Pooling\/config\.json: pooling "max_tokens" is not supported/,
    );
    const badJson = scratch({ "tokenizer.json": tokenizerJson, "modules.json": "[{" });
    await expect(loadEmbedder({ path: badJson })).rejects.toThrow(
      /modules\.json: invalid JSON/,
    );
    await expect(loadEmbedder({ path: minilm, maxTokens: 1 })).rejects.toBeInstanceOf(
      EmbedderLoadError,
    );
    // The bundled copy missing or partial: the error names the set-up step that restores it.
    const models = mkdtempSync(join(tmpdir(), "models-"));
    process.env.MEDTUNE_MODELS_DIR = models;
    try {
      await expect(loadEmbedder()).rejects.toThrow(
        /all-MiniLM-L6-v2: the bundled embedder is not installed; run `node scripts\/setup\.mjs --only embedder`/,
      );
      mkdirSync(join(models, "embeddings"));
      const partial = scratch();
      renameSync(partial, join(models, "embeddings", "all-MiniLM-L6-v2"));
      await expect(loadEmbedder()).rejects.toThrow(
        /all-MiniLM-L6-v2\/tokenizer\.json: missing .*; run `node scripts\/setup\.mjs --only embedder`/,
      );
    } finally {
      delete process.env.MEDTUNE_MODELS_DIR;
    }
  });

  it("presets: both parse; a bad key or value is named with the file", async () => {
    const bge = await loadEmbedderPreset("bge-base-en-v1.5");
    expect([bge.pooling, bge.dimensions, bge.maxTokens, bge.normalize]).toEqual([
      "cls",
      768,
      512,
      true,
    ]);
    await expect(loadEmbedderPreset("no-such-preset")).rejects.toThrow(/no-such-preset\.yaml/);
    const dir = mkdtempSync(join(tmpdir(), "preset-"));
    const bad = join(dir, "bge-base-en-v1.5.yaml");
    const text = readFileSync(fromRoot("configs/model_configs/embeddings/bge-base-en-v1.5.yaml"), "utf8");
    writeFileSync(bad, text.replace("pooling: cls", "pooling: max\npoolng: cls"));
    await expect(loadEmbedderPreset(bad)).rejects.toThrow(
      /bge-base-en-v1\.5\.yaml: unknown key "poolng"; "pooling" must be mean or cls, got "max"/,
    );
  });

  it("cosineSimilarity: parallel 1, orthogonal 0, zero vector 0, length mismatch throws", () => {
    expect(cosineSimilarity([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(cosineSimilarity([1, 0], [0, 3])).toBe(0);
    expect(cosineSimilarity([0, 0], [1, 1])).toBe(0);
    expect(() => cosineSimilarity([1], [1, 2])).toThrow(/lengths differ/);
  });
});
