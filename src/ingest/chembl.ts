/**
 * ChEMBL reader: the official SQLite dump (`chembl_NN.db` from `chembl_NN_sqlite.tar.gz`), opened
 * read-only with better-sqlite3 and walked with `.iterate()` in molregno order, so a 20+ GB release
 * is never loaded: memory holds one molecule's (or one molecule–target pair's) rows at a time.
 *
 * Record families, each declaring the tables and columns it needs (FAMILIES below):
 * - `properties`  molecule_dictionary + compound_properties → MW, ALogP, HBA, HBD, PSA, Ro5
 *                 violations, QED, and a rule-of-five summary;
 * - `mechanism`   drug_mechanism + target_dictionary (+ mechanism_refs PMIDs) → mechanism of action;
 * - `indications` drug_indication (MeSH/EFO, max phase; + indication_refs PMIDs/NCT ids) →
 *                 highest phase per indication and the approved-indication list;
 * - `potency`     activities + assays + target_dictionary (+ docs PMIDs) → median pChEMBL per
 *                 molecule, target and activity type.
 *
 * Missing tables. `molecule_dictionary` is essential: without it the file is an IngestError. A family
 * whose tables are absent is skipped with one audit skip event naming the table ("the present tables
 * support these families"), because real cut-down dumps such as the shared chembl_33 subset hold only
 * a few tables; but when the caller asked for that family (`families` option) a missing table is an
 * IngestError. A table that is present without a column we read is a schema we do not understand,
 * so that is always an IngestError naming table and column. Optional reference tables (docs,
 * mechanism_refs, indication_refs) only add citations when present.
 *
 * Policy: only molecules with a preferred name (drugs, clinical candidates, tool compounds) become
 * records; unnamed research compounds are counted in one audit skip event per file.
 */
import { openSync, readSync, closeSync, statSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { Fact, InstructionRecord } from "../data/record.js";
import {
  ID_GRAMMAR,
  IngestError,
  idProblem,
  inputLimits,
  tooLargeReason,
  type IngestEvent,
  type IngestOptions,
  type InputLimits,
} from "./types.js";

export const CHEMBL_LICENSE = "CC-BY-SA-3.0";

export type ChemblFamily = "properties" | "mechanism" | "indications" | "potency";
export const CHEMBL_FAMILIES: readonly ChemblFamily[] = [
  "properties",
  "mechanism",
  "indications",
  "potency",
];

export interface ChemblIngestOptions extends IngestOptions {
  /** Families the caller requires: a missing table for one of them is an IngestError. Default: all, best effort. */
  families?: readonly ChemblFamily[];
}

type TableSpec = Record<string, readonly string[]>;

const ESSENTIAL: TableSpec = {
  molecule_dictionary: ["molregno", "chembl_id", "pref_name", "max_phase"],
};

const TARGETS = ["tid", "pref_name", "target_type", "organism", "chembl_id"] as const;

/** What each family reads: `tables` must exist; `optional` tables add citations when present. */
export const FAMILIES: Record<ChemblFamily, { tables: TableSpec; optional: TableSpec }> = {
  properties: {
    tables: {
      compound_properties: [
        "molregno",
        "mw_freebase",
        "alogp",
        "hba",
        "hbd",
        "psa",
        "num_ro5_violations",
        "qed_weighted",
      ],
    },
    optional: {},
  },
  mechanism: {
    tables: {
      drug_mechanism: ["mec_id", "molregno", "mechanism_of_action", "tid", "action_type"],
      target_dictionary: TARGETS,
    },
    optional: { mechanism_refs: ["mec_id", "ref_type", "ref_id"] },
  },
  indications: {
    tables: {
      drug_indication: [
        "drugind_id",
        "molregno",
        "max_phase_for_ind",
        "mesh_id",
        "mesh_heading",
        "efo_id",
        "efo_term",
      ],
    },
    optional: { indication_refs: ["drugind_id", "ref_type", "ref_id"] },
  },
  potency: {
    tables: {
      activities: [
        "activity_id",
        "assay_id",
        "molregno",
        "doc_id",
        "standard_type",
        "pchembl_value",
        "data_validity_comment",
        "potential_duplicate",
      ],
      assays: ["assay_id", "tid", "assay_type", "confidence_score", "chembl_id"],
      target_dictionary: TARGETS,
    },
    optional: { docs: ["doc_id", "pubmed_id"] },
  },
};

const SQLITE_MAGIC = "SQLite format 3\0";
const PROGRESS_EVERY_ROWS = 2000;

export async function* readChembl(
  files: string[],
  opts: ChemblIngestOptions = {},
): AsyncGenerator<IngestEvent> {
  const budget = { left: opts.limit ?? Infinity };
  for (const file of files) {
    yield* readOne(file, opts, budget);
    if (budget.left <= 0) return;
  }
}

interface Ctx {
  file: string;
  release: string;
  db: Database.Database;
  /** Second connection: better-sqlite3 cannot run a statement while another one is iterating. */
  lookup: Database.Database;
  present: Set<string>;
  bytesTotal: number;
  minMolregno: number;
  maxMolregno: number;
  limits: InputLimits;
  signal?: AbortSignal;
}

async function* readOne(
  file: string,
  opts: ChemblIngestOptions,
  budget: { left: number },
): AsyncGenerator<IngestEvent> {
  const bytesTotal = checkSqliteFile(file);
  let db: Database.Database | undefined;
  let lookup: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    lookup = new Database(file, { readonly: true, fileMustExist: true });
    const present = new Set(
      (
        db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table','view')").all() as {
          name: string;
        }[]
      ).map((r) => r.name),
    );
    requireTables(db, file, ESSENTIAL, present, "essential");
    const range = db
      .prepare("SELECT min(molregno) AS lo, max(molregno) AS hi FROM molecule_dictionary")
      .get() as {
      lo: number | null;
      hi: number | null;
    };
    const ctx: Ctx = {
      file,
      release: releaseOf(db, present, file),
      db,
      lookup,
      present,
      bytesTotal,
      minMolregno: range.lo ?? 0,
      maxMolregno: range.hi ?? 0,
      limits: inputLimits(opts),
      signal: opts.signal,
    };
    yield { type: "progress", file, bytesRead: 0, bytesTotal };

    const unnamed = (
      db.prepare("SELECT count(*) AS n FROM molecule_dictionary WHERE pref_name IS NULL").get() as {
        n: number;
      }
    ).n;
    if (unnamed > 0) {
      yield {
        type: "skip",
        file,
        location: "table molecule_dictionary",
        reason: `${unnamed} molecules without pref_name are not turned into records (policy: named compounds only)`,
      };
    }

    const demanded = new Set(opts.families ?? []);
    const families = opts.families ?? CHEMBL_FAMILIES;
    for (let f = 0; f < families.length; f++) {
      const family = families[f]!;
      const spec = FAMILIES[family];
      if (!spec)
        throw new IngestError(
          `unknown ChEMBL record family "${family}" (expected one of ${CHEMBL_FAMILIES.join(", ")})`,
          file,
        );
      const missing = Object.keys(spec.tables).filter((t) => !present.has(t));
      if (missing.length > 0) {
        const what = `record family "${family}" needs table${missing.length > 1 ? "s" : ""} ${missing.join(", ")}, missing from this database`;
        if (demanded.has(family)) throw new IngestError(what, file);
        yield {
          type: "skip",
          file,
          location: `table ${missing[0]}`,
          reason: `${what}; family skipped`,
        };
        continue;
      }
      requireTables(db, file, spec.tables, present, `family "${family}"`);
      requireTables(db, file, spec.optional, present, `family "${family}"`, true);
      const familyGen =
        family === "properties"
          ? propertyRecords(ctx)
          : family === "mechanism"
            ? mechanismRecords(ctx)
            : family === "indications"
              ? indicationRecords(ctx)
              : potencyRecords(ctx);
      for await (const ev of withProgress(familyGen, ctx, f, families.length)) {
        yield ev;
        if (ev.type === "record" && --budget.left <= 0) return;
      }
    }
    yield { type: "progress", file, bytesRead: bytesTotal, bytesTotal };
  } catch (e) {
    if (e instanceof IngestError || (e as Error).name === "AbortError") throw e;
    throw new IngestError(
      `SQLite error (expected a readable ChEMBL database): ${(e as Error).message}`,
      file,
    );
  } finally {
    db?.close();
    lookup?.close();
  }
}

/** A clear error before better-sqlite3 sees a file that is not a database (it fails late and vaguely). */
function checkSqliteFile(file: string): number {
  if (/\.tar(\.gz)?$|\.tgz$|\.gz$/.test(file)) {
    throw new IngestError(
      "expected the extracted chembl_NN.db; extract chembl_NN_sqlite.tar.gz first",
      file,
    );
  }
  let size: number;
  const head = Buffer.alloc(16);
  try {
    size = statSync(file).size;
    const fd = openSync(file, "r");
    try {
      readSync(fd, head, 0, 16, 0);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new IngestError(`cannot open: ${(e as Error).message}`, file);
  }
  if (head.toString("latin1") !== SQLITE_MAGIC) {
    throw new IngestError(
      "expected a SQLite database (ChEMBL chembl_NN.db): file header is not 'SQLite format 3'",
      file,
    );
  }
  return size;
}

function requireTables(
  db: Database.Database,
  file: string,
  spec: TableSpec,
  present: Set<string>,
  who: string,
  optional = false,
): void {
  for (const [table, columns] of Object.entries(spec)) {
    if (!present.has(table)) {
      if (optional) continue;
      throw new IngestError(
        `expected table ${table} (${who}), not found: not a ChEMBL database?`,
        file,
      );
    }
    const have = new Set(
      (db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name.toLowerCase()),
    );
    const lacking = columns.filter((c) => !have.has(c));
    if (lacking.length > 0) {
      throw new IngestError(
        `table ${table} lacks column${lacking.length > 1 ? "s" : ""} ${lacking.join(", ")} (${who}): unsupported ChEMBL schema`,
        file,
      );
    }
  }
}

/** "chembl_33" from the `version` table, else from the file name. */
function releaseOf(db: Database.Database, present: Set<string>, file: string): string {
  if (present.has("version")) {
    try {
      const row = db.prepare("SELECT name FROM version LIMIT 1").get() as
        { name?: unknown } | undefined;
      if (typeof row?.name === "string" && row.name.trim()) return row.name.trim().toLowerCase();
    } catch {
      // an odd version table is not worth failing the file for; fall back to the name
    }
  }
  const m = /chembl_?(\d+)/i.exec(path.basename(file));
  return m ? `chembl_${m[1]}` : "chembl (release unknown)";
}

/** Family generators yield events and report their molregno so progress can be estimated. */
type FamilyEvent = IngestEvent | { type: "position"; molregno: number };

async function* withProgress(
  gen: Generator<FamilyEvent>,
  ctx: Ctx,
  familyIndex: number,
  familyCount: number,
): AsyncGenerator<IngestEvent> {
  let rows = 0;
  const span = Math.max(1, ctx.maxMolregno - ctx.minMolregno);
  for (const ev of gen) {
    if (ev.type !== "position") {
      yield ev;
      continue;
    }
    if (++rows % PROGRESS_EVERY_ROWS !== 0) continue;
    ctx.signal?.throwIfAborted();
    const within = Math.min(1, Math.max(0, (ev.molregno - ctx.minMolregno) / span));
    const bytesRead = Math.round((ctx.bytesTotal * (familyIndex + within)) / familyCount);
    yield { type: "progress", file: ctx.file, bytesRead, bytesTotal: ctx.bytesTotal };
    // Let timers and the progress bar run between batches of synchronous SQLite steps.
    await new Promise((r) => setImmediate(r));
  }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers.

interface Molecule {
  molregno: number;
  chembl_id: string;
  pref_name: string;
}

const displayName = (m: Molecule) => `${titleCase(m.pref_name)} (${m.chembl_id})`;

function titleCase(name: string): string {
  // ChEMBL stores INN names upper-case; keep codes such as "L-745870" as they are.
  return /[a-z]/.test(name) || /\d/.test(name)
    ? name
    : name.charAt(0) + name.slice(1).toLowerCase();
}

/** A numeric column value, or a reason why it is unusable. SQLite may hold TEXT in NUMERIC columns. */
function numeric(v: unknown): number | null | string {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return Number.isFinite(v) ? v : `not a finite number (${v})`;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return `not a number (${JSON.stringify(v)})`;
}

function record(
  ctx: Ctx,
  id: string,
  task: string,
  instruction: string,
  output: string,
  citations: string[],
  confidence: number,
  provenance: Record<string, unknown>,
  facts: Fact[] = [],
): IngestEvent {
  const rec: InstructionRecord = {
    id,
    instruction,
    input: "",
    output,
    metadata: {
      source: "chembl",
      task,
      confidence,
      citations: [...new Set([...citations, ctx.release])],
      license: CHEMBL_LICENSE,
      provenance: {
        file: path.basename(ctx.file),
        release: ctx.release,
        attribution: /^chembl_\d+$/.test(ctx.release)
          ? `ChEMBL data is from http://www.ebi.ac.uk/chembl - the version of ChEMBL is ${ctx.release}`
          : `ChEMBL-format data, release "${ctx.release}" (not an official ChEMBL release name)`,
        ...provenance,
      },
      ...(facts.length > 0 ? { facts } : {}),
    },
  };
  return { type: "record", record: rec };
}

/** A fact about a molecule, named as the records write it (title-cased preferred name). */
function moleculeFact(
  m: Molecule,
  relation: string,
  object: string,
  objectType: string,
  objectId?: string,
): Fact {
  return {
    subject: titleCase(m.pref_name),
    relation,
    object,
    subjectId: m.chembl_id,
    subjectType: "Compound",
    objectType,
    ...(objectId ? { objectId } : {}),
  };
}

/**
 * Calculated properties are facts with a literal object (objectType "Quantity"): the fact index
 * keeps them for checking but leaves them out of the entity graph and the vocabulary. The object
 * is the number as the records print it, so "MW 493.62" in a summary matches the MW record.
 */
const quantityFact = (m: Molecule, relation: string, value: string): Fact =>
  moleculeFact(m, relation, value, "Quantity");

/** The relation a max phase stands for; phase 4 is an approval, lower phases are trials. */
export function phaseRelation(phase: number): string {
  return phase === 4 ? "approved for" : `in phase ${phase} trials for`;
}

function phaseText(phase: number): string | undefined {
  if (phase === 4) return "approved (phase 4)";
  if (phase === 0.5) return "early phase 1 clinical trials";
  if (phase >= 1 && phase <= 3 && Number.isInteger(phase)) return `phase ${phase} clinical trials`;
  return undefined;
}

/** Citations from a *_refs table: PMIDs and ClinicalTrials.gov ids (ChEMBL lists NCT ids comma-separated). */
function refCitations(rows: { ref_type: unknown; ref_id: unknown }[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    // Only text that matches the id grammar becomes a citation (a BLOB or NUL-laden cell never).
    if (typeof r.ref_id !== "string") continue;
    if (r.ref_type === "PubMed")
      for (const id of r.ref_id.split(/[,\s]+/))
        if (ID_GRAMMAR.pmid.test(id)) out.push(`PMID:${id}`);
    if (r.ref_type === "ClinicalTrials")
      for (const id of r.ref_id.split(/[,\s]+/))
        if (ID_GRAMMAR.nct.test(id.toUpperCase())) out.push(id.toUpperCase());
  }
  return [...new Set(out)];
}

/** Columns whose values become record ids and citations. */
const ID_COLUMNS = ["chembl_id", "target_chembl_id"];

/**
 * Why a row cannot be used: a BLOB or a NUL byte where text belongs (it would end up in an id or a
 * sentence), a text cell over the record cap, or a ChEMBL id that does not match CHEMBL\d+.
 */
export function rowProblem(row: Record<string, unknown>, limits: InputLimits): string | undefined {
  for (const [column, v] of Object.entries(row)) {
    if (v instanceof Uint8Array) return `column ${column} holds a BLOB, expected text or a number`;
    if (typeof v !== "string") continue;
    if (v.includes("\0")) return `column ${column} contains a NUL byte`;
    if (v.length > limits.maxRecordChars)
      return tooLargeReason(`column ${column}`, v.length, limits);
  }
  for (const column of ID_COLUMNS) {
    const v = row[column];
    if (v === null || v === undefined) continue;
    const bad = idProblem("chembl", v);
    if (bad) return `column ${column}: ${bad}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// properties

const PROPERTIES: {
  column: string;
  key: string;
  /** Relation of the property fact, e.g. "has molecular weight". */
  relation: string;
  /** The number as the answer and the rule-of-five summary print it. */
  format: (v: number) => string;
  question: string;
  answer: (v: number) => string;
  integer?: boolean;
}[] = [
  {
    column: "mw_freebase",
    relation: "has molecular weight",
    format: (v) => v.toFixed(2),
    key: "mw",
    question: "What is the molecular weight (parent, free base) of {drug}?",
    answer: (v) => `${v.toFixed(2)} g/mol`,
  },
  {
    column: "alogp",
    relation: "has ALogP",
    format: (v) => v.toFixed(2),
    key: "alogp",
    question: "What is the calculated ALogP (Crippen logP) of {drug}?",
    answer: (v) => v.toFixed(2),
  },
  {
    column: "hba",
    relation: "has hydrogen-bond acceptor count",
    format: (v) => `${v}`,
    key: "hba",
    question: "How many hydrogen-bond acceptors does {drug} have?",
    answer: (v) => `${v}`,
    integer: true,
  },
  {
    column: "hbd",
    relation: "has hydrogen-bond donor count",
    format: (v) => `${v}`,
    key: "hbd",
    question: "How many hydrogen-bond donors does {drug} have?",
    answer: (v) => `${v}`,
    integer: true,
  },
  {
    column: "psa",
    relation: "has polar surface area",
    format: (v) => v.toFixed(2),
    key: "psa",
    question: "What is the topological polar surface area of {drug}?",
    answer: (v) => `${v.toFixed(2)} Å²`,
  },
  {
    column: "num_ro5_violations",
    relation: "has rule-of-five violation count",
    format: (v) => `${v}`,
    key: "ro5",
    question: "How many Lipinski rule-of-five violations does {drug} have?",
    answer: (v) => `${v}`,
    integer: true,
  },
  {
    column: "qed_weighted",
    relation: "has weighted QED",
    format: (v) => v.toFixed(2),
    key: "qed",
    question: "What is the weighted QED (quantitative estimate of drug-likeness) of {drug}?",
    answer: (v) => v.toFixed(2),
  },
];

function* propertyRecords(ctx: Ctx): Generator<FamilyEvent> {
  const stmt = ctx.db.prepare(
    `SELECT md.molregno, md.chembl_id, md.pref_name, ${PROPERTIES.map((p) => `cp.${p.column}`).join(", ")}
     FROM molecule_dictionary md JOIN compound_properties cp ON cp.molregno = md.molregno
     WHERE md.pref_name IS NOT NULL ORDER BY md.molregno`,
  );
  for (const row of stmt.iterate() as Iterable<Molecule & Record<string, unknown>>) {
    yield { type: "position", molregno: row.molregno };
    const bad = rowProblem(row as unknown as Record<string, unknown>, ctx.limits);
    if (bad) {
      yield {
        type: "skip",
        file: ctx.file,
        location: `properties row molregno=${row.molregno}`,
        reason: bad,
      };
      continue;
    }
    const drug = displayName(row);
    const values: Record<string, number> = {};
    for (const p of PROPERTIES) {
      const v = numeric(row[p.column]);
      if (v === null) continue;
      const bad =
        typeof v === "string"
          ? v
          : v < 0 && p.key !== "alogp"
            ? `negative value ${v}`
            : p.integer && !Number.isInteger(v)
              ? `expected an integer, got ${v}`
              : p.key === "qed" && v > 1
                ? `QED ${v} outside 0..1`
                : undefined;
      if (bad) {
        yield {
          type: "skip",
          file: ctx.file,
          location: `compound_properties molregno=${row.molregno} column ${p.column}`,
          reason: bad,
        };
        continue;
      }
      values[p.key] = v as number;
      yield record(
        ctx,
        `chembl-${row.chembl_id}-${p.key}`,
        `chembl.property.${p.key}`,
        p.question.replace("{drug}", drug),
        `${p.answer(v as number)} (calculated for the parent compound).`,
        [row.chembl_id],
        0.95,
        { table: "compound_properties", molregno: row.molregno, column: p.column },
        [quantityFact(row, p.relation, p.format(v as number))],
      );
    }
    const { mw, alogp, hba, hbd, ro5 } = values;
    if (mw !== undefined && alogp !== undefined && hba !== undefined && hbd !== undefined) {
      const checks = [
        `molecular weight ${mw.toFixed(2)} ${mw <= 500 ? "≤" : ">"} 500`,
        `ALogP ${alogp.toFixed(2)} ${alogp <= 5 ? "≤" : ">"} 5`,
        `H-bond acceptors ${hba} ${hba <= 10 ? "≤" : ">"} 10`,
        `H-bond donors ${hbd} ${hbd <= 5 ? "≤" : ">"} 5`,
      ];
      const violations = ro5 ?? [mw > 500, alogp > 5, hba > 10, hbd > 5].filter(Boolean).length;
      // Lipinski's rule tolerates one violation; two or more predict poor oral absorption.
      const verdict =
        violations === 0
          ? "Yes, it satisfies"
          : violations === 1
            ? "Yes, within the one violation tolerated by"
            : "No, it violates";
      yield record(
        ctx,
        `chembl-${row.chembl_id}-ro5-summary`,
        "chembl.property.ro5_summary",
        `Does ${drug} satisfy Lipinski's rule of five? Explain with its properties.`,
        `${verdict} Lipinski's rule of five (${violations} violation${violations === 1 ? "" : "s"}): ${checks.join("; ")}.`,
        [row.chembl_id],
        0.95,
        { table: "compound_properties", molregno: row.molregno },
        PROPERTIES.filter(
          (p) =>
            ["mw", "alogp", "hba", "hbd"].includes(p.key) || (p.key === "ro5" && ro5 !== undefined),
        ).map((p) => quantityFact(row, p.relation, p.format(values[p.key]!))),
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// mechanism

interface MechRow extends Molecule {
  mec_id: number;
  mechanism_of_action: string | null;
  action_type: string | null;
  target_name: string | null;
  target_type: string | null;
  organism: string | null;
  target_chembl_id: string | null;
}

function* mechanismRecords(ctx: Ctx): Generator<FamilyEvent> {
  const stmt = ctx.db.prepare(
    `SELECT md.molregno, md.chembl_id, md.pref_name, dm.mec_id, dm.mechanism_of_action, dm.action_type,
            td.pref_name AS target_name, td.target_type, td.organism, td.chembl_id AS target_chembl_id
     FROM drug_mechanism dm JOIN molecule_dictionary md ON md.molregno = dm.molregno
     LEFT JOIN target_dictionary td ON td.tid = dm.tid
     WHERE md.pref_name IS NOT NULL ORDER BY dm.molregno, dm.mec_id`,
  );
  const refs = ctx.present.has("mechanism_refs")
    ? ctx.lookup.prepare("SELECT ref_type, ref_id FROM mechanism_refs WHERE mec_id = ?")
    : undefined;
  let group: { mol: Molecule; rows: MechRow[]; cites: string[] } | undefined;
  const flush = (): FamilyEvent | undefined => {
    if (!group || group.rows.length === 0) return undefined;
    const { mol, rows, cites } = group;
    const lines = rows.map((r) =>
      r.target_name
        ? `${r.mechanism_of_action} — ${(r.action_type ?? "acts on").toLowerCase()} of ${r.target_name} (${r.target_chembl_id}, ${r.target_type?.toLowerCase()}, ${r.organism ?? "organism not given"})`
        : `${r.mechanism_of_action} (target not specified)`,
    );
    return record(
      ctx,
      `chembl-${mol.chembl_id}-mechanism`,
      "chembl.mechanism",
      `What is the mechanism of action of ${displayName(mol)}?`,
      lines.length === 1 ? `${lines[0]}.` : lines.map((l, k) => `${k + 1}. ${l}.`).join("\n"),
      [
        mol.chembl_id,
        ...rows.flatMap((r) => (r.target_chembl_id ? [r.target_chembl_id] : [])),
        ...cites,
      ],
      0.95,
      { table: "drug_mechanism", molregno: mol.molregno, mec_ids: rows.map((r) => r.mec_id) },
      rows.flatMap((r) => (r.target_name ? [mechanismFact(mol, r)] : [])),
    );
  };
  for (const row of stmt.iterate() as Iterable<MechRow>) {
    yield { type: "position", molregno: row.molregno };
    const bad = rowProblem(row as unknown as Record<string, unknown>, ctx.limits);
    if (bad) {
      yield {
        type: "skip",
        file: ctx.file,
        location: `mechanism row molregno=${row.molregno}`,
        reason: bad,
      };
      continue;
    }
    if (group && group.mol.molregno !== row.molregno) {
      const ev = flush();
      if (ev) yield ev;
      group = undefined;
    }
    group ??= { mol: row, rows: [], cites: [] };
    if (!row.mechanism_of_action || !row.mechanism_of_action.trim()) {
      yield {
        type: "skip",
        file: ctx.file,
        location: `drug_mechanism mec_id=${row.mec_id}`,
        reason: "empty mechanism_of_action",
      };
      continue;
    }
    const cites = refs
      ? refCitations(refs.all(row.mec_id) as { ref_type: string; ref_id: string }[])
      : [];
    group.rows.push(row);
    group.cites.push(...cites);
    if (row.target_name && row.action_type) {
      const drug = displayName(row);
      yield record(
        ctx,
        `chembl-mec-${row.mec_id}`,
        "chembl.mechanism.target",
        `How does ${drug} act on ${row.target_name}?`,
        `${titleCase(row.pref_name)} is ${/^[aeiou]/i.test(row.action_type) ? "an" : "a"} ${row.action_type.toLowerCase()} of ${row.target_name} (${row.target_chembl_id}, ${row.target_type?.toLowerCase()}, ${row.organism ?? "organism not given"}); ChEMBL records the mechanism as "${row.mechanism_of_action}".`,
        [row.chembl_id, ...(row.target_chembl_id ? [row.target_chembl_id] : []), ...cites],
        0.95,
        { table: "drug_mechanism", molregno: row.molregno, mec_id: row.mec_id },
        [mechanismFact(row, row)],
      );
    }
  }
  const ev = flush();
  if (ev) yield ev;
}

/** Molecule → target, the action type as relation ("inhibitor" of, "agonist" of …). */
function mechanismFact(mol: Molecule, r: MechRow): Fact {
  return moleculeFact(
    mol,
    r.action_type ? `${r.action_type.toLowerCase()} of` : "acts on",
    r.target_name ?? "",
    r.target_type ? `Target (${r.target_type.toLowerCase()})` : "Target",
    r.target_chembl_id ?? undefined,
  );
}

// ---------------------------------------------------------------------------------------------
// indications

interface IndRow extends Molecule {
  drugind_id: number;
  max_phase_for_ind: unknown;
  mesh_id: string | null;
  mesh_heading: string | null;
  efo_id: string | null;
  efo_term: string | null;
}

const APPROVED_LIST_MAX = 30;

/**
 * ChEMBL keeps one drug_indication row per (record, MeSH, EFO), so one MeSH heading can appear with
 * several EFO terms and phases. Rows are grouped per molecule (bounded: a few hundred at most) and
 * merged per MeSH id, keeping the highest phase.
 */
function* indicationRecords(ctx: Ctx): Generator<FamilyEvent> {
  const stmt = ctx.db.prepare(
    `SELECT md.molregno, md.chembl_id, md.pref_name, di.drugind_id, di.max_phase_for_ind, di.mesh_id, di.mesh_heading,
            di.efo_id, di.efo_term
     FROM drug_indication di JOIN molecule_dictionary md ON md.molregno = di.molregno
     WHERE md.pref_name IS NOT NULL ORDER BY di.molregno, di.drugind_id`,
  );
  const refs = ctx.present.has("indication_refs")
    ? ctx.lookup.prepare("SELECT ref_type, ref_id FROM indication_refs WHERE drugind_id = ?")
    : undefined;
  type Merged = {
    mesh_id: string;
    heading: string;
    phase: number;
    efo: string[];
    ids: number[];
    cites: string[];
  };
  let mol: Molecule | undefined;
  let byMesh = new Map<string, Merged>();
  const indicationFact = (m: Molecule, ind: Merged): Fact =>
    moleculeFact(m, phaseRelation(ind.phase), ind.heading, "Indication", `MeSH:${ind.mesh_id}`);

  function* flush(): Generator<FamilyEvent> {
    if (!mol) return;
    const m = mol;
    const drug = displayName(m);
    const approved: string[] = [];
    const approvedFacts: Fact[] = [];
    for (const ind of byMesh.values()) {
      const disease = `${ind.heading} (MeSH ${ind.mesh_id}${ind.efo.length ? `; ${ind.efo.join(", ")}` : ""})`;
      if (ind.phase === 4 && approved.length < APPROVED_LIST_MAX)
        approvedFacts.push(indicationFact(m, ind));
      if (ind.phase === 4) approved.push(disease);
      yield record(
        ctx,
        `chembl-ind-${m.chembl_id}-${ind.mesh_id}`,
        "chembl.indications.phase",
        `How far has ${drug} progressed for ${ind.heading}?`,
        ind.phase === 4
          ? `${titleCase(m.pref_name)} is approved for ${disease} (phase 4), the highest phase ChEMBL records for this indication.`
          : `${titleCase(m.pref_name)} has reached ${phaseText(ind.phase)} for ${disease}, the highest phase ChEMBL records for this indication.`,
        [m.chembl_id, `MeSH:${ind.mesh_id}`, ...new Set(ind.cites)],
        0.9,
        { table: "drug_indication", molregno: m.molregno, drugind_ids: ind.ids },
        [indicationFact(m, ind)],
      );
    }
    if (approved.length > 0) {
      const shown = approved.slice(0, APPROVED_LIST_MAX);
      const more = approved.length - shown.length;
      yield record(
        ctx,
        `chembl-${m.chembl_id}-approved-indications`,
        "chembl.indications.approved",
        `For which indications is ${drug} approved, according to ChEMBL?`,
        `${shown.join("; ")}${more > 0 ? `; and ${more} more` : ""}.`,
        [m.chembl_id],
        0.9,
        { table: "drug_indication", molregno: m.molregno },
        approvedFacts,
      );
    }
  }

  for (const row of stmt.iterate() as Iterable<IndRow>) {
    yield { type: "position", molregno: row.molregno };
    const bad = rowProblem(row as unknown as Record<string, unknown>, ctx.limits);
    if (bad) {
      yield {
        type: "skip",
        file: ctx.file,
        location: `indications row molregno=${row.molregno}`,
        reason: bad,
      };
      continue;
    }
    if (mol && mol.molregno !== row.molregno) {
      yield* flush();
      byMesh = new Map();
    }
    mol = row;
    const location = `drug_indication drugind_id=${row.drugind_id}`;
    if (!row.mesh_heading || !row.mesh_id) {
      yield { type: "skip", file: ctx.file, location, reason: "missing mesh_id/mesh_heading" };
      continue;
    }
    const phase = numeric(row.max_phase_for_ind);
    if (typeof phase !== "number" || !phaseText(phase)) {
      yield {
        type: "skip",
        file: ctx.file,
        location,
        reason:
          typeof phase === "string"
            ? `max_phase_for_ind ${phase}`
            : `max_phase_for_ind ${phase ?? "NULL"} gives no clinical phase`,
      };
      continue;
    }
    let ind = byMesh.get(row.mesh_id);
    if (!ind) {
      ind = { mesh_id: row.mesh_id, heading: row.mesh_heading, phase, efo: [], ids: [], cites: [] };
      byMesh.set(row.mesh_id, ind);
    }
    ind.phase = Math.max(ind.phase, phase);
    if (row.efo_id && !ind.efo.includes(row.efo_id)) ind.efo.push(row.efo_id);
    ind.ids.push(row.drugind_id);
    if (refs)
      ind.cites.push(
        ...refCitations(refs.all(row.drugind_id) as { ref_type: string; ref_id: string }[]),
      );
  }
  yield* flush();
}

// ---------------------------------------------------------------------------------------------
// potency

interface ActRow extends Molecule {
  tid: number;
  target_chembl_id: string | null;
  target_name: string | null;
  target_type: string | null;
  organism: string | null;
  standard_type: string | null;
  pchembl_value: unknown;
  activity_id: number;
  assay_chembl_id: string | null;
  assay_type: string | null;
  confidence_score: number | null;
  pubmed_id: unknown;
}

const ASSAY_TYPES: Record<string, string> = {
  B: "binding",
  F: "functional",
  A: "ADME",
  T: "toxicity",
  P: "physicochemical",
  U: "unclassified",
};

function* potencyRecords(ctx: Ctx): Generator<FamilyEvent> {
  const docs = ctx.present.has("docs");
  // Flagged values (data_validity_comment) and potential duplicates are left out, as ChEMBL advises.
  const stmt = ctx.db.prepare(
    `SELECT md.molregno, md.chembl_id, md.pref_name, s.tid, td.chembl_id AS target_chembl_id, td.pref_name AS target_name,
            td.target_type, td.organism, a.standard_type, a.pchembl_value, a.activity_id, s.chembl_id AS assay_chembl_id,
            s.assay_type, s.confidence_score, ${docs ? "d.pubmed_id" : "NULL"} AS pubmed_id
     FROM activities a JOIN molecule_dictionary md ON md.molregno = a.molregno
     JOIN assays s ON s.assay_id = a.assay_id JOIN target_dictionary td ON td.tid = s.tid
     ${docs ? "LEFT JOIN docs d ON d.doc_id = a.doc_id" : ""}
     WHERE a.pchembl_value IS NOT NULL AND a.data_validity_comment IS NULL AND coalesce(a.potential_duplicate, 0) = 0
       AND md.pref_name IS NOT NULL
     ORDER BY a.molregno, s.tid, a.standard_type, a.activity_id`,
  );
  type Group = {
    first: ActRow;
    values: number[];
    pmids: Set<string>;
    assays: Set<string>;
    types: Set<string>;
    minConf: number;
    ids: number[];
  };
  let g: Group | undefined;
  const flush = (): FamilyEvent | undefined => {
    if (!g || g.values.length === 0) return undefined;
    const r = g.first;
    const v = [...g.values].sort((a, b) => a - b);
    const mid = v.length >> 1;
    const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
    const nm = 10 ** (9 - median);
    const spread =
      v.length > 1
        ? ` across ${v.length} measurements (range ${v[0]!.toFixed(2)}–${v[v.length - 1]!.toFixed(2)})`
        : " from a single measurement";
    const kinds = [...g.types].map((t) => ASSAY_TYPES[t] ?? t).join("/");
    return record(
      ctx,
      `chembl-potency-${r.chembl_id}-${r.target_chembl_id}-${r.standard_type}`,
      "chembl.potency",
      `What ${r.standard_type} potency has ${displayName(r)} shown against ${r.target_name} (${r.organism ?? "organism not given"})?`,
      `${v.length > 1 ? "Median pChEMBL" : "pChEMBL"} ${median.toFixed(2)} (${r.standard_type} ≈ ${formatNm(nm)})${spread}, in ${kinds} assays on ${r.target_name} (${r.target_chembl_id}, ${r.target_type?.toLowerCase()}).`,
      [
        r.chembl_id,
        ...(r.target_chembl_id ? [r.target_chembl_id] : []),
        ...[...g.pmids].slice(0, 5).map((p) => `PMID:${p}`),
      ],
      Math.min(0.95, 0.5 + 0.05 * g.minConf),
      {
        table: "activities",
        molregno: r.molregno,
        tid: r.tid,
        activity_ids: g.ids.slice(0, 20),
        assays: [...g.assays].slice(0, 10),
      },
    );
  };
  for (const row of stmt.iterate() as Iterable<ActRow>) {
    yield { type: "position", molregno: row.molregno };
    const bad = rowProblem(row as unknown as Record<string, unknown>, ctx.limits);
    if (bad) {
      yield {
        type: "skip",
        file: ctx.file,
        location: `potency row molregno=${row.molregno}`,
        reason: bad,
      };
      continue;
    }
    if (
      g &&
      (g.first.molregno !== row.molregno ||
        g.first.tid !== row.tid ||
        g.first.standard_type !== row.standard_type)
    ) {
      const ev = flush();
      if (ev) yield ev;
      g = undefined;
    }
    const p = numeric(row.pchembl_value);
    if (typeof p !== "number" || p <= 0 || p > 15 || !row.standard_type || !row.target_name) {
      const why =
        typeof p === "string"
          ? `pchembl_value ${p}`
          : typeof p === "number" && (p <= 0 || p > 15)
            ? `pchembl_value ${p} outside 0..15`
            : !row.standard_type
              ? "missing standard_type"
              : "target without pref_name";
      yield {
        type: "skip",
        file: ctx.file,
        location: `activities activity_id=${row.activity_id}`,
        reason: why,
      };
      continue;
    }
    g ??= {
      first: row,
      values: [],
      pmids: new Set(),
      assays: new Set(),
      types: new Set(),
      minConf: 9,
      ids: [],
    };
    g.values.push(p);
    g.ids.push(row.activity_id);
    if (row.assay_chembl_id) g.assays.add(row.assay_chembl_id);
    if (row.assay_type) g.types.add(row.assay_type);
    if (ID_GRAMMAR.pmid.test(String(row.pubmed_id))) g.pmids.add(String(row.pubmed_id));
    g.minConf = Math.min(
      g.minConf,
      typeof row.confidence_score === "number" ? row.confidence_score : 0,
    );
  }
  const ev = flush();
  if (ev) yield ev;
}

function formatNm(nm: number): string {
  if (nm >= 1e6) return `${(nm / 1e6).toPrecision(3)} mM`;
  if (nm >= 1e3) return `${(nm / 1e3).toPrecision(3)} µM`;
  return `${nm.toPrecision(3)} nM`;
}
