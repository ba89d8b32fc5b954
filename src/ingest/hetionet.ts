/**
 * Hetionet v1.0 → question/answer records.
 *
 *   readHetionet(["data/raw/hetionet/hetionet-v1.0.json.bz2"], {})            JSON dump (.json/.gz/.bz2)
 *   readHetionet([".../hetionet-v1.0-nodes.tsv", ".../hetionet-v1.0-edges.sif.gz"], {})   TSV + SIF
 *
 * Each question groups the edges of one node and one metaedge ("Which diseases does metformin
 * treat?") and its answer lists every target the graph holds. Edges are not grouped in either
 * distribution (the SIF is ordered by metaedge, then arbitrarily; the JSON likewise), so grouping
 * is an external sort: each templated edge becomes one or two short lines keyed by node
 * (`node \t F|R metaedge \t other \t source \t licence \t location`), sorted in memory in runs of
 * `spillLines`, spilled to a temp dir, and k-way merged. Memory is bounded by the run size plus
 * the node table (47,031 nodes in v1.0, about 10 MB), not by the edge count. Keying by node rather
 * than by (node, metaedge) puts all of a compound's edges side by side, so a negative question
 * ("Does X treat Y?" → no) can check the compound's treats and palliates edges together.
 *
 * Licences: JSON edges carry `data.license` and `data.source(s)`; the SIF has no properties, so
 * SIF records fall back to the metaedge's known source and licence (from dhimmel/integrate's
 * licence table) and say so in provenance. `excludeNonCommercial` drops a whole group when any of
 * its edges is non-commercial (SIDER CcSE, DrugBank-derived CbG): an answer that silently left
 * those edges out would claim a complete list that is not. Node licences (compound names come
 * from DrugBank) are not used for this: a name is not the fact.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createReadStream, createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Fact, InstructionRecord } from "../data/record.js";
import { openInput, readLines, type InputStream } from "./io.js";
import { IngestError, type IngestEvent, type IngestOptions } from "./types.js";


// ---------------------------------------------------------------------------------------------
// Metaedges: Hetionet v1.0's 24 relation types, their fallback provenance and our confidence.

interface Metaedge {
  abbrev: string;
  source: string;
  verb: string;
  target: string;
  direction: "both" | "forward";
  /** Used when an edge has no `data.source(s)` (always for SIF). */
  defaultSource: string;
  /** Used when an edge has no `data.license` (always for SIF); "unspecified" when none is known. */
  defaultLicense: string;
  /** Curated sources rank above text-mined or computed ones (FORMATS.md §8). */
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

const METAEDGE_BY_ABBREV = new Map(METAEDGES.map((m) => [m.abbrev, m]));

/** Hetionet v1.0 `kind_to_abbrev`, used when a JSON file lacks it. */
const DEFAULT_KIND_ABBREV: Record<string, string> = {
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

// ---------------------------------------------------------------------------------------------
// Question templates. Wording follows the metaedge definitions in Hetionet's definitions.json.

interface Template {
  questions: ((name: string) => string)[];
  answer: (name: string, list: string, sources: string) => string;
}

interface MetaedgeTemplates {
  /** Group by the metaedge's source node. */
  forward?: Template;
  /** Group by the metaedge's target node. */
  reverse?: Template;
  /** Source and target are the same kind and the relation has no direction: both ends group. */
  symmetric?: boolean;
}

const TEMPLATES: Record<string, MetaedgeTemplates> = {
  CtD: {
    forward: {
      questions: [
        (c) => `Which diseases is ${c} used to treat as a disease-modifying therapy?`,
        (c) => `List the diseases for which ${c} is a disease-modifying indication.`,
        (c) =>
          `What conditions does ${c} treat by changing the course of the disease itself, not only its symptoms?`,
      ],
      answer: (c, l) =>
        `According to PharmacotherapyDB, ${c} is a disease-modifying treatment for: ${l}.`,
    },
    reverse: {
      questions: [
        (d) => `Which drugs are disease-modifying treatments for ${d}?`,
        (d) => `Name the compounds that treat ${d} by acting on its underlying biology.`,
        (d) =>
          `What medications change the course of ${d}, rather than only relieving its symptoms?`,
      ],
      answer: (d, l) =>
        `According to PharmacotherapyDB, the disease-modifying treatments for ${d} are: ${l}.`,
    },
  },
  CpD: {
    forward: {
      questions: [
        (c) => `For which diseases is ${c} a symptomatic (palliative) treatment?`,
        (c) => `Which diseases does ${c} relieve symptomatically without modifying the disease?`,
        (c) => `${c} treats a significant symptom of which diseases?`,
      ],
      answer: (c, l) =>
        `According to PharmacotherapyDB, ${c} is a symptomatic treatment (it relieves a significant symptom but does not modify the disease) for: ${l}.`,
    },
    reverse: {
      questions: [
        (d) => `Which drugs relieve the symptoms of ${d} without modifying the disease?`,
        (d) => `Name the palliative (symptomatic) treatments for ${d}.`,
        (d) => `What compounds are used to treat a significant symptom of ${d}?`,
      ],
      answer: (d, l) =>
        `According to PharmacotherapyDB, compounds that treat a significant symptom of ${d} (palliative, not disease-modifying) are: ${l}.`,
    },
  },
  CbG: {
    forward: {
      questions: [
        (c) => `Which gene products does ${c} physically bind?`,
        (c) => `What are the protein targets of ${c}?`,
        (c) => `List the genes whose protein products ${c} binds.`,
      ],
      answer: (c, l, s) =>
        `${c} binds the protein products of these genes: ${l} (binding data from ${s}).`,
    },
    reverse: {
      questions: [
        (g) => `Which compounds bind the protein encoded by ${g}?`,
        (g) => `What drugs target the ${g} gene product?`,
        (g) => `List compounds known to physically bind the ${g} protein.`,
      ],
      answer: (g, l, s) => `Compounds that bind the ${g} protein: ${l} (binding data from ${s}).`,
    },
  },
  CuG: {
    forward: {
      questions: [
        (c) => `Which genes are over-expressed in cells exposed to ${c}?`,
        (c) => `What genes does ${c} up-regulate according to LINCS L1000?`,
        (c) => `List the genes whose expression increases after exposure to ${c}.`,
      ],
      answer: (c, l) =>
        `In the LINCS L1000 consensus signature of ${c}, these genes are over-expressed: ${l}.`,
    },
  },
  CdG: {
    forward: {
      questions: [
        (c) => `Which genes are under-expressed in cells exposed to ${c}?`,
        (c) => `What genes does ${c} down-regulate according to LINCS L1000?`,
        (c) => `List the genes whose expression decreases after exposure to ${c}.`,
      ],
      answer: (c, l) =>
        `In the LINCS L1000 consensus signature of ${c}, these genes are under-expressed: ${l}.`,
    },
  },
  CcSE: {
    forward: {
      questions: [
        (c) => `What side effects can ${c} cause?`,
        (c) => `List the adverse drug reactions recorded on the label of ${c}.`,
        (c) => `Which side effects are listed for ${c} on its drug label?`,
      ],
      answer: (c, l) => `According to drug labels compiled in SIDER 4.1, ${c} can cause: ${l}.`,
    },
  },
  CrC: {
    symmetric: true,
    forward: {
      questions: [
        (c) => `Which compounds are chemically similar to ${c}?`,
        (c) => `Name drugs that structurally resemble ${c}.`,
        (c) => `What compounds share a similar chemical structure with ${c}?`,
      ],
      answer: (c, l) =>
        `Compounds chemically similar to ${c} (extended-connectivity fingerprints with a Dice coefficient of at least 0.5): ${l}.`,
    },
  },
  PCiC: {
    forward: {
      questions: [
        (p) => `Which drugs belong to the pharmacologic class "${p}"?`,
        (p) => `List the compounds in the pharmacologic class ${p}.`,
        (p) => `What compounds does the pharmacologic class ${p} include?`,
      ],
      answer: (p, l) => `According to DrugCentral, the pharmacologic class ${p} includes: ${l}.`,
    },
    reverse: {
      questions: [
        (c) => `Which pharmacologic classes does ${c} belong to?`,
        (c) => `How is ${c} classified pharmacologically?`,
        (c) => `What FDA pharmacologic classes include ${c}?`,
      ],
      answer: (c, l) =>
        `According to DrugCentral, ${c} belongs to these pharmacologic classes: ${l}.`,
    },
  },
  DaG: {
    forward: {
      questions: [
        (d) => `Which genes are associated with ${d}?`,
        (d) => `List the genes linked to ${d} in genetic association resources.`,
        (d) => `What genes have a reported association with ${d}?`,
      ],
      answer: (d, l, s) => `Genes associated with ${d} (from ${s}): ${l}.`,
    },
    reverse: {
      questions: [
        (g) => `Which diseases are associated with the gene ${g}?`,
        (g) => `What diseases has ${g} been linked to?`,
        (g) => `List the diseases with a reported association to ${g}.`,
      ],
      answer: (g, l, s) => `Diseases associated with ${g} (from ${s}): ${l}.`,
    },
  },
  DuG: {
    forward: {
      questions: [
        (d) => `Which genes are over-expressed in ${d}?`,
        (d) => `What genes are up-regulated in samples from patients with ${d}?`,
        (d) => `List the genes with increased expression in ${d}.`,
      ],
      answer: (d, l) =>
        `In a STARGEO meta-analysis of ${d} samples, these genes are over-expressed: ${l}.`,
    },
  },
  DdG: {
    forward: {
      questions: [
        (d) => `Which genes are under-expressed in ${d}?`,
        (d) => `What genes are down-regulated in samples from patients with ${d}?`,
        (d) => `List the genes with decreased expression in ${d}.`,
      ],
      answer: (d, l) =>
        `In a STARGEO meta-analysis of ${d} samples, these genes are under-expressed: ${l}.`,
    },
  },
  DlA: {
    forward: {
      questions: [
        (d) => `Which anatomical structures does ${d} affect?`,
        (d) => `Where in the body does ${d} localize?`,
        (d) => `What parts of the anatomy is ${d} related to?`,
      ],
      answer: (d, l) =>
        `By co-occurrence in MEDLINE abstracts, ${d} is related to these anatomical structures: ${l}.`,
    },
  },
  DpS: {
    forward: {
      questions: [
        (d) => `What symptoms does ${d} present with?`,
        (d) => `List the signs and symptoms of ${d}.`,
        (d) => `Which clinical symptoms are associated with ${d}?`,
      ],
      answer: (d, l) => `By co-occurrence in MEDLINE abstracts, ${d} presents with: ${l}.`,
    },
  },
  DrD: {
    symmetric: true,
    forward: {
      questions: [
        (d) => `Which diseases resemble ${d}?`,
        (d) => `What diseases are similar to ${d}?`,
        (d) => `Name diseases that are similar to ${d}.`,
      ],
      answer: (d, l) =>
        `Diseases similar to ${d}, as inferred from co-occurrence in MEDLINE abstracts: ${l}.`,
    },
  },
  GiG: {
    symmetric: true,
    forward: {
      questions: [
        (g) => `Which proteins physically interact with the ${g} protein?`,
        (g) => `List the interaction partners of the ${g} gene product.`,
        (g) => `What human proteins bind the protein encoded by ${g}?`,
      ],
      answer: (g, l) =>
        `In human protein-interaction data, the ${g} gene product interacts with the products of: ${l}.`,
    },
  },
  GpPW: {
    forward: {
      questions: [
        (g) => `Which pathways does ${g} participate in?`,
        (g) => `In what biological pathways is the ${g} gene involved?`,
        (g) => `List the pathways that include ${g}.`,
      ],
      answer: (g, l, s) => `${g} participates in these pathways (from ${s}): ${l}.`,
    },
  },
  GpBP: {
    forward: {
      questions: [
        (g) => `Which biological processes does the ${g} gene product take part in?`,
        (g) => `What biological processes is ${g} annotated to?`,
        (g) => `List the Gene Ontology biological processes of ${g}.`,
      ],
      answer: (g, l) =>
        `According to Gene Ontology annotations, the ${g} gene product participates in: ${l}.`,
    },
  },
  GpMF: {
    forward: {
      questions: [
        (g) => `What molecular functions does the ${g} gene product have?`,
        (g) => `Which molecular activities is ${g} annotated with?`,
        (g) => `List the Gene Ontology molecular functions of ${g}.`,
      ],
      answer: (g, l) =>
        `According to Gene Ontology annotations, the ${g} gene product has these molecular functions: ${l}.`,
    },
  },
  GpCC: {
    forward: {
      questions: [
        (g) => `In which cellular components does the ${g} gene product act?`,
        (g) => `Where in the cell is the ${g} protein found?`,
        (g) => `List the Gene Ontology cellular components of ${g}.`,
      ],
      answer: (g, l) =>
        `According to Gene Ontology annotations, the ${g} gene product is located in: ${l}.`,
    },
  },
  AeG: {
    reverse: {
      questions: [
        (g) => `In which anatomical structures is ${g} over-expressed?`,
        (g) => `Where in the body is ${g} highly expressed?`,
        (g) => `List the tissues and organs that over-express ${g}.`,
      ],
      answer: (g, l, s) => `According to ${s}, ${g} is over-expressed in: ${l}.`,
    },
  },
};

/** Metaedges deliberately left without questions, and why (reported once per file in the audit). */
const UNTEMPLATED_REASON: Record<string, string> = {
  AdG: "no question template: adult expression-level contrast without a stable plain-language reading",
  AuG: "no question template: adult expression-level contrast without a stable plain-language reading",
  GcG: "no question template: evolutionary rate covariation has no direct medical reading",
  "Gr>G": "no question template: knockdown signatures are too noisy for a factual question",
};

/** Longest list an answer may hold; bigger groups are skipped (and logged) rather than truncated. */
export const MAX_ANSWER_ITEMS = 60;

// ---------------------------------------------------------------------------------------------
// Reading: nodes into a table, edges into the external sorter.

interface NodeInfo {
  name: string;
  kind: string;
}

export interface HetionetTuning {
  /** Lines sorted in memory before a run is spilled to disk. */
  spillLines?: number;
  /** Where runs go (a fresh subfolder is made and removed). */
  tmpDir?: string;
  /** See MAX_ANSWER_ITEMS. */
  maxAnswerItems?: number;
  /** Called once per graph after reading, before records are emitted. */
  onStats?: (stats: HetionetStats) => void;
}

export interface HetionetStats {
  file: string;
  nodesByKind: Record<string, number>;
  edgesByMetaedge: Record<string, number>;
  /** Lines spilled to sorted runs on disk (0 when the edges fit in one in-memory run). */
  spilledRuns: number;
}

const FIELD_SAFE = /[\t\n\r]/g;
const clean = (s: string) => s.replace(FIELD_SAFE, " ");

export async function* readHetionet(
  files: string[],
  opts: IngestOptions = {},
  tuning: HetionetTuning = {},
): AsyncGenerator<IngestEvent> {
  const jsonFiles = files.filter((f) => /\.json(\.gz|\.bz2)?$/i.test(f));
  const nodeFiles = files.filter((f) => /\.tsv(\.gz|\.bz2)?$/i.test(f));
  const sifFiles = files.filter((f) => /\.sif(\.gz|\.bz2)?$/i.test(f));
  const other = files.filter(
    (f) => !jsonFiles.includes(f) && !nodeFiles.includes(f) && !sifFiles.includes(f),
  );
  if (other[0]) {
    throw new IngestError(
      "not a Hetionet file: expected .json(.gz|.bz2), nodes .tsv or edges .sif(.gz)",
      other[0],
    );
  }
  if (sifFiles.length > 0 && nodeFiles.length === 0) {
    throw new IngestError(
      "an edges SIF names nodes by id only; the nodes TSV (id, name, kind) must be given with it",
      sifFiles[0]!,
    );
  }
  if (nodeFiles.length > 1) {
    throw new IngestError(
      `one nodes TSV per graph expected, got ${nodeFiles.length}: ${nodeFiles.join(", ")}`,
      nodeFiles[1]!,
    );
  }
  const state = { emitted: 0, limit: opts.limit ?? Infinity };
  for (const file of jsonFiles) {
    if (state.emitted >= state.limit) return;
    yield* readGraph({ kind: "json", file }, opts, tuning, state);
  }
  if (nodeFiles[0] && state.emitted < state.limit) {
    yield* readGraph({ kind: "sif", nodes: nodeFiles[0], edges: sifFiles }, opts, tuning, state);
  }
}

type GraphInput = { kind: "json"; file: string } | { kind: "sif"; nodes: string; edges: string[] };

class Graph {
  readonly nodes = new Map<string, NodeInfo>();
  /** Diseases that are the target of at least one CtD edge: the pool for negative questions. */
  readonly treatedDiseases = new Set<string>();
  readonly untemplated = new Map<string, { file: string; count: number }>();
  readonly edgesByMetaedge: Record<string, number> = {};
  sorter: ExternalSorter;
  constructor(tmp: string, spillLines: number) {
    this.sorter = new ExternalSorter(tmp, spillLines);
  }

  /** Queue one edge, oriented as its metaedge (source kind → target kind). */
  async addEdge(
    m: Metaedge,
    src: string,
    tgt: string,
    source: string,
    license: string,
    loc: string,
    file: string,
  ) {
    this.edgesByMetaedge[m.abbrev] = (this.edgesByMetaedge[m.abbrev] ?? 0) + 1;
    const t = TEMPLATES[m.abbrev];
    if (!t) {
      const u = this.untemplated.get(m.abbrev) ?? { file, count: 0 };
      u.count++;
      this.untemplated.set(m.abbrev, u);
      return;
    }
    const tail = `${clean(source)}\t${clean(license)}\t${loc}`;
    if (t.forward || t.symmetric) await this.sorter.add(`${src}\tF${m.abbrev}\t${tgt}\t${tail}`);
    if (t.reverse || t.symmetric)
      await this.sorter.add(`${tgt}\t${t.symmetric ? "F" : "R"}${m.abbrev}\t${src}\t${tail}`);
    if (m.abbrev === "CtD") this.treatedDiseases.add(tgt);
  }
}

async function* readGraph(
  input: GraphInput,
  opts: IngestOptions,
  tuning: HetionetTuning,
  state: { emitted: number; limit: number },
): AsyncGenerator<IngestEvent> {
  const tmp = await mkdtemp(path.join(tuning.tmpDir ?? tmpdir(), "medtune-hetionet-"));
  try {
    const graph = new Graph(tmp, tuning.spillLines ?? 200_000);
    const label =
      input.kind === "json"
        ? input.file
        : input.edges.length > 0
          ? input.edges.join(", ")
          : input.nodes;
    if (input.kind === "json") {
      yield* readJsonGraph(input.file, graph, opts);
    } else {
      yield* readNodesTsv(input.nodes, graph, opts);
      for (const f of input.edges) yield* readSif(f, graph, opts);
    }
    if (tuning.onStats) {
      const nodesByKind: Record<string, number> = {};
      for (const n of graph.nodes.values()) nodesByKind[n.kind] = (nodesByKind[n.kind] ?? 0) + 1;
      tuning.onStats({
        file: label,
        nodesByKind,
        edgesByMetaedge: { ...graph.edgesByMetaedge },
        spilledRuns: graph.sorter.runCount,
      });
    }
    for (const [abbrev, u] of graph.untemplated) {
      yield {
        type: "skip",
        file: u.file,
        location: `metaedge ${abbrev} (${u.count} edges)`,
        reason: UNTEMPLATED_REASON[abbrev] ?? "no question template for this metaedge",
      };
    }
    yield* emitRecords(
      graph,
      input.kind,
      label,
      opts,
      tuning.maxAnswerItems ?? MAX_ANSWER_ITEMS,
      state,
    );
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function progressEvent(file: string, inp: InputStream): IngestEvent {
  return { type: "progress", file, bytesRead: inp.bytesRead(), bytesTotal: inp.bytesTotal };
}

async function* readNodesTsv(
  file: string,
  graph: Graph,
  opts: IngestOptions,
): AsyncGenerator<IngestEvent> {
  const inp = openInput(file);
  for await (const { line, text } of readLines(inp)) {
    if (line === 1) {
      if (text !== "id\tname\tkind") {
        throw new IngestError(
          `expected the Hetionet nodes header "id<TAB>name<TAB>kind", got ${JSON.stringify(text.slice(0, 80))}`,
          file,
          "line 1",
        );
      }
      continue;
    }
    if (text === "") continue;
    const f = text.split("\t");
    const [id, name, kind] = f;
    if (f.length !== 3 || !id || !name || !kind) {
      yield {
        type: "skip",
        file,
        location: `line ${line}`,
        reason: `expected 3 tab-separated fields (id, name, kind), got ${f.length}`,
      };
      continue;
    }
    if (!id.startsWith(`${kind}::`)) {
      yield {
        type: "skip",
        file,
        location: `line ${line}`,
        reason: `node id ${JSON.stringify(id)} does not start with its kind "${kind}::"`,
      };
      continue;
    }
    graph.nodes.set(id, { name, kind });
    if (line % 20_000 === 0) {
      opts.signal?.throwIfAborted();
      yield progressEvent(file, inp);
    }
  }
  if (graph.nodes.size === 0) throw new IngestError("no nodes read (empty file?)", file);
  yield progressEvent(file, inp);
}

async function* readSif(
  file: string,
  graph: Graph,
  opts: IngestOptions,
): AsyncGenerator<IngestEvent> {
  const inp = openInput(file);
  let edges = 0;
  for await (const { line, text } of readLines(inp)) {
    if (line === 1) {
      if (text !== "source\tmetaedge\ttarget") {
        throw new IngestError(
          `expected the Hetionet SIF header "source<TAB>metaedge<TAB>target", got ${JSON.stringify(text.slice(0, 80))}`,
          file,
          "line 1",
        );
      }
      continue;
    }
    if (text === "") continue;
    const f = text.split("\t");
    const [src, abbrev, tgt] = f;
    const loc = `line ${line}`;
    if (f.length !== 3 || !src || !abbrev || !tgt) {
      yield {
        type: "skip",
        file,
        location: loc,
        reason: `expected 3 tab-separated fields (source, metaedge, target), got ${f.length}`,
      };
      continue;
    }
    const m = METAEDGE_BY_ABBREV.get(abbrev);
    if (!m) {
      yield {
        type: "skip",
        file,
        location: loc,
        reason: `unknown metaedge ${JSON.stringify(abbrev)}`,
      };
      continue;
    }
    const bad = checkEnds(graph, m, src, tgt);
    if (bad) {
      yield { type: "skip", file, location: loc, reason: bad };
      continue;
    }
    // The SIF has no edge properties: empty source/licence select the metaedge defaults.
    await graph.addEdge(m, src, tgt, "", "", String(line), file);
    if (++edges % 50_000 === 0) {
      opts.signal?.throwIfAborted();
      yield progressEvent(file, inp);
    }
  }
  yield progressEvent(file, inp);
}

function checkEnds(graph: Graph, m: Metaedge, src: string, tgt: string): string | undefined {
  const s = graph.nodes.get(src);
  const t = graph.nodes.get(tgt);
  if (!s) return `source node ${src} is not in the nodes table`;
  if (!t) return `target node ${tgt} is not in the nodes table`;
  if (s.kind !== m.source || t.kind !== m.target) {
    return `${m.abbrev} joins ${m.source} to ${m.target}, got ${s.kind} to ${t.kind}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Streaming JSON: the dump is one object; its `nodes` and `edges` arrays are cut into elements
// (each parsed on its own), other top-level values are small and parsed whole.

type JsonItem =
  | { kind: "value"; key: string; text: string }
  | { kind: "element"; key: string; index: number; text: string };

/** Splits the top-level object of a JSON document into keys and array elements, in one pass. */
export class TopLevelJsonSplitter {
  private buf = "";
  private pos = 0;
  /** Bracket stack ("{" / "["), as char codes. */
  private stack: number[] = [];
  private inString = false;
  private started = false;
  private finished = false;
  /** Top-level state: key, colon, value, comma. */
  private expect: "key" | "colon" | "value" | "comma" = "key";
  private key = "";
  private keyStart = -1;
  private captureStart = -1;
  private streamKey: string | null = null;
  private elementIndex = 0;
  private maxItemChars: number;

  constructor(
    private readonly file: string,
    private readonly streamKeys: ReadonlySet<string>,
    maxItemChars = 64 << 20,
  ) {
    this.maxItemChars = maxItemChars;
  }

  private fail(msg: string): never {
    throw new IngestError(
      msg,
      this.file,
      this.streamKey ? `${this.streamKey}[${this.elementIndex}]` : undefined,
    );
  }

  feed(chunk: string): JsonItem[] {
    const out: JsonItem[] = [];
    this.buf += chunk;
    const b = this.buf;
    let i = this.pos;
    const n = b.length;
    while (i < n) {
      if (this.inString) {
        const q = b.indexOf('"', i);
        if (q < 0) {
          i = n;
          break;
        }
        let bs = 0;
        for (let j = q - 1; j >= 0 && b.charCodeAt(j) === 92; j--) bs++;
        i = q + 1;
        if (bs % 2 === 1) continue; // escaped quote
        this.inString = false;
        if (this.stack.length === 1 && this.expect === "key" && this.keyStart >= 0) {
          this.key = JSON.parse(b.slice(this.keyStart, i)) as string;
          this.keyStart = -1;
          this.expect = "colon";
        }
        continue;
      }
      const c = b.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) {
        i++;
        continue;
      }
      if (this.finished)
        this.fail(`unexpected text after the end of the top-level object at character ${i}`);
      if (!this.started) {
        if (c !== 123) this.fail("expected a JSON object (Hetionet JSON starts with '{')");
        this.started = true;
        this.stack.push(123);
        i++;
        continue;
      }
      const depth = this.stack.length;
      if (depth === 1) {
        // Top-level object: "key": value, ...
        if (this.expect === "key") {
          if (c === 34) {
            this.keyStart = i;
            this.inString = true;
            i++;
            continue;
          }
          if (c === 125 && this.key === "") {
            this.stack.pop();
            this.finished = true;
            i++;
            continue;
          }
          this.fail(`expected a key string in the top-level object at character ${i}`);
        }
        if (this.expect === "colon") {
          if (c !== 58) this.fail(`expected ':' after key "${this.key}"`);
          this.expect = "value";
          i++;
          continue;
        }
        if (this.expect === "value") {
          if (this.streamKeys.has(this.key)) {
            if (c !== 91) this.fail(`expected "${this.key}" to be an array`);
            this.streamKey = this.key;
            this.elementIndex = 0;
            this.stack.push(91);
            this.expect = "comma";
            i++;
            continue;
          }
          this.captureStart = i;
          this.expect = "comma";
          if (c === 123 || c === 91) {
            this.stack.push(c);
            i++;
            continue;
          }
          if (c === 34) {
            this.inString = true;
            i++;
            continue;
          }
          // A bare scalar: runs until the next ',' or '}' at depth 1.
          let j = i;
          while (j < n && !/[,}\s]/.test(b[j]!)) j++;
          if (j === n) {
            // The scalar may continue in the next chunk: rescan it from its start then.
            this.expect = "value";
            this.captureStart = -1;
            break;
          }
          out.push({ kind: "value", key: this.key, text: b.slice(this.captureStart, j) });
          this.captureStart = -1;
          i = j;
          continue;
        }
        // expect === "comma"
        if (this.captureStart >= 0) {
          // A string value just ended.
          out.push({ kind: "value", key: this.key, text: b.slice(this.captureStart, i) });
          this.captureStart = -1;
        }
        if (c === 44) {
          this.expect = "key";
          this.key = "";
          i++;
          continue;
        }
        if (c === 125) {
          this.stack.pop();
          this.finished = true;
          i++;
          continue;
        }
        this.fail(`expected ',' or '}' after the value of "${this.key}" at character ${i}`);
      }
      if (depth === 2 && this.streamKey !== null) {
        // Inside a streamed array, between elements.
        if (c === 44) {
          i++;
          continue;
        }
        if (c === 93) {
          this.stack.pop();
          this.streamKey = null;
          i++;
          continue;
        }
        this.captureStart = i;
        if (c === 123 || c === 91) {
          this.stack.push(c);
          i++;
          continue;
        }
        this.fail(`expected an object in "${this.streamKey}" at element ${this.elementIndex}`);
      }
      // Inside a captured value or element: track brackets and strings only.
      if (c === 34) {
        this.inString = true;
        i++;
        continue;
      }
      if (c === 123 || c === 91) {
        this.stack.push(c);
      } else if (c === 125 || c === 93) {
        const open = this.stack.pop();
        if ((c === 125 && open !== 123) || (c === 93 && open !== 91)) {
          this.fail(`mismatched '${String.fromCharCode(c)}' at character ${i}`);
        }
        const nd = this.stack.length;
        if (nd === 2 && this.streamKey !== null) {
          out.push({
            kind: "element",
            key: this.streamKey,
            index: this.elementIndex++,
            text: b.slice(this.captureStart, i + 1),
          });
          this.captureStart = -1;
        } else if (nd === 1) {
          out.push({ kind: "value", key: this.key, text: b.slice(this.captureStart, i + 1) });
          this.captureStart = -1;
        }
      }
      i++;
    }
    // Keep only what a pending capture or key still needs.
    const keep = Math.min(...[this.captureStart, this.keyStart, i].filter((x) => x >= 0));
    this.buf = b.slice(keep);
    this.pos = i - keep;
    if (this.captureStart >= 0) this.captureStart -= keep;
    if (this.keyStart >= 0) this.keyStart -= keep;
    if (this.buf.length > this.maxItemChars) {
      this.fail(`one element is over ${this.maxItemChars} characters; not a Hetionet JSON element`);
    }
    return out;
  }

  end(): void {
    if (!this.started) this.fail("empty file: expected a JSON object");
    if (!this.finished) {
      this.fail("unexpected end of JSON (file truncated?): the top-level object is not closed");
    }
  }
}

interface JsonNode {
  kind: string;
  identifier: string | number;
  name: string;
}

interface JsonEdge {
  source_id: [string, string | number];
  target_id: [string, string | number];
  kind: string;
  direction?: string;
  data?: { source?: unknown; sources?: unknown; license?: unknown };
}

async function* readJsonGraph(
  file: string,
  graph: Graph,
  opts: IngestOptions,
): AsyncGenerator<IngestEvent> {
  const inp = openInput(file);
  const splitter = new TopLevelJsonSplitter(file, new Set(["nodes", "edges"]));
  const decoder = new TextDecoder("utf-8");
  let kindAbbrev: Record<string, string> = DEFAULT_KIND_ABBREV;
  /** `sourceKind|targetKind|verb` → metaedge abbreviation, from `metaedge_tuples`. */
  let tuples: Map<string, string> | null = null;
  const seen = new Set<string>();
  let items = 0;

  const abbrevFor = (s: string, v: string, t: string, dir: string): string | undefined => {
    const a = kindAbbrev[s];
    const b = kindAbbrev[v];
    const c = kindAbbrev[t];
    return a && b && c ? `${a}${b}${dir === "forward" ? ">" : ""}${c}` : undefined;
  };

  for await (const chunk of inp.stream as AsyncIterable<Buffer>) {
    for (const item of splitter.feed(decoder.decode(chunk, { stream: true }))) {
      if (item.kind === "value") {
        seen.add(item.key);
        if (item.key === "kind_to_abbrev") {
          const v = parseOrThrow(item.text, file, item.key);
          if (typeof v !== "object" || v === null)
            throw new IngestError("kind_to_abbrev must be an object", file);
          kindAbbrev = { ...DEFAULT_KIND_ABBREV, ...(v as Record<string, string>) };
        } else if (item.key === "metaedge_tuples") {
          const v = parseOrThrow(item.text, file, item.key);
          if (!Array.isArray(v)) throw new IngestError("metaedge_tuples must be an array", file);
          tuples = new Map();
          for (const tup of v as unknown[]) {
            if (!Array.isArray(tup) || tup.length < 4)
              throw new IngestError(
                `metaedge_tuples item must be [source, target, kind, direction], got ${JSON.stringify(tup)}`,
                file,
              );
            const [s, t, k, d] = tup as string[];
            const ab = abbrevFor(s!, k!, t!, d!);
            if (ab) tuples.set(`${s}|${t}|${k}`, ab);
          }
        }
        continue;
      }
      seen.add(item.key);
      const loc = `${item.key}[${item.index}]`;
      let v: unknown;
      try {
        v = JSON.parse(item.text);
      } catch (e) {
        yield {
          type: "skip",
          file,
          location: loc,
          reason: `invalid JSON: ${(e as Error).message}`,
        };
        continue;
      }
      if (item.key === "nodes") {
        const nd = v as Partial<JsonNode>;
        if (
          typeof nd.kind !== "string" ||
          (typeof nd.identifier !== "string" && typeof nd.identifier !== "number") ||
          typeof nd.name !== "string"
        ) {
          yield {
            type: "skip",
            file,
            location: loc,
            reason: "node must have string kind, string/number identifier and string name",
          };
          continue;
        }
        graph.nodes.set(`${nd.kind}::${nd.identifier}`, { name: nd.name, kind: nd.kind });
      } else {
        if (!seen.has("nodes")) {
          throw new IngestError(
            '"edges" comes before "nodes"; Hetionet JSON lists nodes first',
            file,
            loc,
          );
        }
        const ed = v as Partial<JsonEdge>;
        const si = ed.source_id;
        const ti = ed.target_id;
        if (
          !Array.isArray(si) ||
          si.length !== 2 ||
          !Array.isArray(ti) ||
          ti.length !== 2 ||
          typeof ed.kind !== "string"
        ) {
          yield {
            type: "skip",
            file,
            location: loc,
            reason: "edge must have source_id [kind, id], target_id [kind, id] and kind",
          };
          continue;
        }
        let src = `${si[0]}::${si[1]}`;
        let tgt = `${ti[0]}::${ti[1]}`;
        let sk = String(si[0]);
        let tk = String(ti[0]);
        const dir = ed.direction ?? "both";
        let ab = tuples ? tuples.get(`${sk}|${tk}|${ed.kind}`) : abbrevFor(sk, ed.kind, tk, dir);
        if (!ab && dir === "both" && tuples) {
          // Undirected edges may be stored either way round; orient them as their metaedge.
          ab = tuples.get(`${tk}|${sk}|${ed.kind}`);
          if (ab) [src, tgt, sk, tk] = [tgt, src, tk, sk];
        }
        const m = ab ? METAEDGE_BY_ABBREV.get(ab) : undefined;
        if (!m) {
          yield {
            type: "skip",
            file,
            location: loc,
            reason: `no Hetionet metaedge ${sk} –${ed.kind}– ${tk}`,
          };
          continue;
        }
        const bad = checkEnds(graph, m, src, tgt);
        if (bad) {
          yield { type: "skip", file, location: loc, reason: bad };
          continue;
        }
        const d = ed.data ?? {};
        const sources = Array.isArray(d.sources)
          ? d.sources.map(String).join(", ")
          : typeof d.source === "string"
            ? d.source
            : "";
        const license = typeof d.license === "string" ? normalizeLicense(d.license) : "";
        // Empty fields mean "not in the edge data"; emitRecords falls back to the metaedge default.
        await graph.addEdge(m, src, tgt, sources, license, String(item.index), file);
      }
      if (++items % 50_000 === 0) {
        opts.signal?.throwIfAborted();
        yield progressEvent(file, inp);
      }
    }
  }
  splitter.feed(decoder.decode());
  splitter.end();
  for (const k of ["nodes", "edges"]) {
    if (!seen.has(k))
      throw new IngestError(
        `no "${k}" array: not a Hetionet JSON graph (expected keys metanode_kinds, metaedge_tuples, kind_to_abbrev, nodes, edges)`,
        file,
      );
  }
  yield progressEvent(file, inp);
}

function parseOrThrow(text: string, file: string, key: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new IngestError(`invalid JSON in "${key}": ${(e as Error).message}`, file, key);
  }
}

// ---------------------------------------------------------------------------------------------
// External sort: runs of sorted lines on disk, merged with a small heap.

export class ExternalSorter {
  private buf: string[] = [];
  private runs: string[] = [];
  /** Total lines added. */
  count = 0;

  get runCount(): number {
    return this.runs.length;
  }

  constructor(
    private readonly dir: string,
    private readonly spillLines: number,
    /** Runs merged at once; more runs are merged in passes, so open files stay bounded. */
    private readonly fanIn = 64,
  ) {}

  async add(line: string): Promise<void> {
    this.buf.push(line);
    this.count++;
    if (this.buf.length >= this.spillLines) await this.spill();
  }

  private async spill(): Promise<void> {
    if (this.buf.length === 0) return;
    this.buf.sort();
    const file = path.join(this.dir, `run-${this.runs.length}-${Date.now()}.txt`);
    await writeLines(file, this.buf);
    this.runs.push(file);
    this.buf = [];
  }

  /** The added lines in code-unit order. The sorter cannot be reused afterwards. */
  async *sorted(): AsyncGenerator<string, void, undefined> {
    if (this.runs.length === 0) {
      this.buf.sort();
      const b = this.buf;
      this.buf = [];
      yield* b;
      return;
    }
    await this.spill();
    let pass = 0;
    while (this.runs.length > this.fanIn) {
      const next: string[] = [];
      for (let i = 0; i < this.runs.length; i += this.fanIn) {
        const group = this.runs.slice(i, i + this.fanIn);
        const file = path.join(this.dir, `merge-${pass}-${i}.txt`);
        const out = createWriteStream(file);
        for await (const line of mergeRuns(group)) {
          if (!out.write(line + "\n")) await new Promise<void>((r) => out.once("drain", () => r()));
        }
        await new Promise<void>((res, rej) => out.end((e?: Error | null) => (e ? rej(e) : res())));
        await Promise.all(group.map((f) => rm(f, { force: true })));
        next.push(file);
      }
      this.runs = next;
      pass++;
    }
    yield* mergeRuns(this.runs);
  }
}

async function writeLines(file: string, lines: string[]): Promise<void> {
  const out = createWriteStream(file, { highWaterMark: 1 << 20 });
  const batch = 4096;
  for (let i = 0; i < lines.length; i += batch) {
    const ok = out.write(lines.slice(i, i + batch).join("\n") + "\n");
    if (!ok) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  await new Promise<void>((res, rej) => {
    out.once("error", rej);
    out.end(() => res());
  });
}

async function* mergeRuns(files: string[]): AsyncGenerator<string> {
  // Not openInput: its byte counter puts a plain file stream in flowing mode, and runs that are
  // opened here but read later would drop chunks. These streams stay paused until read.
  const iters = files.map((f) =>
    readLines({
      stream: createReadStream(f, { highWaterMark: 1 << 16 }),
      bytesTotal: 0,
      bytesRead: () => 0,
      compression: "none",
    })[Symbol.asyncIterator](),
  );
  // Binary min-heap of [line, run index].
  const heap: [string, number][] = [];
  const less = (a: [string, number], b: [string, number]) =>
    a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  const push = (x: [string, number]) => {
    heap.push(x);
    let k = heap.length - 1;
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (!less(heap[k]!, heap[p]!)) break;
      [heap[k], heap[p]] = [heap[p]!, heap[k]!];
      k = p;
    }
  };
  const pop = (): [string, number] | undefined => {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let k = 0;
      for (;;) {
        const l = 2 * k + 1;
        const r = l + 1;
        let m = k;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === k) break;
        [heap[k], heap[m]] = [heap[m]!, heap[k]!];
        k = m;
      }
    }
    return top;
  };
  const advance = async (i: number) => {
    for (;;) {
      const r = await iters[i]!.next();
      if (r.done) return;
      if (r.value.text !== "") return push([r.value.text, i]);
    }
  };
  try {
    for (let i = 0; i < iters.length; i++) await advance(i);
    for (;;) {
      const top = pop();
      if (!top) return;
      yield top[0];
      await advance(top[1]);
    }
  } finally {
    await Promise.all(iters.map((it) => it.return?.(undefined)));
  }
}

// ---------------------------------------------------------------------------------------------
// Emitting records from the sorted stream, one node at a time.

interface EdgeRef {
  other: string;
  source: string;
  license: string;
  loc: string;
}

/** FNV-1a: a stable, seedable choice of phrasing and negative partner. */
function hash(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function joinList(items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

async function* emitRecords(
  graph: Graph,
  format: "json" | "sif",
  file: string,
  opts: IngestOptions,
  maxItems: number,
  state: { emitted: number; limit: number },
): AsyncGenerator<IngestEvent> {
  const negativePool = [...graph.treatedDiseases].sort();
  let current: string | null = null;
  let groups = new Map<string, EdgeRef[]>();

  const flush = function* (node: string): Generator<IngestEvent> {
    const info = graph.nodes.get(node);
    if (!info) return; // unreachable: edges were checked against the node table
    for (const [key, refs] of groups) {
      if (state.emitted >= state.limit) return;
      const dir = key[0] as "F" | "R";
      const abbrev = key.slice(1);
      const m = METAEDGE_BY_ABBREV.get(abbrev)!;
      const t = TEMPLATES[abbrev]!;
      const template = dir === "F" ? t.forward : t.reverse;
      if (!template) continue;
      const task = `hetionet.${abbrev}${dir === "R" ? ".reverse" : ""}`;
      // One edge per target (symmetric metaedges can list a pair from both ends).
      const byOther = new Map<string, EdgeRef>();
      for (const r of refs) if (!byOther.has(r.other)) byOther.set(r.other, r);
      const edges = [...byOther.values()];
      const where = `node ${node} metaedge ${abbrev}${dir === "R" ? " (reverse)" : ""}`;
      if (edges.length > maxItems) {
        yield {
          type: "skip",
          file,
          location: where,
          reason: `answer would list ${edges.length} items (cap ${maxItems}); no list question made`,
        };
        continue;
      }
      const licenses = uniq(edges.map((e) => e.license || m.defaultLicense));
      const license = licenses.join(" AND ");
      if (opts.excludeNonCommercial && licenses.some(isNonCommercial)) {
        yield {
          type: "skip",
          file,
          location: where,
          reason: `excluded by --exclude-noncommercial: licence ${license}`,
        };
        continue;
      }
      const names = edges
        .map((e) => ({ id: e.other, name: graph.nodes.get(e.other)?.name ?? e.other }))
        .sort((a, b) => a.name.localeCompare(b.name, "en"));
      // One fact per listed edge, in the metaedge's own direction (source kind → target kind).
      const facts = names.map((x) =>
        dir === "F" ? edgeFact(graph, abbrev, node, x.id) : edgeFact(graph, abbrev, x.id, node),
      );
      const sources = uniq(edges.map((e) => e.source || m.defaultSource));
      const q =
        template.questions[hash(`${node}|${key}`, opts.seed ?? 0) % template.questions.length]!;
      const record: InstructionRecord = {
        id: `hetionet:${abbrev}:${dir}:${node}`,
        instruction: q(info.name),
        input: "",
        output: template.answer(info.name, joinList(names.map((x) => x.name)), sources.join("; ")),
        metadata: {
          source: "hetionet",
          task,
          confidence: m.confidence,
          citations: [`Hetionet:${abbrev}`, node, ...names.map((x) => x.id)],
          license,
          provenance: {
            file,
            format,
            node,
            metaedge: abbrev,
            direction: dir === "F" ? "source→targets" : "target→sources",
            edgeSources: sources,
            licenseFrom: edges.every((e) => e.license)
              ? "edge data"
              : format === "sif"
                ? "metaedge default (the SIF has no edge properties)"
                : "metaedge default (edge data has no license)",
            [format === "sif" ? "lines" : "edgeIndex"]: edges.map((e) => Number(e.loc)),
          },
          facts,
        },
      };
      state.emitted++;
      yield { type: "record", record };
    }
    // Yes/no questions about treatment, for compounds with at least one CtD edge.
    const ctd = groups.get("FCtD");
    if (ctd && ctd.length > 0 && state.emitted < state.limit) {
      yield* treatQuestions(
        node,
        info,
        ctd,
        groups.get("FCpD") ?? [],
        graph,
        negativePool,
        file,
        format,
        opts,
        state,
      );
    }
  };

  for await (const line of graph.sorter.sorted()) {
    const f = line.split("\t");
    const [node, key, other, source, license, loc] = f as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (node !== current) {
      if (current !== null) yield* flush(current);
      if (state.emitted >= state.limit) return;
      current = node;
      groups = new Map();
      opts.signal?.throwIfAborted();
    }
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push({ other, source, license, loc });
  }
  if (current !== null) yield* flush(current);
}

function* treatQuestions(
  node: string,
  info: NodeInfo,
  ctd: EdgeRef[],
  cpd: EdgeRef[],
  graph: Graph,
  pool: string[],
  file: string,
  format: "json" | "sif",
  opts: IngestOptions,
  state: { emitted: number; limit: number },
): Generator<IngestEvent> {
  const m = METAEDGE_BY_ABBREV.get("CtD")!;
  const licenses = uniq(ctd.map((e) => e.license || m.defaultLicense));
  const license = licenses.join(" AND ");
  if (opts.excludeNonCommercial && licenses.some(isNonCommercial)) return;
  const seed = opts.seed ?? 0;
  const name = (id: string) => graph.nodes.get(id)?.name ?? id;
  const indications = joinList(
    uniq(ctd.map((e) => name(e.other))).sort((a, b) => a.localeCompare(b, "en")),
  );
  const base = {
    source: "hetionet" as const,
    license,
    provenance: { file, format, node, metaedge: "CtD" },
  };
  const yesEdge = ctd[hash(`${node}|yes`, seed) % ctd.length]!;
  const yesPhrasings = [
    (c: string, d: string) => `Does ${c} treat ${d}?`,
    (c: string, d: string) => `Is ${c} a disease-modifying treatment for ${d}?`,
  ];
  const yq = yesPhrasings[hash(`${node}|yq`, seed) % yesPhrasings.length]!;
  state.emitted++;
  yield {
    type: "record",
    record: {
      id: `hetionet:CtD:yes:${node}:${yesEdge.other}`,
      instruction: yq(info.name, name(yesEdge.other)),
      input: "",
      output: `Yes. According to PharmacotherapyDB, ${info.name} is a disease-modifying treatment for ${name(yesEdge.other)}.`,
      metadata: {
        ...base,
        task: "hetionet.CtD.yes",
        confidence: m.confidence,
        citations: ["Hetionet:CtD", node, yesEdge.other],
        facts: [edgeFact(graph, "CtD", node, yesEdge.other)],
      },
    },
  };
  if (state.emitted >= state.limit || pool.length === 0) return;
  // "No" only for a disease the graph knows to be treatable (it has a CtD edge) and that this
  // compound neither treats nor palliates; the compound itself has curated indications.
  const related = new Set([...ctd, ...cpd].map((e) => e.other));
  const start = hash(`${node}|no`, seed) % pool.length;
  let neg: string | undefined;
  for (let k = 0; k < pool.length; k++) {
    const cand = pool[(start + k) % pool.length]!;
    if (!related.has(cand)) {
      neg = cand;
      break;
    }
  }
  if (!neg) return;
  state.emitted++;
  yield {
    type: "record",
    record: {
      id: `hetionet:CtD:no:${node}:${neg}`,
      instruction: yq(info.name, name(neg)),
      input: "",
      output: `No. PharmacotherapyDB lists ${info.name} as neither a disease-modifying nor a symptomatic treatment for ${name(neg)}; its disease-modifying indications are: ${indications}.`,
      metadata: {
        ...base,
        task: "hetionet.CtD.no",
        confidence: 0.8,
        citations: ["Hetionet:CtD", node, neg],
        // The answer vouches for two absent edges and restates the compound's indications.
        facts: [
          { ...edgeFact(graph, "CtD", node, neg), negated: true },
          { ...edgeFact(graph, "CpD", node, neg), negated: true },
          ...uniq(ctd.map((e) => e.other)).map((d) => edgeFact(graph, "CtD", node, d)),
        ],
        provenance: {
          ...base.provenance,
          negative: true,
          reason:
            "no CtD or CpD edge between a compound with curated indications and a treatable disease",
        },
      },
    },
  };
}

/** The structured claim of one edge, with names as the record text writes them. */
function edgeFact(graph: Graph, metaedge: string, source: string, target: string): Fact {
  const s = graph.nodes.get(source);
  const t = graph.nodes.get(target);
  return {
    subject: s?.name ?? source,
    relation: metaedge,
    object: t?.name ?? target,
    subjectId: source,
    objectId: target,
    ...(s ? { subjectType: s.kind } : {}),
    ...(t ? { objectType: t.kind } : {}),
  };
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
