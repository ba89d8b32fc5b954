/**
 * Child process for the bounded-memory tests: runs one source's reader (or augment's JSONL reader,
 * "jsonl", or the native model-file checks, "gguf" / "safetensors") over the given files, counts events and prints {records, skips, error?, maxRssBytes} as
 * JSON. `--limits={"maxRecordChars":…}` sets the per-record caps; an IngestError or a line issue is
 * reported in `error` (the oversized cases expect one), anything else fails the process.
 *
 *   node --import tsx rss-reader.mts [--limits=JSON] <hetionet|drugbank|pubmed|clinicaltrials|chembl_sqlite|jsonl|gguf|safetensors> <files...>
 */
import { readJsonl } from "../../../src/data/jsonl.js";
import { readChembl } from "../../../src/ingest/chembl.js";
import { readClinicalTrials } from "../../../src/ingest/clinicaltrials.js";
import { readDrugbank } from "../../../src/ingest/drugbank.js";
import { readHetionet } from "../../../src/ingest/hetionet/index.js";
import { readPubmed } from "../../../src/ingest/pubmed.js";
import { loadNative } from "../../../src/native/loader.js";
import { IngestError, type InputLimits } from "../../../src/ingest/types.js";

const READERS = {
  hetionet: readHetionet,
  drugbank: readDrugbank,
  pubmed: readPubmed,
  clinicaltrials: readClinicalTrials,
  chembl_sqlite: readChembl,
};
const args = process.argv.slice(2);
let limits: Partial<InputLimits> | undefined;
if (args[0]?.startsWith("--limits=")) limits = JSON.parse(args.shift()!.slice(9)) as InputLimits;
const [source, ...files] = args;
let records = 0;
let skips = 0;
let error: string | undefined;
if (source === "gguf" || source === "safetensors") {
  const mlx = loadNative();
  for (const f of files) {
    try {
      if (source === "gguf") mlx.loadGguf(f);
      else mlx.validateSafetensors(f);
      records++;
    } catch (e) {
      error ??= (e as Error).message;
    }
  }
} else if (source === "jsonl") {
  for (const f of files) {
    for await (const _ of readJsonl(f, {
      ...(limits ? { limits } : {}),
      onIssue: (i) => {
        skips++;
        error ??= `${i.file}:${i.line}: ${i.message}`;
      },
    }))
      records++;
  }
} else {
  const reader = READERS[source as keyof typeof READERS];
  if (!reader) throw new Error(`rss-reader: unknown source ${source}`);
  try {
    for await (const ev of reader(files, limits ? { limits } : {})) {
      if (ev.type === "record") records++;
      else if (ev.type === "skip") {
        skips++;
        if (/record cap|nested deeper/.test(ev.reason)) error ??= `${ev.location}: ${ev.reason}`;
      }
    }
  } catch (e) {
    if (!(e instanceof IngestError)) throw e;
    error = e.message;
  }
}
// maxRSS is in kilobytes.
console.log(
  JSON.stringify({
    records,
    skips,
    ...(error ? { error } : {}),
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
