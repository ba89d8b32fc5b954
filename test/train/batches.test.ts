/**
 * Batches: exact loss masks (every answer + its end-of-turn, never prompt or padding), truncation
 * report, real length bucketing, seeded determinism and resume from a data position.
 *
 *   npx vitest run test/train/batches.test.ts
 */
import path from "node:path";

import { beforeAll, describe, expect, it } from "vitest";

import type { InstructionRecord } from "../../src/data/record.js";
import {
  BatchSchedule,
  iterateBatches,
  makeBatch,
  tokenizeDataset,
  type Batch,
  type ChatRecord,
  type TokenizedExample,
} from "../../src/train/batches.js";
import { ChatTemplate } from "../../src/train/chat-template.js";
import { loadTokenizer, type Tokenizer } from "../../src/train/tokenizer.js";

const MODEL = path.resolve("models/base/SmolLM2-135M-Instruct.Q4_1.gguf");

function instruction(
  id: string,
  instructionText: string,
  output: string,
  input = "",
): InstructionRecord {
  return {
    id,
    instruction: instructionText,
    input,
    output,
    metadata: {
      source: "augment",
      task: "test",
      confidence: 1,
      citations: [],
      license: "CC0-1.0",
      provenance: {},
    },
  };
}

const MULTI_TURN: ChatRecord = {
  id: "chat-1",
  messages: [
    { role: "user", content: "Which enzyme does simvastatin inhibit?" },
    { role: "assistant", content: "HMG-CoA reductase." },
    { role: "user", content: "And a major interaction?" },
    {
      role: "assistant",
      content: "Strong CYP3A4 inhibitors such as clarithromycin raise its levels.",
    },
  ],
};

/** Records of widely varying length, deterministic. */
function corpus(n: number): InstructionRecord[] {
  const words =
    "metformin lowers hepatic glucose output and improves insulin sensitivity in type 2 diabetes".split(
      " ",
    );
  return Array.from({ length: n }, (_, i) => {
    const len = 1 + ((i * 37) % 97);
    const out = Array.from({ length: len }, (_, j) => words[(i + j) % words.length]).join(" ");
    return instruction(`r${i}`, `Explain item ${i}.`, out);
  });
}

/** Decode the supervised targets of row b. */
function supervisedText(tok: Tokenizer, batch: Batch, b: number): string {
  const [, L] = batch.shape;
  const ids: number[] = [];
  for (let t = 0; t < L; t++)
    if (batch.mask[b * L + t] === 1) ids.push(batch.targets[b * L + t] as number);
  return tok.decode(ids);
}

describe("tokenize + mask", () => {
  let tok: Tokenizer;
  let tpl: ChatTemplate;
  beforeAll(async () => {
    tok = await loadTokenizer(MODEL);
    tpl = ChatTemplate.fromTokenizer(tok);
  });

  it("supervises exactly every answer and the <|im_end|> after each (multi-turn)", () => {
    const { examples } = tokenizeDataset([MULTI_TURN], tok, tpl, { maxSeqLength: 512 });
    const batch = makeBatch(examples, [0], tok.eosId);
    expect(supervisedText(tok, batch, 0)).toBe(
      "HMG-CoA reductase.<|im_end|>Strong CYP3A4 inhibitors such as clarithromycin raise its levels.<|im_end|>",
    );
    // Count independently: the answers' own tokens + one end-of-turn per answer.
    const expected =
      tok.encode("HMG-CoA reductase.").length +
      tok.encode("Strong CYP3A4 inhibitors such as clarithromycin raise its levels.").length +
      2;
    expect(batch.supervisedTokens).toBe(expected);
    // Every <|im_end|> closing a system or user turn stays unsupervised.
    const imEnd = tok.specialTokens.get("<|im_end|>") as number;
    const [, L] = batch.shape;
    let endsTotal = 0;
    let endsSupervised = 0;
    for (let t = 0; t < (batch.lengths[0] as number); t++) {
      if (batch.targets[t] === imEnd) {
        endsTotal++;
        endsSupervised += batch.mask[t] as number;
      }
    }
    expect([endsTotal, endsSupervised]).toEqual([5, 2]);
    expect(L % 8).toBe(0);
  });

  it("instruction records: input joins the user turn; only the output is supervised", () => {
    const rec = instruction("i1", "Name the drug class.", "Biguanide.", "Drug: metformin");
    const { examples } = tokenizeDataset([rec], tok, tpl, {
      maxSeqLength: 512,
      systemPrompt: "Be brief.",
    });
    const text = tok.decode(Array.from((examples[0] as TokenizedExample).tokens));
    expect(text).toContain("<|im_start|>system\nBe brief.<|im_end|>");
    expect(text).toContain("Name the drug class.\n\nDrug: metformin");
    expect(supervisedText(tok, makeBatch(examples, [0], tok.eosId), 0)).toBe(
      "Biguanide.<|im_end|>",
    );
  });

  it("never supervises padding; inputs and targets are the sequence shifted by one", () => {
    const { examples } = tokenizeDataset(corpus(12), tok, tpl, { maxSeqLength: 512 });
    const batch = makeBatch(examples, [0, 1, 2, 3, 4, 5], 2);
    const [B, L] = batch.shape;
    expect(batch.tokens.length).toBe(B * L);
    let maskSum = 0;
    for (let b = 0; b < B; b++) {
      const e = examples[b] as TokenizedExample;
      const n = batch.lengths[b] as number;
      expect(n).toBe(e.tokens.length - 1);
      for (let t = 0; t < L; t++) {
        const m = batch.mask[b * L + t] as number;
        maskSum += m;
        if (t >= n) {
          expect(m).toBe(0);
          expect(batch.targets[b * L + t]).toBe(2);
        } else {
          expect(batch.tokens[b * L + t]).toBe(e.tokens[t]);
          expect(batch.targets[b * L + t]).toBe(e.tokens[t + 1]);
          expect(m).toBe(e.supervised[t + 1]);
        }
      }
    }
    expect(maskSum).toBe(batch.supervisedTokens);
  });

  it("truncates at maxSeqLength, reports what was cut, and skips examples left without an answer", () => {
    const long = instruction("long", "Summarise.", "word ".repeat(300).trim());
    const noAnswerLeft = instruction("cut", "x ".repeat(200).trim(), "the answer");
    const short = [
      instruction("s0", "Dose?", "500 mg."),
      instruction("s1", "Class?", "Biguanide."),
    ];
    const { examples, report } = tokenizeDataset([long, noAnswerLeft, ...short], tok, tpl, {
      maxSeqLength: 64,
    });
    expect(report.examples).toBe(4);
    expect(report.truncated).toBe(2);
    expect(report.skippedIds).toEqual(["cut"]);
    expect(report.droppedTokens).toBeGreaterThan(300);
    expect(report.droppedSupervisedTokens).toBeGreaterThan(200);
    expect(examples.map((e) => e.id)).toEqual(["long", "s0", "s1"]);
    expect((examples[0] as TokenizedExample).tokens.length).toBe(64);
  });

  it("an answer boundary inside a token keeps that token supervised and is reported", () => {
    // No separator between prompt and answer: " A" + "nswer" merge into tokens across the boundary.
    const glued = new ChatTemplate(
      "{% for m in messages %}{% if m.role == 'user' %}{{ 'Q ' + m.content + ' A' }}{% else %}{{ m.content + eos_token }}{% endif %}{% endfor %}",
      { eosToken: "<|im_end|>" },
    );
    const rec: ChatRecord = {
      id: "g",
      messages: [
        { role: "user", content: "x" },
        { role: "assistant", content: "nswer" },
      ],
    };
    const { examples, report } = tokenizeDataset([rec], tok, glued, { maxSeqLength: 64 });
    expect(report.straddledBoundaries).toBe(1);
    const e = examples[0] as TokenizedExample;
    const sup = Array.from(e.tokens).filter((_, i) => e.supervised[i] === 1);
    expect(tok.decode(sup)).toBe(" Answer<|im_end|>");
  });

  it("names the record that has no answer", () => {
    const bad: ChatRecord = { id: "q-only", messages: [{ role: "user", content: "hi" }] };
    expect(() => tokenizeDataset([bad], tok, tpl, { maxSeqLength: 64 })).toThrow(
      /record "q-only": has no assistant message/,
    );
  });
});

describe("schedule: bucketing, determinism, resume", () => {
  let tok: Tokenizer;
  let examples: TokenizedExample[];
  let lengths: number[];
  beforeAll(async () => {
    tok = await loadTokenizer(MODEL);
    ({ examples } = tokenizeDataset(corpus(203), tok, ChatTemplate.fromTokenizer(tok), {
      maxSeqLength: 1024,
    }));
    lengths = examples.map((e) => e.tokens.length);
  });

  it("bucketing really sorts: batches cover disjoint length ranges and cut padding", () => {
    const bucketed = new BatchSchedule(lengths, { batchSize: 8, seed: 1 });
    const random = new BatchSchedule(lengths, { batchSize: 8, seed: 1, bucketing: false });
    const ranges = bucketed
      .epochBatches(0)
      .map((b) => b.map((i) => lengths[i] as number))
      .map((ls) => [Math.min(...ls), Math.max(...ls)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let k = 1; k < ranges.length; k++) {
      const [prev, cur] = [
        ranges[k - 1] as readonly [number, number],
        ranges[k] as readonly [number, number],
      ];
      expect(prev[1]).toBeLessThanOrEqual(cur[0]);
    }
    const pb = bucketed.paddingReport(0).paddingFraction;
    const pr = random.paddingReport(0).paddingFraction;
    expect(pb).toBeLessThan(0.1);
    expect(pr).toBeGreaterThan(0.3);
    expect(pb).toBeLessThan(pr / 3);
  });

  it("shuffles batch order, and every example appears once per epoch", () => {
    const s = new BatchSchedule(lengths, { batchSize: 8, seed: 1 });
    const batches = s.epochBatches(0);
    expect(batches.length).toBe(Math.ceil(203 / 8));
    expect(batches.flat().sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
    const firstLengths = batches.map((b) => lengths[b[0] as number] as number);
    expect(firstLengths).not.toEqual([...firstLengths].sort((a, b) => a - b));
  });

  it("is deterministic by seed and epoch", () => {
    const a = new BatchSchedule(lengths, { batchSize: 8, seed: 5 });
    const b = new BatchSchedule(lengths, { batchSize: 8, seed: 5 });
    expect(a.epochBatches(3)).toEqual(b.epochBatches(3));
    expect(a.epochBatches(0)).not.toEqual(a.epochBatches(1));
    expect(a.epochBatches(0)).not.toEqual(
      new BatchSchedule(lengths, { batchSize: 8, seed: 6 }).epochBatches(0),
    );
  });

  it("resumes from a data position with the same batches, across an epoch boundary", () => {
    const s = new BatchSchedule(lengths, { batchSize: 8, seed: 11 });
    const take = (from: { epoch: number; batchIndex: number }, n: number): Batch[] => {
      const out: Batch[] = [];
      for (const batch of iterateBatches(examples, s, from, tok)) {
        out.push(batch);
        if (out.length === n) break;
      }
      return out;
    };
    const run = take({ epoch: 0, batchIndex: 0 }, s.batchesPerEpoch + 10);
    const k = s.batchesPerEpoch - 4; // a checkpoint 4 batches before the epoch ends
    const resumeAt = s.next((run[k - 1] as Batch).position);
    const resumed = take(resumeAt, 14);
    expect(resumed.map((b) => b.position)).toEqual(run.slice(k).map((b) => b.position));
    resumed.forEach((b, i) => {
      const ref = run[k + i] as Batch;
      expect(b.exampleIds).toEqual(ref.exampleIds);
      expect(b.tokens).toEqual(ref.tokens);
      expect(b.mask).toEqual(ref.mask);
    });
    expect((resumed[13] as Batch).position).toEqual({ epoch: 1, batchIndex: 9 });
  });

  it("rejects bad positions and sizes with clear errors", () => {
    const s = new BatchSchedule(lengths, { batchSize: 8, seed: 0 });
    expect(() => iterateBatches(examples, s, { epoch: 0, batchIndex: 999 }, tok).next()).toThrow(
      /batchIndex 999 outside 0\.\.25/,
    );
    expect(() => new BatchSchedule(lengths, { batchSize: 0, seed: 0 })).toThrow(
      /batchSize must be a positive integer/,
    );
  });
});
