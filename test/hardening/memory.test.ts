/**
 * Oversized records keep memory bounded: each reader meets one record far over its cap at two
 * sizes (10× apart), in a fresh Node process with a capped old space (test/ingest/child), and must
 * report the cap (error or audited skip naming the record) with a peak RSS that does not grow with
 * the record. A reader that buffered the record would grow by the difference (or die of OOM).
 * The ClinicalTrials study and augment's JSONL record run at the default caps (the cases:
 * a study of hundreds of MB, a 50 MB record); the others at a 2 MiB cap to stay fast. The children run with a 64 MB old space, so a reader that kept the record dies of OOM.
 *
 *   npx vitest run test/hardening/memory.test.ts
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_INPUT_LIMITS, type IngestSourceId } from "../../src/ingest/types.js";
import { readerRssOnTwoSizes, writeGenerated } from "../ingest/helpers.js";

const MB = 1 << 20;
const CAP = { maxRecordChars: 2 * MB };

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), "medtune-test-hardening-mem-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `head`, then `bytes` of filler in 1 MiB chunks (never one big string), then `tail`. */
function* filled(head: string, bytes: number, tail: string, unit = "x"): Generator<string> {
  yield head;
  const chunk = unit.repeat(Math.ceil(MB / unit.length));
  for (let n = 0; n < bytes; n += chunk.length) yield chunk;
  yield tail;
}

/** Old space of the child: a reader that kept a 64 MB record would die of OOM under it. */
const OLD_SPACE_MB = 64;

interface Case {
  name: string;
  source: IngestSourceId | "jsonl";
  file: string;
  head: string;
  tail: string;
  unit?: string;
  limits?: typeof CAP;
  /** Record sizes in MiB (small, large). */
  sizes: [number, number];
  /** Old space for the child, when the case needs more than OLD_SPACE_MB (the default caps). */
  oldSpaceMb?: number;
  error: RegExp;
}

const study =
  '{"protocolSection": {"identificationModule": {"nctId": "NCT99999999", "briefTitle": "';
const CASES: Case[] = [
  {
    name: "ClinicalTrials single study (default caps: skipped at the cap, rest unread)",
    source: "clinicaltrials",
    file: "NCT99999999.json",
    head: study,
    tail: '"}}}',
    sizes: [40, 120],
    // The default cap keeps up to 32M characters of the study before giving up on it.
    oldSpaceMb: 160,
    error: new RegExp(`over the ${DEFAULT_INPUT_LIMITS.maxRecordChars}-character record cap`),
  },
  {
    name: "ClinicalTrials JSON Lines study",
    source: "clinicaltrials",
    file: "studies.jsonl",
    head: study,
    tail: '"}}}\n',
    limits: CAP,
    sizes: [8, 64],
    error: /line 1: this study is over the 2097152-character record cap/,
  },
  {
    name: "Hetionet JSON element",
    source: "hetionet",
    file: "graph.json",
    head: '{"nodes": [{"kind": "Gene", "identifier": 1, "name": "',
    tail: '"}], "edges": []}',
    limits: CAP,
    sizes: [8, 64],
    error: /\(nodes\[0\]\): one element is over the 2097152-character record cap/,
  },
  {
    name: "Hetionet JSON nested 3M deep (default caps)",
    source: "hetionet",
    file: "deep.json",
    head: '{"nodes": [',
    tail: "]}",
    unit: "[",
    sizes: [1, 4],
    error: /\(nodes\[0\]\): this element is nested deeper than the 256-level cap/,
  },
  {
    name: "Hetionet nodes TSV line",
    source: "hetionet",
    file: "nodes.tsv",
    head: "id\tname\tkind\nGene::1\t",
    tail: "\tGene\n",
    limits: CAP,
    sizes: [8, 64],
    error: /\(line 2\): line 2 is over the 2097152-character record cap/,
  },
  {
    name: "PubMed article",
    source: "pubmed",
    file: "efetch.xml",
    head: "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article><ArticleTitle>",
    tail: "</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>",
    limits: CAP,
    sizes: [8, 64],
    error: /\(PubmedArticle #1 \(line 1, column \d+\)\): this record is over the 2097152-character/,
  },
  {
    name: "DrugBank drug",
    source: "drugbank",
    file: "full database.xml",
    head: '<drugbank xmlns="http://www.drugbank.ca"><drug type="small molecule"><drugbank-id primary="true">DB00001</drugbank-id><name>A</name><indication>',
    tail: "</indication></drug></drugbank>",
    limits: CAP,
    sizes: [8, 64],
    error: /\(drug #1 \(line 1\), line 1, column \d+\): this record is over the 2097152-character/,
  },
  {
    name: "DrugBank vocabulary CSV row",
    source: "drugbank",
    file: "vocabulary.csv",
    head: 'DrugBank ID,Accession Numbers,Common name,CAS,UNII,Synonyms,Standard InChI Key\nDB00001,,A,,,"',
    tail: '",\n',
    limits: CAP,
    sizes: [8, 64],
    error: /\(line \d+\): one CSV row is over the 2097152-character record cap/,
  },
  {
    name: "augment JSONL record (default caps: a 50 MB record is one line issue)",
    source: "jsonl",
    file: "pubmed.jsonl",
    head: '{"id": "r1", "instruction": "Q?", "input": "',
    tail: '", "output": "A.", "metadata": {}}\n',
    sizes: [8, 64],
    error: /pubmed\.jsonl:1: record is over the 1048576-character cap/,
  },
];

/** A GGUF header that claims `n` tensors and `n` metadata entries, and nothing else. */
function ggufClaiming(n: bigint): Buffer {
  const b = Buffer.alloc(64);
  b.write("GGUF");
  b.writeUInt32LE(3, 4);
  b.writeBigUInt64LE(n, 8);
  b.writeBigUInt64LE(n, 16);
  return b;
}

/** A safetensors file whose header length field claims `n` bytes. */
function safetensorsClaiming(n: bigint): Buffer {
  const b = Buffer.alloc(64);
  b.writeBigUInt64LE(n);
  return b;
}

describe("oversized model headers: the loaders refuse before allocating", () => {
  for (const [kind, make, want] of [
    ["gguf", ggufClaiming, /truncated GGUF header/],
    [
      "safetensors",
      safetensorsClaiming,
      /corrupt safetensors header \(header length \d+ but file has 64 bytes\)/,
    ],
  ] as const) {
    it(`${kind}: 2^32 vs 2^48 claimed, same peak RSS`, async () => {
      const dir = mkdtempSync(path.join(work, `${kind}-`));
      const [a, b] = [32n, 48n].map((bits) => {
        const f = path.join(dir, `${bits}.${kind}`);
        writeFileSync(f, make(1n << bits));
        return f;
      });
      const { small, large } = await readerRssOnTwoSizes(kind, [a!], [b!], OLD_SPACE_MB);
      for (const r of [small, large]) {
        expect(r.error).toMatch(want);
        expect(r.error).toContain(dir);
      }
      expect(large.maxRssBytes - small.maxRssBytes).toBeLessThan(16 * MB);
    });
  }
});

// Each case is two child processes; run two cases at a time (the machine has two cores).
describe.concurrent("oversized records: bounded memory in a child process, at two sizes", () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const dir = mkdtempSync(path.join(work, "m-"));
      const files = await Promise.all(
        c.sizes.map(async (mb, k) => {
          const f = path.join(dir, `${k}`, c.file);
          await import("node:fs/promises").then((fs) => fs.mkdir(path.dirname(f)));
          await writeGenerated(f, filled(c.head, mb * MB, c.tail, c.unit));
          return f;
        }),
      );
      const { small, large } = await readerRssOnTwoSizes(
        c.source,
        [files[0]!],
        [files[1]!],
        c.oldSpaceMb ?? OLD_SPACE_MB,
        c.limits,
      );
      for (const r of [small, large]) {
        expect(r.error, JSON.stringify(r)).toMatch(c.error);
        expect(r.records).toBe(0);
      }
      // Streaming past the record leaves only allocation churn; holding it would add ≥ 56 MB.
      expect(large.maxRssBytes - small.maxRssBytes).toBeLessThan(40 * MB);
      expect(large.maxRssBytes).toBeLessThan(400 * MB);
      rmSync(dir, { recursive: true, force: true });
    });
  }
});
