/**
 * The typed face of a native model: load a GGUF file or a Hugging Face directory, add LoRA (or
 * DoRA) adapters, generate, score, and read/write adapters in mlx-lm and PEFT layouts.
 *
 *   const model = await Model.load("models/base/SmolLM2-135M-Instruct.Q4_1.gguf");
 *   model.addAdapters({ rank: 8, alpha: 16 });
 *   const { tokens } = await model.generate(promptIds, { maxTokens: 64 });
 *
 * Tensors move through native/ (src/native/binding.ts); JSON configs are read and written here.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { writeFileAtomicSync } from "../fs-atomic.js";
import { basename, join } from "node:path";
import type {
  AdapterFileFormat,
  LoraModule,
  NativeGenerateBatchResult,
  NativeGenerateResult,
  NativeModelConfig,
  NativeModelHandle,
  NativeScoreResult,
  ResolvedModelConfig,
  WeightDtype,
} from "../native/binding.js";
import { loadNative } from "../native/loader.js";
import { LORA_MODULES } from "./modules.js";

/** Short names accepted for LoRA targets, as in PEFT's target_modules. */
const SHORT_KEYS: Record<string, LoraModule> = {
  q: "self_attn.q_proj",
  k: "self_attn.k_proj",
  v: "self_attn.v_proj",
  o: "self_attn.o_proj",
  gate: "mlp.gate_proj",
  up: "mlp.up_proj",
  down: "mlp.down_proj",
  q_proj: "self_attn.q_proj",
  k_proj: "self_attn.k_proj",
  v_proj: "self_attn.v_proj",
  o_proj: "self_attn.o_proj",
  gate_proj: "mlp.gate_proj",
  up_proj: "mlp.up_proj",
  down_proj: "mlp.down_proj",
  // BioGPT's names (PEFT target_modules and its module paths): out_proj is the attention output,
  // fc1 / fc2 the MLP's up and down projections.
  out_proj: "self_attn.o_proj",
  "self_attn.out_proj": "self_attn.o_proj",
  fc1: "mlp.up_proj",
  fc2: "mlp.down_proj",
};

/** BioGPT's module path for each projection it has; it has no gate (its MLP is fc1 → GELU → fc2). */
const BIOGPT_MODULES: Partial<Record<LoraModule, string>> = {
  "self_attn.q_proj": "self_attn.q_proj",
  "self_attn.k_proj": "self_attn.k_proj",
  "self_attn.v_proj": "self_attn.v_proj",
  "self_attn.o_proj": "self_attn.out_proj",
  "mlp.up_proj": "fc1",
  "mlp.down_proj": "fc2",
};

/** The LoRA targets an architecture has: all seven for the llama family, six for BioGPT. */
export function loraModulesOf(architecture: string): LoraModule[] {
  return architecture === "biogpt"
    ? (Object.keys(BIOGPT_MODULES) as LoraModule[])
    : [...LORA_MODULES];
}

/** A target as the architecture's own model names it (adapter_config.json keys, PEFT names). */
function hfModuleName(target: LoraModule, architecture: string): string {
  return architecture === "biogpt" ? BIOGPT_MODULES[target]! : target;
}

export function loraModule(name: string): LoraModule {
  const full =
    SHORT_KEYS[name] ?? ((LORA_MODULES as readonly string[]).includes(name) ? name : undefined);
  if (!full) {
    throw new RangeError(
      `unknown LoRA target "${name}" (use q, k, v, o, gate, up, down; BioGPT: out_proj, fc1, fc2)`,
    );
  }
  return full as LoraModule;
}

export interface LoraOptions {
  rank: number;
  /** Default 2·rank. scale = alpha / rank, or alpha / sqrt(rank) with rsLora. */
  alpha?: number;
  rsLora?: boolean;
  dropout?: number;
  /**
   * Short (q, k, v, o, gate, up, down) or full (self_attn.q_proj) names; default all seven. As in
   * PEFT, targets the architecture lacks are skipped (BioGPT has no gate_proj) unless none is left.
   */
  targets?: string[];
  /** Adapt the last N blocks; default all. */
  numLayers?: number;
  seed?: number;
  /** DoRA (weight-decomposed LoRA): also train a per-output magnitude. Default false. */
  dora?: boolean;
}

/** What adapter_config.json records, in our terms. */
export interface AdapterSpec {
  rank: number;
  alpha: number;
  scale: number;
  rsLora: boolean;
  dropout: number;
  targets: LoraModule[];
  numLayers: number;
  dora: boolean;
}

export interface LoadOptions {
  dtype?: WeightDtype;
  /** QLoRA: quantize a float base at load (a pre-quantized GGUF is used as is). */
  quantize?: { bits?: 2 | 3 | 4 | 6 | 8; groupSize?: 32 | 64 | 128 };
}

export interface GenerateOptions {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
  repetitionContextSize?: number;
  stopTokens?: number[];
  seed?: number;
  /** Streams each token as it is sampled. */
  onToken?: (token: number, index: number) => void;
  /**
   * Called after each token with all generated tokens; returning true stops generation (the hook
   * for stop *strings*: decode with the tokenizer and test). Tokens already in flight may follow.
   */
  shouldStop?: (tokens: readonly number[]) => boolean;
}

export interface GenerateResult {
  tokens: number[];
  stopReason: "stop" | "length" | "cancelled" | "stop-string";
  tokensPerSecond: number;
  promptTokensPerSecond: number;
}

export class AdapterFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "AdapterFileError";
  }
}

/** What a damaged safetensors file was, for the remedy its error names. */
export type SafetensorsRole = "model" | "adapter" | "checkpoint";

const SAFETENSORS_REMEDY: Record<SafetensorsRole, string> = {
  model:
    "download the model again (a partial download is the usual cause), or re-export it with the tool that wrote it (transformers save_pretrained, mlx-lm convert, medtune merge)",
  adapter:
    "copy or download the adapters again, or re-export them with the tool that wrote them (medtune train writes models/lora_adapters/<run>/; mlx-lm adapters.safetensors; PEFT adapter_model.safetensors)",
  checkpoint:
    "delete this step's *_adapters.safetensors and *_optimizer.safetensors from the checkpoint folder to resume from the step before, or rerun with --fresh",
};

/**
 * Adds the remedy to the native error about a truncated or corrupt safetensors file (the addon
 * says what is wrong and where; what to do depends on what the file was). Other errors pass as is.
 */
export function withSafetensorsRemedy(e: unknown, role: SafetensorsRole): unknown {
  if (!(e instanceof Error) || !/(corrupt|truncated) safetensors/.test(e.message)) return e;
  if (e.message.includes("\n  remedy:")) return e;
  e.message = `${e.message}\n  remedy: ${SAFETENSORS_REMEDY[role]}`;
  return e;
}

/** Maps a Hugging Face config.json to the native config; throws naming the unsupported field. */
export function hfConfigToNative(
  json: Record<string, unknown>,
  file = "config.json",
): NativeModelConfig {
  const modelType = String(json.model_type ?? "");
  if (
    modelType !== "llama" &&
    modelType !== "mistral" &&
    modelType !== "qwen2" &&
    modelType !== "biogpt"
  ) {
    throw new RangeError(
      `${file}: model_type "${modelType}" is not supported (llama, mistral, qwen2, biogpt)`,
    );
  }
  const num = (k: string, d?: number): number => {
    const v = json[k];
    if (typeof v === "number") return v;
    if (d !== undefined && (v === undefined || v === null)) return d;
    throw new RangeError(`${file}: "${k}" must be a number`);
  };
  const heads = num("num_attention_heads");
  const hidden = num("hidden_size");
  if (modelType === "biogpt") {
    // GPT-2-style: learned positions, LayerNorm, no GQA. HF builds its LayerNorms without
    // config.layer_norm_eps (PyTorch's 1e-5 always), and ties the LM head unless told otherwise.
    const act = String(json.hidden_act ?? "gelu");
    if (act !== "gelu" && act !== "gelu_new" && act !== "gelu_pytorch_tanh") {
      throw new RangeError(
        `${file}: hidden_act "${act}" is not supported for biogpt (gelu, gelu_new, gelu_pytorch_tanh)`,
      );
    }
    return {
      architecture: "biogpt",
      vocabSize: num("vocab_size"),
      hiddenSize: hidden,
      intermediateSize: num("intermediate_size"),
      numLayers: num("num_hidden_layers"),
      numHeads: heads,
      numKvHeads: heads,
      headDim: hidden / heads,
      rmsNormEps: 1e-5,
      tieWordEmbeddings: json.tie_word_embeddings !== false,
      attentionBias: true,
      slidingWindow: 0,
      maxPositionEmbeddings: num("max_position_embeddings", 1024),
      hiddenAct: act,
      scaleEmbedding: json.scale_embedding !== false,
    };
  }
  const cfg: NativeModelConfig = {
    architecture: modelType,
    vocabSize: num("vocab_size"),
    hiddenSize: hidden,
    intermediateSize: num("intermediate_size"),
    numLayers: num("num_hidden_layers"),
    numHeads: heads,
    numKvHeads: num("num_key_value_heads", heads),
    headDim: num("head_dim", hidden / heads),
    rmsNormEps: num("rms_norm_eps", 1e-5),
    ropeTheta: num("rope_theta", 10000),
    tieWordEmbeddings: json.tie_word_embeddings === true,
    attentionBias: modelType === "qwen2" || json.attention_bias === true,
    slidingWindow:
      modelType === "mistral" && typeof json.sliding_window === "number" ? json.sliding_window : 0,
    maxPositionEmbeddings: num("max_position_embeddings", 2048),
  };
  const rs = json.rope_scaling as Record<string, unknown> | null | undefined;
  if (rs) {
    const type = String(rs.rope_type ?? rs.type ?? "none");
    if (type !== "linear" && type !== "llama3" && type !== "default") {
      throw new RangeError(
        `${file}: rope_scaling type "${type}" is not supported (linear, llama3)`,
      );
    }
    if (type !== "default") {
      cfg.ropeScaling = {
        type,
        factor: Number(rs.factor ?? 1),
        lowFreqFactor: Number(rs.low_freq_factor ?? 1),
        highFreqFactor: Number(rs.high_freq_factor ?? 4),
        originalMaxPositionEmbeddings: Number(rs.original_max_position_embeddings ?? 8192),
      };
    }
  }
  return cfg;
}

/** The safetensors files of a HF directory: model.safetensors or the shards of its index. */
export function hfWeightFiles(dir: string): string[] {
  const single = join(dir, "model.safetensors");
  if (existsSync(single)) return [single];
  const index = join(dir, "model.safetensors.index.json");
  if (!existsSync(index)) {
    throw new Error(`${dir}: no model.safetensors or model.safetensors.index.json`);
  }
  let map: Record<string, string>;
  try {
    map = (JSON.parse(readFileSync(index, "utf8")) as { weight_map: Record<string, string> })
      .weight_map;
  } catch (e) {
    throw new Error(`${index}: not a valid safetensors index (${(e as Error).message})`);
  }
  if (!map || typeof map !== "object") throw new Error(`${index}: has no "weight_map"`);
  return [...new Set(Object.values(map))].sort().map((f) => join(dir, f));
}

function readJson(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new AdapterFileError(file, `cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new AdapterFileError(file, `invalid JSON (${(e as Error).message})`);
  }
}

export class Model {
  private spec: AdapterSpec | undefined;

  private constructor(
    readonly native: NativeModelHandle,
    /** The GGUF file or HF directory the base came from. */
    readonly source: string,
  ) {}

  /** A `.gguf` file or a Hugging Face directory (config.json + safetensors). */
  static async load(source: string, opts: LoadOptions = {}): Promise<Model> {
    const mlx = loadNative();
    const isDir = existsSync(source) && statSync(source).isDirectory();
    let native: NativeModelHandle;
    if (isDir) {
      const cfgFile = join(source, "config.json");
      const cfg = hfConfigToNative(readJson(cfgFile), cfgFile);
      try {
        native = mlx.loadHf(cfg, hfWeightFiles(source), { dtype: opts.dtype, source });
      } catch (e) {
        throw withSafetensorsRemedy(e, "model");
      }
    } else {
      native = mlx.loadGguf(source, { dtype: opts.dtype });
    }
    if (opts.quantize) native.quantize(opts.quantize);
    return new Model(native, source);
  }

  /** A model with random weights (tests, benchmarks). */
  static random(config: NativeModelConfig, seed: number, opts: LoadOptions = {}): Model {
    const native = loadNative().createRandomModel(config, seed, { dtype: opts.dtype });
    if (opts.quantize) native.quantize(opts.quantize);
    return new Model(native, `random:${seed}`);
  }

  get config(): ResolvedModelConfig {
    return this.native.config;
  }

  /** GGUF loads: per tensor type, kept quantized or dequantized (see NativeModelHandle). */
  get loadNotes(): string[] {
    return this.native.loadNotes;
  }

  get adapters(): AdapterSpec | undefined {
    return this.spec;
  }

  addAdapters(opts: LoraOptions): AdapterSpec {
    const alpha = opts.alpha ?? 2 * opts.rank;
    const rsLora = opts.rsLora ?? false;
    const available = loraModulesOf(this.config.architecture);
    const wanted = (opts.targets ?? LORA_MODULES).map(loraModule);
    const targets = wanted.filter((t) => available.includes(t));
    if (targets.length === 0) {
      throw new RangeError(
        `none of the LoRA targets ${wanted.join(", ")} exists in this ${this.config.architecture} model (it has ${available.join(", ")})`,
      );
    }
    const spec: AdapterSpec = {
      rank: opts.rank,
      alpha,
      rsLora,
      scale: rsLora ? alpha / Math.sqrt(opts.rank) : alpha / opts.rank,
      dropout: opts.dropout ?? 0,
      targets,
      numLayers: opts.numLayers ?? -1,
      dora: opts.dora ?? false,
    };
    this.native.addAdapters({
      rank: spec.rank,
      scale: spec.scale,
      dropout: spec.dropout,
      keys: spec.targets,
      numLayers: spec.numLayers,
      seed: opts.seed ?? 0,
      dora: spec.dora,
    });
    this.spec = spec;
    return spec;
  }

  /** Base and fine-tuned answers from one loaded model. */
  setAdaptersEnabled(enabled: boolean): void {
    this.native.setAdaptersEnabled(enabled);
  }

  forward(ids: Int32Array, shape: [number, number]): Float32Array {
    return this.native.forward(ids, shape);
  }

  score(
    items: { prompt: ArrayLike<number>; completion: ArrayLike<number> }[],
  ): NativeScoreResult[] {
    return this.native.score(
      items.map((i) => ({
        prompt: Int32Array.from(i.prompt),
        completion: Int32Array.from(i.completion),
      })),
    );
  }

  async generate(prompt: ArrayLike<number>, opts: GenerateOptions = {}): Promise<GenerateResult> {
    const seen: number[] = [];
    let stoppedByHook = false;
    const res: NativeGenerateResult = await this.native.generate(
      {
        prompt: Int32Array.from(prompt),
        maxTokens: opts.maxTokens,
        temperature: opts.temperature,
        topP: opts.topP,
        topK: opts.topK,
        repetitionPenalty: opts.repetitionPenalty,
        repetitionContextSize: opts.repetitionContextSize,
        stopTokens: opts.stopTokens,
        seed: opts.seed,
      },
      (e) => {
        if (stoppedByHook) return;
        seen.push(e.token);
        opts.onToken?.(e.token, e.index);
        if (opts.shouldStop?.(seen)) {
          stoppedByHook = true;
          this.native.cancel();
        }
      },
    );
    // With a stop hook, the answer ends at the token that satisfied it.
    const tokens = stoppedByHook ? seen : Array.from(res.tokens);
    return {
      tokens,
      stopReason: stoppedByHook ? "stop-string" : res.stopReason,
      tokensPerSecond: res.tokensPerSecond,
      promptTokensPerSecond: res.promptTokensPerSecond,
    };
  }

  /**
   * Many prompts decoded together in one left-padded batch, each with its own `maxTokens` and
   * `stopTokens` (defaulting to the shared ones); greedy output equals generate() per prompt.
   * Aborting `signal` ends every unfinished sequence with stopReason "cancelled".
   */
  async generateBatch(
    prompts: { prompt: ArrayLike<number>; maxTokens?: number; stopTokens?: number[] }[],
    opts: Omit<GenerateOptions, "onToken" | "shouldStop"> & {
      onToken?: (sequence: number, token: number, index: number) => void;
      signal?: AbortSignal;
    } = {},
  ): Promise<NativeGenerateBatchResult> {
    const { onToken, signal, ...sampling } = opts;
    return this.withAbort(signal, () =>
      this.native.generateBatch(
        {
          ...sampling,
          prompts: prompts.map((p) => ({ ...p, prompt: Int32Array.from(p.prompt) })),
        },
        onToken && ((e) => onToken(e.sequence, e.token, e.index)),
      ),
    );
  }

  /**
   * Log-probabilities of each option's tokens after `prompt`: the prompt's KV cache is computed
   * once and reused for every option; only per-token log-probs and their sums come back. Rejects
   * with the signal's reason when aborted.
   */
  async scoreOptions(
    prompt: ArrayLike<number>,
    options: ArrayLike<number>[],
    opts: {
      signal?: AbortSignal;
      batchSize?: number;
      onProgress?: (scored: number, total: number) => void;
    } = {},
  ): Promise<NativeScoreResult[]> {
    const res = await this.withAbort(opts.signal, () =>
      this.native.scoreOptions(
        {
          prompt: Int32Array.from(prompt),
          options: options.map((o) => Int32Array.from(o)),
          batchSize: opts.batchSize,
        },
        opts.onProgress && ((e) => opts.onProgress!(e.scored, e.total)),
      ),
    );
    if (res.stopReason === "cancelled") {
      throw opts.signal?.reason ?? new DOMException("scoring was cancelled", "AbortError");
    }
    return res.results;
  }

  /** Runs a native job with `signal` wired to cancel() for its duration. */
  private async withAbort<T>(signal: AbortSignal | undefined, job: () => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
    const onAbort = () => this.native.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await job();
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Writes adapters into `dir`: mlx-lm (adapters.safetensors + adapter_config.json) or PEFT
   * (adapter_model.safetensors + adapter_config.json). Both files are written atomically. DoRA
   * adapters are mlx-lm's fine_tune_type "dora" (key `.m`) or PEFT's use_dora (key
   * `.lora_magnitude_vector`).
   */
  saveAdapters(dir: string, format: AdapterFileFormat = "mlx"): void {
    const spec = this.requireSpec();
    const tensorFile = join(
      dir,
      format === "mlx" ? "adapters.safetensors" : "adapter_model.safetensors",
    );
    this.native.saveAdapters(tensorFile, format);
    writeFileAtomicSync(
      join(dir, "adapter_config.json"),
      JSON.stringify(adapterConfigJson(spec, format, this.config, this.source), null, 2) + "\n",
    );
  }

  /** Reads adapters from `dir` (format detected from the files present), replacing any current ones. */
  loadAdapters(dir: string): AdapterSpec {
    const cfgFile = join(dir, "adapter_config.json");
    const json = readJson(cfgFile);
    const peft = existsSync(join(dir, "adapter_model.safetensors"));
    const spec = peft
      ? parsePeftConfig(json, cfgFile, this.config.numLayers)
      : parseMlxConfig(json, cfgFile, this.config.numLayers);
    const tensorFile = join(dir, peft ? "adapter_model.safetensors" : "adapters.safetensors");
    this.native.addAdapters({
      rank: spec.rank,
      scale: spec.scale,
      dropout: spec.dropout,
      keys: spec.targets,
      numLayers: spec.numLayers,
      dora: spec.dora,
    });
    try {
      this.native.loadAdapters(tensorFile, peft ? "peft" : "mlx");
    } catch (e) {
      this.native.removeAdapters();
      this.spec = undefined;
      throw withSafetensorsRemedy(e, "adapter");
    }
    this.spec = spec;
    return spec;
  }

  /** Loads just the tensors of a step checkpoint into the current adapters (resume). */
  loadAdapterWeights(file: string, format: AdapterFileFormat = "mlx"): void {
    this.requireSpec();
    try {
      this.native.loadAdapters(file, format);
    } catch (e) {
      throw withSafetensorsRemedy(e, "checkpoint");
    }
  }

  dispose(): void {
    this.native.dispose();
  }

  private requireSpec(): AdapterSpec {
    if (!this.spec) throw new Error("the model has no adapters (call addAdapters or loadAdapters)");
    return this.spec;
  }
}

/** adapter_config.json for either layout. */
export function adapterConfigJson(
  spec: AdapterSpec,
  format: AdapterFileFormat,
  config: ResolvedModelConfig,
  source: string,
): Record<string, unknown> {
  const numLayers = spec.numLayers < 0 ? config.numLayers : spec.numLayers;
  if (format === "mlx") {
    return {
      fine_tune_type: spec.dora ? "dora" : "lora",
      num_layers: numLayers,
      lora_parameters: {
        rank: spec.rank,
        scale: spec.scale,
        dropout: spec.dropout,
        keys: spec.targets.map((t) => hfModuleName(t, config.architecture)),
      },
      // Ours, ignored by mlx-lm: restores alpha / rsLoRA exactly.
      medtune: { alpha: spec.alpha, rs_lora: spec.rsLora, base_model: basename(source) },
    };
  }
  const first = config.numLayers - numLayers;
  return {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: source,
    r: spec.rank,
    lora_alpha: spec.alpha,
    lora_dropout: spec.dropout,
    use_rslora: spec.rsLora,
    use_dora: spec.dora,
    target_modules: spec.targets.map((t) => hfModuleName(t, config.architecture).split(".").pop()),
    layers_to_transform:
      numLayers === config.numLayers
        ? null
        : Array.from({ length: numLayers }, (_, i) => first + i),
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
  };
}

function parseMlxConfig(
  json: Record<string, unknown>,
  file: string,
  modelLayers: number,
): AdapterSpec {
  const type = json.fine_tune_type ?? "lora";
  if (type !== "lora" && type !== "dora") {
    throw new AdapterFileError(
      file,
      `fine_tune_type "${String(json.fine_tune_type)}" is not supported (lora, dora)`,
    );
  }
  const lp = json.lora_parameters as Record<string, unknown> | undefined;
  if (!lp || typeof lp.rank !== "number" || typeof lp.scale !== "number") {
    throw new AdapterFileError(
      file,
      "lora_parameters.rank and lora_parameters.scale must be numbers",
    );
  }
  const numLayers = typeof json.num_layers === "number" ? json.num_layers : -1;
  if (numLayers > modelLayers) {
    throw new AdapterFileError(
      file,
      `num_layers ${numLayers} exceeds the model's ${modelLayers} layers (another base model?)`,
    );
  }
  const extra = (json.medtune ?? {}) as Record<string, unknown>;
  const keys = Array.isArray(lp.keys) ? (lp.keys as string[]) : [...LORA_MODULES];
  return {
    rank: lp.rank,
    scale: lp.scale,
    alpha: typeof extra.alpha === "number" ? extra.alpha : lp.scale * lp.rank,
    rsLora: extra.rs_lora === true,
    dropout: typeof lp.dropout === "number" ? lp.dropout : 0,
    targets: keys.map(loraModule),
    numLayers: numLayers >= modelLayers ? -1 : numLayers,
    dora: type === "dora",
  };
}

function parsePeftConfig(
  json: Record<string, unknown>,
  file: string,
  modelLayers: number,
): AdapterSpec {
  if (json.peft_type !== "LORA") {
    throw new AdapterFileError(
      file,
      `peft_type "${String(json.peft_type)}" is not supported (LORA)`,
    );
  }
  if (typeof json.r !== "number") throw new AdapterFileError(file, `"r" must be a number`);
  const alpha = typeof json.lora_alpha === "number" ? json.lora_alpha : json.r;
  const rsLora = json.use_rslora === true;
  const tm = json.target_modules;
  if (!Array.isArray(tm)) throw new AdapterFileError(file, `"target_modules" must be a list`);
  const layers = json.layers_to_transform;
  let numLayers = -1;
  if (Array.isArray(layers) && layers.length > 0) {
    const sorted = [...(layers as number[])].sort((a, b) => a - b);
    const last = sorted[sorted.length - 1]!;
    if (last !== modelLayers - 1 || sorted.some((l, i) => l !== sorted[0]! + i)) {
      throw new AdapterFileError(file, "layers_to_transform must be the model's last N layers");
    }
    numLayers = sorted.length;
  }
  return {
    rank: json.r,
    alpha,
    rsLora,
    scale: rsLora ? alpha / Math.sqrt(json.r) : alpha / json.r,
    dropout: typeof json.lora_dropout === "number" ? json.lora_dropout : 0,
    targets: (tm as string[]).map(loraModule),
    numLayers,
    dora: json.use_dora === true,
  };
}
