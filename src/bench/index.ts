/**
 * `npm run bench [-- <suite>] [options]`: speed and memory of medtune beside its peers (gzip -dc,
 * PEFT + PyTorch, mlx-lm, llama.cpp …) in the same command, interleaved A B A B, so that ratios,
 * not absolute numbers, are what we compare across machines. With no suite every comparison suite
 * runs; results go to evaluation/benchmarks/<date>.json and .html. `--help` lists the flags.
 *
 *   npm run bench -- train --steps 2 --seq 64 --repeats 1
 *   npx tsx src/bench/index.ts matmul          # without a build
 */
import { pathToFileURL } from "node:url";
import { parseFlags } from "../cli-flags.js";
import {
  BENCH_SPEC,
  benchOptions,
  type BenchOptions,
  type Log,
  type SuiteOutcome,
} from "./options.js";
import { writeBenchRun, machineInfo, type BenchRun } from "./results.js";
import { formatComparison, formatGoals } from "./stats.js";

/** A comparison suite's module (it exports `bench`), or a tool's `main(argv)` (profile). */
type SuiteModule =
  | { bench: (o: BenchOptions, log: Log) => Promise<SuiteOutcome> }
  | ((argv: string[]) => Promise<number>);

const SUITES: Record<string, () => Promise<SuiteModule>> = {
  matmul: () => import("./matmul.js"),
  generate: () => import("./generate.js"),
  train: () => import("./train.js"),
  packed: () => import("./packed.js"),
  ingest: () => import("./ingest.js"),
  augment: () => import("./augment.js"),
  profile: () => import("./profile.js").then((m) => m.main),
};

export async function run(argv: string[]): Promise<number> {
  // A tool suite (profile) parses its own flags.
  const first = argv[0];
  if (first !== undefined && SUITES[first]) {
    const mod = await SUITES[first]!();
    if (typeof mod === "function") return mod(argv.slice(1));
  }
  const flags = parseFlags(argv, BENCH_SPEC);
  if (flags.kind !== "ok") return flags.exit;
  const named = flags.positionals;
  const comparisonSuites = Object.keys(SUITES).filter((n) => n !== "profile");
  const unknown = named.find((n) => !comparisonSuites.includes(n));
  if (unknown !== undefined) {
    process.stderr.write(
      `medtune bench: unknown suite "${unknown}"; suites: ${Object.keys(SUITES).join(", ")}\n`,
    );
    return 2;
  }
  const o = benchOptions(flags.values);
  const log: Log = (l) => process.stderr.write(l + "\n");
  const startedAt = new Date().toISOString();
  const result: BenchRun = {
    startedAt,
    finishedAt: startedAt,
    command: argv,
    machine: machineInfo(),
    comparisons: [],
    goals: [],
  };
  let failed = false;
  let files: { json: string; html: string } | undefined;
  for (const name of named.length ? named : comparisonSuites) {
    const mod = await SUITES[name]!();
    if (typeof mod === "function") continue;
    log(`bench: ${name}…`);
    try {
      const r = await mod.bench(o, log);
      result.comparisons.push(...r.comparisons);
      result.goals.push(...r.goals);
      for (const c of r.comparisons) process.stdout.write(`\n${formatComparison(c)}\n`);
    } catch (e) {
      failed = true;
      log(`bench: ${name} failed: ${(e as Error).message}`);
    }
    // Written after every suite, so a run stopped part-way keeps what it measured.
    result.finishedAt = new Date().toISOString();
    if (result.comparisons.length) files = writeBenchRun(o.out, result);
  }
  if (result.goals.length)
    process.stdout.write(`\ngoals (ratios from the tables above)\n${formatGoals(result.goals)}\n`);
  if (files) process.stdout.write(`\nresults: ${files.json}\nreport:  ${files.html}\n`);
  const anyFailure = result.comparisons.some((c) => Object.keys(c.failures ?? {}).length > 0);
  return failed || anyFailure ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).then((c) => (process.exitCode = c));
}
