/**
 * Tokenized-split cache in data/cache/tokenized/: a second run on the same data skips rendering,
 * tokenizing and masking. One file per split, named by the SHA-256 of everything that decides
 * its bytes — the tokenizer's checksum, the chat template, the selected records, maxSeqLength, the
 * system prompt and the masking rule — so a change to any of them is a miss, never a stale hit.
 *
 *   const { examples, report, cache } = tokenizeCached(records, tokenizer, template, opts, dir);
 *   // cache.status: "hit" | "miss" | "rebuilt" (the file was damaged: rebuilt, with cache.problem)
 *
 * File layout (little-endian): "MEDTOK1\n", u32 header length, header JSON (key, counts, ids,
 * truncation report, SHA-256 of the payload), then the payload: offsets i32[n+1], tokens i32[T],
 * supervised u8[T], originalLength i32[n]. Truncated or corrupted files fail the length or checksum
 * check and are rebuilt; writes are atomic (src/fs-atomic.ts), so a killed run leaves none half-written.
 *
 *   npx vitest run test/train/cache.test.ts
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeFileAtomicSync } from "../fs-atomic.js";
import {
  tokenizeDataset,
  type TokenizedExample,
  type TokenizeOptions,
  type TrainingRecord,
  type TruncationReport,
} from "./batches.js";
import type { ChatTemplate } from "./chat-template.js";
import type { Tokenizer } from "./tokenizer.js";

/**
 * Bumped when tokenization or the file layout changes, so older files are misses. Supervision is
 * fixed today: assistant spans (content + end of turn) only, every assistant turn of a chat.
 */
const FORMAT = "medtune-tokenized-v1; mask=assistant-spans";
const MAGIC = Buffer.from("MEDTOK1\n", "latin1");

export interface CacheInfo {
  status: "hit" | "miss" | "rebuilt";
  file: string;
  /** Cache key (SHA-256 hex) of the split. */
  key: string;
  /** What was wrong: the damaged file that was rebuilt, or a write that failed. */
  problem?: string;
  /** Reading the cache (hit) or tokenizing and writing it (miss, rebuilt). */
  seconds: number;
}

export interface Tokenized {
  examples: TokenizedExample[];
  report: TruncationReport;
  cache: CacheInfo;
}

interface Header {
  format: string;
  key: string;
  examples: number;
  tokens: number;
  ids: string[];
  report: TruncationReport;
  payloadSha256: string;
}

/** The key of a split: what decides its tokens, hashed. */
export function tokenizedCacheKey(
  records: readonly TrainingRecord[],
  tokenizer: Tokenizer,
  template: ChatTemplate,
  options: TokenizeOptions,
): string {
  const h = createHash("sha256");
  const part = (s: string) => h.update(s).update("\0");
  part(FORMAT);
  part(tokenizerChecksum(tokenizer));
  part(template.source);
  part(String(options.maxSeqLength));
  part(JSON.stringify(options.systemPrompt ?? null));
  for (const r of records) part(JSON.stringify(r));
  return h.digest("hex");
}

/** Tokenizer files a Hugging Face directory may decide ids with (vocabularies, merges, models). */
const TOKENIZER_FILE = /^(?:tokenizer.*|vocab.*|merges\.txt|special_tokens_map\.json|.*\.model)$/;

/**
 * The tokenizer's own checksum, or (a tokenizer without one) the SHA-256 of its id → token table
 * and of the tokenizer files beside it, so merges that live in a file are covered too.
 */
export function tokenizerChecksum(tokenizer: Tokenizer): string {
  if (tokenizer.checksum) return tokenizer.checksum;
  const h = createHash("sha256");
  for (let id = 0; id < tokenizer.vocabSize; id++) h.update(`${tokenizer.idToToken(id) ?? ""}\0`);
  const dir = statSync(tokenizer.source, { throwIfNoEntry: false })?.isDirectory()
    ? tokenizer.source
    : dirname(tokenizer.source);
  for (const name of readdirSync(dir)
    .filter((n) => TOKENIZER_FILE.test(n))
    .sort())
    h.update(name)
      .update("\0")
      .update(readFileSync(join(dir, name)));
  return h.digest("hex");
}

/** Tokenize through the cache in `dir`; a damaged file is rebuilt (status "rebuilt", `problem`). */
export function tokenizeCached(
  records: readonly TrainingRecord[],
  tokenizer: Tokenizer,
  template: ChatTemplate,
  options: TokenizeOptions,
  dir: string,
): Tokenized {
  const t0 = performance.now();
  const key = tokenizedCacheKey(records, tokenizer, template, options);
  const file = join(dir, `${key.slice(0, 32)}.tok`);
  const seconds = () => (performance.now() - t0) / 1000;
  let damaged: string | undefined;
  if (existsSync(file)) {
    try {
      const { examples, report } = readTokenizedFile(file, key);
      return { examples, report, cache: { status: "hit", file, key, seconds: seconds() } };
    } catch (e) {
      damaged = `${(e as Error).message}; tokenized again and rewritten`;
    }
  }
  const { examples, report } = tokenizeDataset(records, tokenizer, template, options);
  let unwritable: string | undefined;
  try {
    writeFileAtomicSync(file, encodeTokenized(key, examples, report));
  } catch (e) {
    // A read-only or full disk costs the next run its hit, not this run.
    unwritable = `${file}: tokenized cache not written (${(e as Error).message})`;
  }
  const problem = [damaged, unwritable].filter((p) => p !== undefined).join("; ");
  return {
    examples,
    report,
    cache: {
      status: damaged === undefined ? "miss" : "rebuilt",
      file,
      key,
      seconds: seconds(),
      ...(problem ? { problem } : {}),
    },
  };
}

/** The file's bytes: magic, header length, header JSON, payload. */
export function encodeTokenized(
  key: string,
  examples: readonly TokenizedExample[],
  report: TruncationReport,
): Buffer {
  const n = examples.length;
  const total = examples.reduce((s, e) => s + e.tokens.length, 0);
  const offsets = new Int32Array(n + 1);
  const tokens = new Int32Array(total);
  const supervised = new Uint8Array(total);
  const originalLength = new Int32Array(n);
  examples.forEach((e, i) => {
    tokens.set(e.tokens, offsets[i]!);
    supervised.set(e.supervised, offsets[i]!);
    offsets[i + 1] = offsets[i]! + e.tokens.length;
    originalLength[i] = e.originalLength;
  });
  const payload = Buffer.concat([
    bytesOf(offsets),
    bytesOf(tokens),
    Buffer.from(supervised.buffer, supervised.byteOffset, supervised.byteLength),
    bytesOf(originalLength),
  ]);
  const header: Header = {
    format: FORMAT,
    key,
    examples: n,
    tokens: total,
    ids: examples.map((e) => e.id),
    report,
    payloadSha256: createHash("sha256").update(payload).digest("hex"),
  };
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  return Buffer.concat([MAGIC, length, json, payload]);
}

/** Read and verify a cache file; throws a message naming what is wrong (and the file). */
export function readTokenizedFile(
  file: string,
  key: string,
): { examples: TokenizedExample[]; report: TruncationReport } {
  const buf = readFileSync(file);
  const bad = (why: string) => new Error(`${file}: ${why}`);
  if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC))
    throw bad("not a tokenized cache file (bad magic)");
  const headerLength = buf.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4 + headerLength;
  if (start > buf.length) throw bad(`truncated inside the header (${buf.length} bytes)`);
  let h: Header;
  try {
    h = JSON.parse(buf.subarray(MAGIC.length + 4, start).toString("utf8")) as Header;
  } catch (e) {
    throw bad(`unreadable header: ${(e as Error).message}`);
  }
  if (h.format !== FORMAT || h.key !== key) throw bad("written for another key or format");
  const n = h.examples;
  if (!Array.isArray(h.ids) || h.ids.length !== n || !Number.isInteger(h.tokens))
    throw bad("header counts disagree (corrupted)");
  const total = h.tokens;
  const expected = 4 * (n + 1) + 4 * total + total + 4 * n;
  const payload = buf.subarray(start);
  if (payload.length !== expected)
    throw bad(`payload is ${payload.length} bytes, expected ${expected} (truncated or padded)`);
  if (createHash("sha256").update(payload).digest("hex") !== h.payloadSha256)
    throw bad("payload checksum mismatch (corrupted)");
  // Copies: the Buffer's offset need not be 4-byte aligned for an Int32Array view.
  const offsets = int32s(payload, 0, n + 1);
  const tokens = int32s(payload, 4 * (n + 1), total);
  const supervisedAt = 4 * (n + 1) + 4 * total;
  const supervised = new Uint8Array(payload.subarray(supervisedAt, supervisedAt + total));
  const originalLength = int32s(payload, supervisedAt + total, n);
  const examples = h.ids.map((id, i) => ({
    id,
    tokens: tokens.slice(offsets[i]!, offsets[i + 1]!),
    supervised: supervised.slice(offsets[i]!, offsets[i + 1]!),
    originalLength: originalLength[i]!,
  }));
  return { examples, report: h.report };
}

const bytesOf = (a: Int32Array): Buffer => {
  const b = Buffer.alloc(a.length * 4);
  a.forEach((v, i) => b.writeInt32LE(v, i * 4));
  return b;
};

function int32s(buf: Buffer, at: number, count: number): Int32Array {
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = buf.readInt32LE(at + 4 * i);
  return out;
}
