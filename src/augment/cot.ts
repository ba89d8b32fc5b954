/**
 * Chain-of-thought examples. Graph paths: two-hop walks through the fact index (e.g. compound
 * –binds→ gene ←associates– disease) rendered as numbered reasoning steps, each citing the record
 * that stated the fact, and closing with a hedge (a path is a hypothesis, not clinical evidence).
 * Abstracts: PubMed records with a structured abstract (BACKGROUND/METHODS/RESULTS/CONCLUSIONS)
 * become background → result → conclusion chains that cite the PMID.
 */
import type { Fact, InstructionRecord } from "../data/record.js";
import { FactIndex, type Edge } from "./facts.js";
import { EntityLexicon, factEntities } from "./lexicon.js";
import { collect, StepTracker, type RecordStream, type StepResult } from "./step.js";
import { keyedRandom } from "./text.js";
import { cite, sourceName, verbThird } from "./wording.js";

export interface CotOptions {
  index?: FactIndex;
  seed?: number;
  /** Most graph-path examples (default: 5% of the input, at most 5000). */
  maxPaths?: number;
  /** Paths started from one entity at most (keeps hubs from dominating; default 2). */
  perStart?: number;
  /** Relation pairs (first hop, second hop) that make meaningful paths. */
  metapaths?: readonly [string, string][];
  /** Build abstract chains from PubMed records (default true). */
  abstracts?: boolean;
}

/** Default two-hop patterns, by normalised relation. */
export const DEFAULT_METAPATHS: readonly [string, string][] = [
  ["binds", "associates"], // compound → gene ← disease
  ["treats", "resembles"], // compound → disease ~ disease
  ["treats", "presents"], // compound → disease → symptom
  ["treats", "localizes"], // compound → disease → anatomy
  ["binds", "participates"], // compound → gene → pathway / process
  ["resembles", "treats"], // compound ~ compound → disease
  ["interacts", "interacts"], // drug – drug – drug (DrugBank)
  ["includes", "treats"], // class ∋ compound → disease
];

/** "A binds B" or "B is associated with A", in the fact's own direction. */
function stepText(fromName: string, e: Edge): string {
  return e.outgoing
    ? `${fromName} ${verbThird(e.relation)} ${e.otherName}`
    : `${e.otherName} ${verbThird(e.relation)} ${fromName}`;
}

function stepFact(fromId: string, fromName: string, e: Edge): Fact {
  return e.outgoing
    ? {
        subject: fromName,
        subjectId: fromId,
        relation: e.relation,
        object: e.otherName,
        objectId: e.other,
      }
    : {
        subject: e.otherName,
        subjectId: e.other,
        relation: e.relation,
        object: fromName,
        objectId: fromId,
      };
}

const LABELS: [RegExp, "background" | "methods" | "results" | "conclusion"][] = [
  [/^(?:BACKGROUND|INTRODUCTION|OBJECTIVES?|AIMS?|PURPOSE|CONTEXT)$/, "background"],
  [
    /^(?:METHODS?|DESIGN|PATIENTS AND METHODS|MATERIALS AND METHODS|SETTING|PARTICIPANTS)$/,
    "methods",
  ],
  [/^(?:RESULTS?|FINDINGS|MEASUREMENTS AND MAIN RESULTS)$/, "results"],
  [
    /^(?:CONCLUSIONS?|INTERPRETATION|DISCUSSION|CONCLUSIONS AND RELEVANCE|IMPLICATIONS)$/,
    "conclusion",
  ],
];

/** Labelled sections of a structured abstract written as "LABEL: text" (one per line or inline). */
export function abstractSections(text: string): { kind: string; label: string; text: string }[] {
  const out: { kind: string; label: string; text: string }[] = [];
  // "BACKGROUND: …" (MEDLINE labels) or "Background: …" (ingest's rendering), inline or one per line.
  const re = /(?:^|\n|\s)([A-Z][A-Za-z ]{2,40}):\s+/g;
  const marks = [...text.matchAll(re)]
    .map((m) => ({
      label: m[1]!.trim(),
      start: m.index ?? 0,
      bodyStart: (m.index ?? 0) + m[0].length,
    }))
    .filter(
      (m) =>
        LABELS.some(([r]) => r.test(m.label.toUpperCase())) || m.label === m.label.toUpperCase(),
    );
  marks.forEach((m, i) => {
    const kind = LABELS.find(([r]) => r.test(m.label.toUpperCase()))?.[1];
    if (!kind) return;
    const end = i + 1 < marks.length ? marks[i + 1]!.start : text.length;
    const body = text.slice(m.bodyStart, end).trim();
    if (body) out.push({ kind, label: m.label, text: body });
  });
  return out;
}

export async function chainOfThought(
  input: RecordStream,
  opts: CotOptions = {},
): Promise<StepResult> {
  const records = await collect(input);
  const index =
    opts.index ?? FactIndex.fromRecords(records, EntityLexicon.from([factEntities(records)]));
  const seed = opts.seed ?? 0;
  const maxPaths = opts.maxPaths ?? Math.min(5000, Math.ceil(records.length * 0.05));
  const perStart = opts.perStart ?? 2;
  const metapaths = opts.metapaths ?? DEFAULT_METAPATHS;
  const t = new StepTracker("chain_of_thought", records);
  const out: InstructionRecord[] = [...records];
  let pathCount = 0;

  // Start entities in a seeded order, so a cap samples the graph instead of its first letters.
  const starts = [...index.entities()].sort((a, b) => keyedRandom(seed, a) - keyedRandom(seed, b));
  for (const a of starts) {
    if (pathCount >= maxPaths) break;
    let fromHere = 0;
    const aName = index.nameOf(a);
    for (const [r1, r2] of metapaths) {
      if (fromHere >= perStart || pathCount >= maxPaths) break;
      const hop1 = index
        .edges(a)
        .filter((e) => e.relation === r1)
        .sort((x, y) => keyedRandom(seed, x.other) - keyedRandom(seed, y.other));
      for (const e1 of hop1) {
        const hop2 = index.edges(e1.other).filter((e) => e.relation === r2 && e.other !== a);
        if (hop2.length === 0) continue;
        const e2 = hop2[Math.floor(keyedRandom(seed, `${a}>${e1.other}`) * hop2.length)]!;
        const bName = e1.otherName;
        const cName = e2.otherName;
        const s1 = stepText(aName, e1);
        const s2 = stepText(bName, e2);
        const citations = [...new Set([...e1.citations, ...e2.citations])];
        const srcs = [...new Set([e1.source, e2.source])];
        const output = [
          `1. ${s1} ${cite(e1.citations, e1.source)}.`,
          `2. ${s2} ${cite(e2.citations, e2.source)}.`,
          `3. Therefore ${bName} connects ${aName} and ${cName}: a path through ${srcs.map(sourceName).join(" and ")}.`,
          `This path is a hypothesis for further study, not evidence of a clinical effect.`,
        ].join("\n");
        const r: InstructionRecord = {
          id: `augment:cot.path:${a}>${e1.other}>${e2.other}`,
          instruction: `Reason step by step: how is ${aName} connected to ${cName}? Cite each step.`,
          input: "",
          output,
          metadata: {
            source: "augment",
            task: `cot.path.${r1}-${r2}`,
            confidence: 0.8,
            citations,
            license:
              [...new Set([e1.license, e2.license].filter(Boolean))].join(" AND ") || "CC0-1.0",
            provenance: { generator: "chain_of_thought", path: [a, e1.other, e2.other] },
            facts: [stepFact(a, aName, e1), stepFact(e1.other, bName, e2)],
            augmentation: { kind: "cot", sources: srcs },
          },
        };
        t.add(r, "graph path");
        out.push(r);
        pathCount++;
        fromHere++;
        break;
      }
    }
  }

  let abstractCount = 0;
  if (opts.abstracts ?? true) {
    // PMIDs that ingest already turned into a reasoning chain need no second one.
    const done = new Set<string>(
      records
        .filter((r) => r.metadata.source === "pubmed" && /reason|chain|cot/i.test(r.metadata.task))
        .flatMap((r) => r.metadata.citations.filter((c) => /^PMID:\d+$/.test(c))),
    );
    for (const rec of records) {
      if (rec.metadata.source !== "pubmed") continue;
      const pmid = rec.metadata.citations.find((c) => /^PMID:\d+$/.test(c));
      if (!pmid || done.has(pmid)) continue;
      // The abstract is in the input (summaries) or the output (abstract-writing tasks), not split across.
      const fromInput = abstractSections(rec.input);
      const sections = fromInput.length >= 3 ? fromInput : abstractSections(rec.output);
      const kinds = new Set(sections.map((s) => s.kind));
      if (!kinds.has("background") || !kinds.has("results") || !kinds.has("conclusion")) continue;
      done.add(pmid);
      const first = (k: string) =>
        sections
          .filter((s) => s.kind === k)
          .map((s) => s.text)
          .join(" ");
      const title =
        typeof rec.metadata.provenance.title === "string"
          ? ` ("${rec.metadata.provenance.title}")`
          : "";
      const steps = [
        `1. Background: ${first("background")} [${pmid}]`,
        ...(kinds.has("methods") ? [`2. Methods: ${first("methods")} [${pmid}]`] : []),
        `${kinds.has("methods") ? 3 : 2}. Results: ${first("results")} [${pmid}]`,
        `${kinds.has("methods") ? 4 : 3}. Conclusion: ${first("conclusion")} [${pmid}]`,
      ];
      const r: InstructionRecord = {
        id: `augment:cot.abstract:${pmid}`,
        instruction: `Reason step by step from the background to the conclusion of the study ${pmid}${title}, citing it at each step.`,
        input: sections.map((s) => `${s.label}: ${s.text}`).join("\n"),
        output: steps.join("\n"),
        metadata: {
          ...rec.metadata,
          source: "augment",
          task: "cot.abstract",
          provenance: { generator: "chain_of_thought", of: rec.id },
          augmentation: { kind: "cot", of: rec.id, sources: ["pubmed"] },
        },
      };
      t.add(r, "abstract chain");
      out.push(r);
      abstractCount++;
    }
  }
  Object.assign(t.extra, { paths: pathCount, abstracts: abstractCount, maxPaths });
  return t.finish(out);
}
