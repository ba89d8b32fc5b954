/**
 * Records from the sorted edge lines, one node at a time: a list question per (node, metaedge,
 * direction) whose answer names every edge, and for compounds with curated indications a "yes"
 * and a vouched "no" treatment question. Each record carries the facts it states (metadata.facts:
 * the listed edges; the two absent edges of a "no", negated).
 */
import type { Fact, InstructionRecord } from "../../data/record.js";
import type { IngestEvent, IngestOptions } from "../types.js";
import type { Graph, NodeInfo } from "./graph.js";
import { isNonCommercial, METAEDGE_BY_ABBREV } from "./metaedges.js";
import { TEMPLATES } from "./templates.js";

interface EdgeRef {
  other: string;
  /** The other node's rank key: sorts like its id. */
  otherKey: string;
  /** `source \t licence \t location`: orders duplicate edges of one pair. */
  tail: string;
  source: string;
  license: string;
  loc: string;
}

/** Edge order of a full line sort: by other node, then by source, licence and location. */
const byEdge = (a: EdgeRef, b: EdgeRef): number =>
  a.otherKey < b.otherKey
    ? -1
    : a.otherKey > b.otherKey
      ? 1
      : a.tail < b.tail
        ? -1
        : a.tail > b.tail
          ? 1
          : 0;

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

export async function* emitRecords(
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
    // Groups in key order and each node's treats/palliates lists in full edge order, as a sort of
    // whole lines would give; other lists are ordered only when they are small enough to be used.
    for (const key of [...groups.keys()].sort()) {
      const refs = groups.get(key)!;
      if (key === "FCtD" || key === "FCpD") refs.sort(byEdge);
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
      for (const r of refs) {
        const seen = byOther.get(r.otherKey);
        if (!seen || byEdge(r, seen) < 0) byOther.set(r.otherKey, r);
      }
      const where = `node ${node} metaedge ${abbrev}${dir === "R" ? " (reverse)" : ""}`;
      if (byOther.size > maxItems) {
        yield {
          type: "skip",
          file,
          location: where,
          reason: `answer would list ${byOther.size} items (cap ${maxItems}); no list question made`,
        };
        continue;
      }
      const edges = [...byOther.values()].sort(byEdge);
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

  // The sorter groups lines by node, in no order within a node: flush orders what it uses, so
  // the records are the same as a sort of whole lines gives, without sorting a hub's edges.
  let nodeLines: string[] = [];
  let currentRank: string | null = null;
  const group = (): void => {
    groups = new Map();
    for (const line of nodeLines) {
      const [, key, otherKey, source, license, loc] = line.split("\t") as [
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      const tail = `${source}\t${license}\t${loc}`;
      g.push({ other: graph.idOf(otherKey), otherKey, tail, source, license, loc });
    }
    nodeLines = [];
  };
  for await (const batch of graph.sorter.sortedBatches()) {
    for (const line of batch) {
      const rank = line.slice(0, line.indexOf("\t"));
      if (rank !== currentRank) {
        if (current !== null) {
          group();
          yield* flush(current);
          if (state.emitted >= state.limit) return;
        }
        currentRank = rank;
        current = graph.idOf(rank);
      }
      nodeLines.push(line);
    }
    opts.signal?.throwIfAborted();
  }
  if (current !== null) {
    group();
    yield* flush(current);
  }
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

export function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
