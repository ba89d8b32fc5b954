#!/usr/bin/env node
/**
 * `medtune <stage> ...`: the command-line face of the library.
 *
 *   medtune smoke            load the MLX addon and print version, device and memory counters
 *   medtune ingest ...       source dumps → instruction records (src/ingest/cli.ts)
 *   medtune download ...     fetch a source's official dump, resumable and checksum-verified
 *   medtune augment ...      records → clean, safe, deduplicated train/valid/test splits
 *   medtune train ...        one LoRA/QLoRA run from a preset
 *   medtune run-notebook     execute one notebook headless (jupyter_server + tslab)
 *   medtune run              notebooks 01-05 into runs/<id>/, then its HTML report (`npm start`)
 *   medtune report           the offline HTML report of a run folder
 *   medtune quick-test       the stages in one process, without notebooks
 *   medtune models           list models/ (architecture, quantization, size, checksum)
 *
 * Each stage lives in its own module and is loaded only when asked for, so a stage that fails to
 * load (a missing native binary, say) does not take the others down. Every command parses its
 * flags with src/cli-flags.ts: `medtune <command> --help`, and an unknown flag is an error before
 * any work. To add a command, add one line to COMMANDS.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { suggest } from "./cli-flags.js";

export type CommandMain = (argv: string[]) => Promise<number>;

interface Command {
  summary: string;
  load: () => Promise<CommandMain>;
}

export const COMMANDS: Record<string, Command> = {
  smoke: {
    summary: "load the MLX addon; print version, device, a matmul check and memory counters",
    load: async () => (await import("./native/smoke.js")).main,
  },
  ingest: {
    summary: "turn source dumps (data/raw) into instruction records (data/processed)",
    load: async () => (await import("./ingest/cli.js")).main,
  },
  download: {
    summary: "download a source's official dump (resumable, checksum-verified)",
    load: async () => (await import("./ingest/download-cli.js")).main,
  },
  augment: {
    summary: "build clean, safe, deduplicated train/valid/test splits from records",
    load: async () => (await import("./augment/cli.js")).main,
  },
  train: {
    summary: "one LoRA/QLoRA run from a preset (configs/training_configs/*.yaml)",
    load: async () => (await import("./train/cli.js")).main,
  },
  merge: {
    summary: "fuse a run's adapters into its base; export GGUF / Hugging Face; verify",
    load: async () => (await import("./merge/cli.js")).main,
  },
  evaluate: {
    summary: "evaluation suite on base and fine-tuned (safety, hallucination, citations, QA)",
    load: async () => (await import("./evaluate/cli.js")).main,
  },
  ask: {
    summary: "answer a medical question with safety notes, confidence and verified citations",
    load: async () => (await import("./evaluate/cli.js")).askMain,
  },
  "run-notebook": {
    summary:
      "execute a notebook headless (jupyter_server + tslab) with parameters; save it executed",
    load: async () => (await import("./workbench/cli.js")).main,
  },
  run: {
    summary: "execute notebooks 01-05 headless into runs/<id>/ and write its HTML report",
    load: async () => (await import("./workbench/cli.js")).runMain,
  },
  report: {
    summary: "one offline HTML report of a run folder (summary + executed notebooks)",
    load: async () => (await import("./workbench/cli.js")).reportMain,
  },
  models: {
    summary: "list the models in models/: architecture, quantization, parameters, size, sha256",
    load: async () => (await import("./models/cli.js")).main,
  },
  "quick-test": {
    summary: "the stages in one process on bundled data and the bundled model, without notebooks",
    load: async () => (await import("./quick-test.js")).main,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`);
  return `usage: medtune <command> [options]\n\ncommands:\n${lines.join("\n")}\n`;
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    const hint = suggest(name, Object.keys(COMMANDS));
    process.stderr.write(
      `medtune: unknown command "${name}"${hint ? ` (did you mean "${hint}"?)` : ""}\n\n${usage()}`,
    );
    return 2;
  }
  const main = await cmd.load();
  return main(rest);
}

/**
 * Whether this module is the program node was started with. Compared as real paths: an installed
 * bin (node_modules/.bin/medtune, `npx medtune`) is a symlink to dist/cli.js, and comparing the
 * link's path with this file's would make the command silently do nothing.
 */
export function isMainModule(argv1: string | undefined, moduleUrl: string): boolean {
  if (!argv1) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

if (isMainModule(process.argv[1], import.meta.url)) {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const e = err as Error;
      process.stderr.write(`medtune: ${e?.message ?? String(err)}\n`);
      if (process.env.MEDTUNE_DEBUG) process.stderr.write(`${e?.stack ?? ""}\n`);
      process.exitCode = 1;
    },
  );
}
