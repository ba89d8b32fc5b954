/**
 * Memory of one training step, estimated before it runs, and the dynamic micro-batch that keeps a
 * run inside its budget (memoryLimitBytes): halve the micro-batch, double the accumulation — the
 * same examples feed the same optimizer step, so the update is unchanged.
 *
 *   const peak = estimateStepPeakBytes({ modelBytes, config: model.config, batchSize: 4, seqLength: 256 });
 *   const halves = splitMicroBatches(batches, fillerIndex);   // B → B/2, accumulation × 2
 *
 * The coefficients come from measured peaks (mx::get_peak_memory after one native step, CPU
 * backend, SmolLM2-135M Q4_1, 7 projections, rank 16; test/train/memory.test.ts re-measures).
 * With MLX's own ops for attention, SwiGLU and the cross-entropy (Metal, CUDA, and the CPU with
 * MEDTUNE_CPU_FUSED=mlx), fitted on an earlier build:
 *   B×L        1×256    2×256    4×256    1×512
 *   peak MiB   1,211    1,775    2,903    1,921     (model resident 641 MiB)
 * i.e. 2.21 MiB per token at L = 256 and 2.50 at L = 512: a part linear in tokens (≈ 68.5 kB per
 * token and layer, what the backward keeps of the block) plus the attention scores, which grow
 * with L (heads × L × 4 B per token and layer). With medtune's fused CPU kernels (attention_cpu.cc,
 * fused_cpu.cc: no (L, L) scores, SwiGLU keeping only g and u, one softmax buffer per chunk):
 *   B×L          1×128   1×256   2×256   4×256   1×512
 *   step MiB       190     382     757   1,468     762     (above the resident model, 111 MiB)
 * i.e. 1.43 MiB per token at L = 256 and 1.49 at L = 512: ≈ 48.2 kB per token and layer (the
 * hidden-size activations, and g, u and their product for the MLP) plus ≈ 0.8 B per token, layer,
 * head and position of L (the attention backward's buffers).
 */
import type { ResolvedModelConfig } from "../native/binding.js";
import { loadNative } from "../native/loader.js";

/**
 * What the backward keeps per token and layer (fitted): fp32 values per hidden unit and per MLP
 * unit, and bytes per head and position of L.
 */
interface Coefficients {
  perHidden: number;
  perIntermediate: number;
  attentionPerHeadPosition: number;
}
const MLX_OPS: Coefficients = { perHidden: 12, perIntermediate: 6.5, attentionPerHeadPosition: 4 };
const FUSED_CPU: Coefficients = {
  perHidden: 12,
  perIntermediate: 3.35,
  attentionPerHeadPosition: 0.8,
};

export interface StepMemoryInput {
  /** Bytes resident before the step: the loaded base plus adapters (mlx.memory().activeBytes). */
  modelBytes: number;
  config: Pick<ResolvedModelConfig, "hiddenSize" | "intermediateSize" | "numLayers" | "numHeads">;
  /** Sequences per micro-batch. */
  batchSize: number;
  /** Padded length of the micro-batch (at most maxSeqLength). */
  seqLength: number;
  /**
   * Recompute each block in the backward: only the blocks' inputs stay (hidden × 4 B per token
   * and layer) plus one block's activations. Not measured on this machine — an estimate.
   */
  gradCheckpointing?: boolean;
  /**
   * The step runs medtune's fused CPU kernels (the CPU device, MEDTUNE_CPU_FUSED not "mlx"):
   * fusedCpuKernelsInUse() says. Default false: MLX's ops, the larger figure.
   */
  fusedCpuKernels?: boolean;
}

/** Peak bytes of one training step on a full micro-batch (every sequence `seqLength` long). */
export function estimateStepPeakBytes(i: StepMemoryInput): number {
  const c = i.config;
  const tokens = i.batchSize * i.seqLength;
  const k = i.fusedCpuKernels ? FUSED_CPU : MLX_OPS;
  const linearPerTokenLayer =
    4 * (k.perHidden * c.hiddenSize + k.perIntermediate * c.intermediateSize);
  const attentionPerTokenLayer = k.attentionPerHeadPosition * c.numHeads * i.seqLength;
  const perLayer = linearPerTokenLayer + attentionPerTokenLayer;
  const perToken = i.gradCheckpointing
    ? c.numLayers * 4 * c.hiddenSize + perLayer
    : c.numLayers * perLayer;
  return i.modelBytes + tokens * perToken;
}

/** Whether this process's training steps run medtune's fused CPU kernels (see fusedCpuKernels). */
export function fusedCpuKernelsInUse(): boolean {
  return loadNative().defaultDevice().type === "cpu" && process.env.MEDTUNE_CPU_FUSED !== "mlx";
}

/**
 * The largest micro-batch ≤ `batchSize`, reached by halving, whose estimated step fits `budget`
 * (at least 1). Returns how many halvings that took.
 */
export function halvingsToFit(
  i: StepMemoryInput,
  budgetBytes: number,
): { batchSize: number; halvings: number; estimatedPeakBytes: number } {
  let batchSize = i.batchSize;
  let halvings = 0;
  while (batchSize > 1 && estimateStepPeakBytes({ ...i, batchSize }) > budgetBytes) {
    batchSize = Math.ceil(batchSize / 2);
    halvings++;
  }
  return { batchSize, halvings, estimatedPeakBytes: estimateStepPeakBytes({ ...i, batchSize }) };
}

/**
 * Each micro-batch split in two, in order, so that with twice the accumulation optimizer step s
 * still sees the same examples (the native loop takes micro-batches s·accum … s·accum+accum−1 and
 * weights the loss by supervised tokens across them). A micro-batch of one example gets
 * `fillerIndex` as its second half: an example without supervised tokens adds nothing to the loss
 * or the gradient, so the update is unchanged.
 */
export function splitMicroBatches(
  batches: readonly (readonly number[])[],
  fillerIndex: number,
): number[][] {
  const out: number[][] = [];
  for (const b of batches) {
    if (b.length < 2) {
      out.push([...b], [fillerIndex]);
      continue;
    }
    const half = Math.ceil(b.length / 2);
    out.push(b.slice(0, half), b.slice(half));
  }
  return out;
}

/** True when a native error is the trainer's out-of-memory (a limit crossed or a failed allocation). */
export function isOutOfMemory(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === "MEDTUNE_OUT_OF_MEMORY";
}
