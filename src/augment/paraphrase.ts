/**
 * Paraphrasing medical questions. Rule-based rewrites change the question form ("Does X treat Y?"
 * → "Is there evidence that X treats Y?"), relation wording ("associated with" → "linked to") and
 * entity names (a synonym from the vocabulary: "Cisplatin" → "CDDP"). An optional model
 * paraphraser is any `generate(prompt) => Promise<string>`. Every candidate must keep each
 * biomedical entity of the original (by concept id, so a synonym counts) and every code-like token
 * (IL-6, CYP3A4, 500 mg), and must not be a near-copy (ROUGE-L F1 < 0.7).
 */
import type { InstructionRecord } from "../data/record.js";
import { EntityLexicon, factEntities } from "./lexicon.js";
import { cloneRecord, collect, StepTracker, type RecordStream, type StepResult } from "./step.js";
import { keyedRandom, mulberry32, rougeL } from "./text.js";

export type Generate = (prompt: string) => Promise<string>;

export interface ParaphraseOptions {
  lexicon?: EntityLexicon;
  /** Share of eligible records that get paraphrases (default 0.3). */
  rate?: number;
  /** Paraphrases kept per chosen record (default 1). */
  perRecord?: number;
  seed?: number;
  /** ROUGE-L F1 at or above which a candidate is a near-copy (default 0.7). */
  maxRougeL?: number;
  /** Model paraphraser; its candidates are tried before the rules. */
  generate?: Generate;
  /** Use the rule-based rewrites (default true). */
  rules?: boolean;
  /** Longest instruction, in words, treated as a question (default 60). */
  maxWords?: number;
}

/** 3rd-person singular of a base verb: treat → treats, cross → crosses, modify → modifies. */
function thirdPerson(v: string): string {
  if (v === "have") return "has";
  if (v === "do") return "does";
  if (/(?:s|sh|ch|x|z|o)$/.test(v)) return `${v}es`;
  if (/[^aeiou]y$/.test(v)) return `${v.slice(0, -1)}ies`;
  return `${v}s`;
}

/** Lower-case a leading determiner only: names ("Aspirin", "Bupropion") keep their case. */
const lcFirst = (s: string) =>
  s.replace(
    /^(The|A|An|This|These|Those|Its|Their|Any|Some|Each|Patients|People|Drugs|Genes)\b/,
    (w) => w.toLowerCase(),
  );
const ucFirst = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const stripQ = (s: string) => s.replace(/[?.!]\s*$/, "").trim();

/** Question-form rewrites: each returns rewrites of the whole instruction (or none). */
const FORM_RULES: ((q: string) => string[])[] = [
  // Does X <verb> Y? → Is there evidence that X <verb>s Y? / According to the sources, …
  (q) => {
    const m = /^(Does|Do|Did)\s+(.+?)\s+([a-z]+)\s+(.+?)\?$/.exec(q.trim());
    if (!m || m[3]!.length < 3) return [];
    const subj = lcFirst(m[2]!);
    const verb = m[1] === "Did" ? m[3]! : m[1] === "Do" ? m[3]! : thirdPerson(m[3]!);
    return [
      `Is there evidence that ${subj} ${verb} ${m[4]}?`,
      `Would you say that ${subj} ${verb} ${m[4]}? Answer from the sources.`,
      `True or false: ${subj} ${verb} ${m[4]}.`,
    ];
  },
  // Is/Are X Y? → Would you describe X as Y?
  (q) => {
    const m = /^(Is|Are|Was|Were|Can|Could|Has|Have)\s+(.+?)\?$/.exec(q.trim());
    if (!m) return [];
    return [
      `Please answer yes or no: ${m[1]!.toLowerCase()} ${lcFirst(m[2]!)}?`,
      `Tell me whether the following holds — ${m[1]!.toLowerCase()} ${lcFirst(m[2]!)}?`,
    ];
  },
  // Which N are/is P? → List the N that are P. (Simple questions only: no commas or "and which".)
  (q) => {
    const m = /^Which ([a-z]+(?: [a-z]+)?) (are|is|were|was) ([^,;]+)\?$/.exec(q.trim());
    if (!m || /\band which\b/.test(q)) return [];
    return [`List the ${m[1]} that ${m[2]} ${m[3]}.`, `Name every ${m[1]} that ${m[2]} ${m[3]}.`];
  },
  // Which N does X V? → Name the N that X Vs.
  (q) => {
    const m = /^Which ([a-z]+(?: [a-z]+)?) (does|do|did) ([^,;]+?) ([a-z]+)\?$/.exec(q.trim());
    if (!m || /\band which\b/.test(q)) return [];
    const verb = m[2] === "does" ? thirdPerson(m[4]!) : m[4]!;
    return [`Name the ${m[1]} that ${m[3]} ${verb}.`, `List the ${m[1]} that ${m[3]} ${verb}.`];
  },
  // Which N V P? → Name the N that V P.
  (q) => {
    const m =
      /^Which ([a-z]+(?: [a-z]+)?) (?!(?:does|do|did|are|is|were|was)\b)([a-z]+) ([^,;]+)\?$/.exec(
        q.trim(),
      );
    if (!m || /\band which\b/.test(q)) return [];
    return [`Name the ${m[1]} that ${m[2]} ${m[3]}.`, `Give the ${m[1]} that ${m[2]} ${m[3]}.`];
  },
  // What is/are the P of X? → Could you tell me the P of X? (Noun phrases only: "What is X indicated
  // for?" has no grammatical rewrite of this shape.)
  (q) => {
    const m = /^What\s+(is|are|was|were)\s+((?:the|a|an)\s+[^?]+?)\?$/.exec(q.trim());
    if (!m) return [];
    return [
      `Could you tell me ${m[2]}?`,
      `I would like to know ${m[2]}. Please state it.`,
      `State ${m[2]}.`,
    ];
  },
  // How does X V Y? → Explain how X V Y.
  (q) => {
    const m = /^How\s+(does|do|did|can|could|is|are)\s+(.+?)\?$/.exec(q.trim());
    if (!m) return [];
    return [`Explain how ${m[1]} ${lcFirst(m[2]!)}.`, `In what way ${m[1]} ${lcFirst(m[2]!)}?`];
  },
  // Imperatives: Describe/Explain/Summarize X. → What can you tell me about X?
  (q) => {
    const m = /^(Describe|Explain|Summari[sz]e|Discuss|Outline)\s+(.+?)[.!]?$/.exec(q.trim());
    if (!m) return [];
    const rest = stripQ(m[2]!);
    return [
      `Can you give an account of ${rest}?`,
      `I need a short overview of ${rest}: please provide one.`,
    ];
  },
  // List X. → Which X are there?
  (q) => {
    const m = /^(List|Name|Give|Enumerate)\s+(.+?)[.!]?$/.exec(q.trim());
    if (!m) return [];
    return [`Can you enumerate ${stripQ(m[2]!)}?`, `Please provide a list: ${stripQ(m[2]!)}.`];
  },
];

/** Wording swaps that keep the meaning in this domain. */
const WORD_SWAPS: [RegExp, string[]][] = [
  [/\bassociated with\b/, ["linked to", "connected with"]],
  [/\bside effects\b/, ["adverse effects", "adverse reactions"]],
  [/\bmedications?\b/, ["drugs"]],
  [/\bdrugs\b/, ["medicines"]],
  [/\binteracts? with\b/, ["has an interaction with"]],
  [/\bpatients\b/, ["people"]],
  [/\bcompound\b/, ["substance"]],
  [/\bdisease\b/, ["condition"]],
  [/\btreat\b/, ["be used to treat"]],
  [/\bsymptoms\b/, ["clinical signs"]],
  [/\bthe sources\b/, ["the curated databases"]],
];

const CODE_RE =
  /\b(?=[\w-]*\d)[\w-]*[A-Za-z][\w-]*\b|\b\d+(?:\.\d+)?\s?(?:mg|g|mcg|µg|ml|mL|kg|%|IU)\b|\b\d+(?:\.\d+)?\b/g;

/** Code-like tokens that must survive verbatim: IL-6, CYP3A4, HbA1c, 500 mg, DB00006. */
export function codeTokens(text: string): { text: string; start: number }[] {
  return [...text.matchAll(CODE_RE)].map((m) => ({ text: m[0], start: m.index ?? 0 }));
}

export interface ParaphraseCheck {
  ok: boolean;
  rougeL: number;
  missing: string[];
}

/** Does a candidate keep every entity and code of the original and differ enough from it? */
export function checkParaphrase(
  original: string,
  candidate: string,
  lexicon: EntityLexicon,
  maxRougeL = 0.7,
): ParaphraseCheck {
  const r = rougeL(candidate, original).f1;
  const missing: string[] = [];
  const origMentions = lexicon.find(original);
  const candMentions = lexicon.find(candidate);
  for (const m of origMentions) {
    if (!candMentions.some((c) => c.ids.some((id) => m.ids.includes(id)))) missing.push(m.surface);
  }
  const candLower = candidate.toLowerCase();
  for (const c of codeTokens(original)) {
    // Codes inside a known entity name are covered by the concept check (a synonym may drop them).
    if (origMentions.some((m) => c.start >= m.start && c.start < m.end)) continue;
    if (!candLower.includes(c.text.toLowerCase())) missing.push(c.text);
  }
  const ok = missing.length === 0 && r < maxRougeL && candidate.trim() !== original.trim();
  return { ok, rougeL: r, missing };
}

/** Candidate rewrites of a question, deterministic for a given PRNG. */
export function ruleParaphrases(
  question: string,
  lexicon: EntityLexicon,
  rand: () => number,
): string[] {
  const forms = FORM_RULES.flatMap((rule) => rule(question));
  const bases = forms.length > 0 ? forms : [question];
  const out: string[] = [];
  for (const base of bases) {
    let withSwap = base;
    for (const [re, alts] of WORD_SWAPS) {
      if (re.test(withSwap))
        withSwap = withSwap.replace(re, alts[Math.floor(rand() * alts.length)]!);
    }
    // Entity synonyms: swap each mention with probability 1/2 for a short synonym of its concept.
    let withSyn = withSwap;
    for (const m of lexicon.find(withSwap).reverse()) {
      if (rand() < 0.5) continue;
      const syns = m.ids
        .flatMap((id) => lexicon.synonymsOf(id))
        .filter(
          (s) => s !== m.surface && s.length <= 40 && s.toLowerCase() !== m.surface.toLowerCase(),
        );
      if (syns.length === 0) continue;
      const s = syns[Math.floor(rand() * syns.length)]!;
      withSyn = withSyn.slice(0, m.start) + s + withSyn.slice(m.end);
    }
    for (const c of [withSyn, withSwap, base])
      if (!out.includes(c) && c !== question) out.push(ucFirst(c));
  }
  return out;
}

export function paraphrasePrompt(question: string): string {
  return [
    "Rewrite the following medical question so that it asks exactly the same thing in different words.",
    "Keep every drug, gene, disease, anatomy and other biomedical name, and every number, exactly as written.",
    "Reply with the rewritten question only.",
    "",
    `Question: ${question}`,
  ].join("\n");
}

/** Clean a model reply: first non-empty line, without a "Question:" label or quotes. */
export function cleanGenerated(reply: string): string {
  const line =
    reply
      .split("\n")
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? "";
  return line
    .replace(/^(?:rewritten question|paraphrase|question)\s*:\s*/i, "")
    .replace(/^["“']|["”']$/g, "")
    .trim();
}

function eligible(r: InstructionRecord, maxWords: number): boolean {
  if (r.metadata.source === "augment") return false;
  const n = r.instruction.split(/\s+/).length;
  return n >= 3 && n <= maxWords;
}

export async function paraphrase(
  input: RecordStream,
  opts: ParaphraseOptions = {},
): Promise<StepResult> {
  const records = await collect(input);
  const lexicon = opts.lexicon ?? EntityLexicon.from([factEntities(records)]);
  const rate = opts.rate ?? 0.3;
  const perRecord = opts.perRecord ?? 1;
  const seed = opts.seed ?? 0;
  const maxR = opts.maxRougeL ?? 0.7;
  const useRules = opts.rules ?? true;
  const t = new StepTracker("paraphrase", records);
  const rejected: Record<string, number> = { near_copy: 0, lost_entity: 0 };
  let modelCalls = 0;
  const out: InstructionRecord[] = [...records];
  for (const r of records) {
    if (!eligible(r, opts.maxWords ?? 60) || keyedRandom(seed, `para:${r.id}`) >= rate) continue;
    const rand = mulberry32((seed ^ 0x2545f491) + Math.floor(keyedRandom(seed, r.id) * 2 ** 31));
    const candidates: { text: string; method: string }[] = [];
    if (opts.generate) {
      modelCalls++;
      const reply = cleanGenerated(await opts.generate(paraphrasePrompt(r.instruction)));
      if (reply) candidates.push({ text: reply, method: "model" });
    }
    if (useRules)
      for (const c of ruleParaphrases(r.instruction, lexicon, rand))
        candidates.push({ text: c, method: "rules" });
    const kept: { text: string; method: string; rougeL: number }[] = [];
    for (const c of candidates) {
      if (kept.length >= perRecord) break;
      if (kept.some((k) => k.text === c.text)) continue;
      const chk = checkParaphrase(r.instruction, c.text, lexicon, maxR);
      if (!chk.ok) {
        rejected[chk.missing.length > 0 ? "lost_entity" : "near_copy"]!++;
        continue;
      }
      kept.push({ ...c, rougeL: chk.rougeL });
    }
    kept.forEach((k, i) => {
      const p = cloneRecord(r);
      p.id = `${r.id}~para${i + 1}`;
      p.instruction = k.text;
      p.metadata.augmentation = {
        kind: "paraphrase",
        method: k.method,
        of: r.id,
        rougeL: Number(k.rougeL.toFixed(3)),
        sources: [r.metadata.source],
      };
      t.add(p, `paraphrase (${k.method})`);
      out.push(p);
    });
  }
  Object.assign(t.extra, {
    rejectedCandidates: rejected,
    modelCalls,
    rate,
    perRecord,
    maxRougeL: maxR,
  });
  return t.finish(out);
}
