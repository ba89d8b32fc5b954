/**
 * `medtune run-notebook <nb> -p key=value -o <out.ipynb>`: execute one notebook headless through
 * a jupyter_server of its own (src/workbench/runner.ts) and save the executed notebook.
 *
 *   medtune run-notebook notebooks/01_ingest.ipynb -p limit=20 -o runs/try/01_ingest.ipynb
 *
 * Only flag parsing and printing live here; `-p` and `-o` are short for --parameter and --output.
 */
import { parseFlags, type CommandSpec } from "../cli-flags.js";
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
      notebook: p.positionals[0]!,
      output: p.values.output as string | undefined,
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
