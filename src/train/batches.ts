/**
 * Training batches: records → token ids + loss mask → length-bucketed, seeded, resumable batches
 * in flat typed arrays for the native trainer.
 *
 *   const data = tokenizeDataset(records, tok, ChatTemplate.fromTokenizer(tok), { maxSeqLength: 256 });
 *   const schedule = new BatchSchedule(data.examples.map((e) => e.tokens.length), { batchSize: 4, seed: 0 });
 *   for (const batch of iterateBatches(data.examples, schedule, { epoch: 0, batchIndex: 0 }, tok)) …
 *
 * Masks (what mlx-lm gets wrong, see STYLE.md): a target is supervised only when it is a token of
 * an assistant answer or the end-of-turn token right after that answer — every assistant turn of
 * a multi-turn chat, never the prompt, never padding. Loss = Σ mask·CE / Σ mask, summed over the
 * micro-batches of an accumulation step: `supervisedTokens` is that denominator for each batch.
 *
 * Batch layout (row-major, b = row, t = position, L = padded length):
 *   tokens   Int32Array   (B, L)  tokens[b·L + t]  = token t of example b (inputs)
 *   targets  Int32Array   (B, L)  targets[b·L + t] = token t+1 of example b (next-token labels)
 *   mask     Float32Array (B, L)  1 where targets[b·L + t] is supervised, else exactly 0
 *   lengths  Int32Array   (B,)    real positions per row: n_b − 1 for an example of n_b tokens
 * Rows are right-padded (tokens and targets hold `padId`, mask 0), so with a causal mask no real
 * position ever attends to padding. L = max(lengths) rounded up to `padToMultiple`.
 */
import type { InstructionRecord } from "../data/record.js";
import type { ChatMessage, ChatTemplate } from "./chat-template.js";
import type { Tokenizer } from "./tokenizer.js";

/** A conversation record: the chat counterpart of InstructionRecord. */
export interface ChatRecord {
  id: string;
  messages: ChatMessage[];
  metadata?: Record<string, unknown>;
}

export type TrainingRecord = InstructionRecord | ChatRecord;

export interface TokenizedExample {
  id: string;
  /** All tokens of the rendered conversation (after truncation). */
  tokens: Int32Array;
  /** Per token: 1 when the token belongs to an answer or its end-of-turn (same length as tokens). */
  supervised: Uint8Array;
  /** Token count before truncation. */
  originalLength: number;
}

export interface TokenizeOptions {
  /** Most tokens kept per example; an example yields maxSeqLength − 1 training positions. */
  maxSeqLength: number;
  /** System message put before instruction records (chat records carry their own). */
  systemPrompt?: string;
}

export interface TruncationReport {
  examples: number;
  /** Examples longer than maxSeqLength, cut at the end. */
  truncated: number;
  /** Tokens cut away, and how many of them were supervised. */
  droppedTokens: number;
  droppedSupervisedTokens: number;
  /** Examples left with no supervised target after truncation: not trained on at all. */
  skippedIds: string[];
  /** Answer boundaries that fell inside a token (token kept as supervised); 0 for most templates. */
  straddledBoundaries: number;
  maxSeqLength: number;
}

/** Bad training input; names the record. */
export class BatchDataError extends Error {
  constructor(
    readonly recordId: string,
    message: string,
  ) {
    super(`record ${JSON.stringify(recordId)}: ${message}`);
    this.name = "BatchDataError";
  }
}

/** Conversation for a record: instruction (+ input) as the user turn, output as the answer. */
export function recordMessages(record: TrainingRecord, systemPrompt?: string): ChatMessage[] {
  if ("messages" in record) {
    if (!Array.isArray(record.messages) || record.messages.length === 0) {
      throw new BatchDataError(record.id, "messages must be a non-empty array of {role, content}");
    }
    record.messages.forEach((m, i) => {
      if (typeof m?.role !== "string" || typeof m?.content !== "string") {
        throw new BatchDataError(
          record.id,
          `messages[${i}] must be {role: string, content: string}`,
        );
      }
    });
    return record.messages;
  }
  const user = record.input.trim()
    ? `${record.instruction}\n\n${record.input}`
    : record.instruction;
  const messages: ChatMessage[] = [];
  if (systemPrompt !== undefined) messages.push({ role: "system", content: systemPrompt });
  messages.push({ role: "user", content: user }, { role: "assistant", content: record.output });
  return messages;
}

function sameIds(a: readonly number[], b: readonly number[], from = 0): number {
  // Length of the common prefix of a and b, starting the comparison at `from`.
  let k = from;
  while (k < a.length && k < b.length && a[k] === b[k]) k++;
  return k;
}

/**
 * Per-token supervision from character spans. Fast path: encode the pieces between span
 * boundaries separately; if they concatenate to the full encoding, every boundary is a token
 * boundary. Otherwise (a merge crosses a boundary, or SentencePiece's leading "▁" on a fresh
 * piece) locate each boundary by encoding the text before it: the common prefix with the full
 * encoding ends at the boundary, or at the token that straddles it, which is kept supervised.
 */
function tokenSupervision(
  tok: Tokenizer,
  text: string,
  ids: number[],
  spans: readonly { start: number; end: number }[],
): { supervised: Uint8Array; straddled: number } {
  const supervised = new Uint8Array(ids.length);
  const cuts = spans.flatMap((s) => [s.start, s.end]);
  const pieces: number[][] = [];
  let prev = 0;
  for (const c of [...cuts, text.length]) {
    pieces.push(tok.encode(text.slice(prev, c)));
    prev = c;
  }
  if (sameIds(pieces.flat(), ids) === ids.length && pieces.flat().length === ids.length) {
    let at = 0;
    pieces.forEach((p, i) => {
      // Odd pieces lie inside a span: [start_k, end_k).
      if (i % 2 === 1) supervised.fill(1, at, at + p.length);
      at += p.length;
    });
    return { supervised, straddled: 0 };
  }
  let straddled = 0;
  const boundary = (pos: number, isEnd: boolean): number => {
    const before = tok.encode(text.slice(0, pos));
    const k = sameIds(before, ids);
    if (k === before.length) return k;
    straddled++;
    // Token k holds characters on both sides; an answer keeps it (start: from k, end: through k).
    return isEnd ? Math.min(k + 1, ids.length) : k;
  };
  for (const s of spans) {
    const a = boundary(s.start, false);
    const b = boundary(s.end, true);
    supervised.fill(1, a, b);
  }
  return { supervised, straddled };
}

/** Render, tokenize and mask one record. Throws BatchDataError for records without an answer. */
export function tokenizeRecord(
  record: TrainingRecord,
  tok: Tokenizer,
  template: ChatTemplate,
  options: TokenizeOptions,
): { example: TokenizedExample; straddled: number; droppedSupervised: number } {
  const messages = recordMessages(record, options.systemPrompt);
  if (!messages.some((m) => m.role === "assistant")) {
    throw new BatchDataError(record.id, "has no assistant message: nothing to train on");
  }
  let rendered;
  try {
    rendered = template.renderWithAssistantSpans(messages);
  } catch (e) {
    throw new BatchDataError(record.id, (e as Error).message);
  }
  const ids = tok.encode(rendered.text);
  const { supervised, straddled } = tokenSupervision(tok, rendered.text, ids, rendered.spans);
  const keep = Math.min(ids.length, options.maxSeqLength);
  return {
    example: {
      id: record.id,
      tokens: Int32Array.from(ids.slice(0, keep)),
      supervised: supervised.slice(0, keep),
      originalLength: ids.length,
    },
    straddled,
    droppedSupervised: countOnes(supervised.subarray(keep)),
  };
}

/** Tokenize a dataset; examples left with no supervised target are skipped and reported. */
export function tokenizeDataset(
  records: Iterable<TrainingRecord>,
  tok: Tokenizer,
  template: ChatTemplate,
  options: TokenizeOptions,
): { examples: TokenizedExample[]; report: TruncationReport } {
  if (!Number.isInteger(options.maxSeqLength) || options.maxSeqLength < 2) {
    throw new RangeError(`maxSeqLength must be an integer ≥ 2, got ${options.maxSeqLength}`);
  }
  const report: TruncationReport = {
    examples: 0,
    truncated: 0,
    droppedTokens: 0,
    droppedSupervisedTokens: 0,
    skippedIds: [],
    straddledBoundaries: 0,
    maxSeqLength: options.maxSeqLength,
  };
  const examples: TokenizedExample[] = [];
  for (const record of records) {
    const { example, straddled, droppedSupervised } = tokenizeRecord(
      record,
      tok,
      template,
      options,
    );
    report.examples++;
    report.straddledBoundaries += straddled;
    if (example.originalLength > example.tokens.length) {
      report.truncated++;
      report.droppedTokens += example.originalLength - example.tokens.length;
      report.droppedSupervisedTokens += droppedSupervised;
    }
    // Position 0 is never a target, so only supervision at 1.. trains anything.
    if (countOnes(example.supervised.subarray(1)) === 0) {
      report.skippedIds.push(example.id);
      continue;
    }
    examples.push(example);
  }
  return { examples, report };
}

function countOnes(a: Uint8Array): number {
  let n = 0;
  for (const v of a) n += v;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Order: seeded, length-bucketed, resumable

/** splitmix32: small, fast, and identical on every platform, so a seed names one data order. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** Where training stands in the data: batch `batchIndex` of epoch `epoch` is the next to run. */
export interface DataPosition {
  epoch: number;
  batchIndex: number;
}

export interface ScheduleOptions {
  batchSize: number;
  seed: number;
  /** Sort by length before cutting batches (default true); false gives plain shuffled batches. */
  bucketing?: boolean;
  /** Drop the last, smaller batch of an epoch (default false). */
  dropLast?: boolean;
  /** Round each batch's padded length up to a multiple of this (default 8). */
  padToMultiple?: number;
}

export interface PaddingReport {
  batches: number;
  /** Σ real positions and Σ B·L over the epoch's batches. */
  realPositions: number;
  paddedPositions: number;
  /** 1 − real / padded: the share of compute spent on padding. */
  paddingFraction: number;
}

/**
 * Which examples form each batch, epoch by epoch. Per epoch: a seeded shuffle (so equal lengths
 * land in different batches each epoch), a stable sort by length, consecutive runs of batchSize
 * become batches, and the batch order is shuffled with the same epoch seed. The order depends only
 * on (lengths, seed, epoch), so a DataPosition is all a checkpoint needs to resume exactly.
 */
export class BatchSchedule {
  readonly batchSize: number;
  readonly seed: number;
  readonly bucketing: boolean;
  readonly dropLast: boolean;
  readonly padToMultiple: number;

  constructor(
    private readonly lengths: readonly number[],
    options: ScheduleOptions,
  ) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${options.batchSize}`);
    }
    if (lengths.length === 0) throw new RangeError("no examples to batch");
    this.batchSize = options.batchSize;
    this.seed = options.seed;
    this.bucketing = options.bucketing ?? true;
    this.dropLast = options.dropLast ?? false;
    this.padToMultiple = options.padToMultiple ?? 8;
    if (this.dropLast && lengths.length < this.batchSize) {
      throw new RangeError(
        `dropLast with ${lengths.length} examples < batchSize ${this.batchSize} leaves no batch`,
      );
    }
  }

  get batchesPerEpoch(): number {
    const n = this.lengths.length / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** Example indices of every batch of `epoch`, in training order. */
  epochBatches(epoch: number): number[][] {
    // Distinct, well-mixed stream per (seed, epoch).
    const random = rng(
      Math.imul(this.seed ^ 0x5bd1e995, 0x27d4eb2d) + Math.imul(epoch + 1, 0x165667b1),
    );
    const order = shuffle(
      this.lengths.map((_, i) => i),
      random,
    );
    if (this.bucketing) {
      // Array.prototype.sort is stable: ties keep the shuffled order.
      order.sort((a, b) => (this.lengths[a] as number) - (this.lengths[b] as number));
    }
    const batches: number[][] = [];
    for (let i = 0; i < order.length; i += this.batchSize) {
      const batch = order.slice(i, i + this.batchSize);
      if (batch.length < this.batchSize && this.dropLast) break;
      batches.push(batch);
    }
    return shuffle(batches, random);
  }

  /** Padded length of a batch: longest row's positions, rounded up to padToMultiple. */
  paddedLength(indices: readonly number[]): number {
    let longest = 1;
    for (const i of indices) longest = Math.max(longest, (this.lengths[i] as number) - 1);
    return Math.ceil(longest / this.padToMultiple) * this.padToMultiple;
  }

  paddingReport(epoch: number): PaddingReport {
    let real = 0;
    let padded = 0;
    const batches = this.epochBatches(epoch);
    for (const b of batches) {
      padded += b.length * this.paddedLength(b);
      for (const i of b) real += (this.lengths[i] as number) - 1;
    }
    return {
      batches: batches.length,
      realPositions: real,
      paddedPositions: padded,
      paddingFraction: 1 - real / padded,
    };
  }

  /** The position after `p`, rolling over to the next epoch. */
  next(p: DataPosition): DataPosition {
    return p.batchIndex + 1 < this.batchesPerEpoch
      ? { epoch: p.epoch, batchIndex: p.batchIndex + 1 }
      : { epoch: p.epoch + 1, batchIndex: 0 };
  }
}

// ---------------------------------------------------------------------------------------------
// Flat arrays for native code

export interface Batch {
  /** (B, L) input ids. */
  tokens: Int32Array;
  /** (B, L) next-token labels. */
  targets: Int32Array;
  /** (B, L) 1 on supervised targets, 0 on prompt and padding. */
  mask: Float32Array;
  /** (B,) real positions per row. */
  lengths: Int32Array;
  /** [B, L]. */
  shape: [number, number];
  /** Σ mask: the loss denominator's share from this batch. */
  supervisedTokens: number;
  /** Σ lengths: positions that do real compute (for tokens/second). */
  realTokens: number;
  /** This batch's position; resume from schedule.next(position). */
  position: DataPosition;
  exampleIds: string[];
}

/** Pack examples into one right-padded batch (layout in the file header). */
export function makeBatch(
  examples: readonly TokenizedExample[],
  indices: readonly number[],
  padId: number,
  padToMultiple = 8,
  position: DataPosition = { epoch: 0, batchIndex: 0 },
): Batch {
  const rows = indices.map((i) => {
    const e = examples[i];
    if (e === undefined)
      throw new RangeError(`example index ${i} out of range (${examples.length} examples)`);
    return e;
  });
  const B = rows.length;
  let longest = 1;
  for (const e of rows) longest = Math.max(longest, e.tokens.length - 1);
  const L = Math.ceil(longest / padToMultiple) * padToMultiple;
  const tokens = new Int32Array(B * L).fill(padId);
  const targets = new Int32Array(B * L).fill(padId);
  const mask = new Float32Array(B * L);
  const lengths = new Int32Array(B);
  let supervisedTokens = 0;
  let realTokens = 0;
  rows.forEach((e, b) => {
    const n = e.tokens.length - 1; // positions: input t predicts token t+1
    lengths[b] = n;
    realTokens += n;
    tokens.set(e.tokens.subarray(0, n), b * L);
    targets.set(e.tokens.subarray(1, n + 1), b * L);
    for (let t = 0; t < n; t++) {
      if (e.supervised[t + 1] === 1) {
        mask[b * L + t] = 1;
        supervisedTokens++;
      }
    }
  });
  return {
    tokens,
    targets,
    mask,
    lengths,
    shape: [B, L],
    supervisedTokens,
    realTokens,
    position,
    exampleIds: rows.map((e) => e.id),
  };
}

/**
 * Batches from `from` onwards, forever (epoch after epoch); stop by count in the caller. The
 * padding id is the tokenizer's pad token, else EOS (its value never matters: mask is 0 there).
 */
export function* iterateBatches(
  examples: readonly TokenizedExample[],
  schedule: BatchSchedule,
  from: DataPosition,
  tok: Pick<Tokenizer, "padId" | "eosId">,
): Generator<Batch> {
  if (from.batchIndex < 0 || from.batchIndex >= schedule.batchesPerEpoch) {
    throw new RangeError(
      `data position batchIndex ${from.batchIndex} outside 0..${schedule.batchesPerEpoch - 1}`,
    );
  }
  const padId = tok.padId ?? tok.eosId;
  let pos = from;
  let epochBatches = schedule.epochBatches(pos.epoch);
  for (;;) {
    const indices = epochBatches[pos.batchIndex] as number[];
    yield makeBatch(examples, indices, padId, schedule.padToMultiple, pos);
    const next = schedule.next(pos);
    if (next.epoch !== pos.epoch) epochBatches = schedule.epochBatches(next.epoch);
    pos = next;
  }
}

// ---------------------------------------------------------------------------------------------
// Whole-run hand-off to native code: the batch order (src/train/trainer.ts packs the examples)

/** The next `count` micro-batches (example indices) from `from`, crossing epochs as needed. */
export function batchOrder(schedule: BatchSchedule, from: DataPosition, count: number): number[][] {
  const out: number[][] = [];
  let pos = from;
  let epoch = schedule.epochBatches(pos.epoch);
  while (out.length < count) {
    out.push(epoch[pos.batchIndex] as number[]);
    const next = schedule.next(pos);
    if (next.epoch !== pos.epoch) epoch = schedule.epochBatches(next.epoch);
    pos = next;
  }
  return out;
}
