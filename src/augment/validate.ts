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

export type ClaimVerdict = "supported" | "unsupported" | "contradicted";

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
  const verdict = (c: Claim): ClaimVerdict => {
    const subs = c.subjectIds ?? [c.subject];
    const objs = c.objectIds ?? [c.object];
    const stated = subs.some((s) => objs.some((o) => index.has(c.relation, s, o, sources)));
    if (c.negated) return stated ? "contradicted" : "supported";
    return stated ? "supported" : "unsupported";
  };
  const out: CheckedClaim[] = [];
  for (const f of r.metadata.facts ?? []) {
    const claim = resolveFact(f, index.lexicon);
    out.push({ claim, verdict: verdict(claim), origin: "declared" });
  }
  if (checkText) {
    for (const claim of extractClaims(r.output, index.lexicon)) {
      out.push({ claim, verdict: verdict(claim), origin: "text" });
    }
  }
  return out;
}

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
  const counts = { checked: 0, supported: 0, unsupported: 0, contradicted: 0, uncheckedRecords: 0 };
  const out: InstructionRecord[] = [];
  for (const r of records) {
    const srcs = sourcesOf(r);
    const hasGraph = srcs.length === 0 ? index.size > 0 : srcs.some((s) => index.factsFrom(s) > 0);
    if (!hasGraph) {
      // Free-text sources (PubMed, CT.gov) have no graph to check against: counted, kept.
      counts.uncheckedRecords++;
      out.push(r);
      continue;
    }
    const checked = checkRecord(r, index, opts.checkText ?? true);
    counts.checked += checked.length;
    const bad = checked.filter((c) => c.verdict !== "supported");
    for (const c of checked) counts[c.verdict]++;
    if (bad.length === 0) {
      out.push(r);
      continue;
    }
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
  Object.assign(t.extra, counts, { mode, indexFacts: index.size });
  return t.finish(out);
}
