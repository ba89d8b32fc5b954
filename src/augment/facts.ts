/**
 * The fact index: every (subject, relation, object) the sources state, built from the ingest
 * records' `metadata.facts`, keyed by canonical entity ids and normalised relations. Validation
 * checks claims against it; chain-of-thought and negative examples walk it as a graph.
 *
 * Also: relation normalisation (verbs, phrases and Hetionet metaedges → one relation name) and
 * claim extraction from free text (two known entities joined by a relation phrase).
 */
import type { Fact, InstructionRecord } from "../data/record.js";
import type { EntityLexicon } from "./lexicon.js";
import { normalizeText, sentences } from "./text.js";

/** Hetionet metaedge abbreviations → relation name (metaedges.tsv). */
const METAEDGES: Record<string, string> = {
  AdG: "downregulates",
  AeG: "expresses",
  AuG: "upregulates",
  CbG: "binds",
  CcSE: "causes",
  CdG: "downregulates",
  CpD: "palliates",
  CrC: "resembles",
  CtD: "treats",
  CuG: "upregulates",
  DaG: "associates",
  DdG: "downregulates",
  DlA: "localizes",
  DpS: "presents",
  DrD: "resembles",
  DuG: "upregulates",
  GcG: "covaries",
  GiG: "interacts",
  GpBP: "participates",
  GpCC: "participates",
  GpMF: "participates",
  GpPW: "participates",
  "Gr>G": "regulates",
  GrG: "regulates",
  PCiC: "includes",
};

/** Relation phrases as they appear in text or in ingest's fact.relation, most specific first. */
const RELATION_PHRASES: [RegExp, string][] = [
  [/\b(?:may )?increases?\b|\bincreased\b|\braises?\b/i, "increases"],
  [/\b(?:may )?decreases?\b|\bdecreased\b|\breduces?\b|\blowers?\b/i, "decreases"],
  [/\bup-?regulat(?:es?|ed|ion)\b/i, "upregulates"],
  [/\bdown-?regulat(?:es?|ed|ion)\b/i, "downregulates"],
  [/\bpalliat(?:es?|ed|ive)\b|\bsymptomatic (?:treatment|therapy)\b/i, "palliates"],
  [
    /\btreat(?:s|ed|ing|ments? (?:of|for))?\b|\bindicat(?:ed|ion) for\b|\btherapy for\b|\bused for\b/i,
    "treats",
  ],
  [/\bbind(?:s|ing)?\b|\bbound\b/i, "binds"],
  [/\bassociat(?:es?|ed|ion)\b|\blinked to\b/i, "associates"],
  [/\bcaus(?:es?|ed|ing)\b|\bside effects?\b|\badverse effects?\b/i, "causes"],
  [/\bresembl(?:es?|ed|ing)\b|\bsimilar to\b/i, "resembles"],
  [/\binteract(?:s|ion|ions|ing)?\b/i, "interacts"],
  [/\bparticipat(?:es?|ed|ing)\b|\binvolved in\b/i, "participates"],
  [/\bpresent(?:s|ed|ing)?\b|\bsymptoms?\b/i, "presents"],
  [/\blocali[sz](?:es?|ed|ation)\b/i, "localizes"],
  [/\bexpress(?:es|ed|ion)?\b/i, "expresses"],
  [/\binclud(?:es?|ed|ing)\b/i, "includes"],
  [/\bcovar(?:ies|y|ied)\b/i, "covaries"],
  [/\bregulat(?:es?|ed|ion)\b/i, "regulates"],
];

/** Relations whose direction carries meaning; all others are indexed as unordered pairs. */
const DIRECTED = new Set(["regulates", "increases", "decreases"]);

/** More specific relation → the general one a source may state instead (DrugBank: interacts). */
const GENERALISES: Record<string, string> = { increases: "interacts", decreases: "interacts" };

/** Relations that cannot both hold for one pair: the basis of false-premise questions. */
export const CONTRADICTS: Record<string, string> = {
  upregulates: "downregulates",
  downregulates: "upregulates",
  increases: "decreases",
  decreases: "increases",
  treats: "palliates",
  palliates: "treats",
};

/** One relation name for a verb, phrase or metaedge; unknown strings are lower-cased as-is. */
export function normalizeRelation(relation: string): string {
  const r = relation.trim();
  const meta = METAEDGES[r] ?? METAEDGES[r.replace(/^.*\./, "")];
  if (meta) return meta;
  for (const [re, name] of RELATION_PHRASES) if (re.test(r)) return name;
  return r.toLowerCase();
}

/** A fact with its entities resolved to canonical ids and its relation normalised. */
export interface ResolvedFact {
  subject: string;
  subjectName: string;
  relation: string;
  object: string;
  objectName: string;
  negated: boolean;
}

/** Whether a fact's object is a literal value (a ChEMBL property), not an entity. */
export const isQuantityFact = (f: Fact): boolean => f.objectType === "Quantity";

export function resolveFact(f: Fact, lexicon: EntityLexicon): ResolvedFact {
  return {
    subject: lexicon.canonical(f.subject, f.subjectId),
    subjectName: f.subject,
    relation: normalizeRelation(f.relation),
    // A value is compared as written ("493.62"), never resolved to an entity of the same name.
    object: isQuantityFact(f)
      ? (f.objectId ?? `value:${normalizeText(f.object)}`)
      : lexicon.canonical(f.object, f.objectId),
    objectName: f.object,
    negated: f.negated === true,
  };
}

const pairKey = (relation: string, a: string, b: string): string =>
  DIRECTED.has(relation) || a <= b
    ? `${relation}\u0000${a}\u0000${b}`
    : `${relation}\u0000${b}\u0000${a}`;

export interface Edge {
  relation: string;
  /** The other entity's id and name. */
  other: string;
  otherName: string;
  /** True when this entity is the fact's subject. */
  outgoing: boolean;
  /** Citations of a record that stated the fact (for numbered, cited reasoning steps). */
  citations: string[];
  source: string;
  license: string;
}

/** All facts the sources state, per source, with adjacency for graph walks. */
export class FactIndex {
  private readonly keys = new Map<string, Set<string>>(); // pair key → sources stating it
  private readonly adjacency = new Map<string, Edge[]>();
  private readonly entitySources = new Map<string, Set<string>>();
  private readonly names = new Map<string, string>();
  private readonly perSource = new Map<string, number>();
  private readonly relationsBySource = new Map<string, Set<string>>();

  constructor(readonly lexicon: EntityLexicon) {}

  /** Index the facts of non-augment records (augment records only restate them). */
  static fromRecords(records: Iterable<InstructionRecord>, lexicon: EntityLexicon): FactIndex {
    const idx = new FactIndex(lexicon);
    for (const r of records) {
      if (r.metadata.source === "augment") continue;
      for (const f of r.metadata.facts ?? []) {
        if (!f.negated) idx.add(f, r.metadata.source, r.metadata.citations, r.metadata.license);
      }
    }
    return idx;
  }

  add(f: Fact, source: string, citations: string[] = [], license = ""): void {
    const rf = resolveFact(f, this.lexicon);
    const key = pairKey(rf.relation, rf.subject, rf.object);
    let srcs = this.keys.get(key);
    const isNew = !srcs;
    if (!srcs) this.keys.set(key, (srcs = new Set()));
    if (!srcs.has(source)) this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
    srcs.add(source);
    let rels = this.relationsBySource.get(source);
    if (!rels) this.relationsBySource.set(source, (rels = new Set()));
    rels.add(rf.relation);
    // Literal values are checkable facts but not graph nodes: no walks, no "known entity".
    if (isQuantityFact(f)) return;
    for (const [id, name] of [
      [rf.subject, rf.subjectName],
      [rf.object, rf.objectName],
    ] as const) {
      if (!this.names.has(id)) this.names.set(id, name);
      const s = this.entitySources.get(id) ?? new Set();
      s.add(source);
      this.entitySources.set(id, s);
    }
    if (isNew) {
      const push = (id: string, e: Edge) => {
        const list = this.adjacency.get(id);
        if (list) list.push(e);
        else this.adjacency.set(id, [e]);
      };
      push(rf.subject, {
        relation: rf.relation,
        other: rf.object,
        otherName: rf.objectName,
        outgoing: true,
        citations,
        source,
        license,
      });
      push(rf.object, {
        relation: rf.relation,
        other: rf.subject,
        otherName: rf.subjectName,
        outgoing: false,
        citations,
        source,
        license,
      });
    }
  }

  get size(): number {
    return this.keys.size;
  }

  /** Number of distinct facts a source contributed. */
  factsFrom(source: string): number {
    return this.perSource.get(source) ?? 0;
  }

  sources(): string[] {
    return [...this.perSource.keys()];
  }

  /** Whether the fact is stated (by `sources` when given, else by any source). */
  has(relation: string, subject: string, object: string, sources?: readonly string[]): boolean {
    const rel = normalizeRelation(relation);
    const stated = (r: string, a: string, b: string) => {
      const srcs = this.keys.get(pairKey(r, a, b));
      return !!srcs && (!sources || sources.some((s) => srcs.has(s)));
    };
    if (stated(rel, subject, object)) return true;
    const general = GENERALISES[rel];
    if (!general) return false;
    // The general relation ("interacts") supports a specific claim ("increases") only when the
    // source states no direction for the pair; when it does, the claim must match it.
    for (const specific of Object.keys(GENERALISES).filter((k) => GENERALISES[k] === general)) {
      if (stated(specific, subject, object) || stated(specific, object, subject)) return false;
    }
    return stated(general, subject, object);
  }

  /**
   * Whether a source states facts of this relation at all (or of the general one it implies), so
   * that its silence on a claim of that relation means something.
   */
  statesRelation(relation: string, sources?: readonly string[]): boolean {
    const rel = normalizeRelation(relation);
    // Its family: the relation, its general form, its contradiction and its sibling directions.
    const general = GENERALISES[rel];
    const rels = [
      rel,
      general,
      CONTRADICTS[rel],
      ...Object.keys(GENERALISES).filter((k) => general && GENERALISES[k] === general),
    ].filter((x): x is string => !!x);
    const srcs = sources ?? [...this.relationsBySource.keys()];
    return srcs.some((s) => rels.some((r) => this.relationsBySource.get(s)?.has(r)));
  }

  /** Whether an entity occurs in any fact (of `sources` when given). */
  knows(entity: string, sources?: readonly string[]): boolean {
    const s = this.entitySources.get(entity);
    return !!s && (!sources || sources.some((x) => s.has(x)));
  }

  nameOf(entity: string): string {
    return this.names.get(entity) ?? this.lexicon.concept(entity)?.name ?? entity;
  }

  edges(entity: string): readonly Edge[] {
    return this.adjacency.get(entity) ?? [];
  }

  entities(): IterableIterator<string> {
    return this.adjacency.keys();
  }

  /** Relations stated between two entities (either direction). */
  relationsBetween(a: string, b: string): string[] {
    return this.edges(a)
      .filter((e) => e.other === b)
      .map((e) => e.relation);
  }
}

export interface Claim extends ResolvedFact {
  /** The sentence the claim was read from (absent for declared facts). */
  sentence?: string;
  /** All ids an ambiguous surface form may name (e.g. "DDP"); validation tries each. */
  subjectIds?: string[];
  objectIds?: string[];
}

const NEGATION =
  /\b(?:not|no|never|neither|nor|cannot|can't|isn't|aren't|doesn't|don't|didn't|without|lacks?|absent)\b/i;

/**
 * Claims stated in text: within a sentence, two adjacent entity mentions joined by at most
 * `maxGap` words that contain a relation phrase. A negation between them (or just before the
 * first) makes the claim negative ("X does not treat Y").
 */
export function extractClaims(text: string, lexicon: EntityLexicon, maxGap = 10): Claim[] {
  const claims: Claim[] = [];
  for (const sentence of sentences(text)) {
    const ms = lexicon.find(sentence);
    for (let i = 0; i + 1 < ms.length; i++) {
      const a = ms[i]!;
      const b = ms[i + 1]!;
      const between = sentence.slice(a.end, b.start);
      if (between.split(/\s+/).filter(Boolean).length > maxGap) continue;
      let relation: string | undefined;
      let relAt = 0;
      for (const [re, name] of RELATION_PHRASES) {
        const m = re.exec(between);
        if (m) {
          relation = name;
          relAt = m.index;
          break;
        }
      }
      if (!relation) continue;
      // Passive voice reverses a directed relation: "the metabolism of A can be decreased when
      // combined with B" says B decreases A.
      const passive =
        DIRECTED.has(relation) &&
        /\b(?:be|been|is|are|was|were)\s+(?:\w+\s+)?(?:increased|decreased|reduced|raised|lowered|regulated)\b/i.test(
          between,
        );
      // Negation between the two names, or earlier in the same clause ("do not record that A …").
      const clauseStart = Math.max(
        sentence.lastIndexOf(",", a.start),
        sentence.lastIndexOf(";", a.start),
        0,
      );
      const prev = i > 0 ? ms[i - 1]!.end : 0;
      const before = sentence.slice(Math.max(clauseStart, prev), a.start);
      // Only a negation before the relation word negates it: "palliative, not disease-modifying" does not.
      const negated = NEGATION.test(between.slice(0, relAt)) || NEGATION.test(before);
      const [s, o] = passive ? [b, a] : [a, b];
      claims.push({
        subject: s.ids[0]!,
        subjectName: s.surface,
        relation,
        object: o.ids[0]!,
        objectName: o.surface,
        negated,
        sentence,
        subjectIds: s.ids,
        objectIds: o.ids,
      });
    }
  }
  return claims;
}

/**
 * Facts for records that carry none, read from what Hetionet records do carry: citations
 * `["Hetionet:<metaedge>", <node id>, <other node ids>…]` with `provenance.node`, a direction
 * ("target→sources" reverses it) and `provenance.negative` for "no" answers. Names come from the
 * lexicon (load Hetionet's node table for them), else the id stands in. Until ingest writes
 * `metadata.facts` itself, this is how hetionet records join the fact index.
 */
export function deriveFacts(r: InstructionRecord, lexicon: EntityLexicon): Fact[] | undefined {
  if (r.metadata.facts || r.metadata.source !== "hetionet") return undefined;
  const [head, ...rest] = r.metadata.citations;
  const m = /^Hetionet:([A-Za-z>]+)$/.exec(head ?? "");
  const prov = r.metadata.provenance;
  const node = typeof prov.node === "string" ? prov.node : rest[0];
  if (!m || !node) return undefined;
  const others = rest.filter((x) => x !== node);
  if (others.length === 0) return undefined;
  const reverse = typeof prov.direction === "string" && prov.direction.startsWith("target");
  const name = (id: string) => lexicon.concept(id)?.name ?? id;
  const negated = prov.negative === true;
  return others.map((o) => {
    const [s, t] = reverse ? [o, node] : [node, o];
    return {
      subject: name(s),
      subjectId: s,
      relation: m[1]!,
      object: name(t),
      objectId: t,
      ...(negated ? { negated } : {}),
    };
  });
}
