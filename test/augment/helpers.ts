/** Shared test helpers: record builder and the path of the shared fixture folder (never copied). */
import { resolve } from "node:path";
import type { Fact, InstructionRecord, SourceName } from "../../src/data/record.js";

export const repoRoot = resolve(import.meta.dirname, "..", "..");
export const sharedDatasets = resolve(repoRoot, "..", "shared", "datasets");

export function rec(
  id: string,
  instruction: string,
  output: string,
  opts: {
    source?: SourceName;
    task?: string;
    citations?: string[];
    facts?: Fact[];
    input?: string;
  } = {},
): InstructionRecord {
  return {
    id,
    instruction,
    input: opts.input ?? "",
    output,
    metadata: {
      source: opts.source ?? "hetionet",
      task: opts.task ?? `${opts.source ?? "hetionet"}.test`,
      confidence: 0.9,
      citations: opts.citations ?? [],
      license: "CC0-1.0",
      provenance: { test: true },
      ...(opts.facts ? { facts: opts.facts } : {}),
    },
  };
}
