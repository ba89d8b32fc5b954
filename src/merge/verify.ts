/**
 * Checks that an export still behaves like base + adapter: logits on fixed prompts (max |Δ| and
 * top-1 agreement per position), perplexity over a slice of the valid split, and the same prompts
 * through llama.cpp (node-llama-cpp's prebuilt binary) on the exported GGUF — a check of the
 * exported file that does not depend on our own loader.
 */
import type { Token } from "node-llama-cpp";
import { Model } from "../train/model.js";

/** Token sequences, one per prompt. */
export type Prompts = number[][];

export interface LogitAgreement {
  positions: number;
  maxAbsDiff: number;
  /** Fraction of positions whose argmax matches the reference. */
  top1Agreement: number;
}

/** Teacher-forced logits of each prompt, concatenated (positions × vocab). */
export function promptLogits(model: Model, prompts: Prompts): Float32Array[] {
  return prompts.map((p) => model.forward(Int32Array.from(p), [1, p.length]));
}

export function argmaxRow(x: Float32Array, row: number, v: number): number {
  let best = 0;
  const o = row * v;
  for (let j = 1; j < v; j++) if (x[o + j]! > x[o + best]!) best = j;
  return best;
}

export function compareLogits(
  ref: Float32Array[],
  got: Float32Array[],
  vocab: number,
): LogitAgreement {
  let positions = 0;
  let agree = 0;
  let maxAbsDiff = 0;
  ref.forEach((r, k) => {
    const g = got[k]!;
    if (g.length !== r.length)
      throw new Error(`prompt ${k}: ${g.length} logits, expected ${r.length}`);
    for (let i = 0; i < r.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(r[i]! - g[i]!));
    for (let p = 0; p < r.length / vocab; p++) {
      positions++;
      if (argmaxRow(r, p, vocab) === argmaxRow(g, p, vocab)) agree++;
    }
  });
  return { positions, maxAbsDiff, top1Agreement: positions ? agree / positions : 0 };
}

/** exp(mean negative log-likelihood) of each sequence's tokens after its first. */
export function perplexity(model: Model, sequences: Prompts): number {
  const scored = model.score(
    sequences.map((s) => ({ prompt: s.slice(0, 1), completion: s.slice(1) })),
  );
  let nll = 0;
  let n = 0;
  scored.forEach((r, i) => {
    nll -= r.sum;
    n += sequences[i]!.length - 1;
  });
  return Math.exp(nll / n);
}

export interface LlamaCppCheck {
  file: string;
  lora?: string;
  /** Top-1 agreement of llama.cpp's logits with ours at each prompt position. */
  top1Agreement: number;
  positions: number;
  perplexity?: number;
  /** A short greedy continuation of the first prompt, as llama.cpp generates it. */
  generated?: number[];
}

/**
 * Runs the prompts through llama.cpp on `file` (optionally with a LoRA GGUF applied at load):
 * top-1 per position compared with `ours` (argmax per row), perplexity over `sequences`, and a few
 * greedy tokens after the first prompt.
 */
export async function llamaCppCheck(
  file: string,
  prompts: Prompts,
  ours: Float32Array[],
  vocab: number,
  opts: { lora?: string; sequences?: Prompts; generateTokens?: number } = {},
): Promise<LlamaCppCheck> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  try {
    const lm = await llama.loadModel({ modelPath: file });
    const longest = Math.max(
      ...prompts.map((p) => p.length),
      ...(opts.sequences ?? []).map((s) => s.length),
    );
    const ctxSize = Math.max(
      64,
      2 ** Math.ceil(Math.log2(longest + (opts.generateTokens ?? 0) + 8)),
    );
    const ctx = await lm.createContext({
      contextSize: ctxSize,
      batchSize: ctxSize,
      threads: 2,
      ...(opts.lora ? { lora: { adapters: [{ filePath: opts.lora }] } } : {}),
    });
    let agree = 0;
    let positions = 0;
    const seq = ctx.getSequence();
    for (const [k, p] of prompts.entries()) {
      await seq.clearHistory();
      const out = await seq.controlledEvaluate(
        p.map((id) => [
          id as Token,
          { generateNext: { logits: { filter: { tokens: [], includeTop: 1 } } } },
        ]),
      );
      for (let i = 0; i < p.length; i++) {
        const top = out[i]?.next.logits?.keys().next().value;
        positions++;
        if (top !== undefined && top === argmaxRow(ours[k]!, i, vocab)) agree++;
      }
    }
    let ppl: number | undefined;
    if (opts.sequences?.length) {
      let nll = 0;
      let n = 0;
      for (const s of opts.sequences) {
        await seq.clearHistory();
        // Full raw logits per position (node-llama-cpp's totalLogitWeight is taken after its
        // sampler's candidate pruning, so it cannot normalise a probability).
        const out = await seq.controlledEvaluate(
          s.slice(0, -1).map((id) => [id as Token, { generateNext: { logits: true } }]),
        );
        out.forEach((o, i) => {
          const logits = o?.next.logits;
          if (!logits) throw new Error(`llama.cpp gave no logits at position ${i}`);
          let max = -Infinity;
          for (const x of logits.values()) if (x > max) max = x;
          let sum = 0;
          for (const x of logits.values()) sum += Math.exp(x - max);
          const target = logits.get(s[i + 1]! as Token);
          if (target === undefined)
            throw new Error(`llama.cpp gave no logit for token ${s[i + 1]}`);
          nll -= target - max - Math.log(sum);
          n++;
        });
      }
      ppl = Math.exp(nll / n);
    }
    let generated: number[] | undefined;
    if (opts.generateTokens && prompts[0]) {
      await seq.clearHistory();
      generated = [];
      for await (const t of seq.evaluate(prompts[0] as Token[], { temperature: 0 })) {
        generated.push(t);
        if (generated.length >= opts.generateTokens) break;
      }
    }
    await ctx.dispose();
    await lm.dispose();
    return {
      file,
      lora: opts.lora,
      top1Agreement: positions ? agree / positions : 0,
      positions,
      perplexity: ppl,
      generated,
    };
  } finally {
    await llama.dispose();
  }
}
