/**
 * Chat templates: rendering with the model's own template, and assistant spans for every turn
 * across template families (ChatML from the bundled GGUF; Llama 3, Llama 2/Mistral [INST] and
 * Gemma-style templates written here), plus the errors for templates we cannot mask.
 *
 *   npx vitest run test/train/chat-template.test.ts
 */
import path from "node:path";

import { beforeAll, describe, expect, it } from "vitest";

import {
  ChatTemplate,
  ChatTemplateError,
  type ChatMessage,
} from "../../src/train/chat-template.js";
import { loadTokenizer, type Tokenizer } from "../../src/train/tokenizer.js";

const MODEL = path.resolve("models/base/SmolLM2-135M-Instruct.Q4_1.gguf");

const CHAT: ChatMessage[] = [
  { role: "system", content: "You are a careful clinical pharmacist." },
  { role: "user", content: "What class is metformin?" },
  { role: "assistant", content: "A biguanide." },
  { role: "user", content: "Usual starting dose?" },
  { role: "assistant", content: "500 mg once or twice daily with meals." },
];

function spanTexts(tpl: ChatTemplate, messages: ChatMessage[]): string[] {
  const { text, spans } = tpl.renderWithAssistantSpans(messages);
  return spans.map((s) => text.slice(s.start, s.end));
}

describe("the bundled model's ChatML template (GGUF tokenizer.chat_template)", () => {
  let tok: Tokenizer;
  let tpl: ChatTemplate;
  beforeAll(async () => {
    tok = await loadTokenizer(MODEL);
    tpl = ChatTemplate.fromTokenizer(tok);
  });

  it("renders with and without the generation prompt", () => {
    const prompt = tpl.render([{ role: "user", content: "Hi" }], { addGenerationPrompt: true });
    expect(prompt.endsWith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")).toBe(true);
    // SmolLM2's template inserts its default system prompt when none is given.
    expect(
      prompt.startsWith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"),
    ).toBe(true);
    expect(tpl.render([{ role: "user", content: "Hi" }]).endsWith("<|im_end|>\n")).toBe(true);
  });

  it("finds every assistant turn with its <|im_end|>, and nothing else", () => {
    const { text, spans } = tpl.renderWithAssistantSpans(CHAT);
    expect(spans.map((s) => s.messageIndex)).toEqual([2, 4]);
    expect(spans.map((s) => text.slice(s.start, s.end))).toEqual([
      "A biguanide.<|im_end|>",
      "500 mg once or twice daily with meals.<|im_end|>",
    ]);
    expect(spans.map((s) => text.slice(s.start, s.contentEnd))).toEqual([
      "A biguanide.",
      "500 mg once or twice daily with meals.",
    ]);
  });

  it("handles a conversation that ends on a user turn (no trailing answer)", () => {
    expect(spanTexts(tpl, CHAT.slice(0, 4))).toEqual(["A biguanide.<|im_end|>"]);
  });
});

// Templates in the shape of other families' published ones (written for these tests).
const LLAMA3 =
  "{{- bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

const LLAMA2_INST =
  "{% for m in messages %}{% if m['role'] == 'user' %}{{ bos_token + '[INST] ' + m['content'] | trim + ' [/INST]' }}" +
  "{% elif m['role'] == 'assistant' %}{{ ' ' + m['content'] | trim + ' ' + eos_token }}" +
  "{% else %}{{ raise_exception('roles must be user/assistant') }}{% endif %}{% endfor %}";

const GEMMA =
  "{{ bos_token }}{% for m in messages %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}" +
  "{{ '<start_of_turn>' + role + '\\n' + m['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}";

const turns = CHAT.slice(1);

describe("other template families", () => {
  it("Llama 3: header in the prompt, answer + <|eot_id|> supervised", () => {
    const tpl = new ChatTemplate(LLAMA3, {
      bosToken: "<|begin_of_text|>",
      eosToken: "<|eot_id|>",
      endOfTurnTokens: ["<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>"],
    });
    expect(spanTexts(tpl, CHAT)).toEqual([
      "A biguanide.<|eot_id|>",
      "500 mg once or twice daily with meals.<|eot_id|>",
    ]);
  });

  it("Llama 2 / Mistral [INST]: the space before </s> stays inside the span", () => {
    const tpl = new ChatTemplate(LLAMA2_INST, { bosToken: "<s>", eosToken: "</s>" });
    const { text, spans } = tpl.renderWithAssistantSpans(turns);
    expect(text).toBe(
      "<s>[INST] What class is metformin? [/INST] A biguanide. </s><s>[INST] Usual starting dose? [/INST] 500 mg once or twice daily with meals. </s>",
    );
    expect(spans.map((s) => text.slice(s.start, s.end))).toEqual([
      "A biguanide. </s>",
      "500 mg once or twice daily with meals. </s>",
    ]);
  });

  it("Gemma: role renamed to model, answer + <end_of_turn>", () => {
    const tpl = new ChatTemplate(GEMMA, {
      bosToken: "<bos>",
      eosToken: "<eos>",
      endOfTurnTokens: ["<end_of_turn>"],
    });
    expect(spanTexts(tpl, turns)).toEqual([
      "A biguanide.<end_of_turn>",
      "500 mg once or twice daily with meals.<end_of_turn>",
    ]);
  });

  it("finds answers that the template trims", () => {
    const tpl = new ChatTemplate(LLAMA3, { eosToken: "<|eot_id|>" });
    const padded = [
      { role: "user", content: "Q" },
      { role: "assistant", content: "  spaced answer \n" },
    ];
    expect(spanTexts(tpl, padded)).toEqual(["spaced answer<|eot_id|>"]);
  });
});

describe("templates we refuse, with reasons", () => {
  it("not prefix-stable: earlier turns re-rendered (reasoning dropped from past answers)", () => {
    const dropsThinking =
      "{% for m in messages %}{% set c = m['content'] %}{% if m['role'] == 'assistant' and not loop.last %}{% set c = c.split('</think>')[-1] %}{% endif %}" +
      "{{ '<|im_start|>' + m['role'] + '\\n' + c + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    const tpl = new ChatTemplate(dropsThinking, { eosToken: "<|im_end|>", origin: "qwen3-like" });
    const chat: ChatMessage[] = [
      { role: "user", content: "a" },
      { role: "assistant", content: "<think>x</think>b" },
      { role: "user", content: "c" },
      { role: "assistant", content: "d" },
    ];
    expect(() => tpl.renderWithAssistantSpans(chat)).toThrow(ChatTemplateError);
    expect(() => tpl.renderWithAssistantSpans(chat)).toThrow(
      /qwen3-like: not prefix-stable at message 1/,
    );
  });

  it("no end-of-turn token after the answer", () => {
    const open = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}";
    const tpl = new ChatTemplate(open, { eosToken: "</s>" });
    expect(() =>
      tpl.renderWithAssistantSpans([
        { role: "user", content: "q" },
        { role: "assistant", content: "a" },
      ]),
    ).toThrow(/message 1: no end-of-turn token follows the assistant answer/);
  });

  it("a model without a template, and a template that raises", () => {
    const tok = {
      chatTemplate: null,
      bosToken: null,
      eosToken: "</s>",
      specialTokens: new Map(),
      source: "base.gguf",
    };
    expect(() => ChatTemplate.fromTokenizer(tok)).toThrow(
      /base\.gguf: the model has no chat template/,
    );
    const tpl = new ChatTemplate(LLAMA2_INST, { eosToken: "</s>", origin: "mistral" });
    expect(() => tpl.render([{ role: "system", content: "x" }])).toThrow(
      /mistral: rendering failed: .*roles must be user\/assistant/,
    );
  });
});
