/**
 * The workbench commands. `medtune run-notebook <nb> -p key=value -o <out.ipynb>`: execute one
 * notebook headless through a jupyter_server of its own (src/workbench/runner.ts) and save it.
 *
 *   medtune run-notebook notebooks/01_ingest.ipynb -p limit=20 -o runs/try/01_ingest.ipynb
 *
 *   medtune run --preset quick_test          01 → 05 into runs/<id>/, then runs/<id>/report.html
 *   medtune report runs/<id>                 the report again (or of a failed run)
 *
 * Only flag parsing and printing live here; `-p` and `-o` are short for --parameter and --output.
 */
import { resolve } from "node:path";
import { parseFlags, type CommandSpec } from "../cli-flags.js";
import { runWorkbench } from "./pipeline.js";
import { PRESETS, STAGE_NOTEBOOKS, type StageNotebook } from "./presets.js";
import { writeRunReport } from "./run-report.js";
import { parseParameter, runNotebook, type ParameterValue } from "./runner.js";

export const SPEC: CommandSpec = {
  command: "run-notebook",
  summary:
    "Execute a notebook cell by cell in the tslab kernel of a jupyter_server started for it; " +
    "write the executed notebook (outputs, timing) even when a cell fails.",
  positionals: [{ name: "notebook", description: "the .ipynb to execute", required: true }],
  flags: {
    parameter: {
      type: "list",
      value: "KEY=VALUE",
      description:
        "a value for the parameters cell (-p; JSON when it parses, else a string); repeatable",
    },
    output: {
      type: "string",
      value: "FILE",
      description: "the executed notebook (-o)",
      defaultText: "<notebook>.executed.ipynb beside it",
    },
    "cell-timeout": {
      type: "number",
      min: 1,
      value: "SECONDS",
      description: "interrupt and fail a cell that runs longer",
      defaultText: "600",
    },
    kernel: { type: "string", value: "NAME", description: "kernel", defaultText: "the notebook's" },
  },
  epilog:
    "Exit status: 0 every cell ran; 1 a cell failed or timed out (named on stderr; the executed\n" +
    "notebook is still written); 2 usage error.",
};

const SHORT: Record<string, string> = { "-p": "--parameter", "-o": "--output" };

/** Parameters from --parameter items (a list flag splits on commas: rejoin `a=[1,2]`). */
export function parameterValues(items: readonly string[]): Record<string, ParameterValue> {
  const joined: string[] = [];
  for (const s of items) {
    if (s.includes("=") || joined.length === 0) joined.push(s);
    else joined[joined.length - 1] += `,${s}`;
  }
  return Object.fromEntries(joined.map(parseParameter));
}

/** Stops a job on Ctrl-C / SIGTERM through its signal, so its finally blocks clean up. */
export function interruptibleSignal(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const stop = () => ac.abort(new Error("interrupted"));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return {
    signal: ac.signal,
    dispose: () => {
      process.removeListener("SIGINT", stop);
      process.removeListener("SIGTERM", stop);
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  const p = parseFlags(
    argv.map((a) => SHORT[a] ?? a),
    SPEC,
  );
  if (p.kind !== "ok") return p.exit;
  let parameters: Record<string, ParameterValue>;
  try {
    parameters = parameterValues((p.values.parameter as string[] | undefined) ?? []);
  } catch (e) {
    process.stderr.write(`run-notebook: ${(e as Error).message}\n`);
    return 2;
  }
  const { signal, dispose } = interruptibleSignal();
  try {
    const r = await runNotebook({
      // Paths typed on the command line are relative to the current folder.
      notebook: resolve(p.positionals[0]!),
      output: p.values.output === undefined ? undefined : resolve(p.values.output as string),
      parameters,
      cellTimeoutSeconds: p.values["cell-timeout"] as number | undefined,
      kernelName: p.values.kernel as string | undefined,
      signal,
      onEvent: (e) => {
        if (e.type === "cell") process.stderr.write(`[${e.index}] ${e.firstLine}\n`);
        else if (e.type === "warning") process.stderr.write(`warning: ${e.message}\n`);
      },
    });
    if (r.failure)
      process.stderr.write(
        `run-notebook: cell ${r.failure.index} (${r.failure.firstLine}) failed: ${r.failure.error}\n`,
      );
    process.stdout.write(`${r.output}\n`);
    return r.ok ? 0 : 1;
  } finally {
    dispose();
  }
}

export const RUN_SPEC: CommandSpec = {
  command: "run",
  summary:
    "Execute the curated notebooks 01_ingest → 05_merge headless into runs/<id>/ (executed " +
    "notebooks and run.json), stopping at the first failing cell; then `medtune report runs/<id>`.",
  flags: {
    preset: {
      type: "string",
      value: "NAME",
      choices: Object.keys(PRESETS),
      description: Object.entries(PRESETS)
        .map(([k, p]) => `${k}: ${p.description}`)
        .join("; "),
      defaultText: "quick_test",
    },
    id: {
      type: "string",
      value: "ID",
      description: "run folder name",
      defaultText: "<preset>-<UTC time>",
    },
    notebooks: {
      type: "list",
      value: "NAME",
      choices: STAGE_NOTEBOOKS,
      description: "only these notebooks (in pipeline order)",
      defaultText: "all five",
    },
    "cell-timeout": {
      type: "number",
      min: 1,
      value: "SECONDS",
      description: "interrupt and fail a cell that runs longer",
      defaultText: "the preset's",
    },
    report: {
      type: "boolean",
      description: "write runs/<id>/report.html at the end (--no-report: don't)",
      defaultText: "on",
    },
  },
  epilog:
    "Exit status: 0 every notebook ran; 1 a notebook failed (named on stderr); 2 usage error.",
};

const clock = (s: number) => `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, "0")}`;

export async function runMain(argv: string[]): Promise<number> {
  const p = parseFlags(argv, RUN_SPEC);
  if (p.kind !== "ok") return p.exit;
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const { signal, dispose } = interruptibleSignal();
  try {
    const r = await runWorkbench({
      preset: (p.values.preset as string | undefined) ?? "quick_test",
      id: p.values.id as string | undefined,
      notebooks: p.values.notebooks as StageNotebook[] | undefined,
      cellTimeoutSeconds: p.values["cell-timeout"] as number | undefined,
      signal,
      onEvent: (e) => {
        if (e.type === "notebook") say(`\n== ${e.name} (${e.index + 1}/${e.total}) → ${e.output}`);
        else if (e.type === "runner" && e.event.type === "cell-done")
          say(`  cell ${e.event.index}: ${e.event.status} (${e.event.seconds.toFixed(1)} s)`);
        else if (e.type === "runner" && e.event.type === "warning")
          say(`  warning: ${e.event.message}`);
        else if (e.type === "notebook-done" && e.failure)
          process.stderr.write(
            `run: ${e.name} failed at cell ${e.failure.index} (${e.failure.firstLine}): ${e.failure.error}\n`,
          );
        else if (e.type === "done")
          say(`\n== ${e.ok ? "done" : "FAILED"} in ${clock(e.seconds)}: ${e.dir}`);
      },
    });
    if (p.values.report !== false) {
      const { file, figures } = writeRunReport({ runDir: r.dir });
      say(`report (${figures} figures): ${file}`);
    }
    return r.ok ? 0 : 1;
  } finally {
    dispose();
  }
}

export const REPORT_SPEC: CommandSpec = {
  command: "report",
  summary:
    "One self-contained HTML file for a run folder of `medtune run`: summary, then each executed " +
    "notebook's markdown, code and outputs, figures interactive offline.",
  positionals: [{ name: "run-dir", description: "runs/<id>", required: true }],
  flags: {
    output: {
      type: "string",
      value: "FILE",
      description: "the HTML file",
      defaultText: "<run-dir>/report.html",
    },
  },
};

export async function reportMain(argv: string[]): Promise<number> {
  const p = parseFlags(argv, REPORT_SPEC);
  if (p.kind !== "ok") return p.exit;
  const { file, figures } = writeRunReport({
    runDir: resolve(p.positionals[0]!),
    output: p.values.output === undefined ? undefined : resolve(p.values.output as string),
  });
  process.stdout.write(`report (${figures} figures): ${file}\n`);
  return 0;
}
