/**
 * Question templates per metaedge. Wording follows the metaedge definitions in Hetionet's
 * definitions.json; each template has three phrasings (chosen by a seeded hash) and one answer.
 */

export interface Template {
  questions: ((name: string) => string)[];
  answer: (name: string, list: string, sources: string) => string;
}

export interface MetaedgeTemplates {
  /** Group by the metaedge's source node. */
  forward?: Template;
  /** Group by the metaedge's target node. */
  reverse?: Template;
  /** Source and target are the same kind and the relation has no direction: both ends group. */
  symmetric?: boolean;
}

export const TEMPLATES: Record<string, MetaedgeTemplates> = {
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
export const UNTEMPLATED_REASON: Record<string, string> = {
  AdG: "no question template: adult expression-level contrast without a stable plain-language reading",
  AuG: "no question template: adult expression-level contrast without a stable plain-language reading",
  GcG: "no question template: evolutionary rate covariation has no direct medical reading",
  "Gr>G": "no question template: knockdown signatures are too noisy for a factual question",
};

/** Longest list an answer may hold; bigger groups are skipped (and logged) rather than truncated. */
export const MAX_ANSWER_ITEMS = 60;
