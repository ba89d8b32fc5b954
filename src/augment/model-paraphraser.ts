/**
 * A model paraphraser over the trainer's generate API (src/train/model.ts): the `generate` that
 * `paraphrase` and `augmentRecords` take, backed by a local model (GGUF file or Hugging Face folder)
 * prompted through its own chat template. Its replies go through the same checks as rule-based
 * paraphrases (every entity kept, ROUGE-L < 0.7), so a weak model costs time, never quality.
 *
 *   const para = await loadModelParaphraser("models/base/SmolLM2-135M-Instruct.Q4_1.gguf");
 *   try { await paraphrase(records, { generate: para.generate }); } finally { para.dispose(); }
 *
 *   npx tsx src/cli.ts augment --paraphrase-model models/base/SmolLM2-135M-Instruct.Q4_1.gguf
 *
 * The trainer modules (and the native addon under them) load only when this is called.
 */
import type { Generate } from "./paraphrase.js";

export interface ModelParaphraserOptions {
  /** Most tokens per reply (default 64: one question). */
  maxTokens?: number;
  /** Sampling temperature (default 0.7; 0 is greedy). */
  temperature?: number;
  /** Seed of the first call; each later call uses the next seed, so a run is reproducible. */
  seed?: number;
}

export interface ModelParaphraser {
  generate: Generate;
  /** Model calls so far and the tokens they produced, for the report. */
  readonly stats: { calls: number; tokens: number };
  /** Where the model came from. */
  readonly source: string;
  dispose(): void;
}

export async function loadModelParaphraser(
  source: string,
  opts: ModelParaphraserOptions = {},
): Promise<ModelParaphraser> {
  const [{ Model }, { loadTokenizer }, { ChatTemplate }] = await Promise.all([
    import("../train/model.js"),
    import("../train/tokenizer.js"),
    import("../train/chat-template.js"),
  ]);
  const tokenizer = await loadTokenizer(source);
  const template = ChatTemplate.fromTokenizer(tokenizer);
  // The end-of-turn tokens of chat models ("<|im_end|>", "<|eot_id|>") stop a reply as EOS does.
  const stopTokens = [
    tokenizer.eosId,
    ...["<|im_end|>", "<|eot_id|>", "<|end|>", "</s>"]
      .map((t) => tokenizer.specialTokens.get(t))
      .filter((id): id is number => id !== undefined),
  ];
  const model = await Model.load(source);
  const stats = { calls: 0, tokens: 0 };
  let seed = opts.seed ?? 0;
  const generate: Generate = async (prompt) => {
    const text = template.render([{ role: "user", content: prompt }], {
      addGenerationPrompt: true,
    });
    const res = await model.generate(tokenizer.encode(text), {
      maxTokens: opts.maxTokens ?? 64,
      temperature: opts.temperature ?? 0.7,
      stopTokens: [...new Set(stopTokens)],
      seed: seed++,
    });
    stats.calls++;
    stats.tokens += res.tokens.length;
    return tokenizer.decode(res.tokens, { skipSpecialTokens: true });
  };
  return { generate, stats, source, dispose: () => model.dispose() };
}
