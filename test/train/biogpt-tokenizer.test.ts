/**
 * BioGPT tokenizer parity: ids, tokens and decoded text must equal transformers'
 * BioGptTokenizer (sacremoses + BPE) on the sentences in test/fixtures/biogpt-tokenizer/cases.json
 * (a vocabulary in BioGPT's real file format, written by scripts/make_parity_fixtures.py), and a
 * BioGPT directory trains through the chat-template path with the prompt format in
 * configs/templates/biogpt.jinja.
 *
 *   npx vitest run test/train/biogpt-tokenizer.test.ts
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { ChatTemplate } from "../../src/train/chat-template.js";
import { loadModelConfig } from "../../src/train/config.js";
import { estimateStepPeakBytes } from "../../src/train/memory.js";
import { loraModulesOf } from "../../src/train/model.js";
import { loadTokenizer, TokenizerLoadError } from "../../src/train/tokenizer.js";
import {
  BIOGPT_PROMPT_TEMPLATE,
  mosesDetokenize,
  mosesTokenize,
} from "../../src/train/tokenizer-biogpt.js";

const DIR = path.resolve("test/fixtures/biogpt-tokenizer");

interface Case {
  text: string;
  tokens: string[];
  ids: number[];
  ids_with_special_tokens: number[];
  decoded: string;
}
const CASES = JSON.parse(readFileSync(path.join(DIR, "cases.json"), "utf8")) as Case[];

const tmp = mkdtempSync(path.join(tmpdir(), "medtune-biogpt-tok-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("BioGPT tokenizer = transformers BioGptTokenizer", async () => {
  const tok = await loadTokenizer(DIR);

  it("reads the real file layout (vocab.json + merges.txt, no tokenizer.json)", () => {
    expect(tok.vocabSize).toBe(493);
    expect([tok.bosId, tok.eosId, tok.padId]).toEqual([2, 2, 1]);
    expect(tok.bosToken).toBe("</s>");
    expect([...tok.specialTokens.keys()]).toEqual(["<s>", "<pad>", "</s>", "<unk>"]);
  });

  for (const c of CASES) {
    it(`ids: ${JSON.stringify(c.text.slice(0, 48))}`, () => {
      expect(tok.encode(c.text)).toEqual(c.ids);
      expect(tok.encode(c.text, { addSpecialTokens: true })).toEqual(c.ids_with_special_tokens);
      expect(c.ids.map((i) => tok.idToToken(i))).toEqual(
        c.tokens.map((t) => (tok.tokenToId(t) === undefined ? "<unk>" : t)),
      );
    });
    it(`decode: ${JSON.stringify(c.text.slice(0, 48))}`, () => {
      expect(tok.decode(c.ids)).toBe(c.decoded);
    });
  }

  it("agreement over all cases", () => {
    const total = CASES.reduce((n, c) => n + c.ids.length, 0);
    const same = CASES.reduce(
      (n, c) => n + tok.encode(c.text).filter((id, i) => id === c.ids[i]).length,
      0,
    );
    console.log(
      `biogpt tokenizer: ${same}/${total} ids equal transformers' over ${CASES.length} sentences`,
    );
    expect(same).toBe(total);
  });

  it("Moses rules round-trip ordinary biomedical prose", () => {
    const text = 'Patients (n = 42) received 5-10 mg/kg; "no" events, e.g. rash, occurred.';
    const words = mosesTokenize(text);
    expect(words).toContain("@-@");
    expect(words).toContain("&quot;");
    expect(mosesDetokenize(words)).toBe(
      'Patients (n = 42) received 5-10 mg / kg; "no" events, e.g. rash, occurred.',
    );
  });

  it("trains through the prompt template: answer spans end with </s>", () => {
    const tpl = ChatTemplate.fromTokenizer(tok);
    const { text, spans } = tpl.renderWithAssistantSpans([
      { role: "user", content: "What is metformin?" },
      { role: "assistant", content: "A treatment for type 2 diabetes." },
    ]);
    expect(text).toBe(
      "</s>question: What is metformin?\nanswer: A treatment for type 2 diabetes.</s>\n",
    );
    expect(text.slice(spans[0]!.start, spans[0]!.end)).toBe("A treatment for type 2 diabetes.</s>");
    expect(tok.encode(text)[0]).toBe(2);
  });
});

describe("BioGPT tokenizer errors name the file", () => {
  it("a missing merges.txt", async () => {
    const dir = path.join(tmp, "no-merges");
    cpSync(DIR, dir, { recursive: true });
    rmSync(path.join(dir, "merges.txt"));
    await expect(loadTokenizer(dir)).rejects.toThrow(TokenizerLoadError);
    await expect(loadTokenizer(dir)).rejects.toThrow(/merges\.txt: missing/);
  });

  it("a bad merges line", async () => {
    const dir = path.join(tmp, "bad-merges");
    cpSync(DIR, dir, { recursive: true });
    writeFileSync(path.join(dir, "merges.txt"), "i n\nbroken\n");
    await expect(loadTokenizer(dir)).rejects.toThrow(/merges\.txt: line 2: expected "left right"/);
  });

  it("a vocabulary without </s>", async () => {
    const dir = path.join(tmp, "no-eos");
    cpSync(DIR, dir, { recursive: true });
    const vocab = JSON.parse(readFileSync(path.join(dir, "vocab.json"), "utf8")) as Record<
      string,
      number
    >;
    delete vocab["</s>"];
    writeFileSync(path.join(dir, "vocab.json"), JSON.stringify(vocab));
    await expect(loadTokenizer(dir)).rejects.toThrow(/vocab\.json: special token "<\/s>"/);
  });
});

describe("configs/model_configs/biogpt.yaml", () => {
  it("names the prompt template, the stop token and BioGPT's six LoRA targets", async () => {
    const m = await loadModelConfig(path.resolve("configs/model_configs/biogpt.yaml"));
    expect(m.modelType).toBe("biogpt");
    expect(path.resolve(m.chatTemplateSource)).toBe(BIOGPT_PROMPT_TEMPLATE);
    expect(m.stopTokens).toEqual(["</s>"]);
    expect([...m.recommendedLoraKeys].sort()).toEqual(loraModulesOf("biogpt").sort());
  });

  it("its memory estimate is the arithmetic in its comments (memory.ts, batch 4 × 256)", async () => {
    const m = await loadModelConfig(path.resolve("configs/model_configs/biogpt.yaml"));
    const [V, D, F, L, P, r] = [42384, 1024, 4096, 24, 1026, 16];
    const params =
      V * D + P * D + 2 * D + L * (4 * (D * D + D) + (D * F + F) + (F * D + D) + 4 * D);
    expect(params).toBe(346_763_264);
    const lora = L * (4 * (D * r + r * D) + (D * r + r * F) + (F * r + r * D));
    const peak = estimateStepPeakBytes({
      modelBytes: params * 4 + lora * 4 * 4,
      config: { hiddenSize: D, intermediateSize: F, numLayers: L, numHeads: 16 },
      batchSize: 4,
      seqLength: 256,
    });
    expect(m.memoryEstimateBytes).toBe(peak);
  });
});
