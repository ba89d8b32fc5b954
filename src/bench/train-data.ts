/**
 * The training rows every subject of `npm run bench -- train` trains on: real records (data/processed/
 * train.jsonl, or the bundled raw samples run through ingest) rendered with the model's chat
 * template, tokenized by our tokenizer (llama.cpp's ids), concatenated and cut into rows of seq+1
 * tokens, so each step is exactly batch × seq input positions for medtune, PEFT and mlx-lm alike.
 * `mask[j]` = 1 when token j is an answer token; input position j is scored when mask[j+1] = 1.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectPaths } from "../paths.js";
import type { TrainingRecord } from "../train/batches.js";
import { tokenizeDataset } from "../train/batches.js";
import { ChatTemplate } from "../train/chat-template.js";
import { readTrainingRecords } from "../train/run.js";
import { loadTokenizer } from "../train/tokenizer.js";
import type { Log } from "./options.js";

export interface TrainingRows {
  seq: number;
  /** Where the records came from (a file, or "bundled samples (ingested)"). */
  source: string;
  records: number;
  rows: { tokens: number[]; mask: number[] }[];
}

/** Cuts the concatenated examples into `count` rows of seq+1 tokens, wrapping when they run out. */
export function packRows(
  examples: readonly { tokens: ArrayLike<number>; supervised: ArrayLike<number> }[],
  seq: number,
  count: number,
): { tokens: number[]; mask: number[] }[] {
  const total = examples.reduce((n, e) => n + e.tokens.length, 0);
  if (total === 0) throw new Error("bench train: the records produced no tokens");
  const rows: { tokens: number[]; mask: number[] }[] = [];
  let e = 0;
  let j = 0;
  for (let r = 0; r < count; r++) {
    const tokens: number[] = [];
    const mask: number[] = [];
    while (tokens.length < seq + 1) {
      const ex = examples[e]!;
      if (j >= ex.tokens.length) {
        e = (e + 1) % examples.length;
        j = 0;
        continue;
      }
      tokens.push(ex.tokens[j]!);
      mask.push(ex.supervised[j]! ? 1 : 0);
      j++;
    }
    rows.push({ tokens, mask });
  }
  return rows;
}

async function bundledRecords(dir: string, log: Log): Promise<TrainingRecord[]> {
  const { runIngest } = await import("../ingest/index.js");
  log("bench train: no data/processed/train.jsonl; ingesting the bundled samples for real records");
  const r = await runIngest({
    sources: ["hetionet", "chembl_sqlite", "pubmed", "clinicaltrials", "drugbank"],
    inDir: projectPaths.rawData,
    outDir: dir,
    logDir: dir,
    progress: false,
  });
  const records = r.sources
    .filter((s) => s.ok && s.output)
    .flatMap((s) => readTrainingRecords(s.output!));
  if (records.length === 0)
    throw new Error(`bench train: ingesting ${projectPaths.rawData} gave no records`);
  return records;
}

/** Writes `<dir>/rows.json` with steps × batch rows and returns its path and contents. */
export async function writeTrainingRows(o: {
  model: string;
  data: string | undefined;
  seq: number;
  rows: number;
  dir: string;
  log: Log;
}): Promise<{ file: string; rows: TrainingRows }> {
  const fallback = join(projectPaths.processedData, "train.jsonl");
  const file = o.data ?? (existsSync(fallback) ? fallback : undefined);
  const records = file
    ? readTrainingRecords(file)
    : await bundledRecords(join(o.dir, "ingest"), o.log);
  const tok = await loadTokenizer(o.model);
  const template = ChatTemplate.fromTokenizer(tok);
  const { examples } = tokenizeDataset(records, tok, template, { maxSeqLength: 1 << 16 });
  if (examples.length === 0)
    throw new Error(`bench train: ${file ?? "the samples"} gave no trainable examples`);
  const rows: TrainingRows = {
    seq: o.seq,
    source: file ?? "bundled samples (ingested)",
    records: records.length,
    rows: packRows(examples, o.seq, o.rows),
  };
  mkdirSync(o.dir, { recursive: true });
  const out = join(o.dir, "rows.json");
  writeFileSync(out, JSON.stringify(rows));
  return { file: out, rows };
}
