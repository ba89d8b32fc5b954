/**
 * Biomedical vocabulary: where names and synonyms come from (SynonymSource) and how entity
 * mentions are found in text (EntityLexicon). Paraphrasing swaps a name for a synonym and then
 * checks that every entity survived; validation and chain-of-thought resolve names in text to the
 * same ids that the fact index uses.
 *
 * Sources: the records' own facts, DrugBank's open vocabulary CSV (synonyms joined by " | "),
 * Hetionet's node table (id, name, kind) and MeSH terms carried in PubMed records.
 */
import { readFileSync } from "node:fs";
import { parse as parseCsv } from "csv-parse/sync";
import type { InstructionRecord } from "../data/record.js";
import { RecordFormatError } from "../data/record.js";
import { normalizeText } from "./text.js";
import { openInput } from "../ingest/io.js";
import { TopLevelJsonSplitter } from "../ingest/hetionet/index.js";

/** One concept: a stable id, its preferred name and other names for it. */
export interface SynonymEntry {
  /** e.g. "Compound::DB00515", "DrugBank:DB00515", "MeSH:D003920", "name:aspirin". */
  id: string;
  name: string;
  type?: string;
  synonyms: string[];
}

/** Anything that can list concepts with their names: a vocabulary file, a graph, the records. */
export interface SynonymSource {
  readonly name: string;
  entries(): Iterable<SynonymEntry>;
}

/** A SynonymSource over entries already in memory. */
export function synonymSource(name: string, entries: SynonymEntry[]): SynonymSource {
  return { name, entries: () => entries };
}

/** Fallback id for a name no source gave an id for. */
export const nameId = (name: string): string => `name:${normalizeText(name)}`;

/**
 * Fact ends that are not vocabulary: literal values (ChEMBL properties), articles named by their
 * title and trial outcome titles. They stay in the fact index (validation, leakage keys) but are
 * not scanned for in text: long titles and bare numbers are not entity mentions.
 */
export const NON_VOCABULARY_TYPES: ReadonlySet<string> = new Set([
  "Quantity",
  "Article",
  "Outcome",
]);

/** Entities named in the records' structured facts (metadata.facts). */
export function factEntities(records: Iterable<InstructionRecord>): SynonymSource {
  const byId = new Map<string, SynonymEntry>();
  for (const r of records) {
    for (const f of r.metadata.facts ?? []) {
      for (const [name, id, type] of [
        [f.subject, f.subjectId, f.subjectType],
        [f.object, f.objectId, f.objectType],
      ] as const) {
        if (type && NON_VOCABULARY_TYPES.has(type)) continue;
        const key = id ?? nameId(name);
        const e = byId.get(key);
        if (!e) byId.set(key, { id: key, name, synonyms: [], ...(type ? { type } : {}) });
        else if (e.name !== name && !e.synonyms.includes(name)) e.synonyms.push(name);
      }
    }
  }
  return synonymSource("record facts", [...byId.values()]);
}

/**
 * MeSH terms found in records: any provenance/metadata array under a key containing "mesh",
 * holding strings or {ui|id, name|term|descriptor} objects (PubMed MeshHeadingList, CT.gov
 * conditionBrowseModule.meshes).
 */
export function meshTerms(records: Iterable<InstructionRecord>): SynonymSource {
  const byId = new Map<string, SynonymEntry>();
  const visit = (v: unknown, depth: number, underMesh: boolean): void => {
    if (depth > 4 || v === null || typeof v !== "object") {
      if (underMesh && typeof v === "string" && v.trim()) {
        const id = nameId(v);
        if (!byId.has(id)) byId.set(id, { id, name: v.trim(), type: "MeSH", synonyms: [] });
      }
      return;
    }
    if (Array.isArray(v)) {
      for (const x of v) visit(x, depth + 1, underMesh);
      return;
    }
    const o = v as Record<string, unknown>;
    const name = [o.name, o.term, o.descriptor, o.descriptorName].find(
      (x) => typeof x === "string",
    );
    const ui = [o.ui, o.id, o.UI].find((x) => typeof x === "string");
    if (underMesh && typeof name === "string") {
      const id = typeof ui === "string" && /^[DCQ]\d{6,}$/.test(ui) ? `MeSH:${ui}` : nameId(name);
      if (!byId.has(id)) byId.set(id, { id, name, type: "MeSH", synonyms: [] });
      return;
    }
    for (const [k, x] of Object.entries(o)) visit(x, depth + 1, underMesh || /mesh/i.test(k));
  };
  for (const r of records) visit(r.metadata, 0, false);
  return synonymSource("MeSH terms in records", [...byId.values()]);
}

/** DrugBank's open (CC0) vocabulary CSV: `DrugBank ID,…,Common name,…,Synonyms,…`. */
export function drugBankVocabulary(file: string): SynonymSource {
  const rows = parseCsv(readFileSync(file, "utf8"), {
    columns: false,
    relax_column_count: true,
  }) as string[][];
  const header = rows[0] ?? [];
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) {
      throw new RecordFormatError(
        `expected a DrugBank vocabulary header with column "${name}", got ${JSON.stringify(header)}`,
        file,
        1,
      );
    }
    return i;
  };
  const idCol = col("DrugBank ID");
  const nameCol = col("Common name");
  const synCol = col("Synonyms");
  const entries: SynonymEntry[] = [];
  rows.slice(1).forEach((row) => {
    const id = row[idCol]?.trim();
    const name = row[nameCol]?.trim();
    if (!id || !name) return;
    const synonyms = (row[synCol] ?? "")
      .split(" | ")
      .map((s) => s.trim())
      .filter((s) => s && s !== name);
    entries.push({ id: `DrugBank:${id}`, name, type: "Compound", synonyms });
  });
  return synonymSource(`DrugBank vocabulary ${file}`, entries);
}

/** Hetionet's node table `id\tname\tkind` (names only; Hetionet has no synonyms). */
export function hetionetNodes(file: string, kinds?: readonly string[]): SynonymSource {
  const entries: SynonymEntry[] = [];
  // The distributed nodes TSV has CRLF line ends; a kept "\r" would end up in every kind.
  const lines = readFileSync(file, "utf8").split(/\r?\n/);
  lines.forEach((line, i) => {
    if (i === 0 || !line.trim()) return;
    const [id, name, kind] = line.split("\t");
    if (!id || !name || !kind) {
      throw new RecordFormatError("expected 3 tab-separated columns: id, name, kind", file, i + 1);
    }
    if (kinds && !kinds.includes(kind)) return;
    entries.push({ id, name, type: kind, synonyms: [] });
  });
  return synonymSource(`Hetionet nodes ${file}`, entries);
}

/**
 * Hetionet node names from any of its distributions: the nodes TSV (read at once) or the JSON
 * graph (.json, .json.gz, .json.bz2; the bundled sample is one), whose `nodes` array is streamed
 * and the read stopped when `edges` begins, so a full 2 GB dump costs only its node list.
 */
export async function loadHetionetNodes(
  file: string,
  kinds?: readonly string[],
): Promise<SynonymSource> {
  if (!/\.json(?:\.gz|\.bz2)?$/i.test(file)) return hetionetNodes(file, kinds);
  const entries: SynonymEntry[] = [];
  const input = openInput(file);
  const splitter = new TopLevelJsonSplitter(file, new Set(["nodes", "edges"]));
  const decoder = new TextDecoder("utf-8");
  let sawNodes = false;
  try {
    read: for await (const chunk of input.stream as AsyncIterable<Buffer>) {
      for (const item of splitter.feed(decoder.decode(chunk, { stream: true }))) {
        if (item.kind !== "element") continue;
        if (item.key === "edges") break read;
        sawNodes = true;
        let n: { kind?: unknown; identifier?: unknown; name?: unknown };
        try {
          n = JSON.parse(item.text) as typeof n;
        } catch (e) {
          throw new RecordFormatError(
            `nodes[${item.index}]: invalid JSON: ${(e as Error).message}`,
            file,
          );
        }
        if (
          typeof n.kind !== "string" ||
          typeof n.name !== "string" ||
          (typeof n.identifier !== "string" && typeof n.identifier !== "number")
        ) {
          throw new RecordFormatError(
            `nodes[${item.index}]: expected {kind, identifier, name}, got ${item.text.slice(0, 120)}`,
            file,
          );
        }
        if (kinds && !kinds.includes(n.kind)) continue;
        entries.push({
          id: `${n.kind}::${n.identifier}`,
          name: n.name,
          type: n.kind,
          synonyms: [],
        });
      }
    }
  } finally {
    input.stream.destroy();
  }
  if (!sawNodes)
    throw new RecordFormatError('expected a Hetionet JSON graph with a "nodes" array', file);
  return synonymSource(`Hetionet nodes ${file}`, entries);
}

export interface Mention {
  start: number;
  end: number;
  surface: string;
  /** Concepts this surface form names (a synonym can be ambiguous, e.g. "DDP"). */
  ids: string[];
}

interface Term {
  tokens: string[];
  /** Original-case tokens, checked when the term is case-sensitive (gene symbols, short codes). */
  exact: string[] | null;
  ids: Set<string>;
}

const TOKEN_RE = /[\p{L}\p{N}]+/gu;

/** Ontology roots and class words that name nothing specific in running text (DOID:4 "disease"). */
const GENERIC_WORDS = new Set([
  "disease",
  "disorder",
  "syndrome",
  "drug",
  "drugs",
  "gene",
  "genes",
  "protein",
  "cell",
  "cells",
  "tissue",
  "treatment",
  "therapy",
  "symptom",
  "compound",
]);

/** A term needs exact case when it is short or looks like a symbol ("CAT", "MAX", "IL6"). */
function isCaseSensitive(term: string): boolean {
  const letters = term.replace(/[^\p{L}]/gu, "");
  return (
    term.length <= 4 ||
    (letters.length > 0 && letters === letters.toUpperCase() && term.length <= 10)
  );
}

/**
 * Concepts, their names and a longest-match scanner over text. Two names of one concept share an
 * id; a name given without an id resolves to the concept already registered under that name.
 */
export class EntityLexicon {
  private readonly concepts = new Map<string, SynonymEntry>();
  /** First token → terms starting with it, longest first. */
  private readonly byFirst = new Map<string, Term[]>();
  private readonly byKey = new Map<string, Term>();
  /** Names shorter than this (normalised) are ignored: too ambiguous to match. */
  readonly minLength = 2;

  static from(sources: Iterable<SynonymSource>): EntityLexicon {
    const lex = new EntityLexicon();
    for (const s of sources) lex.addSource(s);
    return lex;
  }

  addSource(source: SynonymSource): this {
    for (const e of source.entries()) this.addEntry(e);
    return this;
  }

  addEntry(e: SynonymEntry): void {
    // Merge into the concept already known by this name when the entry has only a name-id.
    const id = e.id.startsWith("name:") ? (this.resolveName(e.name) ?? e.id) : e.id;
    const known = this.concepts.get(id);
    if (known) {
      for (const s of [e.name, ...e.synonyms]) {
        if (s !== known.name && !known.synonyms.includes(s)) known.synonyms.push(s);
      }
    } else {
      this.concepts.set(id, { ...e, id, synonyms: [...e.synonyms] });
    }
    for (const n of [e.name, ...e.synonyms]) this.addTerm(n, id);
  }

  private addTerm(name: string, id: string): void {
    const tokens = name.match(TOKEN_RE)?.map((t) => t.toLowerCase()) ?? [];
    if (tokens.length === 0 || tokens.join("").length < this.minLength) return;
    if (tokens.length === 1 && GENERIC_WORDS.has(tokens[0]!)) return;
    const exact = isCaseSensitive(name) ? (name.match(TOKEN_RE) ?? []) : null;
    const key = (exact ?? tokens).join(" ");
    let term = this.byKey.get(key);
    if (!term) {
      term = { tokens, exact, ids: new Set() };
      this.byKey.set(key, term);
      const list = this.byFirst.get(tokens[0]!) ?? [];
      list.push(term);
      list.sort((a, b) => b.tokens.length - a.tokens.length);
      this.byFirst.set(tokens[0]!, list);
    }
    term.ids.add(id);
  }

  get size(): number {
    return this.concepts.size;
  }

  concept(id: string): SynonymEntry | undefined {
    return this.concepts.get(id);
  }

  /** The concept id registered for a name (case-insensitive unless the name is a symbol). */
  resolveName(name: string): string | undefined {
    const tokens = name.match(TOKEN_RE) ?? [];
    const t =
      this.byKey.get(tokens.join(" ")) ??
      this.byKey.get(tokens.map((x) => x.toLowerCase()).join(" "));
    return t ? [...t.ids][0] : undefined;
  }

  /** Canonical id for a fact's entity: its own id, else the id its name resolves to, else a name-id. */
  canonical(name: string, id?: string): string {
    return id ?? this.resolveName(name) ?? nameId(name);
  }

  /** Every other name of a concept. */
  synonymsOf(id: string): string[] {
    const c = this.concepts.get(id);
    return c ? [c.name, ...c.synonyms] : [];
  }

  /** Non-overlapping longest-match mentions, left to right. */
  find(text: string): Mention[] {
    const toks: { t: string; lower: string; start: number; end: number }[] = [];
    for (const m of text.matchAll(TOKEN_RE)) {
      const start = m.index ?? 0;
      toks.push({ t: m[0], lower: m[0].toLowerCase(), start, end: start + m[0].length });
    }
    const out: Mention[] = [];
    for (let i = 0; i < toks.length;) {
      const cands = this.byFirst.get(toks[i]!.lower);
      let matched: Term | undefined;
      for (const term of cands ?? []) {
        const n = term.tokens.length;
        if (i + n > toks.length) continue;
        let ok = true;
        for (let k = 0; k < n && ok; k++) {
          const tok = toks[i + k]!;
          ok = term.exact ? tok.t === term.exact[k] : tok.lower === term.tokens[k];
          // Tokens of one name must be joined by at most punctuation and a space.
          if (ok && k > 0) ok = tok.start - toks[i + k - 1]!.end <= 2;
        }
        if (ok) {
          matched = term;
          break;
        }
      }
      if (matched) {
        const n = matched.tokens.length;
        const start = toks[i]!.start;
        const end = toks[i + n - 1]!.end;
        // Part of a hyphenated word ("disease-modifying", "non-cancer"): not a mention.
        if (
          /[\p{L}\p{N}]-$/u.test(text.slice(Math.max(0, start - 2), start)) ||
          /^-[\p{L}\p{N}]/u.test(text.slice(end, end + 2))
        ) {
          i++;
          continue;
        }
        out.push({ start, end, surface: text.slice(start, end), ids: [...matched.ids] });
        i += n;
      } else i++;
    }
    return out;
  }
}
