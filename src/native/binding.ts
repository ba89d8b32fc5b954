/**
 * The whole native surface of medtune_native.node, declared in one place. The C++ side registers
 * these in native/src/addon.cc; keep the two in step (test/native/smoke.test.ts checks that every
 * declared function exists on the loaded module).
 */

import type { LORA_MODULES } from "../train/modules.js";

export interface MemoryStats {
  /** Bytes held by live MLX arrays. */
  activeBytes: number;
  /** High-water mark of activeBytes since start or the last resetPeakMemory(). */
  peakBytes: number;
  /** Freed buffers MLX keeps for reuse (not returned to the OS). */
  cacheBytes: number;
}

export interface DeviceInfo {
  type: "cpu" | "gpu";
  index: number;
}

/** A handle on an MLX array owned by JS until dispose() (or garbage collection). */
export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: string;
  readonly nbytes: number;
  toFloat32Array(): Float32Array;
  dispose(): void;
}

/** Hyperparameters of a llama-family model, as the native side holds them (camelCase HF config). */
export interface NativeModelConfig {
  architecture: "llama" | "mistral" | "qwen2" | "biogpt";
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  /** Defaults to numHeads (no GQA). */
  numKvHeads?: number;
  /** Defaults to hiddenSize / numHeads. */
  headDim?: number;
  rmsNormEps?: number;
  ropeTheta?: number;
  tieWordEmbeddings?: boolean;
  /** q/k/v biases (qwen2); defaults to architecture === "qwen2". */
  attentionBias?: boolean;
  /** Mistral sliding-window attention; 0 = full causal. */
  slidingWindow?: number;
  maxPositionEmbeddings?: number;
  /** MLP activation of GPT-2-style models: "gelu" (erf) or its tanh form; default by architecture. */
  hiddenAct?: "silu" | "gelu" | "gelu_new" | "gelu_pytorch_tanh";
  /** BioGPT: token embeddings × sqrt(hiddenSize); defaults to architecture === "biogpt". */
  scaleEmbedding?: boolean;
  ropeScaling?: {
    type: "none" | "linear" | "llama3";
    factor?: number;
    lowFreqFactor?: number;
    highFreqFactor?: number;
    originalMaxPositionEmbeddings?: number;
  };
}

export type ResolvedModelConfig = Required<Omit<NativeModelConfig, "ropeScaling">> & {
  ropeScaling: Required<NonNullable<NativeModelConfig["ropeScaling"]>>;
};

export type WeightDtype = "float32" | "float16" | "bfloat16";

/** Adapted projections, named as in mlx-lm's adapter keys: one of LORA_MODULES (src/train/modules.ts). */
export type LoraModule = (typeof LORA_MODULES)[number];

/**
 * Named as the preset keys (src/train/config.ts); every key is required — the defaults live in
 * TypeScript (Model.addAdapters), and the native reader names a missing or mistyped key.
 */
export interface NativeLoraOptions {
  loraRank: number;
  /** alpha / rank, or alpha / sqrt(rank) with rsLora (computed by Model.addAdapters). */
  loraScale: number;
  loraDropout: number;
  /** A subset of LORA_MODULES (src/train/modules.ts). */
  loraKeys: LoraModule[];
  /** Adapt the last N blocks; -1 = all. */
  loraLayers: number;
  /** Seeds A ~ U(±1/sqrt(in)); B starts at 0. */
  seed: number;
  /** DoRA: also train a magnitude m (out) per projection, initialised to ||W||_row. */
  dora: boolean;
}

/** A tokenized dataset: example i is tokens[offsets[i]..offsets[i+1]); lossMask[j] = 1 when token j is a supervised target. */
export interface NativeDataset {
  tokens: Int32Array;
  offsets: Int32Array | Float64Array;
  lossMask: Float32Array | Uint8Array;
}

/** Micro-batches as lists of example indices: batch j is indices[offsets[j]..offsets[j+1]). */
export interface NativeBatchList {
  indices: Int32Array;
  offsets: Int32Array | Float64Array;
}

/**
 * The native trainer's options, named as the preset keys (src/train/config.ts TrainingConfig) —
 * one name per setting from YAML to the C++ struct (native/src/train.h TrainOptions). Every key is
 * required (null where the setting is off); the defaults live in TypeScript only.
 */
export interface NativeTrainOptions {
  train: NativeDataset;
  /** In the order to train; optimizer step s uses micro-batches s*accum .. s*accum+accum-1 (wrapping). */
  batches: NativeBatchList;
  valid: NativeDataset | null;
  validBatches: NativeBatchList | null;
  /** Total optimizer steps of the run (the schedule's length). */
  iters: number;
  /** Steps already done (when resuming without an optimizer file). */
  startIteration: number;
  gradAccumulationSteps: number;
  maxSeqLength: number;
  learningRate: number;
  minLearningRate: number;
  warmupSteps: number;
  /** Cosine cycles (restarts) after warmup. */
  cycles: number;
  weightDecay: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEps: number;
  /** Global-norm gradient clipping; 0 = off. */
  gradClip: number;
  gradCheckpointing: boolean;
  seed: number;
  reportEvery: number;
  /** 0 = evaluate only at the end. */
  evalEvery: number;
  /** 0 = save only at the end. */
  saveEvery: number;
  /** Where step-named checkpoints go (0000100_adapters.safetensors + _optimizer.safetensors). */
  checkpointDir: string | null;
  /** Resume: restores moments and step from a *_optimizer.safetensors file. */
  resumeOptimizerFile: string | null;
  /** Exceeding it fails the run with code MEDTUNE_OUT_OF_MEMORY; null = no limit. */
  memoryLimitBytes: number | null;
  /**
   * Data-parallel over the group joined by initDistributed(): gradients, losses and token counts
   * are summed over ranks each step, rank 0 alone writes checkpoints.
   */
  distributed: boolean;
}

export interface NativeProgressEvent {
  type: "progress";
  iteration: number;
  trainLoss: number;
  learningRate: number;
  tokensPerSecond: number;
  trainedTokens: number;
  supervisedTokens: number;
  peakMemoryBytes: number;
  activeMemoryBytes: number;
  cacheBytes: number;
  /** Ranks of a distributed run (1 otherwise); losses and tokens/s are over all of them. */
  worldSize: number;
}
export interface NativeEvalEvent {
  type: "eval";
  iteration: number;
  validLoss: number;
  seconds: number;
}
export interface NativeCheckpointEvent {
  type: "checkpoint";
  iteration: number;
  adapterFile: string;
  optimizerFile: string;
}
export interface NativeDoneEvent {
  type: "done";
  iteration: number;
  trainLoss: number;
  validLoss: number;
  trainedTokens: number;
  peakMemoryBytes: number;
  worldSize: number;
  rank: number;
  stopReason: "completed" | "cancelled";
}
export type NativeTrainEvent =
  NativeProgressEvent | NativeEvalEvent | NativeCheckpointEvent | NativeDoneEvent;

export interface NativeGenerateOptions {
  prompt: Int32Array | number[];
  maxTokens?: number;
  /** 0 = greedy. */
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
  repetitionContextSize?: number;
  stopTokens?: Int32Array | number[];
  seed?: number;
  /** Prompt positions per forward call (default 512). */
  prefillChunk?: number;
}
export interface NativeTokenEvent {
  type: "token";
  token: number;
  index: number;
}
export interface NativeGenerateResult {
  type: "done";
  tokens: Int32Array;
  stopReason: "stop" | "length" | "cancelled";
  promptTokens: number;
  promptTokensPerSecond: number;
  tokensPerSecond: number;
  /** Decode steps computed by the CPU decode path (native/src/decode_cpu.cc); the rest ran in MLX. */
  cpuDecodeSteps: number;
  /** Prompt positions (left padding included) computed by the CPU path; the rest ran in MLX. */
  cpuPrefillPositions: number;
  peakMemoryBytes: number;
}

/** One prompt of a batched generation, with its own stop conditions. */
export interface NativeSequenceRequest {
  prompt: Int32Array | number[];
  /** Defaults to the batch's maxTokens (256). */
  maxTokens?: number;
  /** Defaults to the batch's stopTokens. */
  stopTokens?: Int32Array | number[];
}
export interface NativeGenerateBatchOptions extends Omit<NativeGenerateOptions, "prompt"> {
  prompts: NativeSequenceRequest[];
}
export interface NativeBatchTokenEvent {
  type: "token";
  /** Index into prompts. */
  sequence: number;
  token: number;
  index: number;
}
export interface NativeGenerateBatchResult {
  type: "done";
  sequences: {
    tokens: Int32Array;
    stopReason: "stop" | "length" | "cancelled";
    promptTokens: number;
  }[];
  promptTokens: number;
  generatedTokens: number;
  promptTokensPerSecond: number;
  /** All sequences' generated tokens per second of decoding. */
  tokensPerSecond: number;
  /** Decode steps computed by the CPU decode path (native/src/decode_cpu.cc); the rest ran in MLX. */
  cpuDecodeSteps: number;
  /** Prompt positions (left padding included) computed by the CPU path; the rest ran in MLX. */
  cpuPrefillPositions: number;
  peakMemoryBytes: number;
}

export interface NativeScoreProgressEvent {
  type: "progress";
  scored: number;
  total: number;
}
export interface NativeScoreOptionsResult {
  type: "done";
  /** One per option, in order; only those scored before a cancel when stopReason is "cancelled". */
  results: NativeScoreResult[];
  stopReason: "completed" | "cancelled";
  peakMemoryBytes: number;
}

/** Seconds per phase, from mx::eval barriers (see native/src/profile.cc). */
export interface NativeProfile {
  type: "training" | "decode";
  phases: { phase: string; seconds: number }[];
  batch?: number;
  sequenceLength?: number;
  promptTokens?: number;
  prefillSeconds?: number;
  /** The same prompt through the CPU path (decode_cpu.cc), phases `cpu_prefill.*` (per prompt). */
  cpuPathPrefillSeconds?: number;
}

export interface NativeScoreResult {
  tokenLogprobs: Float32Array;
  sum: number;
}

export interface NativeAdapterWeights {
  /** (in, r) row-major */
  a: Float32Array;
  aShape: number[];
  /** (r, out) row-major */
  b: Float32Array;
  bShape: number[];
  /** DoRA magnitude (out); absent for plain LoRA. */
  m?: Float32Array;
}

export type AdapterFileFormat = "mlx" | "peft";

/** A loaded model. Sync methods throw while a train/generate job holds it (`busy`). */
export interface NativeModelHandle {
  readonly config: ResolvedModelConfig;
  readonly adaptersEnabled: boolean;
  readonly busy: boolean;
  /**
   * GGUF loads: one line per tensor type, e.g. "Q4_K: 30 tensors kept quantized (MLX affine, 4 bits,
   * group 32)" or "Q6_K: 1 tensor dequantized to float32 (no exact MLX layout)"; empty otherwise.
   */
  readonly loadNotes: string[];
  /** QLoRA: quantize the frozen float base (affine, MLX format). */
  quantize(opts?: { groupSize?: 32 | 64 | 128; bits?: 2 | 3 | 4 | 6 | 8 }): void;
  addAdapters(opts: NativeLoraOptions): void;
  removeAdapters(): void;
  setAdaptersEnabled(enabled: boolean): void;
  /** "layers.<i>.<module>", sorted. */
  adapterNames(): string[];
  getAdapterWeights(): Record<string, NativeAdapterWeights>;
  setAdapterWeights(
    weights: Record<string, { a?: Float32Array; b?: Float32Array; m?: Float32Array }>,
  ): void;
  /** Atomic write of the adapter tensors (JSON config is the caller's). */
  saveAdapters(path: string, format: AdapterFileFormat): void;
  /** Replaces the current adapters' weights; shapes and names must match. */
  loadAdapters(path: string, format: AdapterFileFormat): void;
  /** Float base weights in Hugging Face naming (model.safetensors). */
  saveBaseWeights(path: string): void;
  /** ids (B*L) with shape [B, L] -> logits (B*L*V). */
  forward(ids: Int32Array, shape: [number, number]): Float32Array;
  lossAndGrad(opts: {
    inputs: Int32Array;
    targets: Int32Array;
    mask: Float32Array | Uint8Array;
    shape: [number, number];
    training?: boolean;
    seed?: number;
    gradientCheckpointing?: boolean;
    /** Token positions per cross-entropy chunk (default 256); 0 = full (B, L, V) logits. */
    crossEntropyChunk?: number;
  }): {
    lossSum: number;
    supervisedTokens: number;
    /** "<name>.lora_a", "<name>.lora_b", and with DoRA "<name>.m". */
    grads: Record<string, Float32Array>;
  };
  score(
    items: { prompt: Int32Array | number[]; completion: Int32Array | number[] }[],
  ): NativeScoreResult[];
  generate(
    opts: NativeGenerateOptions,
    onToken?: (e: NativeTokenEvent) => void,
  ): Promise<NativeGenerateResult>;
  /** Many prompts decoded together (left-padded, masked); a finished sequence leaves the batch. */
  generateBatch(
    opts: NativeGenerateBatchOptions,
    onToken?: (e: NativeBatchTokenEvent) => void,
  ): Promise<NativeGenerateBatchResult>;
  /**
   * Log-probabilities of each option's tokens after one shared prompt, whose KV cache is computed
   * once; `batchSize` options per forward (default 8). Cancellable with cancel().
   */
  scoreOptions(
    opts: { prompt: Int32Array | number[]; options: (Int32Array | number[])[]; batchSize?: number },
    onProgress?: (e: NativeScoreProgressEvent) => void,
  ): Promise<NativeScoreOptionsResult>;
  /** Per-phase seconds of one training step on this batch (averaged over `repeats`, default 2). */
  profileTraining(opts: {
    inputs: Int32Array;
    targets: Int32Array;
    mask: Float32Array | Uint8Array;
    shape: [number, number];
    repeats?: number;
  }): Promise<NativeProfile>;
  /**
   * Per-phase seconds of one decoded token after `prompt` (averaged over `tokens`, default 16);
   * `batch` > 1 adds a batched step of the CPU path over that many copies of the prompt (phases
   * `cpu_batch.*`, per step).
   */
  profileDecode(opts: {
    prompt: Int32Array | number[];
    tokens?: number;
    batch?: number;
  }): Promise<NativeProfile>;
  train(
    opts: NativeTrainOptions,
    onEvent?: (e: NativeTrainEvent) => void,
  ): Promise<NativeDoneEvent>;
  /** Stops the running job at the next step/token boundary. */
  cancel(): void;
  dispose(): void;
}

/** Hyperparameters of a BERT-family encoder (camelCase of its config.json). */
export interface NativeBertConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  /** Default 512. */
  maxPositionEmbeddings?: number;
  /** Default 2. */
  typeVocabSize?: number;
  /** Default 1e-12. */
  layerNormEps?: number;
  /** "gelu" (erf, the default) or the tanh approximation ("gelu_new", "gelu_pytorch_tanh"). */
  hiddenAct?: "gelu" | "gelu_new" | "gelu_pytorch_tanh";
}

export interface NativeBertEncodeOptions {
  /** Token ids, row-major (batch, length). */
  ids: Int32Array;
  /** 1 for real tokens, 0 for padding, (batch, length). */
  mask: Uint8Array | Float32Array;
  /** Segment ids, (batch, length); all 0 when omitted. */
  typeIds?: Int32Array;
  shape: [number, number];
  /** How token states become one vector: mean over the mask, the [CLS] state, or none. */
  pooling: "mean" | "cls" | "none";
  /** L2-normalise the pooled vectors. */
  normalize: boolean;
  /** Also return the last hidden state (batch, length, hiddenSize), e.g. for parity tests. */
  returnHidden?: boolean;
}

export interface NativeBertEncodeResult {
  /** (batch, hiddenSize) row-major; empty with pooling "none". */
  embeddings: Float32Array;
  hidden?: Float32Array;
}

/** A loaded BERT encoder (native/src/embedder_wrap.cc). encode() runs on its own thread. */
export interface NativeBertHandle {
  config(): Required<NativeBertConfig> & { source: string };
  /** One call at a time per handle: a second call while one runs throws. */
  encode(opts: NativeBertEncodeOptions): Promise<NativeBertEncodeResult>;
  busy(): boolean;
  dispose(): void;
}

export interface NativeBinding {
  version(): string;
  backend(): "cpu" | "metal" | "cuda";
  /** Which BLAS serves MLX's CPU matrix multiplies (OpenBLAS's config string, or the wheel's own). */
  blas(): string;
  /**
   * The CPU decode path's int8 kernels on this machine ("amx": AMX tiles for every batch size, so
   * batched output equals one-by-one; "vnni": batch-1 rows only; "none") and whether generation
   * uses them unless MEDTUNE_DECODE_INT8 says (by default where there is AMX).
   */
  decodeInt8(): { kernel: "amx" | "vnni" | "none"; byDefault: boolean };
  /**
   * The element type of the CPU decode path's KV cache in generation, for heads of `headDim`
   * (default 64) under the current environment: "float16" where its attention kernels read it
   * (AVX-512 with F16C), half the bytes a step reads; "float32" elsewhere, when
   * MEDTUNE_DECODE_KV=f32, and always for scoring.
   */
  decodeKvCache(headDim?: number): "float16" | "float32";
  /**
   * The bfloat16 kernel of the CPU's packed products (a quantized base's forward and backward in
   * training and validation: "amx", AMX-BF16 tiles with float32 sums; "none") and whether they use
   * it unless MEDTUNE_PACKED_BF16 says (by default where there is one; =0 keeps float32).
   */
  packedBf16(): { kernel: "amx" | "none"; byDefault: boolean };
  defaultDevice(): DeviceInfo;
  memory(): MemoryStats;
  resetPeakMemory(): void;
  clearCache(): void;
  /** MLX's compile (fused element-wise kernels) on or off for the whole process; on by default. */
  setCompile(enabled: boolean): void;
  /** Returns the previous limit in bytes. */
  setMemoryLimit(bytes: number): number;
  fromFloat32(data: Float32Array, shape: number[]): NativeTensor;
  matmul(a: NativeTensor, b: NativeTensor): NativeTensor;
  /**
   * x (N, in) times W (out, in)^T with W quantized in MLX's affine format (what GGUF Q4_0, Q4_1
   * and Q8_0 load into), computed by `mode`: "tiled" (the packed primitive: dequantized row blocks
   * + BLAS, float32), "tiled-bf16" (the same on bfloat16 AMX tiles, see packedBf16()), "kernel" (MLX's quantized_matmul), "dequantized" (all of
   * W dequantized first, the reference), "decode" (the CPU decode kernels, float32; CPU only, dx
   * then comes from the tiled path) or "decode-int8" (their int8 kernels, see decodeInt8()). dx: the backward through x for the cotangent cos(0, 1, ...).
   * params: the scales and biases — "mlx" (MLX's float32 quantization, the default), "symmetric"
   * (float16 scales, bias -2^(bits-1) * scale: GGUF Q4_0 / Q8_0) or "float16" (both float16: Q4_1).
   * compact: hold them as the CPU path does (float16 when exact, symmetric biases dropped);
   * `scales` / `biases` in the result name the stored forms.
   */
  quantizedMatmul(
    x: NativeTensor,
    w: NativeTensor,
    opts: {
      bits: 4 | 8;
      groupSize: 32 | 64 | 128;
      mode: "tiled" | "tiled-bf16" | "kernel" | "dequantized" | "decode" | "decode-int8";
      params?: "mlx" | "symmetric" | "float16";
      compact?: boolean;
    },
  ): {
    y: NativeTensor;
    dx: NativeTensor;
    scales: "float32" | "float16";
    biases: "float32" | "float16" | "implicit";
  };
  /**
   * Causal attention of q (B, H, L, hd) over k, v (B, Hkv, Lk >= L, hd), float32 on the CPU, mask
   * aligned bottom-right; dq, dk, dv: the backward for the cotangent cos(0, 1, ...) of o. "fused":
   * medtune's CPU kernels (native/src/attention_cpu.cc); "mlx": MLX's sdpa and its VJP.
   */
  causalAttention(
    q: NativeTensor,
    k: NativeTensor,
    v: NativeTensor,
    opts: { scale: number; mode: "fused" | "mlx" },
  ): { o: NativeTensor; dq: NativeTensor; dk: NativeTensor; dv: NativeTensor };
  /**
   * alpha op(a) op(b) + beta c (c: (M, N), needed when beta is not 0) by the short-side GEMM
   * that takes MLX's LoRA-shaped products (native/src/skinny_gemm.cc) and by BLAS. taken: whether
   * the short-side kernels applied (one of M, N, K at most 64, enough work, AVX-512); skinny is
   * their result then.
   */
  skinnyGemm(
    a: NativeTensor,
    b: NativeTensor,
    opts: { transA: boolean; transB: boolean; alpha: number; beta: number; c?: NativeTensor },
  ): { taken: boolean; skinny: NativeTensor; blas: NativeTensor };
  /**
   * silu(g) * u for float32 g, u of one shape; dg, du: the backward for the cotangent cos(0, 1,
   * ...) of y. "fused": medtune's CPU kernel (native/src/fused_cpu.cc); "mlx": MLX's ops.
   */
  swiglu(
    g: NativeTensor,
    u: NativeTensor,
    opts: { mode: "fused" | "mlx" },
  ): { y: NativeTensor; dg: NativeTensor; du: NativeTensor };
  /**
   * GELU of float32 x, erf form or tanh form; dx: the backward for the cotangent cos(0, 1, ...)
   * of y. "fused": medtune's CPU kernel (native/src/fused_cpu.cc); "mlx": MLX's ops.
   */
  gelu(
    x: NativeTensor,
    opts: { form: "erf" | "tanh"; mode: "fused" | "mlx" },
  ): { y: NativeTensor; dx: NativeTensor };
  /**
   * Per row of float32 logits (n, V): loss = mask · (logsumexp − logit[target]) (n) and p = mask ·
   * softmax (n, V), by medtune's fused CPU kernel ("fused") or MLX's ops ("mlx").
   */
  softmaxCrossEntropy(
    logits: NativeTensor,
    targets: Int32Array,
    mask: Float32Array,
    opts: { mode: "fused" | "mlx" },
  ): { loss: NativeTensor; p: NativeTensor };
  /**
   * One ggml tensor (`rows` × `cols`, ggml type id) to float32 through exactly the conversion
   * loadGguf applies: repacked into MLX's affine layout and dequantized by MLX for the per-32 affine
   * types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K), decoded directly for Q2_K, Q3_K and Q6_K.
   */
  ggmlToFloat32(typeId: number, bytes: Uint8Array, rows: number, cols: number): Float32Array;
  /**
   * GGUF (F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K … Q6_K; llama / qwen2); loadNotes says which
   * types stayed quantized. On CPU, 4/8-bit projections stay packed (weight memory ≈ the file
   * size) and multiply through dequantized row blocks + BLAS; the environment variable
   * MEDTUNE_CPU_QUANTIZED_MATMUL=expand gives them a float32 copy instead, =kernel uses MLX's
   * quantized kernel for every product (decoded tokens read the packed bytes in every mode).
   */
  loadGguf(path: string, opts?: { dtype?: WeightDtype }): NativeModelHandle;
  /** Hugging Face safetensors; the config comes from config.json parsed in TypeScript. */
  loadHf(
    config: NativeModelConfig,
    files: string[],
    opts?: { dtype?: WeightDtype; source?: string },
  ): NativeModelHandle;
  createRandomModel(
    config: NativeModelConfig,
    seed: number,
    opts?: { dtype?: WeightDtype },
  ): NativeModelHandle;
  /** Throws (naming the file) when a safetensors header or size is inconsistent. */
  validateSafetensors(path: string): void;
  /** A BERT encoder from one safetensors file (BertModel names, with or without "bert."). */
  loadBert(
    config: NativeBertConfig,
    file: string,
    opts?: { dtype?: WeightDtype; source?: string },
  ): NativeBertHandle;
  /**
   * Joins MLX's distributed group (once per process). "ring" reads MLX_RANK and MLX_HOSTFILE from
   * the environment (src/train/distributed.ts sets them); "mpi" works under mpirun.
   */
  initDistributed(backend: "ring" | "mpi" | "any"): DistributedGroup;
  /** The seven adaptable projections as the native code lists them (equal to LORA_MODULES). */
  readonly loraModules: readonly LoraModule[];
}

export interface DistributedGroup {
  rank: number;
  size: number;
  backend: string;
}

/** Names every NativeBinding member, so tests can check the loaded module against the declaration. */
export const NATIVE_FUNCTIONS = [
  "version",
  "backend",
  "blas",
  "decodeInt8",
  "decodeKvCache",
  "packedBf16",
  "defaultDevice",
  "memory",
  "resetPeakMemory",
  "setCompile",
  "clearCache",
  "setMemoryLimit",
  "fromFloat32",
  "matmul",
  "quantizedMatmul",
  "causalAttention",
  "skinnyGemm",
  "swiglu",
  "gelu",
  "softmaxCrossEntropy",
  "ggmlToFloat32",
  "loadGguf",
  "loadHf",
  "createRandomModel",
  "validateSafetensors",
  "loadBert",
  "initDistributed",
] as const satisfies readonly (keyof NativeBinding)[];
