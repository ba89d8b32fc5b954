/**
 * All likelihood scoring of the evaluation goes through here: a question becomes prompt ids with
 * the model's chat template, each option becomes the assistant's continuation (its content and the
 * end-of-turn marker, so "Yes" is not rewarded for being a prefix of a longer answer), and
 * `scoreOptions` returns per-option log-probs — never logits.
 *
 *   const chat = await ChatPrompter.forModel(model.source);
 *   const s = await scoreOptions(model, chat.prompt(q), options.map((o) => chat.completion(q, o)), signal);
 *
 * The addon's `scoreOptions` job computes the prompt's KV cache once and reuses it for every
 * option, runs off the JS thread (progress events keep flowing) and is cancelled by the signal.
 */
import type { InstructionRecord } from "../data/record.js";
import { ChatTemplate, type ChatMessage } from "../train/chat-template.js";
import type { Model } from "../train/model.js";
import { loadTokenizer, type Tokenizer } from "../train/tokenizer.js";

export interface OptionScore {
  /** Sum of the option's token log-probs (nats). */
  logprob: number;
  /** logprob / tokens: length-normalised, so long options are not penalised for length alone. */
  meanLogprob: number;
  tokens: number;
  tokenLogprobs: number[];
}

/** Thrown when the signal aborts between scoring or generation calls. */
export class EvaluationCancelled extends Error {
  constructor() {
    super("evaluation cancelled");
    this.name = "EvaluationCancelled";
  }
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new EvaluationCancelled();
}

/** Let timers, progress output and abort handlers run between synchronous native calls. */
export const yieldToEventLoop = (): Promise<void> => new Promise((ok) => setImmediate(ok));

/**
 * Log-probs of each option as the continuation of one prompt (prompt prefix computed once in the
 * addon). An aborted signal ends with EvaluationCancelled.
 */
export async function scoreOptions(
  model: Model,
  promptIds: readonly number[],
  optionIds: readonly (readonly number[])[],
  signal?: AbortSignal,
): Promise<OptionScore[]> {
  if (promptIds.length === 0) throw new RangeError("scoreOptions: the prompt has no tokens");
  optionIds.forEach((o, i) => {
    if (o.length === 0) throw new RangeError(`scoreOptions: option ${i} has no tokens`);
  });
  throwIfAborted(signal);
  let results;
  try {
    results = await model.scoreOptions(promptIds, optionIds as number[][], { signal });
  } catch (e) {
    if (signal?.aborted) throw new EvaluationCancelled();
    throw e;
  }
  return results.map((r) => {
    const tokenLogprobs = Array.from(r.tokenLogprobs);
    return {
      logprob: r.sum,
      meanLogprob: r.sum / tokenLogprobs.length,
      tokens: tokenLogprobs.length,
      tokenLogprobs,
    };
  });
}

/** Softmax over option log-probs: the model's probability of each option among these. */
export function optionProbabilities(logprobs: readonly number[]): number[] {
  const m = Math.max(...logprobs);
  const e = logprobs.map((x) => Math.exp(x - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
}

export const argmax = (xs: readonly number[]): number =>
  xs.reduce((best, x, i) => (x > xs[best]! ? i : best), 0);

/** The user turn of a record, as training renders it: instruction, then input after a blank line. */
export const recordQuestion = (r: Pick<InstructionRecord, "instruction" | "input">): string =>
  r.input.trim() ? `${r.instruction}\n\n${r.input}` : r.instruction;

/** Turns questions and answers into token ids with a model's tokenizer and chat template. */
export class ChatPrompter {
  private readonly cache = new Map<string, { prompt: number[]; promptText: string }>();

  constructor(
    readonly tokenizer: Tokenizer,
    readonly template: ChatTemplate,
    readonly systemPrompt?: string,
  ) {}

  static async forModel(modelPath: string, systemPrompt?: string): Promise<ChatPrompter> {
    const tok = await loadTokenizer(modelPath);
    return new ChatPrompter(tok, ChatTemplate.fromTokenizer(tok), systemPrompt);
  }

  private messages(question: string, answer?: string): ChatMessage[] {
    const m: ChatMessage[] = [];
    if (this.systemPrompt !== undefined) m.push({ role: "system", content: this.systemPrompt });
    m.push({ role: "user", content: question });
    if (answer !== undefined) m.push({ role: "assistant", content: answer });
    return m;
  }

  /** The prompt text: the conversation up to and including the assistant header. */
  promptText(question: string): string {
    return this.entry(question).promptText;
  }

  /** Prompt ids for a question, ending where the assistant's answer begins. */
  prompt(question: string): number[] {
    return this.entry(question).prompt;
  }

  /** Ids of an answer as the assistant's turn: its content and the end-of-turn token. */
  completion(question: string, answer: string): number[] {
    const { text, spans } = this.template.renderWithAssistantSpans(this.messages(question, answer));
    const span = spans[spans.length - 1]!;
    return this.tokenizer.encode(text.slice(span.start, span.end));
  }

  /** Token ids that end an assistant turn (EOS and the template's end-of-turn markers). */
  stopTokens(): number[] {
    const ids = new Set<number>([this.tokenizer.eosId]);
    for (const t of ["<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<end_of_turn>", "</s>"]) {
      const id = this.tokenizer.specialTokens.get(t);
      if (id !== undefined) ids.add(id);
    }
    return [...ids];
  }

  private entry(question: string): { prompt: number[]; promptText: string } {
    let e = this.cache.get(question);
    if (!e) {
      const promptText = this.template.render(this.messages(question), {
        addGenerationPrompt: true,
      });
      e = { promptText, prompt: this.tokenizer.encode(promptText) };
      this.cache.set(question, e);
    }
    return e;
  }
}

export interface GeneratedAnswer {
  text: string;
  tokens: number;
  stopReason: string;
  /** Mean log-prob of the generated tokens under the model (free-text confidence), nats. */
  meanLogprob: number;
  seconds: number;
}

/**
 * Greedy answer to a question, then its tokens re-scored for a confidence. Entropy would need the
 * full next-token distribution, which the native API does not return by design.
 */
export async function generateAnswer(
  model: Model,
  chat: ChatPrompter,
  question: string,
  maxTokens: number,
  signal?: AbortSignal,
): Promise<GeneratedAnswer> {
  await yieldToEventLoop();
  throwIfAborted(signal);
  const t0 = performance.now();
  const prompt = chat.prompt(question);
  const onAbort = () => model.native.cancel();
  signal?.addEventListener("abort", onAbort, { once: true });
  let res;
  try {
    res = await model.generate(prompt, { maxTokens, stopTokens: chat.stopTokens(), seed: 0 });
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  throwIfAborted(signal);
  const text = chat.tokenizer.decode(res.tokens, { skipSpecialTokens: true }).trim();
  let meanLogprob = Number.NaN;
  if (res.tokens.length > 0) {
    const [s] = await scoreOptions(model, prompt, [res.tokens], signal);
    meanLogprob = s!.meanLogprob;
  }
  return {
    text,
    tokens: res.tokens.length,
    stopReason: res.stopReason,
    meanLogprob,
    seconds: (performance.now() - t0) / 1000,
  };
}
