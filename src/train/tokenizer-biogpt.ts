/**
 * BioGPT's tokenizer: Moses tokenization (English rules, hyphens split as "@-@", XML escaping)
 * followed by word-level BPE whose last symbol carries "</w>", over a Hugging Face directory with
 * vocab.json + merges.txt (+ tokenizer_config.json) and no tokenizer.json.
 *
 *   const tok = await loadTokenizer("models/base/biogpt");   // picks this loader for BioGPT dirs
 *   tok.encode("Metformin is first-line.")                  // ids identical to BioGptTokenizer's
 *
 * @huggingface/tokenizers cannot express it (no Moses pre-tokenizer: its rules depend on
 * neighbouring words, e.g. nonbreaking prefixes), so the Moses rules and the BPE are written here,
 * after sacremoses' MosesTokenizer / MosesDetokenizer (lang "en") and transformers'
 * BioGptTokenizer. Text is not lower-cased. Character classes use Unicode properties; sacremoses
 * uses an older Unicode snapshot (perluniprops), so rare scripts (CJK, some combining marks) may
 * split differently. Sequences start with "</s>" (id 2): BioGptTokenizer's
 * build_inputs_with_special_tokens prefixes the separator, not "<s>", so that is this tokenizer's
 * BOS. Tests compare ids and decoded text with transformers (test/train/biogpt-tokenizer.test.ts).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

import { projectPaths } from "../paths.js";
import {
  TokenizerLoadError,
  type DecodeOptions,
  type EncodeOptions,
  type Tokenizer,
} from "./tokenizer.js";

// ---------------------------------------------------------------------------------------------
// Moses tokenizer (English)

const ALNUM = "\\p{Alphabetic}\\p{Nd}";
const ALPHA = "\\p{Alphabetic}";
const NUM = "\\p{N}";
const rx = (source: string): RegExp => new RegExp(source, "gu");
type Rule = readonly [RegExp, string];

const PAD_NOT_ALNUM: Rule = [rx(`([^${ALNUM}\\s.'\`,\\-])`), " $1 "];
const HYPHEN_SPLIT: Rule = [rx(`([${ALNUM}])-(?=[${ALNUM}])`), "$1 @-@ "];
// Commas are split off except between digits (1,200 stays one token).
const COMMA_RULES: Rule[] = [
  [rx(`([^${NUM}]),`), "$1 , "],
  [rx(`,([^${NUM}])`), " , $1"],
  [rx(`([${NUM}]),$`), "$1 , "],
];
// English apostrophes: "it's" -> "it 's", "patients'" -> "patients '".
const APOSTROPHE_RULES: Rule[] = [
  [rx(`([^${ALPHA}])'([^${ALPHA}])`), "$1 ' $2"],
  [rx(`([^${ALPHA}${NUM}])'([${ALPHA}])`), "$1 ' $2"],
  [rx(`([${ALPHA}])'([^${ALPHA}])`), "$1 ' $2"],
  [rx(`([${ALPHA}])'([${ALPHA}])`), "$1 '$2"],
  [rx(`([${NUM}])'(s)`), "$1 '$2"],
];
const XML_ESCAPES: Rule[] = [
  [/&/g, "&amp;"],
  [/\|/g, "&#124;"],
  [/</g, "&lt;"],
  [/>/g, "&gt;"],
  [/'/g, "&apos;"],
  [/"/g, "&quot;"],
  [/\[/g, "&#91;"],
  [/]/g, "&#93;"],
];

/**
 * Words that keep their final period (Moses' nonbreaking_prefix.en): titles, initials, months,
 * "e.g", "i.e", "vs". Those in NUMERIC_ONLY keep it only before a number ("No. 5").
 */
const NONBREAKING = new Set(
  (
    "A B C D E F G H I J K L M N O P Q R S T U V W X Y Z Adj Adm Adv Asst Bart Bldg Brig Bros " +
    "Capt Cmdr Col Comdr Con Corp Cpl DR Dr Drs Ens Gen Gov Hon Hr Hosp Insp Lt MM MR MRS MS " +
    "Maj Messrs Mlle Mme Mr Mrs Ms Msgr Op Ord Pfc Ph Prof Pvt Rep Reps Res Rev Rt Sen Sens Sfc " +
    "Sgt Sr St Supt Surg v vs i.e rev e.g Rs No Nos Art Nr pp Jan Feb Mar Apr Jun Jul Aug Sep " +
    "Oct Nov Dec"
  ).split(" "),
);
const NUMERIC_ONLY = new Set(["No", "Art", "pp"]);
const IS_ALPHA = /\p{Alphabetic}/u;
const IS_LOWER = /^\p{Lowercase}$/u;

const sub = (text: string, [re, to]: Rule): string => text.replace(re, to);
const ASCII_JUNK = new RegExp(`[${String.fromCharCode(0)}-${String.fromCharCode(31)}]`, "g");

/** Splits "word." into "word ." unless the period belongs to an abbreviation or a number. */
function splitFinalPeriods(text: string): string {
  const tokens = text.split(/\s+/u).filter((t) => t.length > 0);
  return tokens
    .map((token, i) => {
      const m = /^(\S+)\.$/u.exec(token);
      if (!m) return token;
      const prefix = m[1]!;
      const next = tokens[i + 1];
      const nextFirst = next === undefined ? undefined : String.fromCodePoint(next.codePointAt(0)!);
      const keep =
        (prefix.includes(".") && IS_ALPHA.test(prefix)) ||
        (NONBREAKING.has(prefix) && !NUMERIC_ONLY.has(prefix)) ||
        (nextFirst !== undefined && IS_LOWER.test(nextFirst)) ||
        (NUMERIC_ONLY.has(prefix) && next !== undefined && /^[0-9]+/.test(next));
      return keep ? token : `${prefix} .`;
    })
    .join(" ");
}

/** sacremoses MosesTokenizer("en").tokenize(text, aggressive_dash_splits=True, escape=True). */
export function mosesTokenize(text: string): string[] {
  // Whitespace runs become one space, then the remaining C0 controls go (Moses' "ASCII junk").
  let t = text.replace(/\s+/gu, " ").replace(ASCII_JUNK, "").trim();
  t = sub(t, PAD_NOT_ALNUM);
  t = sub(t, HYPHEN_SPLIT);
  // Runs of dots become placeholder words while the other rules run, then dots again.
  t = t.replace(/\.{2,}/g, (run, at: number, all: string) => {
    const marker = ` ${"DOT".repeat(run.length)}MULTI`;
    return at + run.length < all.length ? `${marker} ` : marker;
  });
  for (const r of COMMA_RULES) t = sub(t, r);
  for (const r of APOSTROPHE_RULES) t = sub(t, r);
  t = splitFinalPeriods(t);
  t = t.replace(/\s+/gu, " ").trim();
  t = t.replace(/\.' ?$/u, " . ' ");
  t = t.replace(/(?:DOT)+MULTI/g, (m) => ".".repeat((m.length - 5) / 3));
  for (const r of XML_ESCAPES) t = sub(t, r);
  return t.split(/\s+/u).filter((w) => w.length > 0);
}

// ---------------------------------------------------------------------------------------------
// Moses detokenizer (English)

const XML_UNESCAPES: Rule[] = [
  [/&bar;/g, "|"],
  [/&#124;/g, "|"],
  [/&lt;/g, "<"],
  [/&gt;/g, ">"],
  [/&bra;/g, "["],
  [/&ket;/g, "]"],
  [/&quot;/g, '"'],
  [/&apos;/g, "'"],
  [/&#91;/g, "["],
  [/&#93;/g, "]"],
  [/&amp;/g, "&"],
];
const IS_CURRENCY_OR_OPENING = /^[\p{Sc}([{¿¡]+$/u;
const IS_PUNCT = /^[,.?!:;\\%}\])]+$/u;
const IS_CONTRACTION = /^'\p{Alphabetic}/u;
const IS_QUOTE = /^['"„“`]+$/u;

/** sacremoses MosesDetokenizer("en").detokenize(tokens): reattaches punctuation and quotes. */
export function mosesDetokenize(tokens: readonly string[]): string {
  let text = ` ${tokens.join(" ")} `.replace(/ @-@ /g, "-");
  for (const r of XML_UNESCAPES) text = sub(text, r);
  const words = text.split(/\s+/u).filter((w) => w.length > 0);
  const quotes = new Map<string, number>();
  let out = "";
  let space = " ";
  words.forEach((w, i) => {
    if (IS_CURRENCY_OR_OPENING.test(w)) {
      out += space + w;
      space = "";
    } else if (IS_PUNCT.test(w) || (i > 0 && IS_CONTRACTION.test(w))) {
      out += w;
      space = " ";
    } else if (IS_QUOTE.test(w)) {
      const q = /^[„“”]+$/u.test(w) ? '"' : w;
      const seen = quotes.get(q) ?? 0;
      if (seen % 2 === 0 && w === "'" && i > 0 && /s$/u.test(words[i - 1]!)) {
        out += w; // a possessive after a plural: "patients'"
        space = " ";
      } else if (seen % 2 === 0) {
        out += space + w;
        space = "";
        quotes.set(q, seen + 1);
      } else {
        out += w;
        space = " ";
        quotes.set(q, seen + 1);
      }
    } else {
      out += space + w;
      space = " ";
    }
  });
  return out.replace(/ {2,}/g, " ").trim();
}

// ---------------------------------------------------------------------------------------------
// BPE over Moses words

/** The BPE pieces of one Moses word; the last carries "</w>". */
export function bpeWord(word: string, ranks: ReadonlyMap<string, number>): string[] {
  const chars = Array.from(word);
  let symbols = [...chars.slice(0, -1), `${chars[chars.length - 1]}</w>`];
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const r = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = i;
      }
    }
    if (best < 0) return symbols;
    const first = symbols[best]!;
    const second = symbols[best + 1]!;
    const merged: string[] = [];
    for (let i = 0; i < symbols.length; i++) {
      if (i + 1 < symbols.length && symbols[i] === first && symbols[i + 1] === second) {
        merged.push(first + second);
        i++;
      } else {
        merged.push(symbols[i]!);
      }
    }
    symbols = merged;
  }
}

// ---------------------------------------------------------------------------------------------
// The Tokenizer

const SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"] as const;

class BioGptTokenizer implements Tokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number | null;
  readonly bosToken = "</s>";
  readonly eosToken = "</s>";
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly vocabSize: number;
  private readonly unkId: number;
  private readonly decoder: Map<number, string>;
  private readonly splitSpecial: RegExp;
  private readonly cache = new Map<string, number[]>();

  constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    private readonly ranks: ReadonlyMap<string, number>,
    readonly chatTemplate: string | null,
    readonly source: string,
  ) {
    const id = (t: string): number => {
      const v = vocab.get(t);
      if (v === undefined) {
        throw new TokenizerLoadError(
          path.join(source, "vocab.json"),
          `special token ${JSON.stringify(t)} is missing`,
        );
      }
      return v;
    };
    this.eosId = id("</s>");
    this.bosId = this.eosId;
    this.unkId = id("<unk>");
    this.padId = vocab.get("<pad>") ?? null;
    this.specialTokens = new Map(SPECIALS.filter((s) => vocab.has(s)).map((s) => [s, id(s)]));
    this.decoder = new Map([...vocab].map(([t, i]) => [i, t]));
    this.vocabSize = Math.max(...vocab.values()) + 1;
    const escaped = [...this.specialTokens.keys()]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"));
    this.splitSpecial = new RegExp(`(${escaped.join("|")})`);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids: number[] = options.addSpecialTokens ? [this.bosId] : [];
    for (const part of text.split(this.splitSpecial)) {
      if (part.length === 0) continue;
      const special = this.specialTokens.get(part);
      if (special !== undefined) {
        ids.push(special);
        continue;
      }
      for (const word of mosesTokenize(part)) ids.push(...this.wordIds(word));
    }
    return ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const specialIds = new Set(this.specialTokens.values());
    const pieces = ids
      .filter((i) => !(options.skipSpecialTokens && specialIds.has(i)))
      .map((i) => (this.decoder.get(i) ?? "<unk>").replace(/ /g, "").replace(/<\/w>/g, " "));
    return mosesDetokenize(
      pieces
        .join("")
        .split(/\s+/u)
        .filter((w) => w.length > 0),
    );
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.decoder.get(id);
  }

  private wordIds(word: string): number[] {
    let ids = this.cache.get(word);
    if (ids === undefined) {
      ids = bpeWord(word, this.ranks).map((p) => this.vocab.get(p) ?? this.unkId);
      if (this.cache.size < 100_000) this.cache.set(word, ids);
    }
    return ids;
  }
}

/**
 * True for a Hugging Face directory holding a BioGPT tokenizer: no tokenizer.json, and
 * tokenizer_config.json names BioGptTokenizer or config.json says model_type "biogpt".
 */
export async function isBioGptTokenizerDir(dir: string): Promise<boolean> {
  const json = async (f: string): Promise<Record<string, unknown> | null> => {
    try {
      const v: unknown = JSON.parse(await readFile(path.join(dir, f), "utf8"));
      return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : null;
    } catch {
      return null; // absent or unreadable: the regular loader reports it
    }
  };
  const exists = await readFile(path.join(dir, "tokenizer.json")).then(
    () => true,
    () => false,
  );
  if (exists) return false;
  if ((await json("tokenizer_config.json"))?.tokenizer_class === "BioGptTokenizer") return true;
  return (await json("config.json"))?.model_type === "biogpt";
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch {
    throw new TokenizerLoadError(file, "missing (a BioGPT tokenizer needs it)");
  }
}

/** The prompt format medtune trains BioGPT with (it ships no chat template: not a chat model). */
export const BIOGPT_PROMPT_TEMPLATE = path.join(projectPaths.configs, "templates", "biogpt.jinja");

/**
 * Loads vocab.json + merges.txt from `dir`. The chat template is tokenizer_config.json's
 * chat_template when present, else `defaultChatTemplate` (BIOGPT_PROMPT_TEMPLATE's text).
 */
export async function loadBioGptTokenizer(
  dir: string,
  defaultChatTemplate?: string | null,
): Promise<Tokenizer> {
  const vocabFile = path.join(dir, "vocab.json");
  let vocabJson: unknown;
  try {
    vocabJson = JSON.parse(await readText(vocabFile));
  } catch (e) {
    if (e instanceof TokenizerLoadError) throw e;
    throw new TokenizerLoadError(vocabFile, `invalid JSON: ${(e as Error).message}`);
  }
  if (typeof vocabJson !== "object" || vocabJson === null || Array.isArray(vocabJson)) {
    throw new TokenizerLoadError(vocabFile, "expected an object of token → id");
  }
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(vocabJson)) {
    if (!Number.isInteger(id) || (id as number) < 0) {
      throw new TokenizerLoadError(
        vocabFile,
        `token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, expected an integer ≥ 0`,
      );
    }
    vocab.set(token, id as number);
  }
  const mergesFile = path.join(dir, "merges.txt");
  const ranks = new Map<string, number>();
  // One merge per line: "left right" (fairseq writes a count after them; it is ignored).
  (await readText(mergesFile))
    .split("\n")
    .slice(0, -1)
    .forEach((line, i) => {
      const [a, b] = line.split(/\s+/u);
      if (a === undefined || b === undefined || a === "" || b === "") {
        throw new TokenizerLoadError(
          mergesFile,
          `line ${i + 1}: expected "left right", got ${JSON.stringify(line)}`,
        );
      }
      if (!ranks.has(`${a} ${b}`)) ranks.set(`${a} ${b}`, i);
    });
  let template =
    defaultChatTemplate !== undefined
      ? defaultChatTemplate
      : await readText(BIOGPT_PROMPT_TEMPLATE);
  const cfgFile = path.join(dir, "tokenizer_config.json");
  const cfgText = await readFile(cfgFile, "utf8").catch(() => null);
  if (cfgText !== null) {
    try {
      const cfg = JSON.parse(cfgText) as { chat_template?: unknown };
      if (typeof cfg.chat_template === "string") template = cfg.chat_template;
    } catch (e) {
      throw new TokenizerLoadError(cfgFile, `invalid JSON: ${(e as Error).message}`);
    }
  }
  return new BioGptTokenizer(vocab, ranks, template, dir);
}
