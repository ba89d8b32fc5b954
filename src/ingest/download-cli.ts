/**
 * `medtune download <source>`: fetch a source's official dump into data/raw/<source>/.
 *
 *   medtune download hetionet [--format json|tsv]
 *   medtune download chembl_sqlite             (into data/raw/chembl/)
 *   medtune download pubmed [--files N | --all]
 *   medtune download clinicaltrials [--pages N]
 *   DRUGBANK_USERNAME=… DRUGBANK_PASSWORD=… medtune download drugbank
 *
 * Common options: --out DIR (default data/raw), --base-url URL (a mirror), --force, --no-progress.
 * Interrupted downloads resume on the next run; checksums are verified where published.
 */
import path from "node:path";
import { parseArgs } from "node:util";
import { SOURCE_IDS, sourceDir } from "./index.js";
import {
  downloadClinicalTrialsPages,
  downloadFile,
  planDownload,
  type PlanOptions,
} from "./download.js";
import type { IngestSourceId } from "./types.js";

const USAGE = `usage: medtune download <${SOURCE_IDS.join("|")}> [options]

options:
  --out DIR          root folder; files go to DIR/<source>/ (default data/raw)
  --base-url URL     download from a mirror instead of the official location
  --format json|tsv  hetionet: JSON dump (default; carries licences) or nodes TSV + edges SIF
  --files N          pubmed: the first N baseline files (default 1)
  --all              pubmed: every baseline file
  --pages N          clinicaltrials: N pages of 1000 studies (default 1)
  --force            download again even when the file is present and verified
  --no-progress      no progress bar
`;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        out: { type: "string" },
        "base-url": { type: "string" },
        format: { type: "string" },
        files: { type: "string" },
        all: { type: "boolean" },
        pages: { type: "string" },
        force: { type: "boolean" },
        "no-progress": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    process.stderr.write(`medtune download: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const source = positionals[0] as IngestSourceId | undefined;
  if (!source || positionals.length !== 1 || !(SOURCE_IDS as string[]).includes(source)) {
    process.stderr.write(
      `medtune download: expected one source (${SOURCE_IDS.join(", ")})\n\n${USAGE}`,
    );
    return 2;
  }
  const positiveInt = (name: string, v: string | undefined): number | undefined | null => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      process.stderr.write(
        `medtune download: --${name} expects a positive integer, got ${JSON.stringify(v)}\n`,
      );
      return null;
    }
    return n;
  };
  const files = values.all ? Infinity : positiveInt("files", values.files);
  const pages = positiveInt("pages", values.pages);
  if (files === null || pages === null) return 2;
  if (values.format !== undefined && values.format !== "json" && values.format !== "tsv") {
    process.stderr.write(`medtune download: --format expects json or tsv\n`);
    return 2;
  }
  const planOpts: PlanOptions = {
    ...(values["base-url"] ? { baseUrl: values["base-url"] } : {}),
    ...(files !== undefined ? { files } : {}),
    ...(values.format ? { format: values.format as "json" | "tsv" } : {}),
  };
  const user = process.env.DRUGBANK_USERNAME;
  const pass = process.env.DRUGBANK_PASSWORD;
  if (source === "drugbank" && user && pass)
    planOpts.credentials = { username: user, password: pass };

  const dir = path.join(values.out ?? "data/raw", sourceDir(source));
  const plan = await planDownload(source, planOpts);
  for (const n of plan.notes) process.stderr.write(`note: ${n}\n`);
  const common = { dir, progress: !values["no-progress"], force: Boolean(values.force) };
  if (source === "clinicaltrials") {
    const r = await downloadClinicalTrialsPages(plan.items[0]!.url, {
      ...common,
      pages: pages ?? 1,
    });
    process.stdout.write(
      `clinicaltrials: ${r.pages.length} page(s) saved in ${dir}${r.done ? " (all pages done)" : ""}\n`,
    );
    return 0;
  }
  for (const item of plan.items) {
    const r = await downloadFile(item, common);
    const how = r.skipped
      ? "already present"
      : r.resumedFrom > 0
        ? `resumed from byte ${r.resumedFrom}`
        : "downloaded";
    const check = r.verified ? `${r.verified.toUpperCase()} verified` : "no published checksum";
    process.stdout.write(`${r.path}: ${how}, ${r.bytes} bytes, ${check}\n`);
  }
  return 0;
}
