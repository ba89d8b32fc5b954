/**
 * Child process for the bounded-memory tests: runs one source's reader over the given files, counts
 * events and prints {records, skips, maxRssBytes} as JSON.
 *
 *   node --import tsx rss-reader.mts <hetionet|drugbank|pubmed|clinicaltrials|chembl_sqlite> <files...>
 */
import { readChembl } from "../../../src/ingest/chembl.js";
import { readClinicalTrials } from "../../../src/ingest/clinicaltrials.js";
import { readDrugbank } from "../../../src/ingest/drugbank.js";
import { readHetionet } from "../../../src/ingest/hetionet/index.js";
import { readPubmed } from "../../../src/ingest/pubmed.js";

const READERS = {
  hetionet: readHetionet,
  drugbank: readDrugbank,
  pubmed: readPubmed,
  clinicaltrials: readClinicalTrials,
  chembl_sqlite: readChembl,
};
const [source, ...files] = process.argv.slice(2);
const reader = READERS[source as keyof typeof READERS];
if (!reader) throw new Error(`rss-reader: unknown source ${source}`);
let records = 0;
let skips = 0;
for await (const ev of reader(files, {})) {
  if (ev.type === "record") records++;
  else if (ev.type === "skip") skips++;
}
// maxRSS is in kilobytes.
console.log(JSON.stringify({ records, skips, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
