/**
 * `npm start` → `medtune quick-test`: the main job, on bundled data and the bundled model.
 *
 *   native smoke → bundled model check → ingest (data/raw → data/processed) → augment (splits)
 *   → train (configs/training_configs/quick_test.yaml) → sample answers, base vs fine-tuned
 *   → report (evaluation/results/quick_test/report.html, one offline HTML file)
 *
 * Each stage is the same library call the CLI and notebooks make. Stages that do not exist yet
 * (the evaluation suite, merge/export) are listed as such in the summary, not pretended.
 * Options: --iters N (training steps; default the preset's), --samples N (answers to compare);
 * `medtune quick-test --help` prints them and does no work.
 */
import { join } from "node:path";
import { stepCountsChart, type AugmentReport } from "./augment/report.js";
import { parseFlags, type CommandSpec } from "./cli-flags.js";
import type { InstructionRecord } from "./data/record.js";
import { formatSmoke, runSmoke, type SmokeResult } from "./native/smoke.js";
import { lossFigure, memoryFigure } from "./notebook/figures.js";
import { writeReport, type ReportBlock } from "./notebook/report.js";
import { bundledModelInfo, bundledModelPath, projectPaths } from "./paths.js";
import { recordMessages } from "./train/batches.js";
import type { TrainingRunResult } from "./train/run.js";

type Outcome = { stage: string; status: "ok" | "failed" | "not implemented yet"; detail: string };

const say = (s: string) => process.stdout.write(`${s}\n`);

export const SPEC: CommandSpec = {
  command: "quick-test",
  summary:
    "The main job (npm start): smoke, model check, ingest, augment, train, sample answers and an " +
    "HTML report, on the bundled data and model. Writes data/processed, checkpoints/quick_test, " +
    "evaluation/results/quick_test/report.html.",
  flags: {
    iters: {
      type: "int",
      min: 1,
      value: "N",
      description: "training steps",
      defaultText: "the quick_test preset's",
    },
    samples: {
      type: "int",
      min: 1,
      value: "N",
      description: "test questions answered by the base and fine-tuned model",
      defaultText: "3",
    },
  },
  epilog: "Exit status: 0 every stage ok; 1 a stage failed (the summary names it).",
};

export async function main(argv: string[]): Promise<number> {
  const p = parseFlags(argv, SPEC);
  if (p.kind !== "ok") return p.exit;
  const iters = p.values.iters as number | undefined;
  const samples = (p.values.samples as number | undefined) ?? 3;
  const outcomes: Outcome[] = [];
  const blocks: ReportBlock[] = [];
  const started = Date.now();

  const stage = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    say(`\n== ${name}`);
    const t0 = Date.now();
    try {
      const value = await fn();
      outcomes.push({
        stage: name,
        status: "ok",
        detail: `${((Date.now() - t0) / 1000).toFixed(1)} s`,
      });
      return value;
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      say(`FAILED: ${msg}`);
      outcomes.push({ stage: name, status: "failed", detail: msg.split("\n")[0] ?? msg });
      return undefined;
    }
  };

  // 1. The native stack.
  const smoke = await stage("native", async () => {
    const r: SmokeResult = runSmoke();
    say(formatSmoke(r));
    if (r.matmulMaxAbsError > 1e-3)
      throw new Error(`matmul differs from the JS reference by ${r.matmulMaxAbsError}`);
    return r;
  });

  // 2. The bundled model.
  const modelFile = await stage("model", async () => {
    const info = bundledModelInfo();
    const file = await bundledModelPath({ verify: true });
    say(`${info.name} (${info.quantization} GGUF, ${info.license}) at ${file}, sha256 verified`);
    return file;
  });

  // 3. Ingest the bundled samples of all five sources.
  const ingest = await stage("ingest", async () => {
    const { runIngest } = await import("./ingest/index.js");
    const r = await runIngest({
      sources: ["hetionet", "chembl_sqlite", "pubmed", "clinicaltrials", "drugbank"],
      inDir: projectPaths.rawData,
      outDir: projectPaths.processedData,
      logDir: join(projectPaths.root, "logs"),
      progress: false,
    });
    for (const s of r.sources)
      say(
        `  ${s.source.padEnd(15)} ${String(s.records).padStart(6)} records  ${String(s.skipped).padStart(4)} skipped${s.ok ? "" : "  FAILED"}`,
      );
    say(`  audit log: ${r.auditLog}`);
    if (!r.ok) {
      const failed = r.sources.filter((s) => !s.ok).map((s) => `${s.source}: ${s.error}`);
      throw new Error(`${failed.join("; ")} (audit log ${r.auditLog})`);
    }
    return r;
  });

  // 4. Augment: clean, safety examples, dedup, splits.
  const augment = ingest
    ? await stage("augment", async () => {
        const { augmentFiles } = await import("./augment/files.js");
        const r = await augmentFiles({
          inDir: projectPaths.processedData,
          outDir: projectPaths.processedData,
          onEvent: (e) => {
            if (e.type === "step") say(`  ${e.report.step}: ${e.report.in} → ${e.report.out}`);
          },
        });
        if (!r.ok) throw new Error(r.error);
        say(
          `  splits: train ${r.report.splits.train}, valid ${r.report.splits.valid}, test ${r.report.splits.test}`,
        );
        return r.report;
      })
    : undefined;

  // 5. Train the quick_test preset, then 6. compare answers with adapters off and on.
  let run: TrainingRunResult | undefined;
  const answers: { question: string; reference: string; base: string; tuned: string }[] = [];
  if (augment && modelFile) {
    run = await stage("train", async () => {
      const { runTraining } = await import("./train/run.js");
      const { formatEvent } = await import("./train/cli.js");
      return runTraining(join(projectPaths.configs, "training_configs", "quick_test.yaml"), {
        iters,
        resume: false,
        keepModel: true,
        onEvent: (e) => {
          const line = formatEvent(e);
          if (line) say(`  ${line}`);
        },
      });
    });
    if (run?.model) {
      await stage("sample answers", async () => {
        const { readTrainingRecords } = await import("./train/run.js");
        const test = readTrainingRecords(
          join(projectPaths.processedData, "test.jsonl"),
        ) as InstructionRecord[];
        const picked = pickSamples(test, samples);
        const model = run!.model!;
        const { tokenizer, template } = run!;
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
          const out = await model.generate(prompt, { maxTokens: 64, stopTokens: stop });
          return tokenizer.decode(out.tokens, { skipSpecialTokens: true }).trim();
        };
        for (const r of picked) {
          const question = [r.instruction, r.input].filter(Boolean).join("\n");
          const base = await answer(r, false);
          const tuned = await answer(r, true);
          answers.push({ question, reference: r.output, base, tuned });
          say(
            `  Q: ${question}\n     reference:  ${r.output.slice(0, 160)}\n     base:       ${base.slice(0, 160)}\n     fine-tuned: ${tuned.slice(0, 160)}`,
          );
        }
        model.setAdaptersEnabled(true);
      });
      run.model.dispose();
    }
  }

  for (const name of ["evaluate (safety, hallucination, citations, QA)", "merge / export"]) {
    outcomes.push({ stage: name, status: "not implemented yet", detail: "not yet filed" });
  }

  // 7. The report.
  blocks.push(...reportBlocks(outcomes, smoke, ingest, augment, run, answers));
  const reportFile = await stage("report", async () => {
    const file = writeReport(
      join(projectPaths.root, "evaluation", "results", "quick_test", "report.html"),
      {
        title: "medtune quick test",
        subtitle: `Bundled data and ${bundledModelInfo().name}; ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`,
        blocks,
      },
    );
    say(`  ${file}`);
    return file;
  });

  say(`\n== quick-test summary (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  for (const o of outcomes)
    say(`  ${o.stage.padEnd(48)} ${o.status}${o.detail ? `  (${o.detail})` : ""}`);
  if (reportFile) say(`report: ${reportFile}`);
  return outcomes.some((o) => o.status === "failed") ? 1 : 0;
}

/** A few test records, one per source where possible, chosen deterministically. */
function pickSamples(records: readonly InstructionRecord[], n: number): InstructionRecord[] {
  const bySource = new Map<string, InstructionRecord[]>();
  for (const r of records) {
    if (r.metadata.task.startsWith("safety") || r.output.length > 400) continue;
    const list = bySource.get(r.metadata.source) ?? [];
    list.push(r);
    bySource.set(r.metadata.source, list);
  }
  const out: InstructionRecord[] = [];
  const sources = [...bySource.keys()].sort();
  for (let i = 0; out.length < n && i < n; i++) {
    for (const s of sources) {
      const r = bySource.get(s)?.[i];
      if (r && out.length < n) out.push(r);
    }
  }
  return out;
}

function reportBlocks(
  outcomes: Outcome[],
  smoke: SmokeResult | undefined,
  ingest: Awaited<ReturnType<typeof import("./ingest/index.js").runIngest>> | undefined,
  augment: AugmentReport | undefined,
  run: TrainingRunResult | undefined,
  answers: { question: string; reference: string; base: string; tuned: string }[],
): ReportBlock[] {
  const b: ReportBlock[] = [];
  b.push({ kind: "heading", text: "Stages" });
  b.push({
    kind: "table",
    columns: ["stage", "status", "detail"],
    rows: outcomes.map((o) => [o.stage, o.status, o.detail]),
  });
  if (smoke) {
    b.push({ kind: "heading", text: "Platform" });
    b.push({ kind: "pre", text: formatSmoke(smoke) });
  }
  if (ingest) {
    b.push({ kind: "heading", text: "Ingest" });
    b.push({
      kind: "table",
      columns: ["source", "records", "skipped", "input files"],
      rows: ingest.sources.map((s) => [s.source, s.records, s.skipped, s.files.length]),
      caption: `audit log: ${ingest.auditLog}`,
    });
  }
  if (augment) {
    b.push({ kind: "heading", text: "Augment" });
    b.push({
      kind: "table",
      columns: ["step", "in", "dropped", "flagged", "changed", "added", "out"],
      rows: augment.steps.map((s) => [
        s.step,
        s.in,
        s.dropped,
        s.flagged,
        s.modified,
        s.added,
        s.out,
      ]),
      caption: `splits: train ${augment.splits.train}, valid ${augment.splits.valid}, test ${augment.splits.test}; leaked keys: ${augment.leaks}`,
    });
    b.push({ kind: "figure", figure: stepCountsChart(augment.steps) });
  }
  if (run) {
    const done = run.done;
    b.push({ kind: "heading", text: "Training" });
    b.push({
      kind: "table",
      columns: ["", ""],
      rows: [
        ["model", run.config.model],
        [
          "LoRA",
          `rank ${run.config.loraRank}, alpha ${run.config.loraAlpha}, keys ${run.config.loraKeys.join(", ")}`,
        ],
        ["steps", `${done.iteration} (${done.stopReason})`],
        [
          "examples",
          `${run.trainExamples} train, ${run.validExamples} valid; padding ${(100 * run.paddingFraction).toFixed(1)}%`,
        ],
        ["final train loss", done.trainLoss],
        ["final valid loss", Number.isFinite(done.validLoss) ? done.validLoss : "—"],
        ["trained tokens", done.trainedTokens],
        ["peak memory", `${(done.peakMemoryBytes / 2 ** 20).toFixed(0)} MiB`],
        ["adapters", `${run.adapterDirs.mlx} (mlx-lm), ${run.adapterDirs.peft} (PEFT)`],
      ],
    });
    b.push({ kind: "figure", figure: lossFigure(run.events) });
    b.push({ kind: "figure", figure: memoryFigure(run.events) });
  }
  if (answers.length) {
    b.push({ kind: "heading", text: "Sample answers (test split), base vs fine-tuned" });
    b.push({
      kind: "text",
      text: "Greedy decoding, 64 new tokens at most. A quick look, not an evaluation: the evaluation suite is a later stage.",
    });
    b.push({
      kind: "table",
      columns: ["question", "reference", "base model", "fine-tuned"],
      rows: answers.map((a) => [a.question, a.reference, a.base, a.tuned]),
    });
  }
  return b;
}
