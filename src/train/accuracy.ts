/**
 * Medical accuracy during training: likelihood accuracy on a fixed subset of the validation split,
 * scored exactly as `medtune evaluate` scores its knowledge task (src/evaluate/tasks.ts: yes/no
 * questions and list questions against same-template distractors, the option with the highest
 * log-prob under the chat template wins). run.ts measures it at each epoch end and at the end of
 * the run, and before the first step of a fresh run (config keys medicalAccuracyItems,
 * medicalAccuracyEveryEpoch).
 *
 *   const items = planMedicalAccuracy(validRecords, 16, seed);
 *   const r = await measureMedicalAccuracy(model, chat, items, signal);   // r.accuracy in [0, 1]
 *
 * The items are chosen once per run (seeded), so every measurement of a run scores the same items
 * and the curve shows learning, not sampling noise between subsets.
 */
import type { InstructionRecord } from "../data/record.js";
import type { ChatPrompter } from "../evaluate/likelihood.js";
import { MedicalSafetyValidator } from "../evaluate/safety.js";
import { planKnowledge, runChoice, type PlannedItem } from "../evaluate/tasks.js";
import type { TrainingRecord } from "./batches.js";
import type { Model } from "./model.js";

export type AccuracyItem = Extract<PlannedItem, { kind: "choice" }>;

/** One measurement, as run.ts logs it (metrics.jsonl, TensorBoard accuracy/*). */
export interface AccuracyEvent {
  type: "accuracy";
  /** Optimizer steps done when measured. */
  iteration: number;
  /** Epochs of training data completed (fractional when a run ends mid-epoch). */
  epoch: number;
  items: number;
  correct: number;
  /** Share of items whose gold option has the highest total log-prob. */
  accuracy: number;
  /** The same by per-token (length-normalised) log-prob. */
  accuracyNormalized: number;
  /** Mean probability of the gold option among its options: moves before accuracy flips. */
  meanGoldProbability: number;
  seconds: number;
}

/** The fixed multiple-choice items of a run (instruction records with facts; seeded). */
export function planMedicalAccuracy(
  records: readonly TrainingRecord[],
  count: number,
  seed: number,
): AccuracyItem[] {
  if (count <= 0) return [];
  const instructions = records.filter((r): r is InstructionRecord => !("messages" in r));
  return planKnowledge(instructions, count, seed).filter(
    (p): p is AccuracyItem => p.kind === "choice",
  );
}

/** Score every item on the model as it is now (adapters on). */
export async function measureMedicalAccuracy(
  model: Model,
  chat: ChatPrompter,
  items: readonly AccuracyItem[],
  at: { iteration: number; epoch: number },
  signal?: AbortSignal,
): Promise<AccuracyEvent> {
  const t0 = performance.now();
  const ctx = {
    model,
    chat,
    variant: "fine-tuned" as const,
    maxNewTokens: 0,
    signal,
    validator: new MedicalSafetyValidator(),
  };
  let correct = 0;
  let correctNormalized = 0;
  let goldProbability = 0;
  for (const item of items) {
    const r = await runChoice(ctx, item);
    if (r.correct) correct++;
    if (r.correctNormalized) correctNormalized++;
    goldProbability += r.options![r.answer!]!.probability;
  }
  const n = items.length;
  return {
    type: "accuracy",
    iteration: at.iteration,
    epoch: at.epoch,
    items: n,
    correct,
    accuracy: correct / n,
    accuracyNormalized: correctNormalized / n,
    meanGoldProbability: goldProbability / n,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * Optimizer steps at which epochs end: epoch k ends with micro-batch k × batchesPerEpoch, inside
 * step ⌈k × batchesPerEpoch / accumulation⌉. Steps ≥ totalSteps are left out (the run's end is
 * measured anyway).
 */
export function epochEndSteps(
  batchesPerEpoch: number,
  gradAccumulationSteps: number,
  totalSteps: number,
): number[] {
  const out: number[] = [];
  for (let k = 1; ; k++) {
    const step = Math.ceil((k * batchesPerEpoch) / gradAccumulationSteps);
    if (step >= totalSteps) return out;
    out.push(step);
  }
}
