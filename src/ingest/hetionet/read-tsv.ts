/**
 * Hetionet's tabular distribution: the nodes TSV (`id \t name \t kind`) into the node table and the
 * edges SIF (`source \t metaedge \t target`) into the graph's sorter. Lines are handled a chunk at a
 * time (readLineBatches), so the per-line cost is parsing, not promise scheduling.
 */
import { openInput, readLineBatches } from "../io.js";
import {
  IngestError,
  idProblem,
  inputLimits,
  type IngestEvent,
  type IngestOptions,
} from "../types.js";
import { checkEnds, progressEvent, type Graph } from "./graph.js";
import { METAEDGE_BY_ABBREV } from "./metaedges.js";

export async function* readNodesTsv(
  file: string,
  graph: Graph,
  opts: IngestOptions,
): AsyncGenerator<IngestEvent> {
  const inp = openInput(file);
  const skips: IngestEvent[] = [];
  for await (const { first, lines } of readLineBatches(inp, file, inputLimits(opts))) {
    for (let k = 0; k < lines.length; k++) {
      const line = first + k;
      const text = lines[k]!;
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
        skips.push({
          type: "skip",
          file,
          location: `line ${line}`,
          reason: `expected 3 tab-separated fields (id, name, kind), got ${f.length}`,
        });
        continue;
      }
      if (!id.startsWith(`${kind}::`)) {
        skips.push({
          type: "skip",
          file,
          location: `line ${line}`,
          reason: `node id ${JSON.stringify(id)} does not start with its kind "${kind}::"`,
        });
        continue;
      }
      const bad = idProblem("hetionetNode", id.slice(kind.length + 2));
      if (bad) {
        skips.push({ type: "skip", file, location: `line ${line}`, reason: bad });
        continue;
      }
      graph.nodes.set(id, { name, kind });
    }
    for (const ev of skips.splice(0)) yield ev;
    opts.signal?.throwIfAborted();
    yield progressEvent(file, inp);
  }
  if (graph.nodes.size === 0) throw new IngestError("no nodes read (empty file?)", file);
  const warning = inp.utf8.warning(file);
  if (warning) yield warning;
  yield progressEvent(file, inp);
}

export async function* readSif(
  file: string,
  graph: Graph,
  opts: IngestOptions,
): AsyncGenerator<IngestEvent> {
  const inp = openInput(file);
  const skips: IngestEvent[] = [];
  const skip = (line: number, reason: string) =>
    skips.push({ type: "skip", file, location: `line ${line}`, reason });
  for await (const { first, lines } of readLineBatches(inp, file, inputLimits(opts))) {
    let spill = false;
    for (let k = 0; k < lines.length; k++) {
      const line = first + k;
      const text = lines[k]!;
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
      if (f.length !== 3 || !src || !abbrev || !tgt) {
        skip(line, `expected 3 tab-separated fields (source, metaedge, target), got ${f.length}`);
        continue;
      }
      const m = METAEDGE_BY_ABBREV.get(abbrev);
      if (!m) {
        skip(line, `unknown metaedge ${JSON.stringify(abbrev)}`);
        continue;
      }
      const bad = checkEnds(graph, m, src, tgt);
      if (bad) {
        skip(line, bad);
        continue;
      }
      // The SIF has no edge properties: empty source/licence select the metaedge defaults.
      if (graph.addEdge(m, src, tgt, "", "", String(line), file)) {
        // A full run is spilled before the next edge; the rest of the batch waits for it.
        await graph.sorter.spill();
        spill = true;
      }
    }
    for (const ev of skips.splice(0)) yield ev;
    opts.signal?.throwIfAborted();
    if (spill || lines.length > 0) yield progressEvent(file, inp);
  }
  const warning = inp.utf8.warning(file);
  if (warning) yield warning;
  yield progressEvent(file, inp);
}
