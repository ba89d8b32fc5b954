// The tokenized cache (src/train/cache.ts) with the bundled model's real tokenizer and chat
// template: a second call is a hit whose examples (and the packed dataset the trainer gets) equal a
// fresh tokenization; a change of data, template, tokenizer, maxSeqLength or system prompt is a
// miss; a corrupted or truncated file is detected and rebuilt; an unwritable cache folder costs
// only the hit. A tokenizer without its own checksum is keyed by its vocabulary and files.
//   npx vitest run test/train/cache.test.ts
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { bundledModelPath } from "../../src/paths.js";
import { tokenizeDataset, type TrainingRecord } from "../../src/train/batches.js";
import { tokenizeCached, tokenizerChecksum } from "../../src/train/cache.js";
import { ChatTemplate } from "../../src/train/chat-template.js";
import { loadTokenizer, type Tokenizer } from "../../src/train/tokenizer.js";
import { packDataset } from "../../src/train/trainer.js";
import { hetionetRecord } from "./records.js";

const record = hetionetRecord;

const records: TrainingRecord[] = [
  record("a", "What does metformin treat?", "Metformin treats type 2 diabetes mellitus."),
  record("b", "What does imatinib treat?", "Imatinib treats chronic myeloid leukemia."),
  record(
    "c",
    "Summarise the abstract.",
    "A long answer that the short maxSeqLength below cuts: ".repeat(8),
  ),
  {
    id: "d",
    messages: [
      { role: "user", content: "Is aspirin an NSAID?" },
      { role: "assistant", content: "Yes." },
      { role: "user", content: "And ibuprofen?" },
      { role: "assistant", content: "Yes, also an NSAID." },
    ],
  },
];

let tok: Tokenizer;
let template: ChatTemplate;
beforeAll(async () => {
  tok = await loadTokenizer(await bundledModelPath());
  template = ChatTemplate.fromTokenizer(tok);
});

const options = { maxSeqLength: 48 };

describe("tokenizeCached", () => {
  it("misses, then hits with the same examples and packed dataset as a fresh tokenization", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-cache-"));
    const first = tokenizeCached(records, tok, template, options, dir);
    expect(first.cache.status).toBe("miss");
    expect(statSync(first.cache.file).size).toBeGreaterThan(0);
    const second = tokenizeCached(records, tok, template, options, dir);
    expect(second.cache).toMatchObject({ status: "hit", file: first.cache.file });

    const fresh = tokenizeDataset(records, tok, template, options);
    expect(fresh.report.truncated).toBeGreaterThan(0); // the test data exercises truncation
    expect(second.examples).toEqual(fresh.examples);
    expect(second.report).toEqual(fresh.report);
    expect(packDataset(second.examples)).toEqual(packDataset(fresh.examples));
    expect(second.examples[0]!.tokens).toBeInstanceOf(Int32Array);
    expect(second.examples[0]!.supervised).toBeInstanceOf(Uint8Array);
  });

  it("misses when the data, template, tokenizer, maxSeqLength or system prompt change", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-cache-"));
    const base = tokenizeCached(records, tok, template, options, dir);
    const changedData = records.map((r, i) =>
      i === 0 ? record("a", "What does metformin treat?", "Type 2 diabetes.") : r,
    );
    const otherTemplate = new ChatTemplate(`${template.source}\n`, {
      eosToken: tok.eosToken,
      endOfTurnTokens: tok.specialTokens.keys(),
    });
    // Same ids and methods, another vocabulary/merges checksum.
    const otherTokenizer = Object.create(tok, {
      checksum: { value: "0".repeat(64) },
    }) as Tokenizer;
    const variants = [
      tokenizeCached(changedData, tok, template, options, dir),
      tokenizeCached(records, tok, otherTemplate, options, dir),
      tokenizeCached(records, otherTokenizer, template, options, dir),
      tokenizeCached(records, tok, template, { maxSeqLength: 64 }, dir),
      tokenizeCached(records, tok, template, { ...options, systemPrompt: "Be brief." }, dir),
    ];
    for (const v of variants) expect(v.cache.status).toBe("miss");
    const files = new Set([base, ...variants].map((v) => v.cache.file));
    expect(files.size).toBe(6);
    expect(tokenizeCached(records, tok, template, options, dir).cache.status).toBe("hit");
  });

  it("detects a corrupted or truncated file and rebuilds it", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-cache-"));
    const { cache } = tokenizeCached(records, tok, template, options, dir);
    const good = readFileSync(cache.file);

    const flipped = Buffer.from(good);
    flipped[flipped.length - 10] ^= 0xff; // inside the payload
    writeFileSync(cache.file, flipped);
    const rebuilt = tokenizeCached(records, tok, template, options, dir);
    expect(rebuilt.cache.status).toBe("rebuilt");
    expect(rebuilt.cache.problem).toMatch(/checksum mismatch/);
    expect(readFileSync(cache.file)).toEqual(good);

    writeFileSync(cache.file, good.subarray(0, good.length - 7));
    const truncated = tokenizeCached(records, tok, template, options, dir);
    expect(truncated.cache.status).toBe("rebuilt");
    expect(truncated.cache.problem).toMatch(/expected \d+ \(truncated/);

    writeFileSync(cache.file, good.subarray(0, 20)); // cut inside the header
    expect(tokenizeCached(records, tok, template, options, dir).cache.problem).toMatch(
      /truncated inside the header/,
    );
    const again = tokenizeCached(records, tok, template, options, dir);
    expect(again.cache.status).toBe("hit");
    expect(again.examples).toEqual(tokenizeDataset(records, tok, template, options).examples);
  });

  it("tokenizes anyway when the cache folder cannot be written", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-cache-"));
    const notADir = join(dir, "file");
    writeFileSync(notADir, "");
    const r = tokenizeCached(records, tok, template, options, notADir);
    expect(r.cache.status).toBe("miss");
    expect(r.cache.problem).toMatch(/tokenized cache not written/);
    expect(r.examples).toHaveLength(
      tokenizeDataset(records, tok, template, options).examples.length,
    );
  });

  it("keys a tokenizer without a checksum by its id → token table and its merges file", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-cache-tok-"));
    writeFileSync(join(dir, "vocab.json"), '{"a": 0, "b": 1}');
    writeFileSync(join(dir, "merges.txt"), "a b\n");
    writeFileSync(join(dir, "config.json"), "{}"); // not a tokenizer file
    const bare = Object.create(tok, {
      checksum: { value: undefined },
      source: { value: dir },
    }) as Tokenizer;
    const first = tokenizerChecksum(bare);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(first).not.toBe(tok.checksum);
    writeFileSync(join(dir, "config.json"), '{"other": true}');
    expect(tokenizerChecksum(bare)).toBe(first);
    writeFileSync(join(dir, "merges.txt"), "b a\n");
    expect(tokenizerChecksum(bare)).not.toBe(first);
  });
});
