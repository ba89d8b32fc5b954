/**
 * Hetionet's JSON dump (.json, .json.gz, .json.bz2; the bundled sample is one): `kind_to_abbrev` and
 * `metaedge_tuples` name the metaedges, `nodes` fill the node table and `edges` go to the sorter
 * with their own source and licence. The dump is cut into elements by TopLevelJsonSplitter, so a
 * full 2 GB file is never held in memory.
 */
import { openInput } from "../io.js";
import {
  IngestError,
  idProblem,
  inputLimits,
  type IngestEvent,
  type IngestOptions,
} from "../types.js";
import { checkEnds, progressEvent, type Graph } from "./graph.js";
import { TopLevelJsonSplitter } from "./json-splitter.js";
import { DEFAULT_KIND_ABBREV, METAEDGE_BY_ABBREV, normalizeLicense } from "./metaedges.js";

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

export async function* readJsonGraph(
  file: string,
  graph: Graph,
  opts: IngestOptions,
): AsyncGenerator<IngestEvent> {
  const inp = openInput(file);
  const splitter = new TopLevelJsonSplitter(file, new Set(["nodes", "edges"]), inputLimits(opts));
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
        const bad = idProblem("hetionetNode", nd.identifier);
        if (bad) {
          yield { type: "skip", file, location: loc, reason: bad };
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
        if (graph.addEdge(m, src, tgt, sources, license, String(item.index), file))
          await graph.sorter.spill();
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
    if (!seen.has(k) && !splitter.streamedKeys.has(k))
      throw new IngestError(
        `no "${k}" array: not a Hetionet JSON graph (expected keys metanode_kinds, metaedge_tuples, kind_to_abbrev, nodes, edges)`,
        file,
      );
  }
  const warning = inp.utf8.warning(file);
  if (warning) yield warning;
  yield progressEvent(file, inp);
}

function parseOrThrow(text: string, file: string, key: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new IngestError(`invalid JSON in "${key}": ${(e as Error).message}`, file, key);
  }
}
