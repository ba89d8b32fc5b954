/**
 * Hetionet v1.0's 24 metaedges (relation types) with their fallback provenance and our confidence,
 * the kind abbreviations of its JSON dump, and licence helpers.
 */

export interface Metaedge {
  abbrev: string;
  source: string;
  verb: string;
  target: string;
  direction: "both" | "forward";
  /** Used when an edge has no `data.source(s)` (always for SIF). */
  defaultSource: string;
  /** Used when an edge has no `data.license` (always for SIF); "unspecified" when none is known. */
  defaultLicense: string;
  /** Curated sources rank above text-mined or computed ones. */
  confidence: number;
}

const me = (
  abbrev: string,
  source: string,
  verb: string,
  target: string,
  defaultSource: string,
  defaultLicense: string,
  confidence: number,
  direction: "both" | "forward" = "both",
): Metaedge => ({
  abbrev,
  source,
  verb,
  target,
  direction,
  defaultSource,
  defaultLicense,
  confidence,
});

export const METAEDGES: readonly Metaedge[] = [
  me("AdG", "Anatomy", "downregulates", "Gene", "Bgee", "unspecified", 0.7),
  me("AeG", "Anatomy", "expresses", "Gene", "Bgee or TISSUES", "unspecified", 0.75),
  me("AuG", "Anatomy", "upregulates", "Gene", "Bgee", "unspecified", 0.7),
  me("CbG", "Compound", "binds", "Gene", "BindingDB, DrugBank or DrugCentral", "CC-BY-NC-4.0", 0.9),
  me("CcSE", "Compound", "causes", "Side Effect", "SIDER 4.1", "CC-BY-NC-SA-4.0", 0.85),
  me("CdG", "Compound", "downregulates", "Gene", "LINCS L1000", "custom (LINCS)", 0.7),
  me("CpD", "Compound", "palliates", "Disease", "PharmacotherapyDB", "CC-BY-4.0", 0.95),
  me("CrC", "Compound", "resembles", "Compound", "Dice similarity of ECFPs", "CC0-1.0", 0.9),
  me("CtD", "Compound", "treats", "Disease", "PharmacotherapyDB", "CC-BY-4.0", 0.95),
  me("CuG", "Compound", "upregulates", "Gene", "LINCS L1000", "custom (LINCS)", 0.7),
  me(
    "DaG",
    "Disease",
    "associates",
    "Gene",
    "GWAS Catalog, DISEASES, DisGeNET or DOAF",
    "mixed (CC-BY-4.0, ODbL-1.0, custom)",
    0.85,
  ),
  me("DdG", "Disease", "downregulates", "Gene", "STARGEO", "unspecified", 0.7),
  me("DlA", "Disease", "localizes", "Anatomy", "MEDLINE cooccurrence", "custom (MEDLINE)", 0.6),
  me("DpS", "Disease", "presents", "Symptom", "MEDLINE cooccurrence", "custom (MEDLINE)", 0.6),
  me("DrD", "Disease", "resembles", "Disease", "MEDLINE cooccurrence", "custom (MEDLINE)", 0.6),
  me("DuG", "Disease", "upregulates", "Gene", "STARGEO", "unspecified", 0.7),
  me("GcG", "Gene", "covaries", "Gene", "Evolutionary Rate Covariation", "unspecified", 0.6),
  me(
    "GiG",
    "Gene",
    "interacts",
    "Gene",
    "Human Interactome Database or Incomplete Interactome",
    "unspecified",
    0.8,
  ),
  me("GpBP", "Gene", "participates", "Biological Process", "Gene Ontology", "CC-BY-4.0", 0.9),
  me("GpCC", "Gene", "participates", "Cellular Component", "Gene Ontology", "CC-BY-4.0", 0.9),
  me("GpMF", "Gene", "participates", "Molecular Function", "Gene Ontology", "CC-BY-4.0", 0.9),
  me(
    "GpPW",
    "Gene",
    "participates",
    "Pathway",
    "WikiPathways, Reactome or Pathway Interaction Database",
    "mixed (CC-BY-3.0, CC-BY-4.0, custom)",
    0.9,
  ),
  me("Gr>G", "Gene", "regulates", "Gene", "LINCS L1000", "custom (LINCS)", 0.6, "forward"),
  me("PCiC", "Pharmacologic Class", "includes", "Compound", "DrugCentral", "CC-BY-SA-4.0", 0.95),
];

export const METAEDGE_BY_ABBREV = new Map(METAEDGES.map((m) => [m.abbrev, m]));

/** Hetionet v1.0 `kind_to_abbrev`, used when a JSON file lacks it. */
export const DEFAULT_KIND_ABBREV: Record<string, string> = {
  Anatomy: "A",
  "Biological Process": "BP",
  "Cellular Component": "CC",
  Compound: "C",
  Disease: "D",
  Gene: "G",
  "Molecular Function": "MF",
  Pathway: "PW",
  "Pharmacologic Class": "PC",
  "Side Effect": "SE",
  Symptom: "S",
  associates: "a",
  binds: "b",
  causes: "c",
  covaries: "c",
  downregulates: "d",
  expresses: "e",
  includes: "i",
  interacts: "i",
  localizes: "l",
  palliates: "p",
  participates: "p",
  presents: "p",
  regulates: "r",
  resembles: "r",
  treats: "t",
  upregulates: "u",
};

/** "CC BY-NC 4.0" (Hetionet's edge data) → "CC-BY-NC-4.0" (SPDX); other strings unchanged. */
export function normalizeLicense(license: string): string {
  const s = license.trim();
  const cc0 = /^CC0[ -](\d\.\d)$/i.exec(s);
  if (cc0) return `CC0-${cc0[1]}`;
  const cc = /^CC[ -](BY(?:-(?:NC|SA|ND))*)[ -](\d\.\d)$/i.exec(s);
  if (cc) return `CC-${cc[1]!.toUpperCase()}-${cc[2]}`;
  const odbl = /^ODbL[ -]?(\d\.\d)?$/i.exec(s);
  if (odbl) return `ODbL-${odbl[1] ?? "1.0"}`;
  return s;
}

export function isNonCommercial(license: string): boolean {
  return /\bNC\b|non-?commercial/i.test(license);
}
