/**
 * Sample answers, base vs fine-tuned: a few held-out questions answered greedily by one loaded
 * model with its adapters off, then on. A quick look after training (03_train, `medtune run`), not
 * an evaluation — runEvaluation scores answers with intervals.
 *
 *   const run = await runTraining({ config: "configs/training_configs/quick_test.yaml", keepModel: true });
 *   const answers = await compareAnswers({ run, records: "data/processed/test.jsonl", count: 3 });
 */
import type { InstructionRecord } from "../data/record.js";
import { fromRoot } from "../paths.js";
import { recordMessages } from "../train/batches.js";
import type { ChatTemplate } from "../train/chat-template.js";
import type { Model } from "../train/model.js";
import { readTrainingRecords } from "../train/run.js";
import type { Tokenizer } from "../train/tokenizer.js";

export interface AnswerComparison {
  id: string;
  source: string;
  question: string;
  reference: string;
  base: string;
  fineTuned: string;
}

export interface CompareAnswersOptions {
  /** A model with adapters, and its tokenizer and chat template (a kept training run has all three). */
  run: { model?: Model; tokenizer: Tokenizer; template: ChatTemplate };
  /** Records, or a JSONL of them (relative paths against the project root). */
  records: readonly InstructionRecord[] | string;
  /** Questions to answer (default 3), one per source in turn. */
  count?: number;
  /** New tokens per answer at most (default 64). */
  maxTokens?: number;
  signal?: AbortSignal;
}

/** A few records, one per source in turn, skipping safety examples and long answers; deterministic. */
export function pickSamples(records: readonly InstructionRecord[], n: number): InstructionRecord[] {
  const bySource = new Map<string, InstructionRecord[]>();
  for (const r of records) {
    if (r.metadata.task.startsWith("safety") || r.output.length > 400) continue;
    bySource.set(r.metadata.source, [...(bySource.get(r.metadata.source) ?? []), r]);
  }
  const out: InstructionRecord[] = [];
  const sources = [...bySource.keys()].sort();
  for (let i = 0; out.length < n && sources.some((s) => bySource.get(s)!.length > i); i++)
    for (const s of sources) {
      const r = bySource.get(s)![i];
      if (r && out.length < n) out.push(r);
    }
  return out;
}

export async function compareAnswers(o: CompareAnswersOptions): Promise<AnswerComparison[]> {
  const { model, tokenizer, template } = o.run;
  if (!model) throw new Error("compareAnswers: the run has no model (train with keepModel: true)");
  const records =
    typeof o.records === "string"
      ? (readTrainingRecords(fromRoot(o.records), true).filter(
          (r) => "instruction" in r,
        ) as InstructionRecord[])
      : o.records;
  const stop = [
    tokenizer.eosId,
    ...["<|im_end|>", "<|endoftext|>"]
      .map((t) => tokenizer.specialTokens.get(t))
      .filter((x): x is number => x !== undefined),
  ];
  const answer = async (r: InstructionRecord, adapters: boolean) => {
    model.setAdaptersEnabled(adapters);
    const messages = recordMessages(r).filter((m) => m.role !== "assistant");
    const prompt = tokenizer.encode(template.render(messages, { addGenerationPrompt: true }));
    const out = await model.generate(prompt, { maxTokens: o.maxTokens ?? 64, stopTokens: stop });
    return tokenizer.decode(out.tokens, { skipSpecialTokens: true }).trim();
  };
  const out: AnswerComparison[] = [];
  try {
    for (const r of pickSamples(records, o.count ?? 3)) {
      o.signal?.throwIfAborted();
      out.push({
        id: r.id,
        source: r.metadata.source,
        question: [r.instruction, r.input].filter(Boolean).join("\n"),
        reference: r.output,
        base: await answer(r, false),
        fineTuned: await answer(r, true),
      });
    }
  } finally {
    model.setAdaptersEnabled(true);
  }
  return out;
}
