/**
 * Generated records for benchmarks and tests: Hetionet-style fact questions (with
 * `metadata.facts`), DrugBank-style interactions, PubMed-style structured abstracts and
 * ClinicalTrials.gov-style results with contact details, plus planted near-duplicates. Seeded, so
 * the same call always gives the same records. Not real data: names are invented pseudo-words.
 */
import type { InstructionRecord } from "../data/record.js";
import { mulberry32, pick } from "./text.js";

const SYL = [
  "ba",
  "ce",
  "di",
  "fo",
  "gu",
  "ka",
  "le",
  "mi",
  "no",
  "pu",
  "ra",
  "se",
  "ti",
  "vo",
  "xa",
  "zu",
];

/** A unique pronounceable name for an integer (base-16 syllables). */
export function pseudoWord(n: number, suffix = ""): string {
  let s = "";
  let x = n + 16;
  while (x > 0) {
    s = SYL[x % 16]! + s;
    x = Math.floor(x / 16);
  }
  return s.charAt(0).toUpperCase() + s.slice(1) + suffix;
}

export interface SyntheticOptions {
  count: number;
  seed?: number;
  /** Share of records that are near-copies of an earlier one (default 0.1). */
  nearDuplicateRate?: number;
  /** Share of CT.gov records that carry contact details (default 0.5). */
  phiRate?: number;
}

export interface SyntheticSet {
  records: InstructionRecord[];
  /** Ids of the planted near-duplicates and the record each copies. */
  duplicates: Map<string, string>;
}

export function syntheticRecords(opts: SyntheticOptions): SyntheticSet {
  const rand = mulberry32(opts.seed ?? 7);
  const dupRate = opts.nearDuplicateRate ?? 0.1;
  const phiRate = opts.phiRate ?? 0.5;
  const nEnt = Math.max(50, Math.ceil(opts.count / 10));
  const compounds = Array.from({ length: nEnt }, (_, i) => pseudoWord(i, "mab"));
  const diseases = Array.from(
    { length: nEnt },
    (_, i) => `${pseudoWord(i + 5000).toLowerCase()} syndrome`,
  );
  const genes = Array.from({ length: nEnt }, (_, i) => pseudoWord(i + 9000, "in"));
  const vocab = Array.from({ length: 3000 }, (_, i) => pseudoWord(i + 20000).toLowerCase());
  const sentence = (n: number) => {
    const w = Array.from({ length: n }, () => pick(vocab, rand));
    return `${w.join(" ")}.`.replace(/^./, (c) => c.toUpperCase());
  };
  const records: InstructionRecord[] = [];
  const duplicates = new Map<string, string>();
  const meta = (
    source: InstructionRecord["metadata"]["source"],
    task: string,
    citations: string[],
  ) => ({
    source,
    task,
    confidence: 0.9,
    citations,
    license: "CC0-1.0",
    provenance: { generator: "synthetic" },
  });
  for (let i = 0; records.length < opts.count; i++) {
    if (records.length > 10 && rand() < dupRate) {
      const orig = records[Math.floor(rand() * records.length)]!;
      if (duplicates.has(orig.id)) continue;
      // A near-copy: one word of the output changed and a trailing remark added.
      const words = orig.output.split(" ");
      const k = Math.floor(rand() * words.length);
      words[k] = pick(vocab, rand);
      const copy = structuredClone(orig);
      copy.id = `${orig.id}:dup${i}`;
      copy.output = `${words.join(" ")}`;
      duplicates.set(copy.id, orig.id);
      records.push(copy);
      continue;
    }
    const kind = i % 5;
    if (kind === 0) {
      const c = pick(compounds, rand);
      const d = pick(diseases, rand);
      records.push({
        id: `het:${i}`,
        instruction: `Does ${c} treat ${d}?`,
        input: "",
        output: `Yes. According to Hetionet, ${c} treats ${d}. ${sentence(12)}`,
        metadata: {
          ...meta("hetionet", "hetionet.CtD", ["Hetionet:CtD"]),
          facts: [{ subject: c, relation: "treats", object: d }],
        },
      });
    } else if (kind === 1) {
      const c = pick(compounds, rand);
      const g = pick(genes, rand);
      const d = pick(diseases, rand);
      records.push({
        id: `het:${i}`,
        instruction: `Which genes does ${c} bind, and which disease is ${g} associated with?`,
        input: "",
        output: `${c} binds ${g}. ${d} is associated with ${g}. ${sentence(10)}`,
        metadata: {
          ...meta("hetionet", "hetionet.CbG", ["Hetionet:CbG", "Hetionet:DaG"]),
          facts: [
            { subject: c, relation: "binds", object: g },
            { subject: d, relation: "associates", object: g },
          ],
        },
      });
    } else if (kind === 2) {
      const a = pick(compounds, rand);
      const b = pick(compounds, rand);
      if (a === b) continue;
      records.push({
        id: `db:${i}`,
        instruction: `What is known about the interaction between ${a} and ${b}?`,
        input: "",
        output: `${a} may increase the anticoagulant activities of ${b}. ${sentence(8)}`,
        metadata: {
          ...meta("drugbank", "drugbank.interaction", [`DrugBank:DB${String(i).padStart(5, "0")}`]),
          facts: [{ subject: a, relation: "increases", object: b }],
        },
      });
    } else if (kind === 3) {
      const pmid = String(30000000 + i);
      records.push({
        id: `pm:${i}`,
        instruction: `Summarise the findings of PMID:${pmid}.`,
        input: `BACKGROUND: ${sentence(25)}\nMETHODS: ${sentence(30)}\nRESULTS: ${sentence(30)}\nCONCLUSIONS: ${sentence(20)}`,
        output: sentence(40),
        metadata: meta("pubmed", "pubmed.summary", [`PMID:${pmid}`]),
      });
    } else {
      const nct = `NCT${String(10000000 + i).slice(-8)}`;
      const contact =
        rand() < phiRate
          ? ` For questions contact Dr. ${pseudoWord(i + 40000)} ${pseudoWord(i + 60000)} at ${pseudoWord(i + 40000).toLowerCase()}@example.org or 617-555-${String(1000 + (i % 9000)).slice(-4)}.`
          : "";
      records.push({
        id: `ct:${i}`,
        instruction: `What was the primary outcome of ${nct}?`,
        input: "",
        output: `${sentence(20)} The difference was significant (p=0.0${1 + (i % 9)}).${contact}`,
        metadata: meta("clinicaltrials", "clinicaltrials.results", [nct]),
      });
    }
  }
  return { records, duplicates };
}
