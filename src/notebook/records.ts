/**
 * Looking at record files from a notebook: a few sample records per file (for a DataFrame) and
 * token-length histograms per source, counted with the bundled model's tokenizer when it loads.
 *
 *   await show(await toFrame(await sampleRecords(["data/processed/pubmed.jsonl"], 3)));
 *   await show(await tokenLengthFigure(["data/processed/pubmed.jsonl"]));
 */
import { readJsonl } from "../data/jsonl.js";
import type { InstructionRecord } from "../data/record.js";
import { modelTokenCounter } from "../augment/report.js";
import { fromRoot } from "../paths.js";
import type { PlotlyFigure } from "./report.js";

const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

async function readRecords(file: string, limit = Infinity): Promise<InstructionRecord[]> {
  const out: InstructionRecord[] = [];
  for await (const r of readJsonl(fromRoot(file))) {
    out.push(r);
    if (out.length >= limit) break;
  }
  return out;
}

/** The first `perFile` records of each file as flat rows (texts cut to 200 characters). */
export async function sampleRecords(
  files: readonly string[],
  perFile = 2,
): Promise<Record<string, string | number>[]> {
  const rows: Record<string, string | number>[] = [];
  for (const f of files)
    for (const r of await readRecords(f, perFile))
      rows.push({
        source: r.metadata.source,
        task: r.metadata.task,
        id: r.id,
        instruction: cut(r.instruction, 200),
        input: cut(r.input ?? "", 200),
        output: cut(r.output, 200),
        confidence: r.metadata.confidence,
      });
  return rows;
}

/** Tokens per record (prompt + output) of each file's records, one histogram trace per source. */
export async function tokenLengthFigure(
  files: readonly string[],
  o: { tokenizer?: string; title?: string } = {},
): Promise<PlotlyFigure> {
  const counter = await modelTokenCounter(o.tokenizer);
  const bySource = new Map<string, number[]>();
  for (const f of files)
    for (const r of await readRecords(f)) {
      const prompt = r.input ? `${r.instruction}\n\n${r.input}` : r.instruction;
      const n = counter.count(prompt) + counter.count(r.output);
      bySource.set(r.metadata.source, [...(bySource.get(r.metadata.source) ?? []), n]);
    }
  return {
    data: [...bySource].map(([source, x]) => ({
      type: "histogram",
      name: source,
      x,
      opacity: 0.7,
      nbinsx: 40,
    })),
    layout: {
      title: { text: o.title ?? `Tokens per record (prompt + output; ${counter.name})` },
      barmode: "overlay",
      xaxis: { title: { text: "tokens" } },
      yaxis: { title: { text: "records" } },
    },
  };
}
