/**
 * The graph being read: the node table in memory (47,031 nodes in v1.0, about 10 MB) and every
 * templated edge as one or two short lines in the external sorter, keyed by node so that all of a
 * node's edges come out of the sort side by side:
 *
 *   <node rank> \t F|R<metaedge> \t <other node rank> \t <edge source> \t <licence> \t <location>
 *
 * Node ids are replaced by their rank in code-unit order of the ids, written in fixed-width base 36
 * ("0k3f"): ranks sort like ids, and the rank is the line's bucket in the sorter, which groups lines
 * by node with a counting sort (emit orders the few lines of one node itself). Ranks are fixed at
 * the first edge; both distributions list every node before any edge.
 */
import { ExternalSorter } from "../external-sort.js";
import type { IngestEvent } from "../types.js";
import type { InputStream } from "../io.js";
import type { Metaedge } from "./metaedges.js";
import { TEMPLATES } from "./templates.js";

export interface NodeInfo {
  name: string;
  kind: string;
}

const FIELD_SAFE = /[\t\n\r]/g;
const clean = (s: string) => (s ? s.replace(FIELD_SAFE, " ") : s);

export class Graph {
  readonly nodes = new Map<string, NodeInfo>();
  /** Diseases that are the target of at least one CtD edge: the pool for negative questions. */
  readonly treatedDiseases = new Set<string>();
  readonly untemplated = new Map<string, { file: string; count: number }>();
  readonly edgesByMetaedge: Record<string, number> = {};
  private sorterOrNull: ExternalSorter | null = null;
  private rankOf: Map<string, { key: string; index: number }> | null = null;
  private byRank: string[] = [];

  constructor(
    private readonly tmp: string,
    private readonly spillLines: number,
  ) {}

  /** The edge lines, bucketed by node rank; made at the first edge, when the node table is full. */
  get sorter(): ExternalSorter {
    if (!this.rankOf) {
      this.byRank = [...this.nodes.keys()].sort();
      const width = Math.max(1, Math.ceil(Math.log(this.byRank.length + 1) / Math.log(36)));
      this.rankOf = new Map(
        this.byRank.map((x, i) => [x, { key: i.toString(36).padStart(width, "0"), index: i }]),
      );
    }
    this.sorterOrNull ??= new ExternalSorter(
      this.tmp,
      this.spillLines,
      64,
      4096,
      Math.max(1, this.byRank.length),
    );
    return this.sorterOrNull;
  }

  private rank(id: string): { key: string; index: number } {
    if (!this.rankOf) void this.sorter;
    return this.rankOf!.get(id)!;
  }

  /** The node id of a rank written by `addEdge`. */
  idOf(rank: string): string {
    return this.byRank[parseInt(rank, 36)]!;
  }

  /**
   * Queue one edge, oriented as its metaedge (source kind → target kind). Returns true when the
   * sorter's run is full: the caller awaits `graph.sorter.spill()` before adding more.
   */
  addEdge(
    m: Metaedge,
    src: string,
    tgt: string,
    source: string,
    license: string,
    loc: string,
    file: string,
  ): boolean {
    this.edgesByMetaedge[m.abbrev] = (this.edgesByMetaedge[m.abbrev] ?? 0) + 1;
    const t = TEMPLATES[m.abbrev];
    if (!t) {
      const u = this.untemplated.get(m.abbrev) ?? { file, count: 0 };
      u.count++;
      this.untemplated.set(m.abbrev, u);
      return false;
    }
    const tail = `${clean(source)}\t${clean(license)}\t${loc}`;
    const s = this.rank(src);
    const g = this.rank(tgt);
    const sorter = this.sorter;
    let full = false;
    if (t.forward || t.symmetric)
      full = sorter.push(`${s.key}\tF${m.abbrev}\t${g.key}\t${tail}`, s.index);
    if (t.reverse || t.symmetric)
      full =
        sorter.push(
          `${g.key}\t${t.symmetric ? "F" : "R"}${m.abbrev}\t${s.key}\t${tail}`,
          g.index,
        ) || full;
    if (m.abbrev === "CtD") this.treatedDiseases.add(tgt);
    return full;
  }
}

/** Why an edge cannot be used with this node table, or undefined when it can. */
export function checkEnds(graph: Graph, m: Metaedge, src: string, tgt: string): string | undefined {
  const s = graph.nodes.get(src);
  const t = graph.nodes.get(tgt);
  if (!s) return `source node ${src} is not in the nodes table`;
  if (!t) return `target node ${tgt} is not in the nodes table`;
  if (s.kind !== m.source || t.kind !== m.target) {
    return `${m.abbrev} joins ${m.source} to ${m.target}, got ${s.kind} to ${t.kind}`;
  }
  return undefined;
}

export function progressEvent(file: string, inp: InputStream): IngestEvent {
  return { type: "progress", file, bytesRead: inp.bytesRead(), bytesTotal: inp.bytesTotal };
}
