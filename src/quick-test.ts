/**
 * `medtune quick-test`: the stages in one process, on bundled data and the bundled model, without
 * notebooks (`npm start` runs the notebooks: `medtune run --preset quick_test`, src/workbench/).
 *
 *   native smoke → bundled model check → ingest (data/raw → data/processed) → augment (splits)
 *   → train (configs/training_configs/quick_test.yaml) → sample answers, base vs fine-tuned
 *   → report (evaluation/results/quick_test/report.html, one offline HTML file)
 *
 * Each stage is the same library call the CLI and notebooks make. The evaluation suite and
 * merge/export are not run here (they take longer); the summary names the commands that run them.
 * Options: --iters N (training steps; default the preset's), --samples N (answers to compare);
 * `medtune quick-test --help` prints them and does no work.
 */
import { join } from "node:path";
import { parseFlags, type CommandSpec } from "./cli-flags.js";
import { formatSmoke, runSmoke, type SmokeResult } from "./native/smoke.js";
import { stageBlocks } from "./notebook/blocks.js";
import { writeReport, type ReportBlock } from "./notebook/report.js";
import { bundledModelInfo, bundledModelPath, projectPaths } from "./paths.js";
import type { TrainingRunResult } from "./train/run.js";
import { compareAnswers, type AnswerComparison } from "./workbench/answers.js";

type Outcome = { stage: string; status: "ok" | "failed" | "not run here"; detail: string };

const say = (s: string) => process.stdout.write(`${s}\n`);

export const SPEC: CommandSpec = {
  command: "quick-test",
  summary:
    "The stages in one process, without notebooks: smoke, model check, ingest, augment, train, sample answers and an " +
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
        const { runAugment } = await import("./augment/files.js");
        const r = await runAugment({
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
  const answers: AnswerComparison[] = [];
  if (augment && modelFile) {
    run = await stage("train", async () => {
      const { runTraining } = await import("./train/run.js");
      const { formatEvent } = await import("./train/cli.js");
      return runTraining({
        config: join(projectPaths.configs, "training_configs", "quick_test.yaml"),
        iters,
        fresh: true,
        keepModel: true,
        onEvent: (e) => {
          const line = formatEvent(e);
          if (line) say(`  ${line}`);
        },
      });
    });
    if (run?.model) {
      await stage("sample answers", async () => {
        answers.push(
          ...(await compareAnswers({
            run: run!,
            records: join(projectPaths.processedData, "test.jsonl"),
            count: samples,
          })),
        );
        for (const a of answers)
          say(
            `  Q: ${a.question}\n     reference:  ${a.reference.slice(0, 160)}\n     base:       ${a.base.slice(0, 160)}\n     fine-tuned: ${a.fineTuned.slice(0, 160)}`,
          );
      });
      run.model.dispose();
    }
  }

  outcomes.push(
    {
      stage: "evaluate (safety, hallucination, citations, QA)",
      status: "not run here",
      detail: "medtune evaluate --run quick_test --suite quick",
    },
    {
      stage: "merge / export",
      status: "not run here",
      detail: "medtune merge --run quick_test --format both --quantize q8_0",
    },
  );

  // 7. The report.
  blocks.push(...reportBlocks(outcomes, smoke, [ingest, augment, run], answers));
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

function reportBlocks(
  outcomes: Outcome[],
  smoke: SmokeResult | undefined,
  results: unknown[],
  answers: AnswerComparison[],
): ReportBlock[] {
  const b: ReportBlock[] = [
    { kind: "heading", text: "Stages" },
    {
      kind: "table",
      columns: ["stage", "status", "detail"],
      rows: outcomes.map((o) => [o.stage, o.status, o.detail]),
    },
  ];
  if (smoke)
    b.push({ kind: "heading", text: "Platform" }, { kind: "pre", text: formatSmoke(smoke) });
  for (const r of results) if (r) b.push(...stageBlocks(r));
  if (answers.length) b.push(...stageBlocks(answers));
  return b;
}
