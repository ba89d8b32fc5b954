/**
 * How relations and sources are said in generated text. Every phrase here is one that
 * `extractClaims` reads back as the same relation, so generated answers validate against the
 * fact index like ingested ones.
 */

/** relation → [base form, 3rd person singular]. */
export const RELATION_VERBS: Record<string, [string, string]> = {
  treats: ["treat", "treats"],
  palliates: ["palliate", "palliates"],
  binds: ["bind", "binds"],
  associates: ["associate with", "is associated with"],
  upregulates: ["upregulate", "upregulates"],
  downregulates: ["downregulate", "downregulates"],
  increases: ["increase the activity of", "increases the activity of"],
  decreases: ["decrease the activity of", "decreases the activity of"],
  causes: ["cause", "causes"],
  resembles: ["resemble", "resembles"],
  interacts: ["interact with", "interacts with"],
  participates: ["participate in", "participates in"],
  presents: ["present with", "presents with"],
  localizes: ["localize to", "localizes to"],
  expresses: ["express", "expresses"],
  includes: ["include", "includes"],
  covaries: ["covary with", "covaries with"],
  regulates: ["regulate", "regulates"],
};

export const verbBase = (rel: string): string => RELATION_VERBS[rel]?.[0] ?? rel;
export const verbThird = (rel: string): string => RELATION_VERBS[rel]?.[1] ?? rel;

const SOURCE_NAMES: Record<string, string> = {
  hetionet: "Hetionet v1.0",
  drugbank: "DrugBank",
  chembl: "ChEMBL",
  pubmed: "PubMed",
  clinicaltrials: "ClinicalTrials.gov",
};

export const sourceName = (s: string): string => SOURCE_NAMES[s] ?? s;

/** "[PMID:1; NCT02552212]" or "[Hetionet v1.0]" when the fact came with no citation. */
export function cite(citations: readonly string[], source: string): string {
  return `[${citations.length > 0 ? citations.slice(0, 3).join("; ") : sourceName(source)}]`;
}
