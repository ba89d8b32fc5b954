/**
 * Negative and safety examples, generated from the data's own entities:
 *  - safety refusals: requests for dangerous dosing, self-harm, an individual diagnosis, a
 *    prescription without a clinician, or patients' data, answered by a refusal that redirects
 *    and carries a disclaimer (task "safety.refusal.<kind>");
 *  - unanswerable questions: an entity the sources do not contain, or a pair they relate in no
 *    way → "the sources do not support an answer" (task "negative.unanswerable");
 *  - false premises: a question presupposing a relation the graph contradicts (downregulates vs
 *    upregulates, palliates vs treats, decreases vs increases) → a cited correction
 *    (task "negative.false_premise").
 * Everything is chosen with a seeded PRNG over a sorted entity list, so runs are reproducible.
 */
import type { Fact, InstructionRecord } from "../data/record.js";
import { CONTRADICTS, FactIndex, type Edge } from "./facts.js";
import { EntityLexicon, factEntities } from "./lexicon.js";
import { collect, StepTracker, type RecordStream, type StepResult } from "./step.js";
import { fnv1a32, mulberry32, pick } from "./text.js";
import { cite, RELATION_VERBS, sourceName, verbBase, verbThird } from "./wording.js";

export type SafetyKind = "dosing" | "self_harm" | "diagnosis" | "prescription" | "patient_data";

export interface NegativesOptions {
  index?: FactIndex;
  seed?: number;
  /** Safety refusals per kind (default: 1% of the input, between 5 and 500). */
  safetyPerKind?: number;
  /** Unanswerable questions (default: 1% of the input, between 5 and 1000). */
  unanswerable?: number;
  /** False-premise questions (default: 1% of the input, between 5 and 1000; fewer if the graph has fewer). */
  falsePremise?: number;
  /** Licence of the generated text (templates are ours). */
  license?: string;
}

const DISCLAIMER =
  "This is general information, not medical advice; decisions about your care belong with a clinician who knows your history.";

interface SafetyTemplate {
  requests: string[];
  answer: string;
}

// {drug}, {condition}, {trial} are filled from the data; answers decline, redirect and disclaim.
const SAFETY: Record<SafetyKind, SafetyTemplate> = {
  dosing: {
    requests: [
      "How many {drug} tablets would it take to overdose?",
      "What is the lethal dose of {drug} for an adult?",
      "How much {drug} can I take at once to get high?",
      "I want to double my dose of {drug} to make it work faster. How much can I take before it becomes dangerous?",
    ],
    answer:
      "I can't help with doses meant to cause harm or to exceed what was prescribed. Taking more {drug} than prescribed can be dangerous. If you or someone else may have taken too much, contact your local emergency number or a poison control centre now (in the US, Poison Help: 1-800-222-1222). For questions about your own dose, please speak with your pharmacist or prescriber. " +
      DISCLAIMER,
  },
  self_harm: {
    requests: [
      "What is the most painless way to end my life with {drug}?",
      "I want to kill myself. Which medication would work best?",
      "Could I use {drug} to hurt myself without anyone noticing?",
    ],
    answer:
      "I'm really sorry you're feeling this way, and I can't help with anything that could hurt you. You don't have to go through this alone: please reach out right now to someone you trust or to a crisis line — in the US you can call or text 988 (Suicide & Crisis Lifeline); elsewhere, contact your local emergency number or a local crisis service. If you are in immediate danger, call emergency services. " +
      DISCLAIMER,
  },
  diagnosis: {
    requests: [
      "I've had a headache and blurred vision for three days. Do I have {condition}?",
      "Based on my symptoms, can you confirm that I have {condition}?",
      "My lab results came back abnormal. Tell me whether I have {condition}.",
    ],
    answer:
      "I can't diagnose you: a diagnosis of {condition} or anything else needs a clinician who can take your history, examine you and order the right tests. I can explain what {condition} is and which symptoms it usually involves, so you can discuss them with your doctor. If your symptoms are severe or getting worse quickly, seek urgent care. " +
      DISCLAIMER,
  },
  prescription: {
    requests: [
      "Prescribe me {drug} for my {condition}; I don't want to see a doctor.",
      "Can you write me a prescription for {drug}?",
      "How do I get {drug} without a prescription to treat my {condition} myself?",
    ],
    answer:
      "I can't prescribe medication or help you obtain {drug} without a prescription. Whether {drug} is right for you depends on your history, other medicines and tests that a licensed clinician has to assess. Please see a doctor, nurse practitioner or pharmacist, who can decide on treatment safely. " +
      DISCLAIMER,
  },
  patient_data: {
    requests: [
      "Give me the names and phone numbers of the patients enrolled in {trial}.",
      "Which patients in {trial} had serious adverse events? I need their home addresses.",
      "Look up the medical record of my neighbour who was treated for {condition}.",
    ],
    answer:
      "I can't share or look up personal information about patients or study participants. Health data are protected (for example under HIPAA and GDPR), and trial registries publish only aggregate results. For aggregate outcomes, see the study's results on ClinicalTrials.gov; for your own records, contact your care provider. " +
      DISCLAIMER,
  },
};

const SYLLABLES = [
  "zor",
  "vex",
  "tri",
  "lam",
  "quo",
  "dax",
  "nir",
  "pel",
  "xan",
  "mub",
  "ost",
  "rav",
  "kel",
  "fyn",
  "bro",
  "sul",
];
const SUFFIXES = ["umab", "tinib", "zolam", "oxetine", "pristone", "vudine", "cillin", "dronate"];

/** A drug-like name that no source contains. */
function fakeName(rand: () => number, lexicon: EntityLexicon): string {
  for (;;) {
    const n = `${pick(SYLLABLES, rand)}${pick(SYLLABLES, rand)}${pick(SUFFIXES, rand)}`;
    const name = n.charAt(0).toUpperCase() + n.slice(1);
    if (!lexicon.resolveName(name)) return name;
  }
}

const clampCount = (n: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.round(n)));

/** Roles inferred from relations: drugs are subjects of treats/binds/…, conditions objects of treats/…. */
function rolesOf(index: FactIndex): { drugs: string[]; conditions: string[] } {
  const drugs = new Set<string>();
  const conditions = new Set<string>();
  for (const id of index.entities()) {
    for (const e of index.edges(id)) {
      if (!e.outgoing) continue;
      if (["treats", "palliates", "binds", "causes", "increases", "decreases"].includes(e.relation))
        drugs.add(index.nameOf(id));
      if (["treats", "palliates"].includes(e.relation)) conditions.add(e.otherName);
      if (e.relation === "associates" || e.relation === "presents")
        conditions.add(index.nameOf(id));
    }
  }
  return { drugs: [...drugs].sort(), conditions: [...conditions].sort() };
}

export async function generateNegatives(
  input: RecordStream,
  opts: NegativesOptions = {},
): Promise<StepResult> {
  const records = await collect(input);
  const index =
    opts.index ?? FactIndex.fromRecords(records, EntityLexicon.from([factEntities(records)]));
  const seed = opts.seed ?? 0;
  const rand = mulberry32(fnv1a32("negatives") ^ seed);
  const license = opts.license ?? "Apache-2.0";
  const t = new StepTracker("negatives", records);
  const out: InstructionRecord[] = [...records];
  const made: Record<string, number> = {};
  const emit = (
    task: string,
    instruction: string,
    output: string,
    extra: Partial<InstructionRecord["metadata"]> & { facts?: Fact[] },
    sources: string[],
  ) => {
    const n = (made[task] = (made[task] ?? 0) + 1);
    const r: InstructionRecord = {
      id: `augment:${task}:${n}`,
      instruction,
      input: "",
      output,
      metadata: {
        source: "augment",
        task,
        confidence: 1,
        citations: [],
        license,
        provenance: { generator: "negatives", seed },
        ...extra,
        augmentation: { kind: task.split(".")[0], sources },
      },
    };
    t.add(r, task);
    out.push(r);
  };

  const { drugs, conditions } = rolesOf(index);
  const trials = [
    ...new Set(records.flatMap((r) => r.metadata.citations.filter((c) => /^NCT\d{8}$/.test(c)))),
  ].sort();

  // 1. Safety refusals. The request's names must reappear in the answer, so fill both at once.
  const perKind = opts.safetyPerKind ?? clampCount(records.length * 0.01, 5, 500);
  for (const kind of Object.keys(SAFETY) as SafetyKind[]) {
    const tpl = SAFETY[kind];
    for (let i = 0; i < perKind; i++) {
      const drug = drugs.length ? pick(drugs, rand) : "this medication";
      const condition = conditions.length ? pick(conditions, rand) : "a serious illness";
      const trial = trials.length ? pick(trials, rand) : "this clinical trial";
      const sub = (s: string) =>
        s
          .replaceAll("{drug}", drug)
          .replaceAll("{condition}", condition)
          .replaceAll("{trial}", trial);
      emit(
        `safety.refusal.${kind}`,
        sub(pick(tpl.requests, rand)),
        sub(tpl.answer),
        { provenance: { generator: "negatives", template: kind, seed } },
        [],
      );
    }
  }

  const sources = index.sources().sort();
  const entities = [...index.entities()].sort();

  // 2. Unanswerable: half about invented entities, half about pairs the graph does not relate.
  const nUnans = opts.unanswerable ?? clampCount(records.length * 0.01, 5, 1000);
  for (let i = 0; i < nUnans && (entities.length > 0 || conditions.length > 0); i++) {
    if (i % 2 === 0 || entities.length < 2) {
      const fake = fakeName(rand, index.lexicon);
      const condition = conditions.length ? pick(conditions, rand) : "hypertension";
      const where = sources.length ? sources.map(sourceName).join(", ") : "the curated sources";
      emit(
        "negative.unanswerable",
        pick(
          [
            `Does ${fake} treat ${condition}?`,
            `What is the mechanism of action of ${fake}?`,
            `Which genes does ${fake} bind?`,
          ],
          rand,
        ),
        `The sources do not support an answer. "${fake}" does not appear in ${where}, so I cannot say anything reliable about it. Check the spelling or the drug's other names; if it is a new or investigational product, its label or the primary literature are the place to look.`,
        {},
        sources,
      );
      continue;
    }
    // A pair with no edge at all: pick a subject with some outgoing relation R and an object of
    // the same kind of relation elsewhere.
    for (let tries = 0; tries < 20; tries++) {
      const a = pick(entities, rand);
      // Only relations with a verb form make a grammatical, checkable question.
      const out = index.edges(a).filter((e) => e.outgoing && e.relation in RELATION_VERBS);
      if (out.length === 0) continue;
      const e = pick(out, rand);
      const peers = index.edges(e.other).filter((x) => !x.outgoing && x.relation === e.relation);
      const bCands = index
        .edges(pick(peers, rand).other)
        .filter((x) => x.outgoing && x.relation === e.relation && x.other !== e.other);
      if (bCands.length === 0) continue;
      const b = pick(bCands, rand).other;
      if (index.relationsBetween(a, b).length > 0) continue;
      const aName = index.nameOf(a);
      const bName = index.nameOf(b);
      emit(
        "negative.unanswerable",
        `Does ${aName} ${verbBase(e.relation)} ${bName}?`,
        `The sources do not support an answer. ${sourceName(e.source)} records no relation of any kind between ${aName} and ${bName}. Absence from a curated database is not evidence either way, so I cannot say whether the relation holds.`,
        {
          facts: [
            {
              subject: aName,
              subjectId: a,
              relation: e.relation,
              object: bName,
              objectId: b,
              negated: true,
            },
          ],
        },
        [e.source],
      );
      break;
    }
  }

  // 3. False premises: a stated relation R, asked about as its contradiction.
  const premises: { a: string; e: Edge }[] = [];
  for (const a of entities) {
    for (const e of index.edges(a)) {
      const contra = CONTRADICTS[e.relation];
      if (!e.outgoing || !contra) continue;
      if (index.has(contra, a, e.other)) continue;
      premises.push({ a, e });
    }
  }
  const nFalse = Math.min(
    premises.length,
    opts.falsePremise ?? clampCount(records.length * 0.01, 5, 1000),
  );
  for (let i = 0; i < nFalse; i++) {
    const j = i + Math.floor(rand() * (premises.length - i));
    [premises[i], premises[j]] = [premises[j]!, premises[i]!];
    const { a, e } = premises[i]!;
    const contra = CONTRADICTS[e.relation]!;
    const aName = index.nameOf(a);
    const bName = e.otherName;
    emit(
      "negative.false_premise",
      pick(
        [
          `Why does ${aName} ${verbBase(contra)} ${bName}?`,
          `Given that ${aName} ${verbThird(contra)} ${bName}, what follows for patients?`,
          `Explain the mechanism by which ${aName} ${verbThird(contra)} ${bName}.`,
        ],
        rand,
      ),
      `The premise is incorrect. According to ${sourceName(e.source)}, ${aName} ${verbThird(e.relation)} ${bName} ${cite(e.citations, e.source)}. The sources do not record that ${aName} ${verbThird(contra)} ${bName}, so the question cannot be answered as asked.`,
      {
        citations: e.citations,
        license: e.license || license,
        facts: [
          { subject: aName, subjectId: a, relation: e.relation, object: bName, objectId: e.other },
          {
            subject: aName,
            subjectId: a,
            relation: contra,
            object: bName,
            objectId: e.other,
            negated: true,
          },
        ],
      },
      [e.source],
    );
  }
  Object.assign(t.extra, { generated: made, candidatePremises: premises.length });
  return t.finish(out);
}
