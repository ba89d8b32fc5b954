/**
 * Chat templates: render conversations with the model's own Jinja template, and find the exact
 * characters a trainer should supervise.
 *
 *   const tpl = ChatTemplate.fromTokenizer(tok);
 *   tpl.render(messages, { addGenerationPrompt: true })       // a prompt for generation
 *   tpl.renderWithAssistantSpans(messages)                    // text + spans of every answer
 *
 * Spans come from rendering the conversation prefix by prefix and diffing: the text an assistant
 * message adds to the render of the messages before it (opened with add_generation_prompt, so
 * the assistant header belongs to the prompt) is that turn. Nothing here knows any template's
 * markup, so the same code serves ChatML, Llama 3, Mistral [INST] and Gemma templates. It relies
 * on the template being prefix-stable — rendering messages[0..i] is a prefix of rendering
 * messages[0..n] — and checks that, failing with the message index where it breaks (templates
 * that rewrite earlier turns, e.g. dropping past reasoning, are not).
 */
import { Template } from "@huggingface/jinja";

export interface ChatMessage {
  role: "system" | "user" | "assistant" | (string & NonNullable<unknown>);
  content: string;
}

export interface RenderOptions {
  /** Append the assistant header, so the model's next tokens are the answer. */
  addGenerationPrompt?: boolean;
}

/** One assistant turn in rendered text; offsets are UTF-16 indices into `text`, end exclusive. */
export interface AssistantSpan {
  /** Index of the message in the conversation. */
  messageIndex: number;
  /** First character of the answer. */
  start: number;
  /** End of the answer's content, before the end-of-turn marker. */
  contentEnd: number;
  /** End of the end-of-turn token ("<|im_end|>", "<|eot_id|>", "</s>") that closes the answer. */
  end: number;
}

export interface RenderedChat {
  text: string;
  /** Every assistant turn, in order. Supervise [start, end): the answer and its end-of-turn. */
  spans: AssistantSpan[];
}

/** A template that cannot be rendered or is not usable for span masking; names the origin. */
export class ChatTemplateError extends Error {
  constructor(
    readonly origin: string,
    message: string,
  ) {
    super(`${origin}: ${message}`);
    this.name = "ChatTemplateError";
  }
}

export interface ChatTemplateOptions {
  bosToken?: string | null;
  eosToken?: string | null;
  /**
   * Texts that can close an assistant turn. The one that follows an answer is part of its span,
   * so the model learns to stop. Usually the tokenizer's special tokens.
   */
  endOfTurnTokens?: Iterable<string>;
  /** Where the template came from, for error messages ("model.gguf: tokenizer.chat_template"). */
  origin?: string;
  /** Extra variables templates may read (e.g. date_string for Llama 3.1, for reproducible text). */
  variables?: Record<string, unknown>;
}

/** What ChatTemplate.fromTokenizer needs; the Tokenizer interface of ./tokenizer.js has it all. */
export interface TemplateSource {
  chatTemplate: string | null;
  bosToken: string | null;
  eosToken: string;
  specialTokens: ReadonlyMap<string, number>;
  source: string;
}

export class ChatTemplate {
  private readonly template: Template;
  private readonly endOfTurn: string[];
  readonly origin: string;

  constructor(
    readonly source: string,
    private readonly options: ChatTemplateOptions = {},
  ) {
    this.origin = options.origin ?? "chat template";
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new ChatTemplateError(
        this.origin,
        `cannot parse the Jinja template: ${(e as Error).message}`,
      );
    }
    // Longest first, so "<|im_end|>" wins over a shorter token that is its prefix.
    const eot = new Set(options.endOfTurnTokens ?? []);
    if (options.eosToken) eot.add(options.eosToken);
    this.endOfTurn = [...eot].filter((t) => t.length > 0).sort((a, b) => b.length - a.length);
  }

  /** The model's own template; `override` replaces it (e.g. a base model with no template). */
  static fromTokenizer(tok: TemplateSource, override?: string): ChatTemplate {
    const source = override ?? tok.chatTemplate;
    if (source === null) {
      throw new ChatTemplateError(
        tok.source,
        "the model has no chat template (tokenizer_config.json chat_template or GGUF tokenizer.chat_template); pass one explicitly",
      );
    }
    return new ChatTemplate(source, {
      bosToken: tok.bosToken,
      eosToken: tok.eosToken,
      endOfTurnTokens: tok.specialTokens.keys(),
      origin: override === undefined ? `${tok.source}: chat template` : "chat template override",
    });
  }

  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    try {
      return this.template.render({
        ...this.options.variables,
        messages: messages.map((m) => ({ ...m })),
        add_generation_prompt: options.addGenerationPrompt ?? false,
        bos_token: this.options.bosToken ?? "",
        eos_token: this.options.eosToken ?? "",
      });
    } catch (e) {
      throw new ChatTemplateError(this.origin, `rendering failed: ${(e as Error).message}`);
    }
  }

  /**
   * Render a conversation and locate every assistant turn. Throws ChatTemplateError when the
   * template is not prefix-stable, when an answer's text is not found verbatim where the turn
   * starts, or when no end-of-turn token follows an answer (the model would never learn to stop).
   */
  renderWithAssistantSpans(messages: readonly ChatMessage[]): RenderedChat {
    const text = this.render(messages);
    const spans: AssistantSpan[] = [];
    messages.forEach((message, i) => {
      if (message.role !== "assistant") return;
      const before = this.render(messages.slice(0, i), { addGenerationPrompt: true });
      const through = i === messages.length - 1 ? text : this.render(messages.slice(0, i + 1));
      if (!through.startsWith(before)) {
        throw new ChatTemplateError(
          this.origin,
          `not prefix-stable at message ${i}: rendering messages[0..${i - 1}] with add_generation_prompt is not a prefix of rendering messages[0..${i}], so assistant turns cannot be located`,
        );
      }
      if (!text.startsWith(through)) {
        throw new ChatTemplateError(
          this.origin,
          `not prefix-stable at message ${i}: later messages change how messages[0..${i}] render (does the template rewrite earlier turns?)`,
        );
      }
      // Templates may trim the answer; find it where the turn begins.
      const turn = through.slice(before.length);
      const content = message.content.trim();
      const offset = content.length === 0 ? 0 : turn.indexOf(content);
      if (offset < 0) {
        throw new ChatTemplateError(
          this.origin,
          `message ${i}: the assistant content does not appear verbatim in its rendered turn ${JSON.stringify(turn.slice(0, 80))}`,
        );
      }
      const start = before.length + offset;
      const contentEnd = start + content.length;
      const end = this.endOfTurnAfter(through, contentEnd, i);
      spans.push({ messageIndex: i, start, contentEnd, end });
    });
    return { text, spans };
  }

  /** End of the end-of-turn token after an answer; whitespace before it (Llama 2's " </s>") counts. */
  private endOfTurnAfter(text: string, from: number, messageIndex: number): number {
    let k = from;
    while (k < text.length && /\s/.test(text[k] as string)) k++;
    for (const token of this.endOfTurn) {
      if (text.startsWith(token, k)) return k + token.length;
    }
    throw new ChatTemplateError(
      this.origin,
      `message ${messageIndex}: no end-of-turn token follows the assistant answer (expected one of ${
        this.endOfTurn.slice(0, 6).join(", ") || "the EOS token"
      }); without it the model never learns to stop`,
    );
  }
}
