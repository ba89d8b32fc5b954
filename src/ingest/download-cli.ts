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
import { parseFlags, suggest, type CommandSpec } from "../cli-flags.js";
import { fromRoot } from "../paths.js";
import { SOURCE_IDS, sourceDir } from "./index.js";
import {
  downloadClinicalTrialsPages,
  downloadFile,
  planDownload,
  type PlanOptions,
} from "./download.js";
import type { IngestSourceId } from "./types.js";

export const SPEC: CommandSpec = {
  command: "download",
  summary: "Download a source's official dump into <out>/<source>/ (resumable, checksum-verified).",
  positionals: [{ name: "source", required: true, description: `one of ${SOURCE_IDS.join(", ")}` }],
  flags: {
    out: {
      type: "string",
      value: "DIR",
      description: "root folder; files go to DIR/<source>/",
      defaultText: "data/raw",
    },
    "base-url": {
      type: "string",
      value: "URL",
      description: "download from a mirror instead of the official location",
    },
    format: {
      type: "string",
      choices: ["json", "tsv"],
      description: "hetionet: JSON dump (carries licences) or nodes TSV + edges SIF",
      defaultText: "json",
    },
    files: {
      type: "int",
      min: 1,
      value: "N",
      description: "pubmed: the first N baseline files",
      defaultText: "1",
    },
    all: { type: "boolean", description: "pubmed: every baseline file" },
    pages: {
      type: "int",
      min: 1,
      value: "N",
      description: "clinicaltrials: N pages of 1000 studies",
      defaultText: "1",
    },
    force: {
      type: "boolean",
      description: "download again even when the file is present and verified",
    },
    progress: { type: "boolean", description: "progress bar on stderr (--no-progress: none)" },
  },
  epilog: "DrugBank needs DRUGBANK_USERNAME and DRUGBANK_PASSWORD in the environment.",
};

export async function main(argv: string[]): Promise<number> {
  const p = parseFlags(argv, SPEC);
  if (p.kind !== "ok") return p.exit;
  const values = p.values;
  const source = p.positionals[0] as IngestSourceId;
  if (!(SOURCE_IDS as string[]).includes(source)) {
    const hint = suggest(source, SOURCE_IDS);
    process.stderr.write(
      `medtune download: unknown source ${JSON.stringify(source)}${hint ? ` (did you mean "${hint}"?)` : ""}; expected one of ${SOURCE_IDS.join(", ")}\n`,
    );
    return 2;
  }
  const files = values.all ? Infinity : (values.files as number | undefined);
  const pages = values.pages as number | undefined;
  const planOpts: PlanOptions = {
    ...(values["base-url"] ? { baseUrl: values["base-url"] as string } : {}),
    ...(files !== undefined ? { files } : {}),
    ...(values.format ? { format: values.format as "json" | "tsv" } : {}),
  };
  const user = process.env.DRUGBANK_USERNAME;
  const pass = process.env.DRUGBANK_PASSWORD;
  if (source === "drugbank" && user && pass)
    planOpts.credentials = { username: user, password: pass };

  const out = values.out as string | undefined;
  const dir = path.join(out ? path.resolve(out) : fromRoot("data/raw"), sourceDir(source));
  const plan = await planDownload(source, planOpts);
  for (const n of plan.notes) process.stderr.write(`note: ${n}\n`);
  const common = { dir, progress: values.progress !== false, force: Boolean(values.force) };
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
