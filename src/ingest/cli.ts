/**
 * `medtune ingest`: source dumps → instruction records.
 *
 *   medtune ingest --sources hetionet,chembl_sqlite,pubmed,clinicaltrials,drugbank \
 *                  [--limit N] [--in data/raw] [--out data/processed] [--log-dir logs] \
 *                  [--exclude-noncommercial] [--seed N] [--no-progress]
 *
 * Exit status: 0 when every source succeeded, 1 when any failed (the others still ran and their
 * outputs were written), 2 for a usage error.
 */
import { parseArgs } from "node:util";
import type { IngestSourceId } from "./types.js";
import { runIngest, SOURCE_IDS } from "./index.js";

const USAGE = `usage: medtune ingest --sources ${SOURCE_IDS.join(",")} [options]

options:
  --sources LIST            comma-separated sources (default: all)
  --limit N                 at most N records per source
  --in DIR                  input root; files are read from DIR/<source>/ (default data/raw)
  --out DIR                 output folder for <source>.jsonl (default data/processed)
  --log-dir DIR             audit log folder (default logs)
  --exclude-noncommercial   drop non-commercial facts (DrugBank CC BY-NC, SIDER CC BY-NC-SA)
  --seed N                  phrasing/negative-sampling seed (default 0)
  --no-progress             no progress bar on stderr
`;

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        sources: { type: "string" },
        limit: { type: "string" },
        in: { type: "string" },
        out: { type: "string" },
        "log-dir": { type: "string" },
        "exclude-noncommercial": { type: "boolean" },
        seed: { type: "string" },
        "no-progress": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`medtune ingest: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const sources = (values.sources ?? SOURCE_IDS.join(","))
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = sources.filter((s) => !(SOURCE_IDS as string[]).includes(s));
  if (unknown.length > 0 || sources.length === 0) {
    process.stderr.write(
      `medtune ingest: unknown source(s) ${unknown.join(", ") || "(none given)"}; known: ${SOURCE_IDS.join(", ")}\n`,
    );
    return 2;
  }
  const int = (name: string, v: string | undefined): number | undefined | null => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) {
      process.stderr.write(
        `medtune ingest: --${name} expects a non-negative integer, got ${JSON.stringify(v)}\n`,
      );
      return null;
    }
    return n;
  };
  const limit = int("limit", values.limit);
  const seed = int("seed", values.seed);
  if (limit === null || seed === null) return 2;

  const result = await runIngest({
    sources: sources as IngestSourceId[],
    inDir: values.in ?? "data/raw",
    outDir: values.out ?? "data/processed",
    logDir: values["log-dir"] ?? "logs",
    ...(limit !== undefined ? { limit } : {}),
    ...(seed !== undefined ? { seed } : {}),
    excludeNonCommercial: Boolean(values["exclude-noncommercial"]),
    progress: !values["no-progress"],
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
    } else {
      process.stderr.write(`${r.source}: FAILED: ${r.error}\n`);
    }
  }
  process.stdout.write(`audit log: ${result.auditLog}\n`);
  return result.ok ? 0 : 1;
}
