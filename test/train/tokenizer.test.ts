/**
 * Tokenizer parity: our ids must equal llama.cpp's for the bundled SmolLM2 GGUF (byte-level BPE)
 * and for a synthetic SentencePiece vocabulary written as a GGUF here, on biomedical text,
 * Unicode, leading spaces, newlines, special tokens and seeded random strings.
 *
 *   npx vitest run test/train/tokenizer.test.ts
 *
 * llama.cpp comes from node-llama-cpp's prebuilt CPU binary (a devDependency). If it cannot load
 * on this platform the parity tests fail with its error; set MEDTUNE_SKIP_LLAMA_CPP=1 to skip
 * them (the golden ids below still run).
 * MEDTUNE_LLAMA_VOCAB_DIR=<llama.cpp>/models additionally checks llama.cpp's own vocab GGUFs.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { GGUFValueType, serializeGgufMetadata, type GGUFTypedMetadata } from "@huggingface/gguf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  ggufTokenizerFiles,
  loadTokenizer,
  TokenizerLoadError,
  type Tokenizer,
} from "../../src/train/tokenizer.js";

const MODEL = path.resolve("models/base/SmolLM2-135M-Instruct.Q4_1.gguf");
const SKIP_LLAMA = process.env.MEDTUNE_SKIP_LLAMA_CPP === "1";

const BIOMEDICAL = [
  "Metformin 500 mg b.i.d. — HbA1c ↓ 1.2 %",
  "β-blockers and α₂-agonists",
  "IL-6 (interleukin-6) in COVID‑19",
  "Ångström, naïve, µg/kL",
  "二甲双胍是2型糖尿病的一线治疗药物。",
  "Η ινσουλίνη ρυθμίζει τη γλυκόζη του αίματος.",
  "Pain 8/10 😣 → 3/10 🙂 after 💊 ibuprofen 400 mg",
  "   leading spaces before warfarin",
  " one leading space",
  "line one\nline two\n\n\ttabbed\r\nwindows",
  "trailing spaces   ",
  "CYP3A4/2D6-mediated DDIs (e.g., ketoconazole + simvastatin)",
  "Na⁺/K⁺-ATPase, Ca²⁺, 10⁻³ mol·L⁻¹, ½ tablet, x₁₂",
  "PMID:12345678; NCT01234567; DB00331; CHEMBL1431",
  "don't, it's, we'LL, they've, I'd",
  "1234567890 3.14159 1,000,000 -40 °C",
  "a\u00a0non-breaking\u2009thin\u202fnarrow space",
  "<|im_start|>user\nWhat treats T2DM?<|im_end|>\n<|im_start|>assistant\nMetformin.<|im_end|>\n",
  "text<|endoftext|>more",
  "",
  "\n",
  " ",
];

/** Seeded strings mixing scripts, digits, whitespace and special tokens: what handwritten lists miss. */
function randomStrings(count: number, seed: number, extra: string[]): string[] {
  const pool = [
    ..."abcXYZ 019 \n\t.,;:'’\"-—‑()[]{}<>/\\|αβγΩµÅåïé²₂①二甲双胍😀🩺💊\u00a0\u200b\u2009\r",
    "'s",
    "'LL",
    "  ",
    "mg",
    ...extra,
  ];
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 4294967296);
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    let t = "";
    const len = 1 + Math.floor(rnd() * 30);
    for (let j = 0; j < len; j++) t += pool[Math.floor(rnd() * pool.length)];
    out.push(t);
  }
  return out;
}

interface LlamaCpp {
  tokenize(file: string, texts: string[]): Promise<number[][]>;
  dispose(): Promise<void>;
}

async function openLlamaCpp(): Promise<LlamaCpp> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  // build: "never" — use the prebuilt binary; a test must not start a compile or a download.
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  return {
    async tokenize(file, texts) {
      const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
      try {
        // true: parse special-token text into control tokens, as our encode() does.
        return texts.map((t) => Array.from(model.tokenize(t, true)));
      } finally {
        await model.dispose();
      }
    },
    dispose: () => llama.dispose(),
  };
}

function expectParity(tok: Tokenizer, texts: string[], reference: number[][]): void {
  const mismatches = texts
    .map((t, i) => ({ text: t, ours: tok.encode(t), ref: reference[i] }))
    .filter((m) => JSON.stringify(m.ours) !== JSON.stringify(m.ref));
  expect(mismatches.slice(0, 3), `${mismatches.length}/${texts.length} strings differ`).toEqual([]);
}

describe("bundled SmolLM2 GGUF (byte-level BPE, pre-tokenizer smollm)", () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(MODEL);
  });

  it("reads vocabulary, special tokens and chat template from GGUF metadata", () => {
    expect(tok.vocabSize).toBe(49152);
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
    expect(tok.eosToken).toBe("<|im_end|>");
    expect(tok.specialTokens.get("<|im_start|>")).toBe(1);
    expect(tok.specialTokens.get("<|endoftext|>")).toBe(0);
    expect(tok.chatTemplate).toContain("<|im_start|>");
  });

  it("matches golden ids recorded from llama.cpp", () => {
    expect(tok.encode("Metformin 500 mg b.i.d. — HbA1c ↓ 1.2 %")).toEqual([
      12582, 584, 254, 216, 37, 32, 32, 9209, 278, 30, 89, 30, 84, 30, 1841, 47987, 49, 33, 83,
      9943, 237, 216, 33, 30, 34, 2471,
    ]);
    expect(tok.encode("β-blockers and α₂-agonists")).toEqual([
      22235, 29, 9189, 366, 284, 19521, 44059, 29, 5927, 911,
    ]);
    expect(tok.encode("<|im_start|>user\nHi<|im_end|>\n")).toEqual([1, 4093, 198, 26843, 2, 198]);
  });

  it("decodes back to the exact text", () => {
    for (const s of BIOMEDICAL) expect(tok.decode(tok.encode(s))).toBe(s);
    expect(tok.decode([])).toBe("");
    expect(tok.decode(tok.encode("<|im_start|>hi<|im_end|>"), { skipSpecialTokens: true })).toBe(
      "hi",
    );
  });

  it("adds no BOS for SmolLM2 (tokenizer.ggml.add_bos_token = false)", () => {
    expect(tok.encode("hello", { addSpecialTokens: true })).toEqual(tok.encode("hello"));
  });

  it("loads the same tokenizer from a Hugging Face directory", async () => {
    const { gguf } = await import("@huggingface/gguf");
    const { metadata } = await gguf(MODEL, { allowLocalFile: true });
    const files = ggufTokenizerFiles(metadata as unknown as Record<string, unknown>, MODEL);
    const dir = await mkdtemp(path.join(tmpdir(), "medtune-tok-"));
    try {
      await writeFile(path.join(dir, "tokenizer.json"), JSON.stringify(files.tokenizerJson));
      await writeFile(
        path.join(dir, "tokenizer_config.json"),
        JSON.stringify(files.tokenizerConfig),
      );
      const hf = await loadTokenizer(dir);
      expect(hf.eosId).toBe(2);
      expect(hf.vocabSize).toBe(49152);
      expect(hf.chatTemplate).toBe(tok.chatTemplate);
      for (const s of BIOMEDICAL) expect(hf.encode(s)).toEqual(tok.encode(s));
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it.skipIf(SKIP_LLAMA)(
    "equals llama.cpp on biomedical strings and 500 random strings",
    async () => {
      const llama = await openLlamaCpp();
      try {
        const texts = [
          ...BIOMEDICAL,
          ...randomStrings(500, 42, ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]),
        ];
        expectParity(tok, texts, await llama.tokenize(MODEL, texts));
      } finally {
        await llama.dispose();
      }
    },
  );
});

/**
 * A small SentencePiece vocabulary: bytes, letters and pieces of biomedical words with random
 * scores, so merge order (highest score first) decides the result rather than the vocabulary.
 */
function syntheticSpmMetadata(): GGUFTypedMetadata {
  let s = 7;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 4294967296);
  const tokens = ["<unk>", "<s>", "</s>"];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(6);
  }
  const pieces = new Set<string>(["▁", ..."abcdefghijklmnopqrstuvwxyzαβµ0123456789.,-()"]);
  const words = [
    "metformin",
    "insulin",
    "glucose",
    "blocker",
    "agonist",
    "interleukin",
    "beta",
    "dose",
    "mg",
    "in",
    "and",
  ];
  for (const w of words) {
    const text = `▁${w}`;
    const chars = Array.from(text);
    for (let i = 0; i < chars.length; i++) {
      for (let j = i + 2; j <= chars.length; j++)
        if (rnd() < 0.5) pieces.add(chars.slice(i, j).join(""));
    }
  }
  const scores = [0, 0, 0, ...new Array<number>(256).fill(0)];
  for (const p of pieces) {
    tokens.push(p);
    types.push(1);
    scores.push(-Math.round(rnd() * 1e6) / 100);
  }
  const u32 = (value: number) => ({ value, type: GGUFValueType.UINT32 as const });
  return {
    version: { value: 3, type: GGUFValueType.UINT32 },
    tensor_count: { value: 0n, type: GGUFValueType.UINT64 },
    kv_count: { value: 0n, type: GGUFValueType.UINT64 },
    "general.architecture": { value: "llama", type: GGUFValueType.STRING },
    "general.name": { value: "medtune-synthetic-spm", type: GGUFValueType.STRING },
    "llama.block_count": u32(1),
    "llama.context_length": u32(128),
    "llama.embedding_length": u32(64),
    "llama.feed_forward_length": u32(128),
    "llama.attention.head_count": u32(4),
    "llama.attention.head_count_kv": u32(4),
    "llama.attention.layer_norm_rms_epsilon": { value: 1e-5, type: GGUFValueType.FLOAT32 },
    "llama.rope.dimension_count": u32(16),
    "llama.vocab_size": u32(tokens.length),
    "tokenizer.ggml.model": { value: "llama", type: GGUFValueType.STRING },
    "tokenizer.ggml.tokens": {
      value: tokens,
      type: GGUFValueType.ARRAY,
      subType: GGUFValueType.STRING,
    },
    "tokenizer.ggml.scores": {
      value: scores,
      type: GGUFValueType.ARRAY,
      subType: GGUFValueType.FLOAT32,
    },
    "tokenizer.ggml.token_type": {
      value: types,
      type: GGUFValueType.ARRAY,
      subType: GGUFValueType.INT32,
    },
    "tokenizer.ggml.bos_token_id": u32(1),
    "tokenizer.ggml.eos_token_id": u32(2),
    "tokenizer.ggml.unknown_token_id": u32(0),
    "tokenizer.ggml.add_bos_token": { value: true, type: GGUFValueType.BOOL },
    "tokenizer.ggml.add_eos_token": { value: false, type: GGUFValueType.BOOL },
  } as unknown as GGUFTypedMetadata;
}

describe("SentencePiece GGUF (tokenizer.ggml.model = llama)", () => {
  let dir: string;
  let file: string;
  let tok: Tokenizer;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "medtune-spm-"));
    file = path.join(dir, "synthetic-spm.gguf");
    const typed = syntheticSpmMetadata();
    typed.kv_count.value = BigInt(Object.keys(typed).length - 3);
    await writeFile(file, serializeGgufMetadata(typed));
    tok = await loadTokenizer(file);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true });
  });

  it("adds BOS on request, uses byte fallback and decodes back", () => {
    const ids = tok.encode("metformin 二", { addSpecialTokens: true });
    expect(ids[0]).toBe(1);
    // "二" is not in the vocabulary: three UTF-8 byte tokens (<0xE4> is id 3 + 0xE4).
    expect(ids.slice(-3)).toEqual([3 + 0xe4, 3 + 0xba, 3 + 0x8c]);
    expect(tok.decode(tok.encode("beta blocker, 500 mg"))).toBe("beta blocker, 500 mg");
  });

  it.skipIf(SKIP_LLAMA)("equals llama.cpp's SentencePiece tokenizer", async () => {
    const llama = await openLlamaCpp();
    try {
      const texts = [
        "metformin and insulin",
        "  interleukin-6 agonist",
        "glucose\nbeta-blocker",
        "<s>dose</s> mg",
        ...BIOMEDICAL,
        ...randomStrings(300, 9, ["metformin", "insulin", "<s>", "</s>", "▁"]),
      ];
      expectParity(tok, texts, await llama.tokenize(file, texts));
    } finally {
      await llama.dispose();
    }
  });
});

// Optional: llama.cpp's own vocabulary fixtures (Llama 2 SPM, Llama 3, Qwen2, GPT-2, StarCoder).
const VOCAB_DIR = process.env.MEDTUNE_LLAMA_VOCAB_DIR;
describe.skipIf(!VOCAB_DIR || SKIP_LLAMA)("llama.cpp vocab GGUFs (MEDTUNE_LLAMA_VOCAB_DIR)", () => {
  for (const name of ["llama-spm", "llama-bpe", "qwen2", "gpt-2", "starcoder"]) {
    it(name, async () => {
      const file = path.join(VOCAB_DIR as string, `ggml-vocab-${name}.gguf`);
      if (!existsSync(file)) return;
      const tok = await loadTokenizer(file);
      // llama.cpp forces "</s>" to a control token in every vocabulary; Qwen2's HF tokenizer keeps
      // it as plain text (id 128247 is a normal token), and so do we.
      const texts = [
        ...BIOMEDICAL,
        ...randomStrings(300, 3, ["<|im_start|>", "<|endoftext|>"]),
      ].filter((t) => name !== "qwen2" || !t.includes("</s>"));
      const llama = await openLlamaCpp();
      try {
        expectParity(tok, texts, await llama.tokenize(file, texts));
      } finally {
        await llama.dispose();
      }
    });
  }
});

describe("errors", () => {
  it("names the missing path", async () => {
    await expect(loadTokenizer("models/base/nope.gguf")).rejects.toThrow(
      /nope\.gguf: no such file/,
    );
  });

  it("names tokenizer.json when a directory lacks it", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "medtune-empty-"));
    try {
      await expect(loadTokenizer(dir)).rejects.toThrow(TokenizerLoadError);
      await expect(loadTokenizer(dir)).rejects.toThrow(/tokenizer\.json: missing/);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it("names an unsupported pre-tokenizer and the key", () => {
    const meta = {
      "tokenizer.ggml.model": "gpt2",
      "tokenizer.ggml.pre": "martian",
      "tokenizer.ggml.tokens": ["a", "b"],
      "tokenizer.ggml.merges": [],
      "tokenizer.ggml.eos_token_id": 1,
    };
    expect(() => ggufTokenizerFiles(meta, "x.gguf")).toThrow(
      /x\.gguf: metadata tokenizer\.ggml\.pre="martian"/,
    );
  });
});
