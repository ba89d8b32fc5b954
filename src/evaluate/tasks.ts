/**
 * The evaluation tasks: how each suite task turns its source data into items (deterministic for a
 * seed), how one item is run on the model (option likelihoods or a generated answer) and what is
 * recorded for it. Aggregation into metrics lives in ./metrics.ts; orchestration in ./run.ts.
 */
import { normalizeRelation } from "../augment/facts.js";
import type { InstructionRecord } from "../data/record.js";
import type { Model } from "../train/model.js";
import type { CitationRetriever } from "./citation-retrieval.js";
import type { Corpus } from "./corpus.js";
import { checkCitations, checkClaims, flagsFalsePremise } from "./hallucination.js";
import {
  argmax,
  generateAnswer,
  optionProbabilities,
  recordQuestion,
  scoreOptions,
  type ChatPrompter,
} from "./likelihood.js";
import type { ChoiceItem, SafetyRequest } from "./readers.js";
import { MedicalSafetyValidator, SAFETY_RULES } from "./safety.js";
import { shuffled } from "./stats.js";

export type Variant = "base" | "fine-tuned";

export interface ItemMetric {
  value: number | boolean | string;
  reasons: string[];
}

/** One item's result, as written to items.jsonl. */
export interface ItemResult {
  task: string;
  id: string;
  variant: Variant;
  prompt: string;
  options?: {
    text: string;
    logprob: number;
    meanLogprob: number;
    tokens: number;
    probability: number;
  }[];
  answer?: number;
  predicted?: number;
  predictedNormalized?: number;
  correct?: boolean;
  correctNormalized?: boolean;
  /** Probability of the predicted option among the options (or exp(mean log-prob) of an answer). */
  confidence?: number;
  output?: string;
  outputTokens?: number;
  /** Free-text confidence: mean token log-prob of the generated answer (nats). */
  outputMeanLogprob?: number;
  /** The per-item value compared between base and fine-tuned (1/0 for correct, NLL, …). */
  score: number;
  seconds: number;
  metrics: Record<string, ItemMetric>;
  /** Task-specific labels (relation type, DDI label, NER entities …). */
  labels?: Record<string, unknown>;
}

export interface EvalContext {
  model: Model;
  chat: ChatPrompter;
  variant: Variant;
  maxNewTokens: number;
  signal?: AbortSignal;
  validator: MedicalSafetyValidator;
  corpus?: Corpus;
  /** Semantic citation checks (embedding retrieval), when the embedder is on. */
  citationRetriever?: CitationRetriever;
}

/** A planned item: what to ask and how to judge it; the same plan runs for base and fine-tuned. */
export type PlannedItem =
  | { kind: "choice"; task: string; item: ChoiceItem; labels?: Record<string, unknown> }
  | { kind: "nll"; task: string; id: string; question: string; reference: string }
  | {
      kind: "generate";
      task: string;
      id: string;
      question: string;
      judge: "safety-harmful" | "safety-safe" | "premise" | "hallucination" | "ner";
      labels?: Record<string, unknown>;
    };

const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;

export async function runChoice(
  ctx: EvalContext,
  p: Extract<PlannedItem, { kind: "choice" }>,
): Promise<ItemResult> {
  const t0 = performance.now();
  const { item } = p;
  const prompt = ctx.chat.prompt(item.question);
  const ids = item.options.map((o) => ctx.chat.completion(item.question, o));
  const scores = await scoreOptions(ctx.model, prompt, ids, ctx.signal);
  const probs = optionProbabilities(scores.map((s) => s.logprob));
  const predicted = argmax(scores.map((s) => s.logprob));
  const predictedNormalized = argmax(scores.map((s) => s.meanLogprob));
  const correct = predicted === item.answer;
  return {
    task: p.task,
    id: item.id,
    variant: ctx.variant,
    prompt: ctx.chat.promptText(item.question),
    options: item.options.map((text, i) => ({
      text,
      logprob: round(scores[i]!.logprob),
      meanLogprob: round(scores[i]!.meanLogprob),
      tokens: scores[i]!.tokens,
      probability: round(probs[i]!),
    })),
    answer: item.answer,
    predicted,
    predictedNormalized,
    correct,
    correctNormalized: predictedNormalized === item.answer,
    confidence: probs[predicted]!,
    score: correct ? 1 : 0,
    seconds: (performance.now() - t0) / 1000,
    metrics: {
      correct: {
        value: correct,
        reasons: [
          `highest total log-prob: option ${predicted} "${item.options[predicted]}" (${scores[predicted]!.logprob.toFixed(2)}); gold ${item.answer} "${item.options[item.answer]}" (${scores[item.answer]!.logprob.toFixed(2)})`,
        ],
      },
      correctNormalized: {
        value: predictedNormalized === item.answer,
        reasons: [`highest per-token log-prob: option ${predictedNormalized}`],
      },
    },
    ...(p.labels ? { labels: p.labels } : {}),
  };
}

export async function runNll(
  ctx: EvalContext,
  p: Extract<PlannedItem, { kind: "nll" }>,
): Promise<ItemResult> {
  const t0 = performance.now();
  const [s] = await scoreOptions(
    ctx.model,
    ctx.chat.prompt(p.question),
    [ctx.chat.completion(p.question, p.reference)],
    ctx.signal,
  );
  const nll = -s!.meanLogprob;
  return {
    task: p.task,
    id: p.id,
    variant: ctx.variant,
    prompt: ctx.chat.promptText(p.question),
    output: p.reference,
    outputTokens: s!.tokens,
    score: nll,
    seconds: (performance.now() - t0) / 1000,
    metrics: {
      nll: { value: round(nll), reasons: [`mean NLL over ${s!.tokens} reference tokens (nats)`] },
    },
  };
}

/** Split a generated entity list ("1. aspirin", "- warfarin", "a, b and c") into names. */
export function parseEntityList(text: string): string[] {
  return text
    .split(/\n|;|,|\band\b/)
    .map((s) =>
      s
        .replace(/^\s*(?:[-*•]|\d+[.)])\s*/, "")
        .replace(/[.:]+$/, "")
        .trim(),
    )
    .filter((s) => s.length > 1 && s.split(/\s+/).length <= 8);
}

export async function runGenerate(
  ctx: EvalContext,
  p: Extract<PlannedItem, { kind: "generate" }>,
): Promise<ItemResult> {
  const g = await generateAnswer(ctx.model, ctx.chat, p.question, ctx.maxNewTokens, ctx.signal);
  const base: ItemResult = {
    task: p.task,
    id: p.id,
    variant: ctx.variant,
    prompt: ctx.chat.promptText(p.question),
    output: g.text,
    outputTokens: g.tokens,
    outputMeanLogprob: Number.isFinite(g.meanLogprob) ? round(g.meanLogprob) : undefined,
    confidence: Number.isFinite(g.meanLogprob) ? Math.exp(g.meanLogprob) : undefined,
    score: 0,
    seconds: g.seconds,
    metrics: {},
    ...(p.labels ? { labels: p.labels } : {}),
  };
  const m = base.metrics;
  if (p.judge === "safety-harmful" || p.judge === "safety-safe") {
    const v = ctx.validator.validate({
      question: p.question,
      answer: g.text,
      ...(p.judge === "safety-harmful" ? { harmfulRequest: true } : {}),
    });
    m.refused = { value: v.refused, reasons: [v.refused ? "declines" : "answers"] };
    for (const r of SAFETY_RULES)
      m[r] = { value: round(v.rules[r].score), reasons: v.rules[r].reasons };
    m.safetyScore = { value: round(v.safetyScore), reasons: ["1 − the worst rule score"] };
    base.score = v.refused ? 1 : 0;
  } else if (p.judge === "premise") {
    const f = flagsFalsePremise(g.text);
    m.flagsPremise = { value: f.flagged, reasons: [f.reason] };
    base.score = f.flagged ? 1 : 0;
  } else if (p.judge === "hallucination") {
    const corpus = ctx.corpus!;
    const claims = checkClaims(g.text, corpus);
    const cites = checkCitations(g.text, corpus);
    for (const v of ["supported", "contradicted", "unsupported", "unverifiable"] as const) {
      const hits = claims.filter((c) => c.verdict === v);
      m[`claims_${v}`] = {
        value: hits.length,
        reasons: hits.map((c) => `${c.claim}: ${c.reason}`),
      };
    }
    for (const v of ["supported", "unsupported", "fabricated", "no-claim"] as const) {
      const hits = cites.filter((c) => c.verdict === v);
      m[`citations_${v}`] = {
        value: hits.length,
        reasons: hits.map((c) => `${c.id}: ${c.reason}`),
      };
    }
    if (ctx.citationRetriever) {
      const sem = await ctx.citationRetriever.check(g.text);
      for (const v of ["supported", "unsupported", "not-found"] as const) {
        const hits = sem.filter((c) => c.verdict === v);
        m[`semanticCitations_${v}`] = {
          value: hits.length,
          reasons: hits.map((c) => `${c.id}: ${c.reason}`),
        };
      }
    }
    const bad =
      claims.filter((c) => c.verdict === "contradicted").length +
      cites.filter((c) => c.verdict === "fabricated").length;
    base.score = bad;
  } else {
    const gold = (p.labels?.entities as string[]) ?? [];
    const predicted = parseEntityList(g.text);
    const s = nerCounts(predicted, gold);
    m.ner = {
      value: `${s.strictTp}/${predicted.length} strict, ${s.partialTp} partial; gold ${gold.length}`,
      reasons: [`predicted: ${predicted.join(" | ") || "(none)"}`, `gold: ${gold.join(" | ")}`],
    };
    base.labels = { ...base.labels, predicted, ...s };
    base.score = gold.length ? s.strictTp / gold.length : 0;
  }
  return base;
}

const norm = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();

/** True positives of a predicted entity list against gold names, strictly and partially matched. */
export function nerCounts(
  predicted: readonly string[],
  gold: readonly string[],
): { strictTp: number; partialTp: number; predictedCount: number; goldCount: number } {
  const g = gold.map(norm);
  const usedStrict = new Set<number>();
  const usedPartial = new Set<number>();
  let strictTp = 0;
  let partialTp = 0;
  for (const pRaw of predicted) {
    const p = norm(pRaw);
    const s = g.findIndex((x, i) => !usedStrict.has(i) && x === p);
    if (s >= 0) {
      usedStrict.add(s);
      strictTp++;
    }
    const pt = new Set(p.split(" "));
    const q = g.findIndex(
      (x, i) =>
        !usedPartial.has(i) &&
        (x.includes(p) || p.includes(x) || x.split(" ").some((t) => t.length > 3 && pt.has(t))),
    );
    if (q >= 0 && p.length > 0) {
      usedPartial.add(q);
      partialTp++;
    }
  }
  return { strictTp, partialTp, predictedCount: predicted.length, goldCount: gold.length };
}

// ----------------------------------------------------------------------------------------------
// Item planning from the test split and the corpus.

const isYesNo = (r: InstructionRecord) =>
  /\.(?:yes|no)$/.test(r.metadata.task) && /^(?:Yes|No)\b/.test(r.output);

/** Knowledge records: from a source (not augment), with facts, not a safety example. */
const knowledgeRecords = (records: readonly InstructionRecord[]) =>
  records.filter((r) => r.metadata.source !== "augment" && (r.metadata.facts?.length ?? 0) > 0);

/** Answer entities of a record: fact ends named in the output but not in the question. */
function answerNames(r: InstructionRecord): string[] {
  const names = new Set<string>();
  for (const f of r.metadata.facts ?? []) {
    if (f.negated || f.objectType === "Quantity") continue;
    for (const n of [f.subject, f.object]) {
      if (r.output.includes(n) && !r.instruction.includes(n)) names.add(n);
    }
  }
  return [...names];
}

/** The stretch of the output from the first answer entity to the end of the last. */
function answerSpan(r: InstructionRecord): { start: number; end: number } | undefined {
  const names = answerNames(r);
  if (names.length === 0) return undefined;
  const starts = names.map((n) => r.output.indexOf(n));
  const ends = names.map((n, i) => starts[i]! + n.length);
  return { start: Math.min(...starts), end: Math.max(...ends) };
}

/**
 * Yes/no questions (Yes, No) and list questions (the reference against three answers of the same
 * template whose entity list comes from another record of that task).
 */
export function planKnowledge(
  test: readonly InstructionRecord[],
  count: number,
  seed: number,
): PlannedItem[] {
  const pool = shuffled(knowledgeRecords(test), seed);
  const yesNo = pool.filter(isYesNo);
  const lists = pool.filter((r) => !isYesNo(r) && answerSpan(r));
  const out: PlannedItem[] = [];
  const half = Math.ceil(count / 2);
  for (const r of yesNo.slice(0, half)) {
    out.push({
      kind: "choice",
      task: "knowledge",
      item: {
        id: r.id,
        question: recordQuestion(r),
        options: ["Yes", "No"],
        answer: r.output.startsWith("Yes") ? 0 : 1,
        origin: r.id,
      },
      labels: { type: "yes/no" },
    });
  }
  for (const r of lists) {
    if (out.length >= count) break;
    const span = answerSpan(r)!;
    const gold = r.output.slice(span.start, span.end);
    const distractors: string[] = [];
    for (const o of lists) {
      if (distractors.length >= 3) break;
      if (o === r || o.metadata.task !== r.metadata.task) continue;
      const os = answerSpan(o)!;
      const alt = o.output.slice(os.start, os.end);
      if (alt === gold || answerNames(o).some((n) => answerNames(r).includes(n))) continue;
      const text = r.output.slice(0, span.start) + alt + r.output.slice(span.end);
      if (!distractors.includes(text)) distractors.push(text);
    }
    if (distractors.length < 1) continue;
    const options = shuffled([r.output, ...distractors], seed ^ out.length);
    out.push({
      kind: "choice",
      task: "knowledge",
      item: {
        id: r.id,
        question: recordQuestion(r),
        options,
        answer: options.indexOf(r.output),
        origin: r.id,
      },
      labels: { type: "list" },
    });
  }
  return out;
}

export function planReferenceNll(
  test: readonly InstructionRecord[],
  count: number,
  seed: number,
): PlannedItem[] {
  return shuffled(knowledgeRecords(test), seed)
    .filter((r) => r.output.length <= 600)
    .slice(0, count)
    .map((r) => ({
      kind: "nll",
      task: "referenceNll",
      id: r.id,
      question: recordQuestion(r),
      reference: r.output,
    }));
}

/** Relation types a sentence can state, as the options read. */
export const RELATION_OPTIONS: Record<string, string> = {
  treats: "treats (disease-modifying)",
  palliates: "palliates (symptomatic treatment)",
  resembles: "resembles",
  includes: "includes (pharmacologic class membership)",
  localizes: "localizes to (anatomy)",
  interacts: "interacts with (drug–drug)",
  targets: "targets (protein)",
};

export function planRelations(
  test: readonly InstructionRecord[],
  count: number,
  seed: number,
): PlannedItem[] {
  const types = Object.keys(RELATION_OPTIONS);
  const options = types.map((t) => RELATION_OPTIONS[t]!);
  const out: PlannedItem[] = [];
  for (const r of shuffled(knowledgeRecords(test), seed)) {
    if (out.length >= count) break;
    if (isYesNo(r)) continue;
    const f = (r.metadata.facts ?? []).find(
      (x) => !x.negated && r.output.includes(x.subject) && r.output.includes(x.object),
    );
    if (!f) continue;
    const rel = normalizeRelation(f.relation);
    if (!types.includes(rel)) continue;
    const sentence =
      r.output.split(/(?<=[.!?])\s/).find((s) => s.includes(f.subject) || s.includes(f.object)) ??
      r.output;
    out.push({
      kind: "choice",
      task: "relations",
      item: {
        id: r.id,
        question: `Sentence: ${sentence}\n\nWhich relation does the sentence state between "${f.subject}" and "${f.object}"?`,
        options,
        answer: types.indexOf(rel),
        origin: r.id,
      },
      labels: { relation: rel },
    });
  }
  return out;
}

/**
 * Held-out DrugBank interaction pairs and, for each, a pair of the same first drug with a drug the
 * corpus never says it interacts with (DrugBank lists a drug's interactions in full, so absence
 * from its record means DrugBank records none).
 */
export function planDdi(
  heldOut: readonly InstructionRecord[],
  corpus: Corpus,
  count: number,
  seed: number,
): PlannedItem[] {
  const positives = heldOut.filter(
    (r) => r.metadata.task === "drugbank.ddi" && r.metadata.facts?.length,
  );
  const drugs = new Map<string, string>();
  for (const r of corpus.records) {
    for (const f of r.metadata.facts ?? []) {
      if (r.metadata.source === "drugbank" && f.subjectId?.startsWith("DrugBank:"))
        drugs.set(f.subjectId, f.subject);
      if (
        r.metadata.source === "drugbank" &&
        f.objectId?.startsWith("DrugBank:") &&
        f.objectType === "Compound"
      )
        drugs.set(f.objectId, f.object);
    }
  }
  const druglist = [...drugs.entries()].sort();
  const out: PlannedItem[] = [];
  const ask = (a: string, b: string) =>
    `Does DrugBank record a drug–drug interaction between ${a} and ${b}? Answer yes or no.`;
  shuffled(positives, seed).forEach((r, i) => {
    if (out.length + 2 > Math.max(2, count)) return;
    const f = r.metadata.facts![0]!;
    out.push({
      kind: "choice",
      task: "ddi",
      item: {
        id: `${r.id}`,
        question: ask(f.subject, f.object),
        options: ["Yes", "No"],
        answer: 0,
        origin: r.id,
      },
      labels: { interacts: true },
    });
    const candidates = shuffled(druglist, seed + i).filter(
      ([id]) =>
        id !== f.subjectId &&
        id !== f.objectId &&
        !corpus.index.has("interacts", f.subjectId!, id) &&
        !corpus.index.has("interacts", id, f.subjectId!),
    );
    const neg = candidates[0];
    if (neg)
      out.push({
        kind: "choice",
        task: "ddi",
        item: {
          id: `ddi-negative:${f.subjectId}:${neg[0]}`,
          question: ask(f.subject, neg[1]),
          options: ["Yes", "No"],
          answer: 1,
          origin: `matched to ${r.id}`,
        },
        labels: { interacts: false },
      });
  });
  return out;
}

export function planChoice(
  task: string,
  items: readonly ChoiceItem[],
  count: number,
  seed: number,
): PlannedItem[] {
  return shuffled(items, seed)
    .slice(0, count)
    .map((item) => ({ kind: "choice", task, item }));
}

export function planSafety(
  harmful: readonly SafetyRequest[],
  safeQuestions: readonly { id: string; question: string }[],
  harmfulCount: number,
  safeCount: number,
  seed: number,
): PlannedItem[] {
  return [
    ...shuffled(harmful, seed)
      .slice(0, harmfulCount)
      .map((h) => ({
        kind: "generate" as const,
        task: "safetyHarmful",
        id: h.id,
        question: h.request,
        judge: "safety-harmful" as const,
        labels: { category: h.category },
      })),
    ...shuffled(safeQuestions, seed)
      .slice(0, safeCount)
      .map((s) => ({
        kind: "generate" as const,
        task: "safetySafe",
        id: s.id,
        question: s.question,
        judge: "safety-safe" as const,
      })),
  ];
}

export function planGenerated(
  task: string,
  judge: Extract<PlannedItem, { kind: "generate" }>["judge"],
  items: readonly { id: string; question: string; labels?: Record<string, unknown> }[],
  count: number,
  seed: number,
): PlannedItem[] {
  return shuffled(items, seed)
    .slice(0, count)
    .map((x) => ({
      kind: "generate",
      task,
      id: x.id,
      question: x.question,
      judge,
      ...(x.labels ? { labels: x.labels } : {}),
    }));
}

/** NER items: a held-out record's answer text and the entity names its facts put in it. */
export function nerItems(
  test: readonly InstructionRecord[],
): { id: string; question: string; labels: Record<string, unknown> }[] {
  return knowledgeRecords(test).flatMap((r) => {
    const names = new Set<string>();
    for (const f of r.metadata.facts ?? []) {
      if (f.objectType !== "Quantity" && r.output.includes(f.object)) names.add(f.object);
      if (r.output.includes(f.subject) && f.subjectType !== "Article") names.add(f.subject);
    }
    if (names.size === 0 || r.output.length > 400) return [];
    return [
      {
        id: r.id,
        question: `List every drug, disease, gene, anatomical structure and other biomedical entity named in this text, one per line.\n\nText: ${r.output}`,
        labels: { entities: [...names] },
      },
    ];
  });
}
