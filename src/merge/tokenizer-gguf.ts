/**
 * A Hugging Face byte-level BPE tokenizer (tokenizer.json + tokenizer_config.json) as GGUF
 * `tokenizer.ggml.*` metadata, for HF → GGUF export: tokens by id, token types (control for special
 * added tokens, user-defined for the others), merges as "left right", BOS/EOS/PAD ids, the chat
 * template, and `tokenizer.ggml.pre` — the pre-tokenizer name llama.cpp selects its split regexes by.
 *
 * The pre name is found by comparing the file's pre-tokenizer with the one src/train/tokenizer.ts
 * builds for each candidate name (exact for directories we exported from a GGUF), or from the two
 * shapes original HF files use (ByteLevel with its regex: gpt-2; individual Digits + ByteLevel:
 * smollm). Anything else is refused with the file named rather than guessed.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ggufTokenizerFiles } from "../train/tokenizer.js";
import { gv, GgufValueType, type GgufEntry } from "./gguf.js";

type Json = Record<string, unknown>;

const PRE_CANDIDATES = ["smollm", "gpt-2", "llama-bpe", "qwen2", "default"];

function readJsonFile(file: string): Json {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Json;
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as Error).message})`);
  }
}

function preName(pre: unknown, file: string): string {
  const want = JSON.stringify(pre);
  for (const name of PRE_CANDIDATES) {
    const probe = ggufTokenizerFiles(
      {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": ["a", "</s>"],
        "tokenizer.ggml.merges": [],
        "tokenizer.ggml.pre": name,
        "tokenizer.ggml.eos_token_id": 1,
        "tokenizer.ggml.add_bos_token": false,
      },
      file,
    );
    if (JSON.stringify(probe.tokenizerJson.pre_tokenizer) === want) return name;
  }
  const p = pre as Json | null;
  const parts = (p?.type === "Sequence" ? (p.pretokenizers as Json[]) : [p]).filter(
    Boolean,
  ) as Json[];
  const types = parts.map((x) => x.type).join("+");
  if (types === "ByteLevel" && parts[0]!.use_regex !== false) return "gpt-2";
  if (types === "Digits+ByteLevel" && parts[0]!.individual_digits === true) return "smollm";
  throw new Error(
    `${file}: pre_tokenizer ${types || "null"} is not one llama.cpp names (expected GPT-2 or SmolLM style byte-level BPE)`,
  );
}

/** GGUF tokenizer metadata for a HF model directory. */
export function hfTokenizerToGguf(dir: string): Map<string, GgufEntry> {
  const file = join(dir, "tokenizer.json");
  const meta = new Map<string, GgufEntry>();
  if (!existsSync(file)) return meta; // weights-only directory: llama.cpp will refuse, our loader will not
  const tj = readJsonFile(file);
  const cfgFile = join(dir, "tokenizer_config.json");
  const tc = existsSync(cfgFile) ? readJsonFile(cfgFile) : {};
  const model = tj.model as Json | undefined;
  if (model?.type !== "BPE" || typeof model.vocab !== "object")
    throw new Error(`${file}: model.type ${String(model?.type)} is not supported (byte-level BPE)`);
  if (model.byte_fallback === true)
    throw new Error(
      `${file}: SentencePiece-style BPE (byte_fallback) is not supported for GGUF export`,
    );
  const vocab = model.vocab as Record<string, number>;
  const added = (tj.added_tokens as { id: number; content: string; special?: boolean }[]) ?? [];
  let n = 0;
  for (const id of Object.values(vocab)) n = Math.max(n, id + 1);
  for (const t of added) n = Math.max(n, t.id + 1);
  const tokens = new Array<string>(n).fill("");
  const types = new Array<number>(n).fill(1);
  for (const [tok, id] of Object.entries(vocab)) tokens[id] = tok;
  for (const t of added) {
    tokens[t.id] = t.content;
    types[t.id] = t.special === false ? 4 : 3;
  }
  tokens.forEach((t, i) => {
    if (t === "") {
      tokens[i] = `[PAD${i}]`;
      types[i] = 5;
    }
  });
  const merges = (model.merges as (string | [string, string])[]).map((m) =>
    Array.isArray(m) ? `${m[0]} ${m[1]}` : m,
  );
  const tokenText = (v: unknown) =>
    typeof v === "string"
      ? v
      : typeof (v as Json)?.content === "string"
        ? ((v as Json).content as string)
        : null;
  const idOf = (key: string) => {
    const t = tokenText(tc[key]);
    if (t === null) return undefined;
    const id = tokens.indexOf(t);
    if (id < 0) throw new Error(`${cfgFile}: ${key} ${JSON.stringify(t)} is not in the vocabulary`);
    return id;
  };
  meta.set("tokenizer.ggml.model", gv.str("gpt2"));
  meta.set("tokenizer.ggml.pre", gv.str(preName(tj.pre_tokenizer, file)));
  meta.set("tokenizer.ggml.tokens", gv.strs(tokens));
  meta.set("tokenizer.ggml.token_type", gv.i32s(types));
  meta.set("tokenizer.ggml.merges", gv.strs(merges));
  for (const [key, ggufKey] of [
    ["bos_token", "tokenizer.ggml.bos_token_id"],
    ["eos_token", "tokenizer.ggml.eos_token_id"],
    ["unk_token", "tokenizer.ggml.unknown_token_id"],
    ["pad_token", "tokenizer.ggml.padding_token_id"],
  ] as const) {
    const id = idOf(key);
    if (id !== undefined) meta.set(ggufKey, { type: GgufValueType.UINT32, value: id });
  }
  if (typeof tc.add_bos_token === "boolean")
    meta.set("tokenizer.ggml.add_bos_token", gv.bool(tc.add_bos_token));
  if (typeof tc.add_eos_token === "boolean")
    meta.set("tokenizer.ggml.add_eos_token", gv.bool(tc.add_eos_token));
  const tmpl = tc.chat_template;
  if (typeof tmpl === "string") meta.set("tokenizer.chat_template", gv.str(tmpl));
  return meta;
}
