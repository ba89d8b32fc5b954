/**
 * The ingested corpus as the evaluation sees it: the records ingest wrote (data/processed/<source>.jsonl),
 * the entity gazetteer built from them and from the vocabularies augment uses (DrugBank vocabulary,
 * Hetionet nodes, MeSH terms in records), augment's FactIndex over their facts, and every identifier
 * they cite (PMID, NCT, CHEMBL, DrugBank DB, Hetionet node, MeSH) mapped to the records citing it.
 * Hallucination and citation checks read answers against this.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../augment/config.js";
import { deriveFacts, FactIndex } from "../augment/facts.js";
import {
  drugBankVocabulary,
  EntityLexicon,
  factEntities,
  loadHetionetNodes,
  meshTerms,
} from "../augment/lexicon.js";
import { parseRecordLine } from "../data/jsonl.js";
import type { InstructionRecord } from "../data/record.js";

/** The files ingest writes, one per source (augment's splits are not the corpus). */
export const CORPUS_FILES = [
  "hetionet.jsonl",
  "chembl_sqlite.jsonl",
  "chembl.jsonl",
  "pubmed.jsonl",
  "clinicaltrials.jsonl",
  "drugbank.jsonl",
];

export interface Corpus {
  records: InstructionRecord[];
  lexicon: EntityLexicon;
  index: FactIndex;
  /** Normalised identifier → records that cite or state it. */
  ids: Map<string, InstructionRecord[]>;
}

/**
 * One spelling per identifier: "PMID:123", "NCT01234567", "CHEMBL25", "DB00682", "DOID:3277",
 * "MeSH:D006976", "Gene::5345". A Hetionet "Kind::id" whose id is itself a known scheme also
 * yields that id ("Compound::DB00104" → "DB00104").
 */
export function normalizeIds(raw: string): string[] {
  const s = raw.trim();
  const out = new Set<string>();
  const het = /^([A-Z][A-Za-z ]+)::(.+)$/.exec(s);
  const inner = het ? het[2]! : s;
  if (het) out.add(`${het[1]}::${het[2]}`);
  let m: RegExpExecArray | null;
  if ((m = /^(?:PMID|pmid|PubMed)[:\s]*(\d{1,9})$/.exec(inner))) out.add(`PMID:${m[1]}`);
  else if ((m = /^(NCT\d{8})$/i.exec(inner))) out.add(m[1]!.toUpperCase());
  else if ((m = /^(CHEMBL\d+)$/i.exec(inner))) out.add(m[1]!.toUpperCase());
  else if ((m = /^(?:DrugBank:)?(DB\d{5})$/i.exec(inner))) out.add(m[1]!.toUpperCase());
  else if ((m = /^(?:MeSH:)?([DC]\d{6,9})$/.exec(inner))) out.add(`MeSH:${m[1]}`);
  else if ((m = /^(DOID|UBERON|HP|EFO|GO|MONDO):(\d+)$/.exec(inner))) out.add(`${m[1]}:${m[2]}`);
  return [...out];
}

/** Identifiers written in free text, each normalised, with where it was found. */
export function findIds(text: string): { raw: string; ids: string[]; index: number }[] {
  const re =
    /\b(?:[A-Z][A-Za-z]+(?: [A-Z][a-z]+)?::[\w:.-]+|PMID[:\s]*\d{1,9}|NCT\d{8}|CHEMBL\d+|DB\d{5}|(?:DOID|UBERON|HP|EFO|MONDO):\d+|MeSH:[DC]\d{6,9})\b/g;
  const out: { raw: string; ids: string[]; index: number }[] = [];
  for (const m of text.matchAll(re)) {
    const ids = normalizeIds(m[0]);
    if (ids.length > 0) out.push({ raw: m[0], ids, index: m.index ?? 0 });
  }
  return out;
}

function recordIds(r: InstructionRecord): string[] {
  const raw = [...r.metadata.citations];
  for (const f of r.metadata.facts ?? []) {
    if (f.subjectId) raw.push(f.subjectId);
    if (f.objectId) raw.push(f.objectId);
  }
  for (const v of Object.values(r.metadata.provenance)) {
    if (typeof v === "string" && v.length < 40) raw.push(v);
  }
  return raw.flatMap(normalizeIds);
}

function readRecords(file: string): InstructionRecord[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .flatMap((text, i) => (text.trim() ? [parseRecordLine(text, file, i + 1)] : []));
}

/** Build a corpus from records (tests) or, with `load`, from a processed-data folder. */
export function corpusFromRecords(
  input: readonly InstructionRecord[],
  lexicon: EntityLexicon = new EntityLexicon(),
): Corpus {
  lexicon.addSource(factEntities(input));
  lexicon.addSource(meshTerms(input));
  const records = input.map((r) => {
    const facts = deriveFacts(r, lexicon);
    return facts ? { ...r, metadata: { ...r.metadata, facts } } : r;
  });
  lexicon.addSource(factEntities(records));
  const index = FactIndex.fromRecords(records, lexicon);
  const ids = new Map<string, InstructionRecord[]>();
  for (const r of records) {
    for (const id of new Set(recordIds(r))) {
      const list = ids.get(id);
      if (list) list.push(r);
      else ids.set(id, [r]);
    }
  }
  return { records, lexicon, index, ids };
}

/**
 * The corpus ingest wrote under `processedDir`, with the vocabularies of the augment config
 * (configs/augment.yaml) in the gazetteer. Fails naming the folder when nothing was ingested.
 */
export async function loadCorpus(processedDir: string, augmentConfig?: string): Promise<Corpus> {
  const files = CORPUS_FILES.map((f) => join(processedDir, f)).filter((f) => existsSync(f));
  if (files.length === 0)
    throw new Error(
      `${processedDir}: no ingested records (${CORPUS_FILES.join(", ")}) — run \`medtune ingest\` first`,
    );
  const records = files.flatMap(readRecords);
  const lexicon = new EntityLexicon();
  if (augmentConfig && existsSync(augmentConfig)) {
    const c = loadConfig(augmentConfig);
    for (const f of c.vocabulary.drugbank)
      if (existsSync(f)) lexicon.addSource(drugBankVocabulary(f));
    for (const f of c.vocabulary.hetionetNodes)
      if (existsSync(f)) lexicon.addSource(await loadHetionetNodes(f));
  }
  return corpusFromRecords(records, lexicon);
}
