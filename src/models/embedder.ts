/**
 * Sentence embeddings from a BERT-family encoder in a Hugging Face / sentence-transformers
 * directory, run natively (native/src/model_bert.cc):
 *
 *   const embedder = await loadEmbedder();          // the bundled all-MiniLM-L6-v2 (set-up step "embedder")
 *   const [a, b] = await embedder.embed(["aspirin inhibits COX-1", "COX-1 is blocked by aspirin"]);
 *   cosineSimilarity(a, b)                           // → ~0.9
 *   embedder.close();
 *
 * Everything model-specific comes from the directory, never from its name: config.json (shapes),
 * model.safetensors (weights), tokenizer.json (WordPiece, read by @huggingface/tokenizers),
 * 1_Pooling/config.json (mean or CLS pooling), modules.json (a Normalize module means unit-length
 * vectors) and sentence_bert_config.json (max_seq_length, the truncation length). Texts are sorted
 * by token count before batching so each batch pads to similar lengths.
 */
import { readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";

import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";

import type { NativeBertConfig, NativeBertHandle, WeightDtype } from "../native/binding.js";
import { loadNative } from "../native/loader.js";
import { fromRoot, projectPaths } from "../paths.js";

export type Pooling = "mean" | "cls";

export interface LoadEmbedderOptions {
  /** Model directory; default the bundled models/embeddings/all-MiniLM-L6-v2. */
  path?: string;
  /** Override the directory's pooling (1_Pooling/config.json). */
  pooling?: Pooling;
  /** Override L2 normalisation (a Normalize entry in modules.json). */
  normalize?: boolean;
  /** Override the truncation length in tokens, [CLS] and [SEP] included. */
  maxTokens?: number;
  /** Weight and activation type; default float32. */
  dtype?: WeightDtype;
  signal?: AbortSignal;
}

export interface EmbedProgress {
  type: "progress";
  /** Texts embedded so far. */
  done: number;
  total: number;
}

export interface EmbedOptions {
  /** Texts per forward pass; default 32. */
  batchSize?: number;
  signal?: AbortSignal;
  /** Called after each batch. */
  onProgress?: (p: EmbedProgress) => void;
}

export interface Embedder {
  /** The directory's name, e.g. "all-MiniLM-L6-v2". */
  readonly name: string;
  readonly directory: string;
  /** Length of every vector. */
  readonly dimensions: number;
  /** Longer texts are truncated to this many tokens ([CLS] and [SEP] included). */
  readonly maxTokens: number;
  readonly pooling: Pooling;
  readonly normalize: boolean;
  /** One vector per text, in the order given. Calls queue: one forward pass runs at a time. */
  embed(texts: readonly string[], options?: EmbedOptions): Promise<Float32Array[]>;
  /** The token ids the model sees for `text` (with [CLS]/[SEP], truncated to maxTokens). */
  tokenize(text: string): number[];
  close(): void;
}

/** A directory that cannot be used as an embedder; names the directory and the file at fault. */
export class EmbedderLoadError extends Error {
  constructor(
    readonly directory: string,
    readonly file: string | undefined,
    /** What is wrong, without the path. */
    readonly detail: string,
  ) {
    super(`${file ? join(directory, file) : directory}: ${detail}`);
    this.name = "EmbedderLoadError";
  }
}

export function defaultEmbedderPath(): string {
  return join(projectPaths.models(), "embeddings", "all-MiniLM-L6-v2");
}

/** Cosine of the angle between two vectors of equal length (0 when either is all zeros). */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new RangeError(`cosineSimilarity: lengths differ (${a.length} vs ${b.length})`);
  }
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

const SETUP_HINT = "run `node scripts/setup.mjs --only embedder` to install the bundled embedder";

type Json = Record<string, unknown>;

async function readJson(directory: string, file: string, required: boolean): Promise<Json | null> {
  let text: string;
  try {
    text = await readFile(join(directory, file), "utf8");
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new EmbedderLoadError(directory, file, `cannot read (${(e as Error).message})`);
  }
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" || v === null) throw new Error("not a JSON object or array");
    return v as Json;
  } catch (e) {
    throw new EmbedderLoadError(directory, file, `invalid JSON: ${(e as Error).message}`);
  }
}

function positiveInt(directory: string, config: Json, key: string, fallback?: number): number {
  const v = config[key] ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
    throw new EmbedderLoadError(
      directory,
      "config.json",
      `"${key}" must be a positive integer, got ${JSON.stringify(config[key])}`,
    );
  }
  return v;
}

/** config.json → the native config; refuses what our encoder does not compute. */
export function bertConfigFromJson(directory: string, config: Json): NativeBertConfig {
  const type = config.model_type;
  if (type !== "bert") {
    throw new EmbedderLoadError(
      directory,
      "config.json",
      `model_type ${JSON.stringify(type)} is not supported (expected "bert": BERT, MiniLM, BGE)`,
    );
  }
  const positions = config.position_embedding_type ?? "absolute";
  if (positions !== "absolute") {
    throw new EmbedderLoadError(
      directory,
      "config.json",
      `position_embedding_type ${JSON.stringify(positions)} is not supported (expected "absolute")`,
    );
  }
  const act = config.hidden_act ?? "gelu";
  if (act !== "gelu" && act !== "gelu_new" && act !== "gelu_pytorch_tanh") {
    throw new EmbedderLoadError(
      directory,
      "config.json",
      `hidden_act ${JSON.stringify(act)} is not supported (expected gelu, gelu_new or gelu_pytorch_tanh)`,
    );
  }
  const eps = config.layer_norm_eps ?? 1e-12;
  if (typeof eps !== "number" || !(eps > 0)) {
    throw new EmbedderLoadError(directory, "config.json", `"layer_norm_eps" must be > 0`);
  }
  return {
    vocabSize: positiveInt(directory, config, "vocab_size"),
    hiddenSize: positiveInt(directory, config, "hidden_size"),
    intermediateSize: positiveInt(directory, config, "intermediate_size"),
    numLayers: positiveInt(directory, config, "num_hidden_layers"),
    numHeads: positiveInt(directory, config, "num_attention_heads"),
    maxPositionEmbeddings: positiveInt(directory, config, "max_position_embeddings", 512),
    typeVocabSize: positiveInt(directory, config, "type_vocab_size", 2),
    layerNormEps: eps,
    hiddenAct: act,
  };
}

interface SentenceTransformerSettings {
  pooling?: Pooling;
  normalize: boolean;
  maxSeqLength?: number;
}

/** What sentence-transformers' own files say about pooling, normalisation and length. */
async function readSentenceTransformerSettings(
  directory: string,
): Promise<SentenceTransformerSettings> {
  const modules = await readJson(directory, "modules.json", false);
  const list = Array.isArray(modules) ? (modules as Json[]) : [];
  const byType = (suffix: string) =>
    list.find((m) => typeof m.type === "string" && m.type.endsWith(suffix));
  const normalize = byType(".Normalize") !== undefined;
  const poolingPath = byType(".Pooling")?.path;
  const poolingFile = join(typeof poolingPath === "string" ? poolingPath : "1_Pooling", "config.json");
  const poolingConfig = await readJson(directory, poolingFile, false);
  let pooling: Pooling | undefined;
  if (poolingConfig) {
    const modes = ["cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "lasttoken"]
      .filter((m) => poolingConfig[`pooling_mode_${m}`] === true);
    const mode = (poolingConfig.pooling_mode as string | undefined) ?? modes[0];
    if (mode === undefined) {
      throw new EmbedderLoadError(directory, poolingFile, "no pooling mode is set to true");
    }
    if (mode === "cls" || mode === "cls_token") pooling = "cls";
    else if (mode === "mean" || mode === "mean_tokens") pooling = "mean";
    else
      throw new EmbedderLoadError(
        directory,
        poolingFile,
        `pooling ${JSON.stringify(modes.length ? modes.join("+") : mode)} is not supported (expected cls_token or mean_tokens)`,
      );
    if (modes.length > 1) {
      throw new EmbedderLoadError(
        directory,
        poolingFile,
        `several pooling modes at once (${modes.join(", ")}) are not supported`,
      );
    }
  }
  const sbert = await readJson(directory, "sentence_bert_config.json", false);
  const maxSeqLength =
    typeof sbert?.max_seq_length === "number" ? sbert.max_seq_length : undefined;
  return { pooling, normalize, maxSeqLength };
}

async function requireFile(directory: string, file: string, hint: string): Promise<string> {
  const p = join(directory, file);
  const info = await stat(p).catch(() => null);
  if (!info?.isFile()) throw new EmbedderLoadError(directory, file, `missing (${hint})`);
  return p;
}

/** Load an embedder from a model directory (default: the bundled all-MiniLM-L6-v2). */
export async function loadEmbedder(options: LoadEmbedderOptions = {}): Promise<Embedder> {
  if (options.path !== undefined) return loadEmbedderFrom(fromRoot(options.path), options, false);
  const directory = defaultEmbedderPath();
  try {
    return await loadEmbedderFrom(directory, options, true);
  } catch (e) {
    // A damaged or partial bundled copy: the set-up step restores it.
    if (e instanceof EmbedderLoadError && !e.message.includes(SETUP_HINT)) {
      throw new EmbedderLoadError(directory, e.file, `${e.detail}; ${SETUP_HINT}`);
    }
    throw e;
  }
}

async function loadEmbedderFrom(
  directory: string,
  options: LoadEmbedderOptions,
  isDefault: boolean,
): Promise<Embedder> {
  const dirInfo = await stat(directory).catch(() => null);
  if (!dirInfo?.isDirectory()) {
    throw new EmbedderLoadError(
      directory,
      undefined,
      isDefault
        ? `the bundled embedder is not installed; ${SETUP_HINT}`
        : "not a directory (expected a Hugging Face model directory with config.json, model.safetensors and tokenizer.json)",
    );
  }
  options.signal?.throwIfAborted();
  const config = bertConfigFromJson(
    directory,
    (await readJson(directory, "config.json", true)) as Json,
  );
  const weights = await requireFile(
    directory,
    "model.safetensors",
    "only safetensors weights are read; convert pytorch_model.bin with transformers' save_pretrained(safe_serialization=True)",
  );
  const tokenizerJson = await readJson(directory, "tokenizer.json", false);
  if (!tokenizerJson) {
    throw new EmbedderLoadError(directory, "tokenizer.json", "missing (a fast tokenizer file is needed)");
  }
  const tokenizerConfig = (await readJson(directory, "tokenizer_config.json", false)) ?? {};
  const st = await readSentenceTransformerSettings(directory);
  options.signal?.throwIfAborted();

  const maxPositions = config.maxPositionEmbeddings ?? 512;
  const modelMax = tokenizerConfig.model_max_length;
  const maxTokens = Math.min(
    options.maxTokens ??
      st.maxSeqLength ??
      (typeof modelMax === "number" && modelMax < 1e6 ? modelMax : maxPositions),
    maxPositions,
  );
  if (!Number.isInteger(maxTokens) || maxTokens < 2) {
    throw new EmbedderLoadError(directory, undefined, `maxTokens must be an integer ≥ 2, got ${maxTokens}`);
  }

  let tokenizer: HfTokenizer;
  try {
    tokenizer = new HfTokenizer(tokenizerJson, tokenizerConfig);
  } catch (e) {
    throw new EmbedderLoadError(directory, "tokenizer.json", `cannot build the tokenizer: ${(e as Error).message}`);
  }
  const padId = tokenizer.token_to_id(String(tokenizerConfig.pad_token ?? "[PAD]")) ?? 0;

  const handle: NativeBertHandle = loadNative().loadBert(config, weights, {
    dtype: options.dtype ?? "float32",
    source: directory,
  });
  return new BertEmbedder(directory, handle, tokenizer, padId, {
    dimensions: config.hiddenSize,
    maxTokens,
    pooling: options.pooling ?? st.pooling ?? "mean",
    normalize: options.normalize ?? st.normalize,
  });
}

/**
 * The next batch of length-sorted (longest first) texts: up to `batchSize`, and no more once padding
 * would fill over half of the batch — a 256-token abstract then does not make 31 short titles pad
 * to 256 tokens too.
 */
function nextBatch<T extends { ids: number[] }>(sorted: T[], start: number, batchSize: number): T[] {
  const width = sorted[start]!.ids.length;
  let real = 0;
  let end = start;
  while (end < sorted.length && end - start < batchSize) {
    const len = sorted[end]!.ids.length;
    if (end > start && 2 * (real + len) < width * (end - start + 1)) break;
    real += len;
    end++;
  }
  return sorted.slice(start, end);
}

class BertEmbedder implements Embedder {
  readonly name: string;
  readonly dimensions: number;
  readonly maxTokens: number;
  readonly pooling: Pooling;
  readonly normalize: boolean;
  // Native encodes run one at a time per handle; later calls wait here.
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    readonly directory: string,
    private readonly handle: NativeBertHandle,
    private readonly tokenizer: HfTokenizer,
    private readonly padId: number,
    s: { dimensions: number; maxTokens: number; pooling: Pooling; normalize: boolean },
  ) {
    this.name = basename(directory);
    this.dimensions = s.dimensions;
    this.maxTokens = s.maxTokens;
    this.pooling = s.pooling;
    this.normalize = s.normalize;
  }

  tokenize(text: string): number[] {
    const ids = this.tokenizer.encode(text, { add_special_tokens: true }).ids;
    // Truncate the text, keep the closing [SEP] (what the reference tokenizer's truncation does).
    return ids.length <= this.maxTokens
      ? ids
      : [...ids.slice(0, this.maxTokens - 1), ids[ids.length - 1]];
  }

  embed(texts: readonly string[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    const run = this.queue.then(() => this.embedNow(texts, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async embedNow(texts: readonly string[], o: EmbedOptions): Promise<Float32Array[]> {
    if (this.closed) throw new Error(`embedder ${this.name} is closed`);
    const batchSize = o.batchSize ?? 32;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    }
    texts.forEach((t, i) => {
      if (typeof t !== "string") throw new TypeError(`embed: texts[${i}] is not a string`);
    });
    o.signal?.throwIfAborted();
    // Longest first: similar lengths share a batch, so little compute goes to padding.
    const order = texts
      .map((t, index) => ({ index, ids: this.tokenize(t) }))
      .sort((a, b) => b.ids.length - a.ids.length || a.index - b.index);
    const out: Float32Array[] = new Array<Float32Array>(texts.length);
    const D = this.dimensions;
    for (let start = 0; start < order.length; ) {
      o.signal?.throwIfAborted();
      const rows = nextBatch(order, start, batchSize);
      start += rows.length;
      const L = rows[0]!.ids.length;
      const flat = new Int32Array(rows.length * L).fill(this.padId);
      const mask = new Uint8Array(rows.length * L);
      rows.forEach((r, b) => {
        flat.set(r.ids, b * L);
        mask.fill(1, b * L, b * L + r.ids.length);
      });
      const { embeddings } = await this.handle.encode({
        ids: flat,
        mask,
        shape: [rows.length, L],
        pooling: this.pooling,
        normalize: this.normalize,
      });
      rows.forEach((r, b) => {
        out[r.index] = embeddings.slice(b * D, (b + 1) * D);
      });
      o.onProgress?.({ type: "progress", done: start, total: texts.length });
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Let a running encode finish before the weights go.
    void this.queue.then(() => this.handle.dispose());
  }
}
