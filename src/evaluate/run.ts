/**
 * runEvaluation: one suite on one model, base and (with adapters) fine-tuned on the same items in
 * one loaded model, with progress, cancellation and the run layout of DESIGN.md:
 *
 *   evaluation/results/<run>/<suite>/summary.json   metrics, intervals, comparisons, timings
 *   evaluation/results/<run>/<suite>/items.jsonl    every item: prompt, option scores or output, metrics with reasons
 *   evaluation/results/<run>/<suite>/figures.json   Plotly figures by name
 *   evaluation/results/<run>/<suite>/report.html    one offline HTML file
 *
 *   const r = await runEvaluation({ run: "quick_test", suite: "quick", onEvent: console.log });
 *
 * Files are written only when the run completes (atomically), so a cancelled or failed run leaves
 * the previous results in place.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { parseRecordLine } from "../data/jsonl.js";
import type { InstructionRecord } from "../data/record.js";
import type { PlotlyFigure } from "../notebook/report.js";
import { writeReport } from "../notebook/report.js";
import { bundledModelPath, projectPaths } from "../paths.js";
import { writeFileAtomicSync } from "../fs-atomic.js";
import { Model } from "../train/model.js";
import { loadCorpus, type Corpus } from "./corpus.js";
import { accuracyFigure, deltaFigure, reliabilityFigure, safetyFigure } from "./figures.js";
import { ChatPrompter, throwIfAborted } from "./likelihood.js";
import { evaluationReportBlocks } from "./report-blocks.js";
import { compareVariants, summarizeTask, type Comparison, type TaskMetrics } from "./metrics.js";
import {
  readMedHaltFake,
  readMedMCQA,
  readMedQA,
  readMedSafetyBench,
  readPubMedQA,
  type ChoiceItem,
} from "./readers.js";
import {
  MedicalSafetyValidator,
  validatorAccuracy,
  type LabelledAnswer,
  type RuleAccuracy,
} from "./safety.js";
import { calibration } from "./stats.js";
import { loadSuite, type Suite } from "./suite.js";
import {
  nerItems,
  planChoice,
  planDdi,
  planGenerated,
  planKnowledge,
  planReferenceNll,
  planRelations,
  planSafety,
  runChoice,
  runGenerate,
  runNll,
  type EvalContext,
  type ItemResult,
  type PlannedItem,
  type Variant,
} from "./tasks.js";

export interface RunEvaluationOptions {
  /** A model file/directory (default: the bundled model) or a model already loaded. */
  model?: string | Model;
  /** Adapter directory (mlx-lm or PEFT layout, or a run folder holding mlx/ and peft/). */
  adapters?: string;
  /** A training run name: adapters from models/lora_adapters/<run>/ and results under <run>. */
  run?: string;
  /** "quick", "full" or a path to a suite YAML. */
  suite: string | Suite;
  /** Default evaluation/results/<run>/<suite>. */
  outDir?: string;
  /** Tokenizer + chat template; default the model's own (a random test model has none). */
  chat?: ChatPrompter;
  onEvent?: (e: EvaluationEvent) => void;
  signal?: AbortSignal;
}

export type EvaluationEvent =
  | {
      type: "progress";
      task: string;
      variant: Variant;
      done: number;
      total: number;
      elapsedSeconds: number;
      etaSeconds: number;
    }
  | { type: "item"; item: ItemResult }
  | { type: "warning"; message: string }
  | { type: "done"; outDir: string; seconds: number };

export interface SideBySide {
  task: string;
  id: string;
  question: string;
  base: string;
  fineTuned: string;
}

export interface EvaluationResult {
  suite: string;
  run: string;
  model: string;
  adapters: string | null;
  seed: number;
  variants: Variant[];
  tasks: Partial<Record<Variant, TaskMetrics[]>>;
  comparisons: Comparison[];
  /** Precision and recall of each safety rule on the labels the rules were developed with. */
  validator: RuleAccuracy[];
  /** The same on held-out labels written afterwards (never used for tuning). */
  validatorHeldOut: RuleAccuracy[];
  sideBySide: SideBySide[];
  /** Seconds per task (both variants) and per item kind, for planning bigger suites. */
  timings: { task: string; items: number; seconds: number; secondsPerItem: number }[];
  seconds: number;
  warnings: string[];
  files: { summary: string; items: string; figures: string; report: string };
  figures: Record<string, PlotlyFigure>;
}

const inRoot = (p: string) => (isAbsolute(p) ? p : resolve(projectPaths.root, p));

/** The adapter folder to load: a layout folder, or the mlx/ (else peft/) folder of a run. */
export function resolveAdapterDir(dir: string): string {
  const d = inRoot(dir);
  if (existsSync(join(d, "adapter_config.json"))) return d;
  for (const sub of ["mlx", "peft"])
    if (existsSync(join(d, sub, "adapter_config.json"))) return join(d, sub);
  throw new Error(
    `${d}: no adapter_config.json here or in mlx/ or peft/ — train first (medtune train) or pass --adapters DIR`,
  );
}

function readSplit(file: string): InstructionRecord[] {
  if (!existsSync(file))
    throw new Error(
      `${file}: the held-out split is missing — run \`medtune augment\` first (or set data.testSplit)`,
    );
  return readFileSync(file, "utf8")
    .split("\n")
    .flatMap((t, i) => (t.trim() ? [parseRecordLine(t, file, i + 1)] : []));
}

function readLabels(file: string): LabelledAnswer[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .flatMap((t, i) => {
      if (!t.trim()) return [];
      const v = JSON.parse(t) as LabelledAnswer;
      if (
        typeof v.question !== "string" ||
        typeof v.answer !== "string" ||
        !Array.isArray(v.expected)
      )
        throw new Error(`${file}:${i + 1}: expected {id, question, answer, expected: [rules]}`);
      return [v];
    });
}

/** Every item of the suite, in a fixed order for the seed. */
async function planSuite(
  suite: Suite,
  warn: (m: string) => void,
): Promise<{ plan: PlannedItem[]; corpus?: Corpus }> {
  const t = suite.tasks;
  const d = suite.data;
  const seed = suite.seed;
  const plan: PlannedItem[] = [];
  let pubmedqa: ChoiceItem[] | undefined;
  const pubmed = () => (pubmedqa ??= readPubMedQA(d.pubmedqa, d.pubmedqaSplit));
  if (t.pubmedqa) plan.push(...planChoice("pubmedqa", pubmed(), t.pubmedqa, seed));
  if (t.medqa) plan.push(...planChoice("medqa", readMedQA(d.medqa!), t.medqa, seed));
  if (t.medmcqa) plan.push(...planChoice("medmcqa", readMedMCQA(d.medmcqa!), t.medmcqa, seed));
  const needsSplit =
    t.knowledge || t.referenceNll || t.relations || t.ddi || t.hallucination || t.ner;
  const test = needsSplit ? readSplit(d.testSplit) : [];
  if (t.knowledge) plan.push(...planKnowledge(test, t.knowledge, seed));
  if (t.referenceNll) plan.push(...planReferenceNll(test, t.referenceNll, seed));
  if (t.relations) plan.push(...planRelations(test, t.relations, seed));
  const corpus =
    t.ddi || t.hallucination ? await loadCorpus(d.processed, d.augmentConfig) : undefined;
  if (t.ddi) {
    const heldOut = [...test, ...(existsSync(d.validSplit) ? readSplit(d.validSplit) : [])];
    plan.push(...planDdi(heldOut, corpus!, t.ddi, seed));
  }
  if (t.medhalt || t.medhaltGenerated) {
    let skipped = 0;
    const fake = readMedHaltFake(d.medhalt, () => skipped++);
    if (skipped) warn(`${d.medhalt}: ${skipped} rows without an "I do not know" option skipped`);
    if (t.medhalt) plan.push(...planChoice("medhalt", fake, t.medhalt, seed));
    if (t.medhaltGenerated)
      plan.push(
        ...planGenerated(
          "medhaltGenerated",
          "premise",
          fake.map((f) => ({ id: f.id, question: f.stem ?? f.question })),
          t.medhaltGenerated,
          seed + 1,
        ),
      );
  }
  if (t.safetyHarmful || t.safetySafe) {
    const harmful = t.safetyHarmful ? readMedSafetyBench(d.medsafetybench) : [];
    const ours = existsSync(d.validatorLabels)
      ? readLabels(d.validatorLabels)
          .filter((l) => l.id.startsWith("safe-disclaimer-"))
          .map((l) => ({ id: `labels:${l.id}`, question: l.question }))
      : [];
    const safe = [
      ...ours,
      ...(t.safetySafe ? pubmed().map((p) => ({ id: p.id, question: p.stem! })) : []),
    ];
    plan.push(...planSafety(harmful, safe, t.safetyHarmful, t.safetySafe, seed));
  }
  if (t.hallucination) {
    const qs = test
      .filter(
        (r) =>
          r.metadata.source !== "augment" &&
          (r.metadata.facts?.length ?? 0) > 0 &&
          !/\.(?:yes|no)$/.test(r.metadata.task),
      )
      .map((r) => ({
        id: r.id,
        question: `${r.instruction}\nAnswer briefly and cite the database identifiers (PMID, NCT, CHEMBL, DrugBank or Hetionet ids) you rely on.`,
      }));
    plan.push(...planGenerated("hallucination", "hallucination", qs, t.hallucination, seed));
  }
  if (t.ner) plan.push(...planGenerated("ner", "ner", nerItems(test), t.ner, seed));
  for (const [task, want] of Object.entries(t)) {
    const got = plan.filter((p) => p.task === task).length;
    if (want > 0 && got < want) warn(`${task}: ${got} items available of ${want} asked`);
  }
  return { plan, corpus };
}

const itemKind = (p: PlannedItem) => p.kind;

export async function runEvaluation(opts: RunEvaluationOptions): Promise<EvaluationResult> {
  const started = performance.now();
  const suite = typeof opts.suite === "string" ? loadSuite(opts.suite) : opts.suite;
  const warnings: string[] = [];
  const emit = (e: EvaluationEvent) => opts.onEvent?.(e);
  const warn = (message: string) => {
    warnings.push(message);
    emit({ type: "warning", message });
  };
  const adapterDir = opts.adapters
    ? resolveAdapterDir(opts.adapters)
    : opts.run
      ? resolveAdapterDir(join(projectPaths.models(), "lora_adapters", opts.run))
      : undefined;
  const runName = opts.run ?? (adapterDir ? adapterDir.split(/[\\/]/).slice(-2).join("_") : "base");
  const outDir = inRoot(opts.outDir ?? join("evaluation", "results", runName, suite.name));

  const { plan, corpus } = await planSuite(suite, warn);
  if (plan.length === 0)
    throw new Error(
      `${suite.file}: the suite has no items (every task count is 0 or its data is empty)`,
    );
  throwIfAborted(opts.signal);

  const ownModel = typeof opts.model !== "object";
  const model =
    typeof opts.model === "object"
      ? opts.model
      : await Model.load(opts.model ? inRoot(opts.model) : await bundledModelPath());
  try {
    if (adapterDir) model.loadAdapters(adapterDir);
    const hasAdapters = model.adapters !== undefined;
    if (!hasAdapters) warn("no adapters: evaluating the base model only");
    const variants: Variant[] = hasAdapters ? ["base", "fine-tuned"] : ["base"];
    const chat = opts.chat ?? (await ChatPrompter.forModel(model.source));
    const validator = new MedicalSafetyValidator();

    // Progress: remaining time from the measured seconds of each item kind so far.
    const total = plan.length * variants.length;
    const secondsByKind = new Map<string, { s: number; n: number }>();
    const guess: Record<string, number> = {
      choice: 0.5,
      nll: 0.3,
      generate: suite.maxNewTokens / 14,
    };
    const remainingSeconds = (fromIndex: number, variantIndex: number) => {
      let s = 0;
      const est = (p: PlannedItem) => {
        const k = secondsByKind.get(itemKind(p));
        return k ? k.s / k.n : guess[itemKind(p)]!;
      };
      for (let v = variantIndex; v < variants.length; v++)
        for (let i = v === variantIndex ? fromIndex : 0; i < plan.length; i++) s += est(plan[i]!);
      return s;
    };

    const results: Record<string, ItemResult[]> = {};
    let done = 0;
    for (const [vi, variant] of variants.entries()) {
      if (hasAdapters) model.setAdaptersEnabled(variant === "fine-tuned");
      const ctx: EvalContext = {
        model,
        chat,
        variant,
        maxNewTokens: suite.maxNewTokens,
        signal: opts.signal,
        validator,
        corpus,
      };
      const out: ItemResult[] = (results[variant] = []);
      for (const [i, p] of plan.entries()) {
        throwIfAborted(opts.signal);
        const r =
          p.kind === "choice"
            ? await runChoice(ctx, p)
            : p.kind === "nll"
              ? await runNll(ctx, p)
              : await runGenerate(ctx, p);
        out.push(r);
        const k = secondsByKind.get(p.kind) ?? { s: 0, n: 0 };
        secondsByKind.set(p.kind, { s: k.s + r.seconds, n: k.n + 1 });
        done++;
        emit({ type: "item", item: r });
        emit({
          type: "progress",
          task: p.task,
          variant,
          done,
          total,
          elapsedSeconds: (performance.now() - started) / 1000,
          etaSeconds: remainingSeconds(i + 1, vi),
        });
      }
    }
    if (hasAdapters) model.setAdaptersEnabled(true);

    const taskNames = [...new Set(plan.map((p) => p.task))];
    const tasks: Partial<Record<Variant, TaskMetrics[]>> = {};
    for (const v of variants)
      tasks[v] = taskNames.map((t) =>
        summarizeTask(
          t,
          results[v]!.filter((r) => r.task === t),
        ),
      );
    const comparisons = hasAdapters
      ? taskNames.flatMap((t) => {
          const c = compareVariants(
            t,
            results.base!.filter((r) => r.task === t),
            results["fine-tuned"]!.filter((r) => r.task === t),
            suite.seed,
            suite.bootstrapResamples,
          );
          return c ? [c] : [];
        })
      : [];
    const sideBySide: SideBySide[] = hasAdapters
      ? results
          .base!.filter((r) => r.output !== undefined && r.task !== "referenceNll")
          .map((b) => {
            const t = results["fine-tuned"]!.find((x) => x.id === b.id && x.task === b.task)!;
            const p = plan.find((x) => x.kind === "generate" && x.id === b.id) as Extract<
              PlannedItem,
              { kind: "generate" }
            >;
            return {
              task: b.task,
              id: b.id,
              question: p.question,
              base: b.output!,
              fineTuned: t.output!,
            };
          })
      : [];
    const timings = taskNames.map((t) => {
      const rs = variants.flatMap((v) => results[v]!.filter((r) => r.task === t));
      const s = rs.reduce((a, r) => a + r.seconds, 0);
      return { task: t, items: rs.length, seconds: s, secondsPerItem: s / rs.length };
    });
    const scoreLabels = (f: string) =>
      existsSync(f) ? validatorAccuracy(readLabels(f), validator) : [];
    const validatorScores = scoreLabels(suite.data.validatorLabels);
    const validatorHeldOut = scoreLabels(suite.data.validatorHeldOut);

    const figures: Record<string, PlotlyFigure> = {};
    const byVariant = Object.fromEntries(variants.map((v) => [v, tasks[v]!]));
    if (taskNames.some((t) => tasks.base!.find((x) => x.task === t)?.metrics.accuracy))
      figures.accuracy = accuracyFigure(byVariant);
    // Reliability over every likelihood item of the suite, per variant.
    const cal = Object.fromEntries(
      variants.map((v) => {
        const ch = results[v]!.filter((r) => r.options);
        return [
          v,
          calibration(
            ch.map((r) => r.confidence!),
            ch.map((r) => !!r.correct),
          ),
        ];
      }),
    );
    if (Object.values(cal).some((c) => c.n > 0))
      figures.reliability = reliabilityFigure(cal, "Reliability (all likelihood items)");
    if (taskNames.some((t) => t.startsWith("safety") || t === "medhaltGenerated"))
      figures.safety = safetyFigure(byVariant);
    if (comparisons.length) figures.deltas = deltaFigure(comparisons);

    throwIfAborted(opts.signal);
    mkdirSync(outDir, { recursive: true });
    const files = {
      summary: join(outDir, "summary.json"),
      items: join(outDir, "items.jsonl"),
      figures: join(outDir, "figures.json"),
      report: join(outDir, "report.html"),
    };
    const seconds = (performance.now() - started) / 1000;
    const result: EvaluationResult = {
      suite: suite.name,
      run: runName,
      model: model.source,
      adapters: adapterDir ?? null,
      seed: suite.seed,
      variants,
      tasks,
      comparisons,
      validator: validatorScores,
      validatorHeldOut,
      sideBySide,
      timings,
      seconds,
      warnings,
      files,
      figures,
    };
    writeFileAtomicSync(
      files.items,
      variants
        .flatMap((v) => results[v]!)
        .map((r) => JSON.stringify(r))
        .join("\n") + "\n",
    );
    const { figures: _f, ...summary } = result;
    writeFileAtomicSync(files.summary, JSON.stringify(summary, null, 2) + "\n");
    writeFileAtomicSync(files.figures, JSON.stringify(figures) + "\n");
    writeReport(files.report, {
      title: `medtune evaluation: ${runName} / ${suite.name}`,
      subtitle: model.source,
      blocks: evaluationReportBlocks(result),
    });
    emit({ type: "done", outDir, seconds });
    return result;
  } finally {
    if (ownModel) model.dispose();
  }
}
