/**
 * `medtune ingest`: source dumps → instruction records (flags only; the work is `runIngest`).
 *
 *   medtune ingest --sources hetionet,chembl_sqlite,pubmed,clinicaltrials,drugbank \
 *                  [--limit N] [--in data/raw] [--out data/processed] [--log-dir logs] \
 *                  [--exclude-noncommercial] [--seed N] [--no-progress] [--allow-empty]
 *
 * Exit status: 0 when every source succeeded, 1 when any failed (the others still ran and their
 * outputs were written; a failed source keeps its previous output), 2 for a usage error.
 */
import path from "node:path";
import { parseFlags, type CommandSpec } from "../cli-flags.js";
import { formatReasons } from "../stage-output.js";
import type { IngestSourceId } from "./types.js";
import { INGEST_MIN_OUTPUT_RATIO, runIngest, SOURCE_IDS } from "./index.js";

export const SPEC: CommandSpec = {
  command: "ingest",
  summary: "Turn source dumps (<in>/<source>/) into instruction records (<out>/<source>.jsonl).",
  flags: {
    sources: {
      type: "list",
      description: "sources to ingest",
      choices: SOURCE_IDS,
      defaultText: "all",
    },
    limit: { type: "int", min: 1, value: "N", description: "at most N records per source" },
    in: {
      type: "string",
      value: "DIR",
      description: "input root; files are read from DIR/<source>/",
      defaultText: "data/raw",
    },
    out: {
      type: "string",
      value: "DIR",
      description: "output folder for <source>.jsonl",
      defaultText: "data/processed",
    },
    "log-dir": {
      type: "string",
      value: "DIR",
      description: "audit log folder",
      defaultText: "logs",
    },
    "exclude-noncommercial": {
      type: "boolean",
      description: "drop non-commercial facts (DrugBank CC BY-NC, SIDER CC BY-NC-SA)",
    },
    seed: {
      type: "int",
      min: 0,
      value: "N",
      description: "phrasing/sampling seed",
      defaultText: "0",
    },
    progress: { type: "boolean", description: "progress bar on stderr (--no-progress: none)" },
    "allow-empty": {
      type: "boolean",
      description: "write a source's output even when empty or below --min-output-ratio",
    },
    "min-output-ratio": {
      type: "number",
      min: 0,
      max: 1,
      value: "R",
      description: "fail a source when records / (records + skipped) is below R",
      defaultText: String(INGEST_MIN_OUTPUT_RATIO),
    },
  },
  epilog:
    "Exit status: 0 all sources ok; 1 a source failed (its previous output is kept); 2 usage error.",
};

export async function main(argv: string[]): Promise<number> {
  const p = parseFlags(argv, SPEC);
  if (p.kind !== "ok") return p.exit;
  const v = p.values;
  // Paths typed on the command line are relative to where the user is.
  const dir = (name: string, fallback: string) =>
    v[name] !== undefined ? path.resolve(v[name] as string) : fallback;
  const result = await runIngest({
    sources: [...new Set((v.sources as IngestSourceId[] | undefined) ?? SOURCE_IDS)],
    inDir: dir("in", "data/raw"),
    outDir: dir("out", "data/processed"),
    logDir: dir("log-dir", "logs"),
    ...(v.limit !== undefined ? { limit: v.limit as number } : {}),
    ...(v.seed !== undefined ? { seed: v.seed as number } : {}),
    ...(v["min-output-ratio"] !== undefined
      ? { minOutputRatio: v["min-output-ratio"] as number }
      : {}),
    excludeNonCommercial: Boolean(v["exclude-noncommercial"]),
    allowEmpty: Boolean(v["allow-empty"]),
    progress: v.progress !== false,
  });
  for (const r of result.sources) {
    if (r.ok) {
      const tasks = Object.entries(r.recordsByTask)
        .sort((a, b) => b[1] - a[1])
        .map(([t, n]) => `${t}=${n}`)
        .join(" ");
      process.stdout.write(
        `${r.source}: ${r.records} records, ${r.skipped} skipped → ${r.output}\n  ${tasks}\n`,
      );
      if (r.skipped > 0) process.stdout.write(`  skipped: ${formatReasons(r.skippedByReason)}\n`);
    } else {
      process.stderr.write(`${r.source}: FAILED: ${r.error}\n`);
    }
  }
  process.stdout.write(`audit log: ${result.auditLog}\n`);
  return result.ok ? 0 : 1;
}
