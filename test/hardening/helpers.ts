/**
 * Shared pieces of the malformed-input suite: the good inputs every case is cut from, the four
 * ways to spoil them (truncated, garbage, empty, oversized), and the checks every failure must
 * pass (previous outputs byte-identical, no temporaries left, the error names the file).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { expect } from "vitest";
import { fixtures, repoRoot } from "../ingest/helpers.js";

export { fixtures, repoRoot };

const raw = path.join(repoRoot, "data", "raw");

/** Good inputs of every source, read once (the real bundled and shared samples). */
export const good = {
  hetionetJson: gunzipSync(
    readFileSync(path.join(fixtures, "hetionet", "bupropion-CbGpPWpGaD-subgraph.json.gz")),
  ),
  nodesTsv: readFileSync(path.join(fixtures, "hetionet", "hetionet-v1.0-nodes.tsv")),
  sif: gunzipSync(readFileSync(path.join(fixtures, "hetionet", "hetionet-v1.0-edges-5k.sif.gz"))),
  chemblDb: readFileSync(path.join(raw, "chembl", "chembl_sample.db")),
  pubmedXml: readFileSync(path.join(fixtures, "pubmed", "efetch", "efetch_pubmed_27797938.xml")),
  ctStudy: readFileSync(path.join(fixtures, "clinicaltrials", "NCT02552212.json")),
  ctStudy2: readFileSync(path.join(fixtures, "clinicaltrials", "NCT00973089.json")),
  drugbankXml: readFileSync(path.join(raw, "drugbank", "drugbank_sample_full_database.xml")),
  drugbankCsv: readFileSync(path.join(raw, "drugbank", "drugbank_sample_vocabulary.csv")),
};

/** The first `fraction` of the bytes: a download or copy that stopped early. */
export const truncated = (b: Buffer, fraction = 0.5): Buffer =>
  b.subarray(0, Math.floor(b.length * fraction));

/** Deterministic binary noise (no format's magic bytes). */
export function garbage(bytes = 4096, seed = 7): Buffer {
  const out = Buffer.alloc(bytes);
  let x = seed;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = (x >>> 16) & 0xff;
  }
  out[0] = 0x80; // not "{", "<", "[", "BZh", 0x1f8b or "SQLite"
  return out;
}

export const gz = (b: Buffer | string): Buffer => gzipSync(b);

/** bzip2 through the system tool (as the Hetionet tests do). */
export function bz2(b: Buffer | string, dir: string): Buffer {
  const f = path.join(dir, `bz-${Math.random().toString(36).slice(2)}`);
  writeFileSync(f, b);
  execFileSync("bzip2", ["-f", f]);
  return readFileSync(`${f}.bz2`);
}

/** Write `files` (relative paths → bytes) under `dir`. */
export function writeFiles(dir: string, files: Record<string, Buffer | string>): string[] {
  const out: string[] = [];
  for (const [rel, data] of Object.entries(files)) {
    const f = path.join(dir, rel);
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, data);
    out.push(f);
  }
  return out;
}

/** Every file below `dir` (relative paths), for before/after comparisons. */
export function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import("node:fs").Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? dir, e.name)))
    .sort();
}

/** Temporaries any stage might leave: atomic-write temps, partial downloads, sorter runs. */
export function expectNoTemporaries(...dirs: string[]): void {
  for (const d of dirs) {
    const left = listFiles(d).filter((f) => /\.tmp-|\.tmp$|\.part$|medtune-/.test(f));
    expect(left, `temporaries left in ${d}`).toEqual([]);
  }
}

/** Good previous outputs in `dir`; `check()` asserts they are still byte-identical. */
export function previousOutputs(
  dir: string,
  names: string[],
): { check: () => void; bytes: Map<string, Buffer> } {
  mkdirSync(dir, { recursive: true });
  const bytes = new Map<string, Buffer>();
  for (const n of names) {
    const b = Buffer.from(
      `${JSON.stringify({ id: `previous-${n}`, instruction: "Q?", input: "", output: "A.", metadata: { source: "hetionet", task: "previous", confidence: 1, citations: [], license: "CC0-1.0", provenance: {} } })}\n`,
    );
    writeFileSync(path.join(dir, n), b);
    bytes.set(n, b);
  }
  return {
    bytes,
    check: () => {
      for (const [n, b] of bytes) {
        expect(readFileSync(path.join(dir, n)).equals(b), `${n} was changed`).toBe(true);
      }
    },
  };
}

/** The audit log lines of the latest ingest run in `logDir`. */
export function auditLines(file: string): Record<string, unknown>[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
