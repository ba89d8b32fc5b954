/**
 * Hetionet v1.0 → question/answer records.
 *
 *   readHetionet(["data/raw/hetionet/hetionet-v1.0.json.bz2"], {})            JSON dump (.json/.gz/.bz2)
 *   readHetionet([".../hetionet-v1.0-nodes.tsv", ".../hetionet-v1.0-edges.sif.gz"], {})   TSV + SIF
 *
 * Each question groups the edges of one node and one metaedge ("Which diseases does metformin
 * treat?") and its answer lists every target the graph holds. Edges are not grouped in either
 * distribution (the SIF is ordered by metaedge, then arbitrarily; the JSON likewise), so grouping
 * is an external sort (../external-sort.ts): each templated edge becomes one or two short lines
 * keyed by node (graph.ts), sorted in memory in runs of `spillLines`, spilled to a temp dir, and
 * k-way merged. Memory is bounded by the run size plus
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
 *
 * Modules: metaedges.ts (relation table, licences), templates.ts (question wording), graph.ts (node
 * table + sorter), read-tsv.ts / read-json.ts (the two distributions), json-splitter.ts (streaming
 * the JSON dump), emit.ts (records and their facts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { IngestError, type IngestEvent, type IngestOptions } from "../types.js";
import { emitRecords } from "./emit.js";
import { Graph } from "./graph.js";
import { readJsonGraph } from "./read-json.js";
import { readNodesTsv, readSif } from "./read-tsv.js";
import { MAX_ANSWER_ITEMS, UNTEMPLATED_REASON } from "./templates.js";

export { joinList } from "./emit.js";
export type { NodeInfo } from "./graph.js";
export { TopLevelJsonSplitter, type JsonItem } from "./json-splitter.js";
export { isNonCommercial, METAEDGES, normalizeLicense, type Metaedge } from "./metaedges.js";
export { MAX_ANSWER_ITEMS } from "./templates.js";

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
