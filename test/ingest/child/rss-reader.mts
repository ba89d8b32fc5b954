/**
 * Child process for the bounded-memory tests: runs one reader over the given files, counts events
 * and prints {records, skips, maxRssBytes} as JSON. Usage: node --import tsx rss-reader.mts <hetionet|drugbank> <files...>
 */
import { readHetionet } from "../../../src/ingest/hetionet/index.js";
import { readDrugbank } from "../../../src/ingest/drugbank.js";

const [source, ...files] = process.argv.slice(2);
const reader = source === "hetionet" ? readHetionet : readDrugbank;
let records = 0;
let skips = 0;
for await (const ev of reader(files, {})) {
  if (ev.type === "record") records++;
  else if (ev.type === "skip") skips++;
}
// maxRSS is in kilobytes.
console.log(JSON.stringify({ records, skips, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
