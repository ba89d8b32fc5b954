/**
 * Floating-point operations of one LoRA training step on a frozen llama-family base, per input
 * token, for the bench's "achieved FLOP/s" (a multiply-add counts 2). With the base frozen, its
 * weights get no gradient, so the usual 6·N becomes:
 *
 *   per token = 4·N_base + 6·N_lora + 12·L·S·H·d_head
 *
 * - N_base: weights of every matrix product on a token's path (q, k, v, o, gate, up, down in each
 *   of L layers, and the lm_head V·D; embeddings are a lookup). Forward 2·N_base, backward to the
 *   activations 2·N_base (dX = dY·Wᵀ), no dW.
 * - N_lora = Σ r·(in + out) over adapted modules: forward 2, dX 2 and dW 2 per weight.
 * - attention over a row of S tokens: Q·Kᵀ and P·V cost 2·S·H·d_head each per token forward
 *   (the full S×S products, as the kernels compute them), and the backward twice that.
 * Element-wise work (norms, RoPE, SiLU, softmax, the optimizer) is left out: it is what the
 * matrix-multiply peak cannot see. Gradient checkpointing would add one more forward.
 */
import type { ResolvedModelConfig } from "../native/binding.js";

export interface FlopCount {
  baseWeights: number;
  loraWeights: number;
  attentionPerToken: number;
  perToken: number;
}

export function trainingFlopsPerToken(
  c: Pick<
    ResolvedModelConfig,
    | "hiddenSize"
    | "intermediateSize"
    | "numLayers"
    | "numHeads"
    | "numKvHeads"
    | "headDim"
    | "vocabSize"
  >,
  seq: number,
  rank: number,
): FlopCount {
  const D = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  // (in, out) of the seven projections of one layer
  const mats: [number, number][] = [
    [D, q],
    [D, kv],
    [D, kv],
    [q, D],
    [D, c.intermediateSize],
    [D, c.intermediateSize],
    [c.intermediateSize, D],
  ];
  const baseWeights = c.numLayers * mats.reduce((n, [i, o]) => n + i * o, 0) + c.vocabSize * D;
  const loraWeights = c.numLayers * mats.reduce((n, [i, o]) => n + rank * (i + o), 0);
  const attentionPerToken = 12 * c.numLayers * seq * q;
  return {
    baseWeights,
    loraWeights,
    attentionPerToken,
    perToken: 4 * baseWeights + 6 * loraWeights + attentionPerToken,
  };
}
