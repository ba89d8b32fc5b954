/**
 * The ingest orchestrator: source dumps under `<inDir>/<source>/` → `<outDir>/<source>.jsonl`.
 *
 *   await runIngest({ sources: ["hetionet", "drugbank"], inDir: "data/raw", outDir: "data/processed" })
 *
 * For each source it lists the input files (recursively, in name order; files that are not the
 * source's format, such as READMEs, checksums and partial downloads, are logged as ignored), runs
 * the source's reader, validates every record, and writes the output through a temp file that is
 * renamed only when the whole source succeeded, so a failure keeps the previous output. A source
 * whose records were all (or nearly all: below `minOutputRatio`) skipped fails the same way, with
 * its skips counted by reason, unless `allowEmpty`. The audit log (`<logDir>/ingest-<time>.jsonl`)
 * lists every input file with its SHA-256, every skipped record with its reason and location,
 * counts per task, and any error. Relative paths are resolved against the project root.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { validateRecord } from "../data/record.js";
import { removeStaleTemporariesIn } from "../fs-atomic.js";
import { fromRoot } from "../paths.js";
import { outputShortfall } from "../stage-output.js";
import { Progress } from "./progress.js";
import { IngestError, type IngestEvent, type IngestOptions, type IngestSourceId } from "./types.js";
import { AtomicJsonlWriter, AuditLog, type AuditEntry, type SourceCounts } from "./writer.js";
import { isNonCommercial } from "./hetionet/index.js";

export type Reader = (files: string[], opts: IngestOptions) => AsyncGenerator<IngestEvent>;

interface SourceSpec {
  /** Folder names under the input root, first existing wins (default: the source id). */
  dirs?: string[];
  /** Input files the reader understands. */
  accept: RegExp;
  /** Files that are part of the distribution but carry no records (logged as ignored, quietly). */
  companion?: RegExp;
  load: () => Promise<Reader>;
}

/** Readers load lazily, so one source's broken import cannot stop the others. */
export const SOURCES: Record<IngestSourceId, SourceSpec> = {
  hetionet: {
    accept: /(\.json(\.gz|\.bz2)?|nodes\.tsv(\.gz)?|\.sif(\.gz|\.bz2)?)$/i,
    companion:
      /(metagraph\.json|definitions\.json|styles\.json|meta(edges|nodes)\.tsv|neo4j-[a-z]+\.tsv)$/i,
    load: async () => (await import("./hetionet/index.js")).readHetionet,
  },
  chembl_sqlite: {
    dirs: ["chembl", "chembl_sqlite"],
    accept: /\.(db|sqlite3?|tar\.gz|tgz)$/i,
    load: async () => (await import("./chembl.js")).readChembl,
  },
  pubmed: {
    accept: /\.xml(\.gz)?$/i,
    load: async () => (await import("./pubmed.js")).readPubmed,
  },
  clinicaltrials: {
    accept: /\.(json|json\.gz|jsonl|jsonl\.gz|zip)$/i,
    load: async () => (await import("./clinicaltrials.js")).readClinicalTrials,
  },
  drugbank: {
    accept: /\.(xml|xml\.gz|xml\.bz2|xml\.zip|csv|csv\.gz|csv\.zip)$/i,
    load: async () => (await import("./drugbank.js")).readDrugbank,
  },
};

export const SOURCE_IDS = Object.keys(SOURCES) as IngestSourceId[];

/** Where a source's files live under the input root (download writes there too). */
export function sourceDir(source: IngestSourceId): string {
  return SOURCES[source].dirs?.[0] ?? source;
}

export interface RunIngestOptions {
  sources: IngestSourceId[];
  inDir?: string;
  outDir?: string;
  /** Records per source. */
  limit?: number;
  excludeNonCommercial?: boolean;
  logDir?: string;
  seed?: number;
  /** Progress to stderr (default true); false for tests and benches. */
  progress?: boolean | NodeJS.WritableStream;
  /** Progress as plain numbers for notebooks and logs (per source, per input chunk). */
  onEvent?: (e: IngestRunEvent) => void;
  signal?: AbortSignal;
  /** Replace a source's reader (tests). */
  readers?: Partial<Record<IngestSourceId, Reader>>;
  /** Per-record size and nesting caps for the readers (DEFAULT_INPUT_LIMITS in types.ts). */
  limits?: IngestOptions["limits"];
  /**
   * Write a source's output even when it is empty or below `minOutputRatio` (default false: such
   * a source fails and its previous output is kept).
   */
  allowEmpty?: boolean;
  /** Records written / (written + skipped) below which a source fails (default 0.1). */
  minOutputRatio?: number;
}

/** What runIngest reports while it works (`onEvent`); `done` carries the same counts as the result. */
export type IngestRunEvent =
  | { type: "source"; source: IngestSourceId; files: number; inputBytes: number }
  | {
      type: "progress";
      source: IngestSourceId;
      records: number;
      skipped: number;
      bytesRead: number;
      inputBytes: number;
    }
  | { type: "warning"; source: IngestSourceId; message: string }
  | { type: "source-done"; result: SourceResult }
  | { type: "done"; ok: boolean; auditLog: string };

/** The share of a source's items that must become records unless `allowEmpty` (0.1). */
export const INGEST_MIN_OUTPUT_RATIO = 0.1;

export interface SourceResult extends SourceCounts {
  source: IngestSourceId;
  ok: boolean;
  /** Written file, or null when the source failed (the previous output, if any, is untouched). */
  output: string | null;
  files: string[];
  error?: string;
  /** What was read but not trusted (e.g. invalid UTF-8), per file; also in the audit log. */
  warnings: { file: string; location: string; message: string }[];
}

export interface IngestResult {
  ok: boolean;
  auditLog: string;
  sources: SourceResult[];
}

/** List a source's files: accepted ones (name order) and the others with why they are left out. */
export async function findInputs(
  source: IngestSourceId,
  inDir: string,
): Promise<{ files: string[]; ignored: { file: string; reason: string }[] }> {
  const names = SOURCES[source].dirs ?? [source];
  let dir = path.join(inDir, names[0]!);
  let st;
  for (const name of names) {
    dir = path.join(inDir, name);
    st = await stat(dir).catch(() => undefined);
    if (st) break;
  }
  if (!st) {
    throw new IngestError(
      `no input folder for source "${source}": put its files there or run \`medtune download ${source}\``,
      path.join(inDir, names[0]!),
    );
  }
  if (!st.isDirectory()) throw new IngestError("expected a folder of input files", dir);
  const all = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath ?? dir, e.name))
    .sort();
  const spec = SOURCES[source];
  const files: string[] = [];
  const ignored: { file: string; reason: string }[] = [];
  for (const f of all) {
    const base = path.basename(f);
    if (base.startsWith(".")) continue;
    if (spec.companion?.test(base))
      ignored.push({ file: f, reason: "companion file of the distribution (no records)" });
    else if (/\.(part|tmp)$|\.tmp-/.test(base))
      ignored.push({ file: f, reason: "partial download or temp file" });
    else if (spec.accept.test(base)) files.push(f);
    else ignored.push({ file: f, reason: `not a ${source} input (accepted: ${spec.accept})` });
  }
  if (files.length === 0) {
    throw new IngestError(`no ${source} input files (looked for ${spec.accept})`, dir);
  }
  return { files, ignored };
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }))
    h.update(chunk as Buffer);
  return h.digest("hex");
}

export async function runIngest(opts: RunIngestOptions): Promise<IngestResult> {
  const inDir = fromRoot(opts.inDir ?? "data/raw");
  const outDir = fromRoot(opts.outDir ?? "data/processed");
  const logDir = fromRoot(opts.logDir ?? "logs");
  // A killed run's temporaries: outputs are also cleaned per file on open, but its audit log
  // had a name of its own.
  for (const dir of [outDir, logDir]) removeStaleTemporariesIn(dir);
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const audit = await AuditLog.open(path.join(logDir, `ingest-${stamp}.jsonl`));
  const results: SourceResult[] = [];
  try {
    await audit.write({
      type: "run",
      startedAt: startedAt.toISOString(),
      options: {
        sources: opts.sources,
        inDir,
        outDir,
        limit: opts.limit ?? null,
        excludeNonCommercial: Boolean(opts.excludeNonCommercial),
        seed: opts.seed ?? 0,
        allowEmpty: Boolean(opts.allowEmpty),
        minOutputRatio: opts.minOutputRatio ?? INGEST_MIN_OUTPUT_RATIO,
      },
    });
    for (const source of opts.sources) {
      if (!(source in SOURCES))
        throw new Error(`unknown source "${source}"; known: ${SOURCE_IDS.join(", ")}`);
      results.push(await ingestSource(source, { ...opts, inDir, outDir }, audit));
      opts.onEvent?.({ type: "source-done", result: results.at(-1)! });
    }
    const ok = results.every((r) => r.ok);
    await audit.write({ type: "end", finishedAt: new Date().toISOString(), ok });
    await audit.close();
    opts.onEvent?.({ type: "done", ok, auditLog: audit.path });
    return { ok, auditLog: audit.path, sources: results };
  } catch (e) {
    await audit
      .write({ type: "error", source: "*", message: (e as Error).message })
      .catch(() => undefined);
    await audit.close().catch(() => audit.abort());
    throw e;
  }
}

async function ingestSource(
  source: IngestSourceId,
  opts: RunIngestOptions & { inDir: string; outDir: string },
  audit: AuditLog,
): Promise<SourceResult> {
  const t0 = performance.now();
  const result: SourceResult = {
    source,
    ok: false,
    output: null,
    files: [],
    warnings: [],
    records: 0,
    skipped: 0,
    recordsByTask: {},
    skippedByReason: {},
    inputBytes: 0,
    seconds: 0,
  };
  let writer: AtomicJsonlWriter | null = null;
  let progress: Progress | null = null;
  let limitReached = false;
  try {
    const { files, ignored } = await findInputs(source, opts.inDir);
    result.files = files;
    for (const ig of ignored) await audit.write({ type: "ignored", source, ...ig });
    const sizes = new Map<string, number>();
    for (const f of files) {
      const size = (await stat(f)).size;
      sizes.set(f, size);
      result.inputBytes += size;
      await audit.write({
        type: "input",
        source,
        file: f,
        bytes: size,
        sha256: await sha256File(f),
      });
    }
    opts.onEvent?.({ type: "source", source, files: files.length, inputBytes: result.inputBytes });
    const reader = opts.readers?.[source] ?? (await SOURCES[source].load());
    const target = path.join(opts.outDir, `${source}.jsonl`);
    writer = await AtomicJsonlWriter.open(target);
    if (opts.progress !== false) {
      progress = new Progress({
        label: source,
        bytesTotal: result.inputBytes,
        ...(typeof opts.progress === "object" ? { stream: opts.progress } : {}),
      });
    }
    // Bytes of files already finished, so the bar covers all of a source's files.
    const doneBytes = new Map<string, number>();
    const limit = opts.limit ?? Infinity;
    const gen = reader(files, {
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      excludeNonCommercial: Boolean(opts.excludeNonCommercial),
      seed: opts.seed ?? 0,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.limits ? { limits: opts.limits } : {}),
    });
    const skip = async (file: string, location: string, reason: string) => {
      result.skipped++;
      const key = reason.replace(/\d[\d,.]*/g, "N").slice(0, 120);
      result.skippedByReason[key] = (result.skippedByReason[key] ?? 0) + 1;
      await audit.write({ type: "skip", source, file, location, reason });
    };
    for await (const ev of gen) {
      if (ev.type === "record") {
        let rec;
        try {
          rec = validateRecord(ev.record);
        } catch (e) {
          throw new IngestError(
            `reader produced an invalid record ${JSON.stringify(ev.record?.id)}: ${(e as Error).message}`,
            files[0]!,
          );
        }
        if (opts.excludeNonCommercial && isNonCommercial(rec.metadata.license)) {
          // Safety net for readers that do not filter themselves.
          await skip(
            String(rec.metadata.provenance.file ?? files[0]),
            `record ${rec.id}`,
            `excluded by --exclude-noncommercial: licence ${rec.metadata.license}`,
          );
          continue;
        }
        await writer.write(rec);
        result.records++;
        result.recordsByTask[rec.metadata.task] =
          (result.recordsByTask[rec.metadata.task] ?? 0) + 1;
        progress?.update({ records: result.records });
        if (result.records >= limit) {
          limitReached = true;
          break;
        }
      } else if (ev.type === "skip") {
        await skip(ev.file, ev.location, ev.reason);
      } else if (ev.type === "warning") {
        // e.g. invalid UTF-8: counted per file with its first offset, never silent.
        result.warnings.push({ file: ev.file, location: ev.location, message: ev.message });
        opts.onEvent?.({
          type: "warning",
          source,
          message: `${ev.file} ${ev.location}: ${ev.message}`,
        });
        await audit.write({ source, ...ev });
      } else {
        doneBytes.set(ev.file, ev.bytesRead);
        let sum = 0;
        for (const [f, b] of doneBytes) sum += f === ev.file ? b : (sizes.get(f) ?? b);
        progress?.update({ bytesRead: sum, records: result.records });
        opts.onEvent?.({
          type: "progress",
          source,
          records: result.records,
          skipped: result.skipped,
          bytesRead: sum,
          inputBytes: result.inputBytes,
        });
      }
    }
    // A source that skipped (nearly) everything must not replace a good output with an empty one.
    const shortfall = outputShortfall({
      what: source,
      read: result.records + result.skipped,
      written: result.records,
      minRatio: opts.minOutputRatio ?? INGEST_MIN_OUTPUT_RATIO,
      reasons: result.skippedByReason,
      allowEmpty: Boolean(opts.allowEmpty),
    });
    if (shortfall) throw new IngestError(shortfall, target);
    await writer.commit();
    writer = null;
    result.ok = true;
    result.output = target;
  } catch (e) {
    result.error = (e as Error).message;
    await audit.write({
      type: "error",
      source,
      ...(e instanceof IngestError ? { file: e.file } : {}),
      message: result.error,
    });
  } finally {
    if (writer) await writer.abort();
    result.seconds = (performance.now() - t0) / 1000;
    if (progress) {
      progress.update({
        bytesRead: result.ok ? result.inputBytes : undefined,
        records: result.records,
      });
      progress.done(result.ok ? `→ ${result.output}` : "FAILED");
    }
    const summary: AuditEntry = {
      type: "summary",
      source,
      output: result.output,
      records: result.records,
      skipped: result.skipped,
      recordsByTask: result.recordsByTask,
      skippedByReason: result.skippedByReason,
      inputBytes: result.inputBytes,
      seconds: Number(result.seconds.toFixed(3)),
      limitReached,
    };
    await audit.write(summary);
  }
  return result;
}
