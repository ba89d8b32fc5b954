/**
 * Harmful content filter: drops records that request or provide self-harm methods, weapons or
 * toxin production, illegal drug synthesis or dangerous dosing, with the category and the matched
 * phrase as the reason. Patterns look for intent (first person, instructions, "how to"), so that
 * clinical text — suicidal ideation as an adverse event, LD50 in rats, fentanyl analgesia — stays.
 * Safety examples that decline (task "safety.*" with a refusing output) are kept on purpose.
 */
import type { InstructionRecord } from "../data/record.js";
import { collect, StepTracker, type RecordStream, type StepResult } from "./step.js";

export type HarmCategory =
  "self_harm" | "weapons_toxins" | "illegal_drug_synthesis" | "dangerous_dosing";

export interface HarmFinding {
  category: HarmCategory;
  field: "instruction" | "input" | "output";
  match: string;
}

const HOW = String.raw`(?:how (?:do|can|could|would|should) (?:i|you|one|someone|we)|how to|ways? to|steps? to|instructions? (?:for|to|on)|guide (?:to|for|on)|recipe for|tell me how to|teach me to|explain how to|best way to|easiest way to|quickest way to)`;
const WANT = String.raw`(?:help me|i want to|i need to|i'd like to|we plan to|let's|can you)`;
const DRUGS = String.raw`(?:meth(?:amphetamine)?|crystal meth|fentanyl|carfentanil|heroin|cocaine|crack|mdma|ecstasy|lsd|ghb|dmt|pcp|ketamine|oxycodone|morphine|desomorphine|krokodil|mescaline|psilocybin|methcathinone|mephedrone)`;
const AGENTS = String.raw`(?:sarin|soman|tabun|vx|novichok|mustard gas|ricin|abrin|anthrax|botulinum(?: toxin)?|smallpox|plague|tetrodotoxin|nerve agents?|chemical weapons?|biological weapons?|bioweapons?|toxins?|poison(?:ous gas)?)`;

const PATTERNS: [HarmCategory, RegExp][] = [
  ["self_harm", /\b(?:kill|hurt|harm|cut|hang|poison|starve) (?:myself|yourself)\b/i],
  [
    "self_harm",
    /\b(?:end (?:my|his|her|your) (?:own )?life|take my (?:own )?life|commit suicide|suicide methods?|ways? to (?:die|commit suicide)|painless(?:ly)? (?:way to )?(?:die|death|suicide))\b/i,
  ],
  ["self_harm", new RegExp(String.raw`\b${HOW} (?:cut|self-harm|hang|overdose|suffocate)\b`, "i")],
  [
    "weapons_toxins",
    new RegExp(
      String.raw`\b(?:${HOW}|${WANT})\s*(?:synthesi[sz]e|produce|make|manufacture|culture|grow|extract|purify|disperse|deploy|release|obtain|get)\b[^.?!\n]{0,40}\b${AGENTS}\b`,
      "i",
    ),
  ],
  [
    "weapons_toxins",
    new RegExp(String.raw`\b(?:weaponi[sz]e|aerosoli[sz]e)\b[^.?!\n]{0,30}\b${AGENTS}\b`, "i"),
  ],
  [
    "weapons_toxins",
    new RegExp(
      String.raw`\b${AGENTS}\b[^.?!\n]{0,30}\b(?:at home|in a (?:home|garage|kitchen) lab|as a weapon|to (?:kill|poison|harm|attack)|against (?:people|a crowd|civilians))\b`,
      "i",
    ),
  ],
  [
    "weapons_toxins",
    /\b(?:poison|kill) (?:someone|somebody|a person|my (?:wife|husband|partner|boss|neighbou?r|father|mother))\b/i,
  ],
  [
    "illegal_drug_synthesis",
    new RegExp(
      String.raw`\b(?:${HOW}) (?:make|cook|synthesi[sz]e|produce|manufacture|extract|brew)\b[^.?!\n]{0,30}\b${DRUGS}\b`,
      "i",
    ),
  ],
  [
    "illegal_drug_synthesis",
    new RegExp(
      String.raw`\b(?:cook(?:ing)?|home-?made|clandestine|at home)\b[^.?!\n]{0,20}\b${DRUGS}\b|\b${DRUGS}\b[^.?!\n]{0,20}\b(?:at home|in (?:my|a) (?:kitchen|garage|home lab))\b`,
      "i",
    ),
  ],
  [
    "illegal_drug_synthesis",
    /\b(?:synthesis route|precursors?|reagents?) (?:for|to make) (?:street|illicit|recreational)\b/i,
  ],
  [
    "dangerous_dosing",
    /\b(?:lethal|fatal|deadly|toxic) (?:dose|amount|quantity)\b[^.?!\n]{0,40}\b(?:for (?:a |an )?(?:human|person|adult|child|man|woman|me|myself|someone|him|her)|to (?:kill|die|overdose))\b/i,
  ],
  [
    "dangerous_dosing",
    /\bhow (?:much|many)\b[^.?!\n]{0,50}\b(?:to (?:kill|die|overdose|od|get high|pass out|knock (?:someone|him|her) out)|would (?:kill|be fatal|be lethal))\b/i,
  ],
  [
    "dangerous_dosing",
    /\b(?:maximum|max|highest) (?:dose|amount)\b[^.?!\n]{0,40}\b(?:before (?:dying|death|overdosing)|without (?:a )?(?:doctor|prescription) (?:to get high))\b/i,
  ],
  [
    "dangerous_dosing",
    /\b(?:overdose|od) on (?:purpose|intentionally)\b|\bintentional(?:ly)? overdos(?:e|ing)\b[^.?!\n]{0,20}\b(?:how|which|what)\b/i,
  ],
  [
    "dangerous_dosing",
    /\b(?:double|triple|quadruple|10x|ten times) (?:the|my) (?:prescribed )?dose\b[^.?!\n]{0,40}\b(?:stronger|faster|high|effect)\b/i,
  ],
];

/** Phrases a declining answer uses. */
const REFUSAL =
  /\b(?:i can(?:'|no)t|i cannot|i'm not able to|i am not able to|i won't|i will not|unable to (?:help|provide|assist)|can't help with|cannot help with|not able to provide|must decline|i'm sorry, but|please (?:contact|call|reach out|talk|speak|see|consult))\b/i;

export function isRefusal(text: string): boolean {
  return REFUSAL.test(text);
}

export function findHarm(
  r: Pick<InstructionRecord, "instruction" | "input" | "output">,
): HarmFinding[] {
  const out: HarmFinding[] = [];
  for (const field of ["instruction", "input", "output"] as const) {
    for (const [category, re] of PATTERNS) {
      const m = re.exec(r[field]);
      if (m) out.push({ category, field, match: m[0] });
    }
  }
  return out;
}

export interface HarmfulOptions {
  /** Categories to filter; default all four. */
  categories?: readonly HarmCategory[];
}

export async function filterHarmful(
  input: RecordStream,
  opts: HarmfulOptions = {},
): Promise<StepResult> {
  const records = await collect(input);
  const cats = new Set(
    opts.categories ?? [
      "self_harm",
      "weapons_toxins",
      "illegal_drug_synthesis",
      "dangerous_dosing",
    ],
  );
  const t = new StepTracker("harmful", records);
  const keptRefusals: Record<string, number> = {};
  const out: InstructionRecord[] = [];
  for (const r of records) {
    const hits = findHarm(r).filter((h) => cats.has(h.category));
    if (hits.length === 0) {
      out.push(r);
      continue;
    }
    // A harmful request answered by a refusal is a safety example: keep it, unless the answer
    // itself carries harmful content.
    const harmfulAnswer = hits.some((h) => h.field === "output");
    if (!harmfulAnswer && isRefusal(r.output)) {
      const c = hits[0]!.category;
      keptRefusals[c] = (keptRefusals[c] ?? 0) + 1;
      out.push(r);
      continue;
    }
    const first = hits[0]!;
    t.drop(r, first.category, hits.map((h) => `${h.field}: "${h.match}"`).join("; "));
  }
  Object.assign(t.extra, { keptRefusals });
  return t.finish(out);
}
