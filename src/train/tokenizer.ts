/**
 * Tokenizers for training: one interface over Hugging Face directories and GGUF files.
 *
 *   const tok = await loadTokenizer("models/base/SmolLM2-135M-Instruct.Q4_1.gguf");
 *   tok.encode("β-blockers and α₂-agonists")   // → number[], ids identical to llama.cpp's
 *
 * Both sources end in the same place: a tokenizer.json object handed to @huggingface/tokenizers.
 * An HF directory already has one. A GGUF file has only llama.cpp's vocabulary metadata, so we
 * rebuild the equivalent tokenizer.json in memory:
 *   - tokenizer.ggml.model "gpt2" (byte-level BPE): tokens + merges, and the pre-tokenizer that
 *     llama.cpp selects from tokenizer.ggml.pre, written as a chain of isolating regex splits
 *     (llama.cpp applies its regex list the same way: each one splits the pieces of the last).
 *   - tokenizer.ggml.model "llama" (SentencePiece BPE): tokens + scores. SentencePiece merges the
 *     adjacent pair whose merged piece scores highest; a BPE whose merge ranks are the pieces'
 *     scores in descending order does the same, with byte fallback for characters not in vocab.
 * Tests check ids against llama.cpp itself (test/train/tokenizer.test.ts).
 */
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";

import { gguf } from "@huggingface/gguf";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";

import { isBioGptTokenizerDir, loadBioGptTokenizer } from "./tokenizer-biogpt.js";

export interface EncodeOptions {
  /**
   * Add the model's own special tokens (BOS, and EOS where the model asks for it) around the text.
   * Default false: chat templates already write BOS into the text, and adding it again would give
   * the model a doubled BOS that it never saw in pretraining.
   */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
}

export interface Tokenizer {
  /** Token ids for `text`. Special-token strings in the text (e.g. "<|im_end|>") become their ids. */
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** null where the model has no BOS token (e.g. Qwen2). */
  readonly bosId: number | null;
  readonly eosId: number;
  /** The padding id the model declares, or null; batches never train on padding either way. */
  readonly padId: number | null;
  readonly bosToken: string | null;
  readonly eosToken: string;
  /** Control tokens by their text, e.g. "<|im_start|>" → 1. Chat templates are built from these. */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** Rows of the embedding matrix: every id is < vocabSize. */
  readonly vocabSize: number;
  /** The model's own chat template (Jinja source), or null when the model ships none. */
  readonly chatTemplate: string | null;
  /** Where the tokenizer came from (file or directory), for error messages and reports. */
  readonly source: string;
  /**
   * SHA-256 of everything that decides the ids: vocabulary, merges, pre-tokenizer, normalizer,
   * added tokens and the tokenizer config (what the tokenized cache is keyed by; without it the
   * cache hashes the vocabulary and the tokenizer files of `source`, src/train/cache.ts).
   */
  readonly checksum?: string;
}

/** Thrown when a tokenizer cannot be built; names the file and the key that was wrong. */
export class TokenizerLoadError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "TokenizerLoadError";
  }
}

/** Load from a `.gguf` file or a Hugging Face model directory (tokenizer.json + tokenizer_config.json). */
export async function loadTokenizer(source: string): Promise<Tokenizer> {
  const info = await stat(source).catch(() => null);
  if (info === null) throw new TokenizerLoadError(source, "no such file or directory");
  if (info.isDirectory()) {
    return (await isBioGptTokenizerDir(source))
      ? loadBioGptTokenizer(source)
      : loadHfTokenizer(source);
  }
  if (source.toLowerCase().endsWith(".gguf")) return loadGgufTokenizer(source);
  throw new TokenizerLoadError(source, "expected a .gguf file or a Hugging Face model directory");
}

// ---------------------------------------------------------------------------------------------
// Hugging Face directories

type JsonObject = Record<string, unknown>;

async function readJson(file: string, required: boolean): Promise<JsonObject | null> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    if (required)
      throw new TokenizerLoadError(file, "missing (a Hugging Face model directory needs it)");
    return null;
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new TokenizerLoadError(file, "expected a JSON object");
    }
    return value as JsonObject;
  } catch (e) {
    if (e instanceof TokenizerLoadError) throw e;
    throw new TokenizerLoadError(file, `invalid JSON: ${(e as Error).message}`);
  }
}

/** tokenizer_config.json writes special tokens either as "…" or as {"content": "…", …}. */
function tokenText(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (
    typeof value === "object" &&
    value !== null &&
    typeof (value as JsonObject).content === "string"
  ) {
    return (value as JsonObject).content as string;
  }
  return null;
}

/** chat_template is a string, or a list of {name, template} where "default" is the chat one. */
function pickChatTemplate(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named = value as { name?: unknown; template?: unknown }[];
    const chosen = named.find((t) => t.name === "default") ?? named[0];
    return typeof chosen?.template === "string" ? chosen.template : null;
  }
  return null;
}

async function loadHfTokenizer(dir: string): Promise<Tokenizer> {
  const jsonFile = path.join(dir, "tokenizer.json");
  const configFile = path.join(dir, "tokenizer_config.json");
  const tokenizerJson = (await readJson(jsonFile, true)) as JsonObject;
  const config = (await readJson(configFile, false)) ?? {};
  if (!Array.isArray(tokenizerJson.added_tokens)) tokenizerJson.added_tokens = [];

  // Newer checkpoints keep the template beside the config rather than inside it.
  let chatTemplate = pickChatTemplate(config.chat_template);
  if (chatTemplate === null) {
    chatTemplate = await readFile(path.join(dir, "chat_template.jinja"), "utf8").catch(() => null);
  }
  if (chatTemplate === null) {
    const file = await readJson(path.join(dir, "chat_template.json"), false);
    chatTemplate = pickChatTemplate(file?.chat_template);
  }

  let inner: HfTokenizer;
  try {
    inner = new HfTokenizer(tokenizerJson, config);
  } catch (e) {
    throw new TokenizerLoadError(jsonFile, `unsupported tokenizer: ${(e as Error).message}`);
  }

  const specialTokens = new Map<string, number>();
  for (const t of tokenizerJson.added_tokens as JsonObject[]) {
    if (t.special === true && typeof t.content === "string" && typeof t.id === "number") {
      specialTokens.set(t.content, t.id);
    }
  }
  const idOf = (key: string): { token: string; id: number } | null => {
    const token = tokenText(config[key]);
    if (token === null) return null;
    const id = inner.token_to_id(token);
    if (id === undefined) {
      throw new TokenizerLoadError(
        configFile,
        `${key} ${JSON.stringify(token)} is not in the vocabulary`,
      );
    }
    return { token, id };
  };
  const bos = idOf("bos_token");
  const eos = idOf("eos_token");
  if (eos === null) {
    throw new TokenizerLoadError(
      configFile,
      'expected "eos_token": training must teach the model to stop',
    );
  }
  const pad = idOf("pad_token");

  let maxId = -1;
  for (const id of inner.get_vocab(true).values()) maxId = Math.max(maxId, id);

  return new WrappedTokenizer(inner, {
    source: dir,
    checksum: tokenizerChecksum(tokenizerJson, config),
    bos,
    eos,
    padId: pad?.id ?? null,
    specialTokens,
    vocabSize: maxId + 1,
    chatTemplate,
  });
}

// ---------------------------------------------------------------------------------------------
// GGUF

/** llama.cpp token types (tokenizer.ggml.token_type). */
const enum GgufTokenType {
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
}

/**
 * Regex lists llama.cpp uses for each tokenizer.ggml.pre value (src/llama-vocab.cpp,
 * llm_tokenizer_bpe). Each regex splits every piece produced by the previous ones; matches and the
 * text between them both stay pieces. Byte-level encoding happens after the last split.
 */
const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3_REGEX =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

interface BpePreset {
  regexes: string[];
  /** Pieces already in the vocabulary are taken whole instead of being merged up (Llama 3). */
  ignoreMerges?: boolean;
  /** llama.cpp turns BOS on for these regardless of tokenizer.ggml.add_bos_token's absence. */
  addBos?: boolean;
}

const BPE_PRESETS: Record<string, BpePreset> = {
  default: {
    regexes: ["[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_REGEX, "\\p{N}+", "[0-9][0-9][0-9]"],
  },
  "gpt-2": { regexes: [GPT2_REGEX] },
  "phi-2": { regexes: [GPT2_REGEX] },
  mpt: { regexes: [GPT2_REGEX] },
  olmo: { regexes: [GPT2_REGEX] },
  // SmolLM, StarCoder: single digits, then GPT-2's split.
  smollm: { regexes: ["\\p{N}", GPT2_REGEX] },
  starcoder: { regexes: ["\\p{N}", GPT2_REGEX] },
  refact: { regexes: ["\\p{N}", GPT2_REGEX] },
  "command-r": { regexes: ["\\p{N}", GPT2_REGEX] },
  llama3: { regexes: [LLAMA3_REGEX], ignoreMerges: true, addBos: true },
  "llama-v3": { regexes: [LLAMA3_REGEX], ignoreMerges: true, addBos: true },
  "llama-bpe": { regexes: [LLAMA3_REGEX], ignoreMerges: true, addBos: true },
  falcon3: { regexes: [LLAMA3_REGEX], ignoreMerges: true, addBos: true },
  qwen2: { regexes: [QWEN2_REGEX] },
  "deepseek-r1-qwen": { regexes: [QWEN2_REGEX] },
  stablelm2: { regexes: [QWEN2_REGEX] },
};

export interface GgufTokenizerFiles {
  /** A tokenizer.json object equivalent to the GGUF vocabulary. */
  tokenizerJson: JsonObject;
  /** A tokenizer_config.json object (special tokens, chat template). */
  tokenizerConfig: JsonObject;
}

type Metadata = Record<string, unknown>;

function metaArray<T>(
  meta: Metadata,
  key: string,
  file: string,
  check: (v: unknown) => boolean,
): T[] {
  const v = meta[key];
  if (!Array.isArray(v) || (v.length > 0 && !check(v[0]))) {
    throw new TokenizerLoadError(file, `metadata ${key}: expected an array`);
  }
  return v as T[];
}

function metaNumber(meta: Metadata, key: string): number | null {
  const v = meta[key];
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return null;
}

function metaBool(meta: Metadata, key: string): boolean | null {
  const v = meta[key];
  return typeof v === "boolean" ? v : null;
}

/**
 * SentencePiece BPE has no merge list: the pair to merge is the one whose concatenation scores
 * highest. Every (left, right) split of every piece with both halves in the vocabulary is a
 * possible merge; ranking them by the merged piece's score (descending) reproduces the order.
 */
function mergesFromScores(
  tokens: string[],
  scores: number[],
  usable: boolean[],
): [string, string][] {
  const idOf = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (usable[i] && !idOf.has(t)) idOf.set(t, i);
  });
  const found: { left: string; right: string; score: number; id: number; l: number; r: number }[] =
    [];
  for (const [piece, id] of idOf) {
    const chars = Array.from(piece);
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join("");
      const right = chars.slice(k).join("");
      const l = idOf.get(left);
      const r = idOf.get(right);
      if (l !== undefined && r !== undefined) {
        found.push({ left, right, score: scores[id] ?? 0, id, l, r });
      }
    }
  }
  found.sort((a, b) => b.score - a.score || a.id - b.id || a.l - b.l || a.r - b.r);
  return found.map((m) => [m.left, m.right]);
}

function templateProcessor(bos: string | null, eos: string | null): JsonObject {
  const single: JsonObject[] = [];
  const special_tokens: JsonObject = {};
  if (bos !== null) {
    single.push({ SpecialToken: { id: bos, type_id: 0 } });
    special_tokens[bos] = { id: bos, ids: [], tokens: [bos] };
  }
  single.push({ Sequence: { id: "A", type_id: 0 } });
  if (eos !== null) {
    single.push({ SpecialToken: { id: eos, type_id: 0 } });
    special_tokens[eos] = { id: eos, ids: [], tokens: [eos] };
  }
  return { type: "TemplateProcessing", single, pair: single, special_tokens };
}

/** Build tokenizer.json / tokenizer_config.json objects from GGUF metadata (`file` names errors). */
export function ggufTokenizerFiles(meta: Metadata, file: string): GgufTokenizerFiles {
  const model = meta["tokenizer.ggml.model"];
  const tokens = metaArray<string>(
    meta,
    "tokenizer.ggml.tokens",
    file,
    (v) => typeof v === "string",
  );
  const n = tokens.length;
  const types =
    meta["tokenizer.ggml.token_type"] === undefined
      ? new Array<number>(n).fill(GgufTokenType.Normal)
      : metaArray<number>(meta, "tokenizer.ggml.token_type", file, (v) => typeof v === "number");
  if (types.length !== n) {
    throw new TokenizerLoadError(
      file,
      `metadata tokenizer.ggml.token_type: ${types.length} entries for ${n} tokens`,
    );
  }

  const bosId = metaNumber(meta, "tokenizer.ggml.bos_token_id");
  const eosId = metaNumber(meta, "tokenizer.ggml.eos_token_id");
  const unkId = metaNumber(meta, "tokenizer.ggml.unknown_token_id");
  const padId = metaNumber(meta, "tokenizer.ggml.padding_token_id");
  const nameOf = (id: number | null, key: string): string | null => {
    if (id === null) return null;
    const t = tokens[id];
    if (t === undefined)
      throw new TokenizerLoadError(
        file,
        `metadata ${key}=${id} is outside the ${n}-token vocabulary`,
      );
    return t;
  };
  const bos = nameOf(bosId, "tokenizer.ggml.bos_token_id");
  const eos = nameOf(eosId, "tokenizer.ggml.eos_token_id");
  const unk = nameOf(unkId, "tokenizer.ggml.unknown_token_id");
  const pad = nameOf(padId, "tokenizer.ggml.padding_token_id");

  // llama.cpp matches control, user-defined and unknown tokens in raw text before tokenizing it.
  const added_tokens: JsonObject[] = [];
  types.forEach((type, id) => {
    if (
      type === GgufTokenType.Control ||
      type === GgufTokenType.UserDefined ||
      type === GgufTokenType.Unknown
    ) {
      added_tokens.push({
        id,
        content: tokens[id],
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: type !== GgufTokenType.UserDefined,
      });
    }
  });

  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => {
    // Duplicate texts (rare, e.g. unused slots) keep their first id, as llama.cpp's lookup does.
    if (!Object.prototype.hasOwnProperty.call(vocab, t)) vocab[t] = id;
  });

  let tokenizerJson: JsonObject;
  let addBos: boolean;
  if (model === "gpt2") {
    const pre =
      typeof meta["tokenizer.ggml.pre"] === "string"
        ? (meta["tokenizer.ggml.pre"] as string)
        : "default";
    const preset = BPE_PRESETS[pre];
    if (preset === undefined) {
      throw new TokenizerLoadError(
        file,
        `metadata tokenizer.ggml.pre=${JSON.stringify(pre)} is not supported; expected one of ${Object.keys(BPE_PRESETS).join(", ")}`,
      );
    }
    const merges = metaArray<string>(
      meta,
      "tokenizer.ggml.merges",
      file,
      (v) => typeof v === "string",
    );
    addBos = metaBool(meta, "tokenizer.ggml.add_bos_token") ?? preset.addBos ?? false;
    tokenizerJson = {
      version: "1.0",
      added_tokens,
      normalizer: null,
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [
          ...preset.regexes.map((r) => ({
            type: "Split",
            pattern: { Regex: r },
            behavior: "Isolated",
            invert: false,
          })),
          { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
        ],
      },
      post_processor: null,
      decoder: {
        type: "ByteLevel",
        add_prefix_space: false,
        trim_offsets: false,
        use_regex: false,
      },
      model: {
        type: "BPE",
        vocab,
        merges: merges.map((m) => {
          const space = m.indexOf(" ");
          if (space <= 0)
            throw new TokenizerLoadError(
              file,
              `metadata tokenizer.ggml.merges: bad merge ${JSON.stringify(m)}`,
            );
          return [m.slice(0, space), m.slice(space + 1)];
        }),
        ignore_merges: preset.ignoreMerges ?? false,
        byte_fallback: false,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        dropout: null,
      },
    };
  } else if (model === "llama") {
    const scores = metaArray<number>(
      meta,
      "tokenizer.ggml.scores",
      file,
      (v) => typeof v === "number",
    );
    if (scores.length !== n) {
      throw new TokenizerLoadError(
        file,
        `metadata tokenizer.ggml.scores: ${scores.length} entries for ${n} tokens`,
      );
    }
    // llama.cpp prepends a space to text at the start and after each special token.
    const addSpacePrefix = metaBool(meta, "tokenizer.ggml.add_space_prefix") ?? true;
    addBos = metaBool(meta, "tokenizer.ggml.add_bos_token") ?? true;
    const usable = types.map((t) => t !== GgufTokenType.Byte && t !== GgufTokenType.Unused);
    const normalizers: JsonObject[] = [];
    if (addSpacePrefix) normalizers.push({ type: "Prepend", prepend: "▁" });
    normalizers.push({ type: "Replace", pattern: { String: " " }, content: "▁" });
    const decoders: JsonObject[] = [
      { type: "Replace", pattern: { String: "▁" }, content: " " },
      { type: "ByteFallback" },
      { type: "Fuse" },
    ];
    if (addSpacePrefix) decoders.push({ type: "Strip", content: " ", start: 1, stop: 0 });
    tokenizerJson = {
      version: "1.0",
      added_tokens,
      normalizer: { type: "Sequence", normalizers },
      pre_tokenizer: null,
      post_processor: null,
      decoder: { type: "Sequence", decoders },
      model: {
        type: "BPE",
        vocab,
        merges: mergesFromScores(tokens, scores, usable),
        byte_fallback: true,
        fuse_unk: true,
        unk_token: unk,
        ignore_merges: false,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        dropout: null,
      },
    };
  } else {
    throw new TokenizerLoadError(
      file,
      `metadata tokenizer.ggml.model=${JSON.stringify(model)} is not supported; expected "gpt2" (BPE) or "llama" (SentencePiece)`,
    );
  }

  const addEos = metaBool(meta, "tokenizer.ggml.add_eos_token") ?? false;
  if (addBos && bos === null)
    throw new TokenizerLoadError(file, "model adds BOS but has no tokenizer.ggml.bos_token_id");
  tokenizerJson.post_processor = templateProcessor(addBos ? bos : null, addEos ? eos : null);

  const chatTemplate = meta["tokenizer.chat_template"];
  return {
    tokenizerJson,
    tokenizerConfig: {
      bos_token: bos,
      eos_token: eos,
      unk_token: unk,
      pad_token: pad,
      add_bos_token: addBos,
      add_eos_token: addEos,
      // llama.cpp's detokenizer does not collapse " ." into "." for the models we train.
      clean_up_tokenization_spaces: false,
      chat_template: typeof chatTemplate === "string" ? chatTemplate : null,
    },
  };
}

/** Build a tokenizer from already-parsed GGUF metadata. */
export function tokenizerFromGgufMetadata(meta: Metadata, file: string): Tokenizer {
  const { tokenizerJson, tokenizerConfig } = ggufTokenizerFiles(meta, file);
  let inner: HfTokenizer;
  try {
    inner = new HfTokenizer(tokenizerJson, tokenizerConfig);
  } catch (e) {
    throw new TokenizerLoadError(file, `could not build the tokenizer: ${(e as Error).message}`);
  }
  const specialTokens = new Map<string, number>();
  for (const t of tokenizerJson.added_tokens as {
    id: number;
    content: string;
    special: boolean;
  }[]) {
    if (t.special) specialTokens.set(t.content, t.id);
  }
  const bosToken = tokenizerConfig.bos_token as string | null;
  const eosToken = tokenizerConfig.eos_token as string | null;
  if (eosToken === null) {
    throw new TokenizerLoadError(
      file,
      "metadata tokenizer.ggml.eos_token_id missing: training must teach the model to stop",
    );
  }
  const tokens = meta["tokenizer.ggml.tokens"] as string[];
  return new WrappedTokenizer(inner, {
    source: file,
    checksum: tokenizerChecksum(tokenizerJson, tokenizerConfig),
    bos:
      bosToken === null
        ? null
        : { token: bosToken, id: metaNumber(meta, "tokenizer.ggml.bos_token_id") as number },
    eos: { token: eosToken, id: metaNumber(meta, "tokenizer.ggml.eos_token_id") as number },
    padId: metaNumber(meta, "tokenizer.ggml.padding_token_id"),
    specialTokens,
    vocabSize: tokens.length,
    chatTemplate: tokenizerConfig.chat_template as string | null,
  });
}

async function loadGgufTokenizer(file: string): Promise<Tokenizer> {
  let metadata: Metadata;
  try {
    // allowLocalFile reads the header from disk; tensor data is never loaded.
    const parsed = await gguf(path.resolve(file), { allowLocalFile: true });
    metadata = parsed.metadata as unknown as Metadata;
  } catch (e) {
    throw new TokenizerLoadError(file, `not a readable GGUF file: ${(e as Error).message}`);
  }
  return tokenizerFromGgufMetadata(metadata, file);
}

// ---------------------------------------------------------------------------------------------

/** The checksum of a tokenizer's two JSON documents (as parsed, so key order is the file's). */
function tokenizerChecksum(tokenizerJson: unknown, config: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify(tokenizerJson))
    .update("\0")
    .update(JSON.stringify(config))
    .digest("hex");
}

interface WrappedFields {
  source: string;
  checksum: string;
  bos: { token: string; id: number } | null;
  eos: { token: string; id: number };
  padId: number | null;
  specialTokens: Map<string, number>;
  vocabSize: number;
  chatTemplate: string | null;
}

class WrappedTokenizer implements Tokenizer {
  readonly bosId: number | null;
  readonly eosId: number;
  readonly bosToken: string | null;
  readonly eosToken: string;
  readonly padId: number | null;
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly vocabSize: number;
  readonly chatTemplate: string | null;
  readonly source: string;
  readonly checksum: string;

  constructor(
    private readonly inner: HfTokenizer,
    f: WrappedFields,
  ) {
    this.source = f.source;
    this.checksum = f.checksum;
    this.bosId = f.bos?.id ?? null;
    this.bosToken = f.bos?.token ?? null;
    this.eosId = f.eos.id;
    this.eosToken = f.eos.token;
    this.padId = f.padId;
    this.specialTokens = f.specialTokens;
    this.vocabSize = f.vocabSize;
    this.chatTemplate = f.chatTemplate;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (text.length === 0 && !options.addSpecialTokens) return [];
    return this.inner.encode(text, { add_special_tokens: options.addSpecialTokens ?? false }).ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    // The library rejects empty input; an empty sequence decodes to "".
    if (ids.length === 0) return "";
    return this.inner.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.inner.id_to_token(id);
  }
}
