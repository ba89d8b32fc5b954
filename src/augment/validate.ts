/**
 * Medical accuracy validation: every record's claims — its declared `metadata.facts` and the
 * entity–relation–entity statements found in its output — are checked against the fact index of
 * the source the record came from. Records with an unsupported or contradicted claim are dropped
 * (or kept and flagged in `metadata.validation` with mode "flag"); every outcome is counted.
 */
import type { InstructionRecord } from "../data/record.js";
import { extractClaims, FactIndex, resolveFact, type Claim } from "./facts.js";
import { EntityLexicon, factEntities } from "./lexicon.js";
import { cloneRecord, collect, StepTracker, type RecordStream, type StepResult } from "./step.js";

export interface ValidateOptions {
  /** The source graph; built from the records' own facts when absent. */
  index?: FactIndex;
  lexicon?: EntityLexicon;
  /** "drop" removes records with unsupported claims; "flag" keeps them, marked. Default "drop". */
  mode?: "drop" | "flag";
  /** Also extract claims from the output text (default true). */
  checkText?: boolean;
}

/**
 * "unverifiable": a claim read from text that the source's graph has no say on — a relation the
 * source never states (an abstract's "X reduces Y" against PubMed's MeSH topics), or a subject or
 * object it does not know (a name only another vocabulary has). Counted, but it does not fail the
 * record. Declared facts are never unverifiable: a record vouches for them.
 */
export type ClaimVerdict = "supported" | "unsupported" | "contradicted" | "unverifiable";

export interface CheckedClaim {
  claim: Claim;
  verdict: ClaimVerdict;
  origin: "declared" | "text";
}

/** Sources whose graph a record is checked against: its own, or for augment records their origin. */
export function sourcesOf(r: InstructionRecord): string[] {
  if (r.metadata.source !== "augment") return [r.metadata.source];
  const aug = r.metadata.augmentation as { sources?: unknown } | undefined;
  return Array.isArray(aug?.sources) ? (aug?.sources as string[]) : [];
}

const describe = (c: Claim): string =>
  `${c.subjectName} ${c.negated ? "NOT " : ""}${c.relation} ${c.objectName}`;

/** Check one record's claims; `sources` empty means "any source". */
export function checkRecord(
  r: InstructionRecord,
  index: FactIndex,
  checkText = true,
): CheckedClaim[] {
  const srcs = sourcesOf(r);
  const sources = srcs.length > 0 ? srcs : undefined;
  const verdict = (c: Claim, origin: "declared" | "text"): ClaimVerdict => {
    const subs = c.subjectIds ?? [c.subject];
    const objs = c.objectIds ?? [c.object];
    if (
      origin === "text" &&
      (!index.statesRelation(c.relation, sources) ||
        !subs.some((s) => index.knows(s, sources)) ||
        !objs.some((o) => index.knows(o, sources)))
    )
      return "unverifiable";
    const stated = subs.some((s) => objs.some((o) => index.has(c.relation, s, o, sources)));
    if (c.negated) return stated ? "contradicted" : "supported";
    return stated ? "supported" : "unsupported";
  };
  const out: CheckedClaim[] = [];
  for (const f of r.metadata.facts ?? []) {
    const claim = resolveFact(f, index.lexicon);
    out.push({ claim, verdict: verdict(claim, "declared"), origin: "declared" });
  }
  if (checkText) {
    for (const claim of extractClaims(r.output, index.lexicon)) {
      out.push({ claim, verdict: verdict(claim, "text"), origin: "text" });
    }
  }
  return out;
}

/** Validation counts of one record source (the augment report prints them per source). */
export interface SourceValidation {
  records: number;
  /** Records with at least one claim checked. */
  checkedRecords: number;
  /** Records of a source with a graph but with no declared fact and no claim found in the text. */
  noClaimRecords: number;
  /** Records of a source that contributed no facts (nothing to check against). */
  uncheckedRecords: number;
  /** Records with an unsupported or contradicted claim (dropped, or flagged in "flag" mode). */
  failedRecords: number;
  claims: number;
  supported: number;
  unsupported: number;
  contradicted: number;
  unverifiable: number;
}

const emptySourceValidation = (): SourceValidation => ({
  records: 0,
  checkedRecords: 0,
  noClaimRecords: 0,
  uncheckedRecords: 0,
  failedRecords: 0,
  claims: 0,
  supported: 0,
  unsupported: 0,
  contradicted: 0,
  unverifiable: 0,
});

export async function validateFacts(
  input: RecordStream,
  opts: ValidateOptions = {},
): Promise<StepResult> {
  const records = await collect(input);
  const lexicon =
    opts.lexicon ?? opts.index?.lexicon ?? EntityLexicon.from([factEntities(records)]);
  const index = opts.index ?? FactIndex.fromRecords(records, lexicon);
  const mode = opts.mode ?? "drop";
  const t = new StepTracker("validate", records);
  const counts = {
    checked: 0,
    supported: 0,
    unsupported: 0,
    contradicted: 0,
    unverifiable: 0,
    uncheckedRecords: 0,
  };
  const bySource: Record<string, SourceValidation> = {};
  const out: InstructionRecord[] = [];
  for (const r of records) {
    const s = (bySource[r.metadata.source] ??= emptySourceValidation());
    s.records++;
    const srcs = sourcesOf(r);
    const hasGraph = srcs.length === 0 ? index.size > 0 : srcs.some((x) => index.factsFrom(x) > 0);
    if (!hasGraph) {
      // A source that contributed no facts has no graph to check against: counted, kept.
      counts.uncheckedRecords++;
      s.uncheckedRecords++;
      out.push(r);
      continue;
    }
    const checked = checkRecord(r, index, opts.checkText ?? true);
    counts.checked += checked.length;
    s.claims += checked.length;
    if (checked.length > 0) s.checkedRecords++;
    else s.noClaimRecords++;
    const bad = checked.filter((c) => c.verdict === "unsupported" || c.verdict === "contradicted");
    for (const c of checked) {
      counts[c.verdict]++;
      s[c.verdict]++;
    }
    if (bad.length === 0) {
      out.push(r);
      continue;
    }
    s.failedRecords++;
    const reason = bad.some((c) => c.verdict === "contradicted")
      ? "contradicted claim"
      : "unsupported claim";
    const detail = bad.map((c) => `${c.origin}: ${describe(c.claim)}`).join("; ");
    if (mode === "drop") {
      t.drop(r, reason, detail);
    } else {
      const c = cloneRecord(r);
      c.metadata.validation = {
        status: "unsupported",
        claims: bad.map((b) => ({
          claim: describe(b.claim),
          verdict: b.verdict,
          origin: b.origin,
        })),
      };
      t.flag(r, reason, detail);
      out.push(c);
    }
  }
  const indexFactsBySource = Object.fromEntries(
    index
      .sources()
      .sort()
      .map((x) => [x, index.factsFrom(x)]),
  );
  Object.assign(t.extra, counts, {
    mode,
    indexFacts: index.size,
    indexFactsBySource,
    bySource,
  });
  return t.finish(out);
}
