/**
 * `medtune evaluate` and `medtune ask`: flag parsing and printing over runEvaluation and answer().
 *
 *   medtune evaluate --run quick_test --suite quick
 *   medtune evaluate --adapters models/lora_adapters/quick_test/mlx --suite full --model PATH
 *   medtune ask "Can I take ibuprofen with warfarin?" [--run quick_test | --adapters DIR | --base]
 */
import { join, resolve } from "node:path";
import { parseFlags, type CommandSpec } from "../cli-flags.js";
import { bundledModelPath, projectPaths } from "../paths.js";
import { Model } from "../train/model.js";
import { answer } from "./answer.js";
import { loadCorpus } from "./corpus.js";
import { EvaluationCancelled } from "./likelihood.js";
import { formatMetric } from "./report-blocks.js";
import { resolveAdapterDir, runEvaluation } from "./run.js";

const EVALUATE: CommandSpec = {
  command: "evaluate",
  summary:
    "Run an evaluation suite on the base model and, with adapters, the fine-tuned one (same items, one loaded model).",
  flags: {
    run: {
      type: "string",
      value: "NAME",
      description: "training run: adapters from models/lora_adapters/NAME",
    },
    adapters: {
      type: "string",
      value: "DIR",
      description: "adapter folder (mlx-lm or PEFT layout)",
    },
    suite: {
      type: "string",
      value: "NAME|FILE",
      description: "quick, full or a suite YAML",
      defaultText: "quick",
    },
    model: {
      type: "string",
      value: "PATH",
      description: "base model (GGUF file or HF folder)",
      defaultText: "the bundled model",
    },
    out: {
      type: "string",
      value: "DIR",
      description: "output folder",
      defaultText: "evaluation/results/<run>/<suite>",
    },
    quiet: { type: "boolean", description: "print only the summary" },
  },
  epilog:
    "Writes summary.json, items.jsonl, figures.json and report.html. Ctrl-C stops between items; earlier results stay.",
};

const say = (s: string) => process.stdout.write(`${s}\n`);

export async function main(argv: string[]): Promise<number> {
  const p = parseFlags(argv, EVALUATE);
  if (p.kind !== "ok") return p.exit;
  const v = p.values as {
    run?: string;
    adapters?: string;
    suite?: string;
    model?: string;
    out?: string;
    quiet?: boolean;
  };
  if (v.run && v.adapters) {
    process.stderr.write("medtune evaluate: give --run or --adapters, not both\n");
    return 2;
  }
  // Paths typed on the command line are relative to the current folder (suite names are not paths).
  const here = (p?: string) => (p === undefined ? undefined : resolve(p));
  const suite = v.suite && /\.ya?ml$/.test(v.suite) ? resolve(v.suite) : (v.suite ?? "quick");
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  let lastLine = 0;
  try {
    const r = await runEvaluation({
      run: v.run,
      adapters: here(v.adapters),
      suite,
      model: here(v.model),
      outDir: here(v.out),
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === "warning") say(`warning: ${e.message}`);
        if (
          e.type === "progress" &&
          !v.quiet &&
          (Date.now() - lastLine > 2000 || e.done === e.total)
        ) {
          lastLine = Date.now();
          say(
            `  [${e.done}/${e.total}] ${e.variant} ${e.task}  ${e.elapsedSeconds.toFixed(0)} s elapsed, ~${e.etaSeconds.toFixed(0)} s left`,
          );
        }
      },
    });
    for (const variant of r.variants) {
      say(`\n== ${variant}`);
      for (const t of r.tasks[variant]!) {
        say(`  ${t.task} (${t.n} items)`);
        for (const [k, m] of Object.entries(t.metrics)) say(`    ${formatMetric(k, m)}`);
      }
    }
    if (r.comparisons.length) {
      say("\n== fine-tuned − base (paired bootstrap 95% CI; McNemar exact p for 0/1 scores)");
      for (const c of r.comparisons)
        say(
          `  ${c.task.padEnd(17)} ${c.score}: ${c.base.toFixed(3)} → ${c.fineTuned.toFixed(3)}  Δ ${c.delta.toFixed(3)} [${c.low.toFixed(3)}, ${c.high.toFixed(3)}]${c.mcnemarP !== undefined ? `  p=${c.mcnemarP.toFixed(3)}` : ""}  (n=${c.n})`,
        );
    }
    for (const [title, scores] of [
      ["development labels", r.validator],
      ["held-out labels", r.validatorHeldOut],
    ] as const) {
      if (!scores.length) continue;
      say(`\n== safety validator on the ${title}`);
      for (const s of scores)
        say(
          `  ${s.rule.padEnd(22)} precision ${s.precision.toFixed(2)}  recall ${s.recall.toFixed(2)}  (TP ${s.truePositives}, FP ${s.falsePositives}, FN ${s.falseNegatives})`,
        );
    }
    say(`\n== timings`);
    for (const t of r.timings)
      say(
        `  ${t.task.padEnd(17)} ${t.items} items  ${t.seconds.toFixed(1)} s  (${t.secondsPerItem.toFixed(2)} s/item)`,
      );
    say(`\n${r.seconds.toFixed(0)} s; results in ${r.files.summary.replace(/summary\.json$/, "")}`);
    return 0;
  } catch (e) {
    if (e instanceof EvaluationCancelled) {
      say("cancelled; earlier results are unchanged");
      return 130;
    }
    throw e;
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}

const ASK: CommandSpec = {
  command: "ask",
  summary:
    "Answer a medical question with the safety validator's notes, a confidence and verified citations.",
  positionals: [
    { name: "QUESTION", description: "the question (quote it)", required: true, variadic: true },
  ],
  flags: {
    run: { type: "string", value: "NAME", description: "use the adapters of a training run" },
    adapters: { type: "string", value: "DIR", description: "use these adapters" },
    model: {
      type: "string",
      value: "PATH",
      description: "base model",
      defaultText: "the bundled model",
    },
    "max-tokens": {
      type: "int",
      min: 1,
      max: 2048,
      value: "N",
      description: "answer length cap",
      defaultText: "160",
    },
  },
};

export async function askMain(argv: string[]): Promise<number> {
  const p = parseFlags(argv, ASK);
  if (p.kind !== "ok") return p.exit;
  const v = p.values as { run?: string; adapters?: string; model?: string; "max-tokens"?: number };
  const question = p.positionals.join(" ");
  const model = await Model.load(v.model ? resolve(v.model) : await bundledModelPath());
  try {
    const dir =
      (v.adapters ? resolve(v.adapters) : undefined) ??
      (v.run ? join(projectPaths.models(), "lora_adapters", v.run) : undefined);
    if (dir) model.loadAdapters(resolveAdapterDir(dir));
    const corpus = await loadCorpus(
      projectPaths.processedData,
      join(projectPaths.configs, "augment.yaml"),
    ).catch(() => undefined);
    const a = await answer(model, question, { corpus, maxNewTokens: v["max-tokens"] });
    say(a.text);
    say(
      `\nconfidence ${a.confidence.toFixed(2)} (exp of mean token log-prob ${a.meanLogprob.toFixed(2)})`,
    );
    if (a.added.length) say(`added: ${a.added.join(", ")} (safety validator)`);
    if (!corpus) say("citations: not checked (no ingested corpus in data/processed)");
    for (const c of a.citations)
      say(`citation ${c.id}: ${c.verified ? "verified" : "NOT verified"} (${c.reason})`);
    return 0;
  } finally {
    model.dispose();
  }
}
