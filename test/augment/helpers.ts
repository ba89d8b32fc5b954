/** Shared test helpers: record builder and the path of the shared fixture folder (never copied). */
import { join, resolve } from "node:path";
import type { Fact, InstructionRecord, SourceName } from "../../src/data/record.js";
import { readClinicalTrials } from "../../src/ingest/clinicaltrials.js";
import { readDrugbank } from "../../src/ingest/drugbank.js";
import type { IngestEvent } from "../../src/ingest/types.js";

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

/** The records an ingest reader yields. */
export async function ingested(gen: AsyncGenerator<IngestEvent>): Promise<InstructionRecord[]> {
  const out: InstructionRecord[] = [];
  for await (const ev of gen) if (ev.type === "record") out.push(ev.record);
  return out;
}

/**
 * Real records on one drug and one trial, read from ../shared/datasets by the ingest readers:
 * DrugBank's Bivalirudin (DB00006: indication, mechanism, targets, food and its first
 * `interactions` drug interactions) and ClinicalTrials.gov NCT02552212 (every record).
 */
export async function drugAndTrialRecords(interactions: number) {
  const db = await ingested(
    readDrugbank([join(sharedDatasets, "drugbank", "drugbank_record_small_molecule_DB00006.xml")]),
  );
  const bivalirudin = [
    ...db.filter((r) => r.metadata.task !== "drugbank.ddi"),
    ...db.filter((r) => r.metadata.task === "drugbank.ddi").slice(0, interactions),
  ];
  const trial = await ingested(
    readClinicalTrials([join(sharedDatasets, "clinicaltrials", "NCT02552212.json")]),
  );
  return { bivalirudin, trial };
}
