/**
 * ClinicalTrials.gov reader for API v2 JSON, in every shape it is distributed in:
 * - one study (`GET /api/v2/studies/{nctId}`: `{protocolSection, resultsSection?, hasResults}`);
 * - an array of studies;
 * - a `/studies` page envelope (`{studies: [...], nextPageToken?, totalCount?}`);
 * - JSON Lines, one study per line (.jsonl);
 * - the bulk archive of per-study files: a directory of NCT*.json, or the .zip itself (read entry by
 *   entry with yauzl, which seeks through the central directory instead of loading the archive).
 * Arrays and pages are split study by study with a small streaming scanner, so a 1000-study page
 * is never parsed as one object; plain files may also be .gz.
 *
 * Records, cited by NCT id (+ PMIDs from referencesModule): conditions, interventions, phase and
 * status, primary outcomes, an overview, and whether results are posted. Only for studies that
 * carry a resultsSection: outcome measures with their group values and statistical analyses, and
 * adverse events. A study without results never yields a result statement, only the explicit "no
 * results posted" record. contactsLocationsModule and moreInfoModule.pointOfContact are never read,
 * and e-mail addresses and phone numbers are scrubbed from the free text that is copied.
 *
 * A study without a valid nctId, or an array element that is not JSON, is a skip with its index
 * and line; a file that is not v2 JSON (classic API, truncated, not JSON) is an IngestError.
 */
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import yauzl from "yauzl";
import type { Fact, InstructionRecord } from "../data/record.js";
import { jsonDepthExceeded } from "../data/record.js";
import { openInput, splitLineChunks, Utf8Stats } from "./io.js";
import {
  ID_GRAMMAR,
  IngestError,
  idProblem,
  inputLimits,
  tooDeepReason,
  tooLargeReason,
  type IngestEvent,
  type IngestOptions,
  type InputLimits,
} from "./types.js";

export const CLINICALTRIALS_LICENSE =
  "ClinicalTrials.gov Terms and Conditions (U.S. NLM public record)";
const PROGRESS_EVERY_BYTES = 1 << 20;
const MAX_ZIP_ENTRY_BYTES = 256 << 20;

// A loose view of the v2 Study object: every field is optional because real records vary.
/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;
/* eslint-enable @typescript-eslint/no-explicit-any */

export async function* readClinicalTrials(
  files: string[],
  opts: IngestOptions = {},
): AsyncGenerator<IngestEvent> {
  let left = opts.limit ?? Infinity;
  for (const file of files) {
    for await (const ev of readSource(file, inputLimits(opts), opts.signal)) {
      if (ev.type !== "study") {
        yield ev;
        continue;
      }
      const problem = studyProblem(ev.study);
      if (problem) {
        yield { type: "skip", file: ev.file, location: ev.location, reason: problem };
        continue;
      }
      for (const record of studyRecords(ev.study, ev.file, ev.location)) {
        yield { type: "record", record };
        if (--left <= 0) return;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Sources: file, directory, zip.

type SourceEvent =
  | { type: "study"; study: Json; file: string; location: string }
  | Exclude<IngestEvent, { type: "record" }>;

async function* readSource(
  file: string,
  limits: InputLimits,
  signal?: AbortSignal,
): AsyncGenerator<SourceEvent> {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    throw new IngestError(`cannot open: ${(e as Error).message}`, file);
  }
  if (st.isDirectory()) {
    yield* readDirectory(file, limits, signal);
  } else if (file.toLowerCase().endsWith(".zip")) {
    yield* readZip(file, st.size, limits, signal);
  } else {
    const input = openInput(file);
    let lastProgress = 0;
    yield { type: "progress", file, bytesRead: 0, bytesTotal: input.bytesTotal };
    try {
      for await (const ev of studiesFromStream(input.stream, file, limits, signal)) {
        yield ev;
        const read = input.bytesRead();
        if (read - lastProgress >= PROGRESS_EVERY_BYTES) {
          lastProgress = read;
          yield { type: "progress", file, bytesRead: read, bytesTotal: input.bytesTotal };
        }
      }
    } finally {
      input.stream.destroy();
    }
    const warning = input.utf8.warning(file);
    if (warning) yield warning;
    yield { type: "progress", file, bytesRead: input.bytesTotal, bytesTotal: input.bytesTotal };
  }
}

/** The extracted bulk archive: every *.json / *.json.gz below the folder, in name order. */
async function* readDirectory(
  dir: string,
  limits: InputLimits,
  signal?: AbortSignal,
): AsyncGenerator<SourceEvent> {
  const names = (readdirSync(dir, { recursive: true }) as string[])
    .filter((n) => /\.json(\.gz)?$/i.test(n))
    .sort();
  if (names.length === 0)
    throw new IngestError(
      "expected *.json study files in this folder (bulk archive), found none",
      dir,
    );
  const sizes = names.map((n) => statSync(path.join(dir, n)).size);
  const bytesTotal = sizes.reduce((a, b) => a + b, 0);
  let done = 0;
  let lastProgress = 0;
  yield { type: "progress", file: dir, bytesRead: 0, bytesTotal };
  for (let k = 0; k < names.length; k++) {
    signal?.throwIfAborted();
    const file = path.join(dir, names[k]!);
    const input = openInput(file);
    try {
      yield* studiesFromStream(input.stream, file, limits, signal);
    } finally {
      input.stream.destroy();
    }
    const warning = input.utf8.warning(file);
    if (warning) yield warning;
    done += sizes[k]!;
    if (done - lastProgress >= PROGRESS_EVERY_BYTES || k === names.length - 1) {
      lastProgress = done;
      yield { type: "progress", file: dir, bytesRead: done, bytesTotal };
    }
  }
}

/** The bulk download zip, read in place: one entry (one study file) at a time. */
async function* readZip(
  file: string,
  bytesTotal: number,
  limits: InputLimits,
  signal?: AbortSignal,
): AsyncGenerator<SourceEvent> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false });
  } catch (e) {
    throw new IngestError(
      `expected a zip archive of study JSON files: ${(e as Error).message}`,
      file,
    );
  }
  let lastProgress = 0;
  yield { type: "progress", file, bytesRead: 0, bytesTotal };
  try {
    let entries = 0;
    for await (const entry of zip.eachEntry()) {
      signal?.throwIfAborted();
      if (entry.fileName.endsWith("/")) continue;
      const where = `${file}!${entry.fileName}`;
      if (!/\.json$/i.test(entry.fileName)) {
        yield {
          type: "skip",
          file,
          location: `zip entry ${entry.fileName}`,
          reason: "not a .json study file",
        };
        continue;
      }
      entries++;
      if (entry.uncompressedSize > MAX_ZIP_ENTRY_BYTES) {
        yield {
          type: "skip",
          file,
          location: `zip entry ${entry.fileName}`,
          reason: `entry of ${entry.uncompressedSize} bytes is larger than any study file`,
        };
        continue;
      }
      let stream: Readable;
      try {
        stream = await zip.openReadStreamPromise(entry);
      } catch (e) {
        throw new IngestError(
          `cannot read zip entry: ${(e as Error).message}`,
          file,
          `entry ${entry.fileName}`,
        );
      }
      const utf8 = new Utf8Stats();
      const checked = stream.pipe(utf8.transform());
      stream.on("error", (e) => checked.destroy(e));
      try {
        yield* studiesFromStream(checked, where, limits, signal);
        const warning = utf8.warning(where);
        if (warning) yield warning;
      } catch (e) {
        if (e instanceof IngestError) throw e;
        throw new IngestError(
          `zip entry is damaged: ${(e as Error).message}`,
          file,
          `entry ${entry.fileName}`,
        );
      } finally {
        // An oversized study stops reading its entry early: release it before the next entry.
        stream.destroy();
        checked.destroy();
      }
      const read = Math.min(bytesTotal, entry.relativeOffsetOfLocalHeader + entry.compressedSize);
      if (read - lastProgress >= PROGRESS_EVERY_BYTES) {
        lastProgress = read;
        yield { type: "progress", file, bytesRead: read, bytesTotal };
      }
    }
    if (entries === 0) throw new IngestError("zip archive holds no .json study files", file);
  } catch (e) {
    if (e instanceof IngestError || (e as Error).name === "AbortError") throw e;
    throw new IngestError(`zip archive is damaged or truncated: ${(e as Error).message}`, file);
  } finally {
    zip.close();
  }
  yield { type: "progress", file, bytesRead: bytesTotal, bytesTotal };
}

/**
 * Studies in one JSON text: a study object, an array of studies or a /studies page. Array
 * elements are yielded as soon as they are complete.
 */
async function* studiesFromStream(
  stream: Readable,
  file: string,
  limits: InputLimits,
  signal?: AbortSignal,
): AsyncGenerator<SourceEvent> {
  if (/\.jsonl(\.gz)?$/i.test(file)) {
    yield* studiesFromJsonLines(stream, file, limits, signal);
    return;
  }
  const splitter = new StudyJsonSplitter(file, limits);
  const decoder = new TextDecoder("utf-8");
  const members: Record<string, Json> = {};
  const items: SplitItem[] = [];
  const handle = function* (list: SplitItem[]): Generator<SourceEvent> {
    for (const it of list) {
      if (it.kind === "dropped") {
        // A dropped member of a single study is reported once, by studyDropped below.
        if (it.key === undefined) {
          const location = `${it.inStudies ? "studies" : ""}[${it.index}] (line ${it.line})`;
          yield { type: "skip", file, location, reason: it.reason };
        }
        continue;
      }
      if (it.kind === "member") {
        if (it.key === "FullStudiesResponse" || it.key === "StudyStructure") {
          throw new IngestError(
            "this is the classic (pre-2024) API JSON, which is obsolete; expected API v2 JSON",
            file,
          );
        }
        try {
          members[it.key] = JSON.parse(it.text);
        } catch (e) {
          throw new IngestError(
            `top-level member "${it.key}" is not valid JSON: ${(e as Error).message}`,
            file,
            `line ${it.line}`,
          );
        }
        continue;
      }
      const location = `${it.inStudies ? "studies" : ""}[${it.index}] (line ${it.line})`;
      let study: Json;
      try {
        study = JSON.parse(it.text);
      } catch (e) {
        yield { type: "skip", file, location, reason: `not valid JSON: ${(e as Error).message}` };
        continue;
      }
      yield { type: "study", study, file, location };
    }
    list.length = 0;
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      signal?.throwIfAborted();
      splitter.push(decoder.decode(chunk, { stream: true }), items);
      yield* handle(items);
      // A single-study file whose study is over a cap: skip it now instead of reading it all.
      if (splitter.studyDropped) {
        yield { type: "skip", file, location: splitter.studyDropped, reason: splitter.dropReason! };
        return;
      }
    }
  } catch (e) {
    if (e instanceof IngestError || (e as Error).name === "AbortError") throw e;
    throw new IngestError(`read failed: ${(e as Error).message}`, file);
  }
  splitter.push(decoder.decode(), items);
  splitter.end();
  yield* handle(items);
  if (splitter.root === "object" && !splitter.sawStudies) {
    if (!members.protocolSection) {
      const keys = Object.keys(members).slice(0, 6).join(", ") || "none";
      throw new IngestError(
        `expected a ClinicalTrials.gov v2 study (protocolSection) or a /studies page (studies); top-level keys: ${keys}`,
        file,
      );
    }
    yield { type: "study", study: members, file, location: "study" };
  }
}

/** JSON Lines (one study per line), as produced by tools that page through the API. */
async function* studiesFromJsonLines(
  stream: Readable,
  file: string,
  limits: InputLimits,
  signal?: AbortSignal,
): AsyncGenerator<SourceEvent> {
  let line = 0;
  const tooLong: SourceEvent[] = [];
  const one = (text: string): SourceEvent | undefined => {
    line++;
    if (!text.trim()) return tooLong.shift();
    if (jsonDepthExceeded(text, limits.maxDepth) >= 0) {
      return {
        type: "skip",
        file,
        location: `line ${line}`,
        reason: tooDeepReason("this study", limits),
      };
    }
    try {
      return { type: "study", study: JSON.parse(text), file, location: `line ${line}` };
    } catch (e) {
      return {
        type: "skip",
        file,
        location: `line ${line}`,
        reason: `not valid JSON: ${(e as Error).message}`,
      };
    }
  };
  const lines = splitLineChunks(stream as AsyncIterable<Buffer>, {
    maxLineChars: limits.maxRecordChars,
    // The line comes through as "", which `one` turns into this skip.
    onTooLong: (n, chars) =>
      tooLong.push({
        type: "skip",
        file,
        location: `line ${n}`,
        reason: tooLargeReason("this study", chars, limits),
      }),
  });
  let nonBlank = 0;
  for await (const batch of lines) {
    signal?.throwIfAborted();
    for (const text of batch) {
      const ev = one(text);
      if (ev) {
        nonBlank++;
        yield ev;
      }
    }
  }
  if (nonBlank === 0)
    throw new IngestError("empty file: expected JSON Lines, one study per line", file);
}

type SplitItem =
  | { kind: "item"; index: number; text: string; line: number; inStudies: boolean }
  | { kind: "member"; key: string; text: string; line: number }
  /** An element or member over a cap: scanned to its end but not kept. */
  | {
      kind: "dropped";
      index: number;
      key?: string;
      line: number;
      inStudies: boolean;
      reason: string;
    };

/**
 * Incremental scanner for the three JSON shapes: yields each element of a root array or of the
 * root object's "studies" array, and each other member of a root object, as raw text. It tracks
 * only nesting and strings; JSON.parse validates each piece.
 */
class StudyJsonSplitter {
  root: "array" | "object" | undefined;
  sawStudies = false;
  private depth = 0;
  private inString = false;
  private escape = false;
  private line = 1;
  private parts: string[] | null = null;
  private captureFrom = 0;
  private captureLine = 0;
  private itemDepth = 1;
  private inStudies = false;
  private objState: "key" | "colon" | "value" | "after" = "key";
  private keyParts: string[] | null = null;
  private keyFrom = 0;
  private key = "";
  private index = 0;
  private expectItem = true;
  /** Characters of the current capture so far (parts plus this chunk's share). */
  private capturedChars = 0;
  /** Why the current capture is being dropped (over a cap), or undefined. */
  dropReason: string | undefined;
  /** Where a member of a single-study file was dropped (the study cannot be read), or "". */
  studyDropped = "";

  constructor(
    private readonly file: string,
    private readonly limits: InputLimits,
  ) {}

  private fail(what: string): never {
    throw new IngestError(
      `not ClinicalTrials.gov v2 JSON: ${what}`,
      this.file,
      `line ${this.line}`,
    );
  }

  push(text: string, out: SplitItem[]): void {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) this.line++;
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === 92) this.escape = true;
        else if (c === 34) {
          this.inString = false;
          if (this.keyParts) {
            this.keyParts.push(text.slice(this.keyFrom, i));
            this.key = JSON.parse(`"${this.keyParts.join("")}"`) as string;
            this.keyParts = null;
            this.objState = "colon";
          }
        }
        continue;
      }
      if (c === 32 || c === 10 || c === 13 || c === 9) continue;
      const ch = text[i]!;
      if (this.depth === 0) {
        if (this.root) this.fail(`unexpected "${ch}" after the top-level value`);
        if (ch === "[") {
          this.root = "array";
          this.depth = 1;
          this.itemDepth = 1;
          this.expectItem = true;
        } else if (ch === "{") {
          this.root = "object";
          this.depth = 1;
          this.objState = "key";
        } else if (i === 0 && c === 0xfeff) {
          continue; // byte-order mark
        } else this.fail(`expected "{" or "[" at the start, found "${ch}"`);
        continue;
      }
      if (!this.parts && this.root === "object" && this.depth === 1 && !this.inStudies) {
        if (this.objState === "key") {
          if (ch === '"') {
            this.inString = true;
            this.keyParts = [];
            this.keyFrom = i + 1;
          } else if (ch === "}") this.depth = 0;
          else this.fail(`expected a member name, found "${ch}"`);
          continue;
        }
        if (this.objState === "colon") {
          if (ch !== ":") this.fail(`expected ":" after "${this.key}"`);
          this.objState = "value";
          continue;
        }
        if (this.objState === "after") {
          if (ch === ",") this.objState = "key";
          else if (ch === "}") this.depth = 0;
          else this.fail(`expected "," or "}" after member "${this.key}"`);
          continue;
        }
        // objState "value"
        if (this.key === "studies" && ch === "[") {
          this.inStudies = true;
          this.sawStudies = true;
          this.depth = 2;
          this.itemDepth = 2;
          this.expectItem = true;
          continue;
        }
        this.itemDepth = 1;
        this.startCapture(i);
      } else if (!this.parts) {
        // Between elements of the root array or of "studies".
        if (ch === ",") {
          if (this.expectItem) this.fail("unexpected ','");
          this.expectItem = true;
          continue;
        }
        if (ch === "]") {
          this.closeArray();
          continue;
        }
        if (!this.expectItem) this.fail(`expected "," between elements, found "${ch}"`);
        this.startCapture(i);
      }
      // Inside a captured value.
      if (ch === '"') {
        this.inString = true;
        continue;
      }
      if (ch === "{" || ch === "[") {
        this.depth++;
        if (this.depth - this.itemDepth > this.limits.maxDepth && !this.dropReason) {
          this.drop(tooDeepReason(this.captureName(), this.limits));
        }
        continue;
      }
      if (this.depth === this.itemDepth && (ch === "," || ch === "}" || ch === "]")) {
        const captured = this.dropReason
          ? ""
          : this.parts!.join("") + text.slice(this.captureFrom, i);
        this.parts = null;
        if (this.dropReason) {
          const member = this.root === "object" && !this.inStudies;
          out.push({
            kind: "dropped",
            index: member ? 0 : this.index++,
            ...(member ? { key: this.key } : {}),
            line: this.captureLine,
            inStudies: this.inStudies,
            reason: this.dropReason,
          });
          this.dropReason = undefined;
          if (member) {
            if (ch === ",") this.objState = "key";
            else if (ch === "}") this.depth = 0;
          } else if (ch === ",") this.expectItem = true;
          else if (ch === "]") this.closeArray();
          continue;
        }
        if (this.root === "object" && !this.inStudies) {
          out.push({ kind: "member", key: this.key, text: captured, line: this.captureLine });
          if (ch === ",") this.objState = "key";
          else if (ch === "}") this.depth = 0;
          else this.fail(`unexpected "]" in member "${this.key}"`);
        } else {
          out.push({
            kind: "item",
            index: this.index++,
            text: captured,
            line: this.captureLine,
            inStudies: this.inStudies,
          });
          if (ch === ",") this.expectItem = true;
          else if (ch === "]") this.closeArray();
          else this.fail('unexpected "}" in an array');
        }
        continue;
      }
      if (ch === "}" || ch === "]") this.depth--;
    }
    if (this.parts) {
      if (!this.dropReason) {
        this.capturedChars += text.length - this.captureFrom;
        if (this.capturedChars > this.limits.maxRecordChars) {
          this.drop(tooLargeReason(this.captureName(), this.capturedChars, this.limits));
        } else this.parts.push(text.slice(this.captureFrom));
      }
      this.captureFrom = 0;
    }
    if (this.keyParts) {
      this.keyParts.push(text.slice(this.keyFrom));
      this.keyFrom = 0;
    }
  }

  /** Stop keeping the current capture (it is scanned to its end, then reported as dropped). */
  private drop(reason: string): void {
    this.dropReason = reason;
    this.parts = [];
    // A single-study file: the study cannot be used, so say so without reading the rest.
    if (this.root === "object" && !this.inStudies) {
      this.studyDropped = `study, member "${this.key}" (line ${this.captureLine})`;
    }
  }

  private captureName(): string {
    return this.root === "object" && !this.inStudies
      ? `the study's member "${this.key}"`
      : "this study";
  }

  private startCapture(i: number): void {
    this.parts = [];
    this.capturedChars = 0;
    this.dropReason = undefined;
    this.captureFrom = i;
    this.captureLine = this.line;
    this.expectItem = false;
  }

  private closeArray(): void {
    this.depth--;
    if (this.inStudies) {
      this.inStudies = false;
      this.objState = "after";
    }
  }

  end(): void {
    if (!this.root) this.fail("no JSON value (empty file?)");
    if (this.depth !== 0 || this.inString) {
      this.fail(
        `file ends inside ${this.inStudies ? `studies[${this.index}]` : this.root === "array" ? `[${this.index}]` : "the top-level object"} (truncated?)`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Study → records.

function studyProblem(s: Json): string | undefined {
  if (typeof s !== "object" || s === null || Array.isArray(s)) return "expected a study object";
  const id = s.protocolSection?.identificationModule?.nctId;
  if (typeof id !== "string") return "missing protocolSection.identificationModule.nctId";
  const bad = idProblem("nct", id);
  if (bad) return bad;
  if (
    s.resultsSection !== undefined &&
    (typeof s.resultsSection !== "object" || s.resultsSection === null)
  ) {
    return `${id}: resultsSection is not an object`;
  }
  // An id alone would only give "A study." and "no results posted" records: nothing to learn.
  const p = s.protocolSection;
  const has = (v: unknown) =>
    (typeof v === "string" && v.trim() !== "") || (Array.isArray(v) && v.length > 0);
  const content = [
    p.identificationModule?.briefTitle,
    p.identificationModule?.officialTitle,
    p.descriptionModule?.briefSummary,
    p.descriptionModule?.detailedDescription,
    p.conditionsModule?.conditions,
    p.armsInterventionsModule?.interventions,
    p.outcomesModule?.primaryOutcomes,
  ];
  if (!content.some(has) && !s.resultsSection) {
    return `${id}: no content (no title, summary, conditions, interventions, outcomes or results)`;
  }
  return undefined;
}

/** Free text copied into records loses e-mail addresses, SSNs and phone numbers (never contact data). */
export function scrubContacts(text: string): string {
  // Phone shapes: "+33 1 49 95 81 69", "(314) 286-1138", "314-286-1138", "01.49.95.81.69". Digit
  // groups separated only by spaces ("100 200 400 mg") and dates ("2017-02-15") are kept.
  const phone = (m: string) => (m.replace(/\D/g, "").length >= 9 ? "[phone removed]" : m);
  return (
    text
      .replace(/[\w.+-]+@[\w-]+(\.[\w-]+)+/g, "[e-mail removed]")
      // An SSN (3-2-4 digits) is not a phone number: say what was removed.
      .replace(/\b\d{3}-\d{2}-\d{4}\b/g, "[SSN removed]")
      .replace(/\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,5}/g, phone)
      .replace(/\(\d{2,4}\)\s?\d{3,4}[\s.-]?\d{3,4}/g, phone)
      .replace(/\b\d{2,4}(?:[.-]\d{2,4}){2,4}\b/g, phone)
  );
}

const str = (v: unknown): string | undefined =>
  typeof v === "string" && v.trim() ? scrubContacts(v.trim()) : undefined;
const arr = (v: unknown): Json[] => (Array.isArray(v) ? v : []);

function enumText(v: string): string {
  const special: Record<string, string> = {
    NA: "not applicable",
    EARLY_PHASE1: "early phase 1",
    NOT_YET_RECRUITING: "not yet recruiting",
    ACTIVE_NOT_RECRUITING: "active, not recruiting",
    ENROLLING_BY_INVITATION: "enrolling by invitation",
  };
  return (
    special[v] ??
    v
      .toLowerCase()
      .replace(/^phase(\d)$/, "phase $1")
      .replace(/_/g, " ")
  );
}

function joinList(items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

export function studyRecords(s: Json, file: string, location: string): InstructionRecord[] {
  const p = s.protocolSection ?? {};
  const id: string = p.identificationModule.nctId;
  const title =
    str(p.identificationModule?.briefTitle) ?? str(p.identificationModule?.officialTitle) ?? id;
  const status = str(p.statusModule?.overallStatus);
  const studyType = str(p.designModule?.studyType);
  const phases = arr(p.designModule?.phases).filter((x): x is string => typeof x === "string");
  const conditions = arr(p.conditionsModule?.conditions)
    .map(str)
    .filter((x): x is string => !!x);
  const interventions = arr(p.armsInterventionsModule?.interventions).filter((x) => str(x?.name));
  const primary = arr(p.outcomesModule?.primaryOutcomes).filter((x) => str(x?.measure));
  const refs = arr(p.referencesModule?.references).filter(
    (r) => typeof r?.pmid === "string" && ID_GRAMMAR.pmid.test(r.pmid),
  );
  const allPmids = [...new Set(refs.map((r) => `PMID:${r.pmid}`))];
  const resultPmids = [
    ...new Set(
      refs.filter((r) => r.type === "RESULT" || r.type === "DERIVED").map((r) => `PMID:${r.pmid}`),
    ),
  ];
  const versionHolder = str(s.derivedSection?.miscInfoModule?.versionHolder);
  const results =
    s.resultsSection && typeof s.resultsSection === "object" ? s.resultsSection : undefined;
  const label = `${id} ("${title}")`;
  // Facts name the trial by its NCT id, which every record's text carries.
  const trialFact = (relation: string, object: string, objectType: string): Fact => ({
    subject: id,
    relation,
    object,
    subjectId: id,
    subjectType: "ClinicalTrial",
    objectType,
  });
  const conditionFacts = conditions.map((c) => trialFact("studies", c, "Condition"));
  const interventionFacts = interventions.map((iv) =>
    trialFact("tests", str(iv.name)!, "Intervention"),
  );

  const out: InstructionRecord[] = [];
  const add = (
    task: string,
    instruction: string,
    output: string,
    citations: string[],
    extra: Record<string, unknown> = {},
    facts: Fact[] = [],
  ) =>
    out.push({
      id: `clinicaltrials-${id}-${task}${extra.suffix !== undefined ? `-${extra.suffix}` : ""}`,
      instruction,
      input: "",
      output,
      metadata: {
        source: "clinicaltrials",
        task: `clinicaltrials.${task}`,
        confidence: 0.95,
        citations: [id, ...citations],
        license: CLINICALTRIALS_LICENSE,
        provenance: { file: path.basename(file), location, nctId: id, versionHolder, ...extra },
        ...(facts.length > 0 ? { facts } : {}),
      },
    });

  if (conditions.length > 0) {
    add(
      "conditions",
      `Which condition or conditions does the clinical study ${label} investigate?`,
      `${joinList(conditions)}.`,
      allPmids,
      {},
      conditionFacts,
    );
  }
  if (interventions.length > 0) {
    const lines = interventions.map((iv) => {
      const desc = str(iv.description);
      return `${str(iv.name)} (${enumText(String(iv.type ?? "OTHER"))})${desc ? `: ${clip(desc, 300)}` : ""}`;
    });
    add(
      "interventions",
      `What interventions are studied in ${label}?`,
      lines.join("\n"),
      allPmids,
      {},
      interventionFacts,
    );
  }
  const phaseText = phases.length ? joinList(phases.map(enumText)) : undefined;
  if (status || phaseText || studyType) {
    const parts = [
      studyType ? `${enumText(studyType)} study` : "study",
      phaseText ? `phase: ${phaseText}` : undefined,
      status ? `overall status: ${enumText(status)}` : undefined,
    ].filter(Boolean);
    add(
      "phase_status",
      `What kind of study is ${label}, what phase is it in, and what is its status?`,
      `${parts.join("; ")}.`,
      allPmids,
    );
  }
  if (primary.length > 0) {
    const lines = primary.map(
      (o) => `${str(o.measure)}${str(o.timeFrame) ? ` [time frame: ${str(o.timeFrame)}]` : ""}`,
    );
    add(
      "primary_outcomes",
      `What is the primary outcome measure of ${label}?`,
      lines.join("\n"),
      allPmids,
    );
  }
  const overview = overviewText(p, conditions, interventions, phaseText, status, studyType);
  if (overview)
    add("overview", `Describe the design of the clinical study ${label}.`, overview, allPmids, {}, [
      ...interventionFacts,
      ...conditionFacts,
    ]);

  if (!results) {
    if (s.hasResults !== true) {
      add(
        "results_status",
        `Have results been posted for ${label}?`,
        // Worded about this version of the record: results may be posted after the snapshot.
        `No. This ClinicalTrials.gov record${versionHolder ? ` (version of ${versionHolder})` : ""} has no posted results for ${id}${status ? ` (overall status: ${enumText(status)})` : ""}, so no outcome results can be stated for it.`,
        [],
      );
    }
    return out;
  }

  const posted = str(p.statusModule?.resultsFirstPostDateStruct?.date);
  add(
    "results_status",
    `Have results been posted for ${label}?`,
    `Yes. Results for ${id} are posted on ClinicalTrials.gov${posted ? ` (first posted ${posted})` : ""}.`,
    resultPmids,
  );
  const measures = arr(results.outcomeMeasuresModule?.outcomeMeasures);
  measures.forEach((m, k) => {
    const text = outcomeText(m);
    if (!text) return;
    const kind = enumText(String(m.type ?? "outcome"));
    add(
      "outcome_result",
      `What were the results of the ${kind} outcome "${str(m.title)}" in ${label}?`,
      text,
      resultPmids,
      { suffix: k, outcomeIndex: k, outcomeType: m.type },
      // Outcome facts come only from posted results: the measure was reported, not just planned.
      str(m.title) ? [trialFact("reported results for", str(m.title)!, "Outcome")] : [],
    );
  });
  const ae = adverseEventsText(results.adverseEventsModule);
  if (ae)
    add(
      "adverse_events",
      `What adverse events were reported in ${label}?`,
      ae.text,
      resultPmids,
      {},
      ae.terms.map((t) => trialFact("reported adverse event", t, "AdverseEvent")),
    );
  return out;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1).replace(/\s+\S*$/, "")}…`;
}

function overviewText(
  p: Json,
  conditions: string[],
  interventions: Json[],
  phaseText?: string,
  status?: string,
  studyType?: string,
): string | undefined {
  const design = p.designModule?.designInfo ?? {};
  const bits: string[] = [];
  const kind = [
    phaseText && phaseText !== "not applicable" ? phaseText : undefined,
    str(design.allocation) ? enumText(design.allocation) : undefined,
    str(design.maskingInfo?.masking)
      ? design.maskingInfo.masking === "NONE"
        ? "open-label"
        : `${enumText(design.maskingInfo.masking)}-masked`
      : undefined,
    studyType ? enumText(studyType) : undefined,
  ].filter(Boolean);
  bits.push(`A ${kind.join(", ") || ""} study`.replace(/\s+/g, " "));
  if (interventions.length) bits.push(`of ${joinList(interventions.map((i) => str(i.name)!))}`);
  if (conditions.length) bits.push(`in ${joinList(conditions)}`);
  let text = `${bits.join(" ")}.`;
  const purpose = str(design.primaryPurpose);
  if (purpose) text += ` Primary purpose: ${enumText(purpose)}.`;
  const n = p.designModule?.enrollmentInfo?.count;
  if (typeof n === "number")
    text += ` Enrollment: ${n}${p.designModule.enrollmentInfo.type ? ` (${enumText(p.designModule.enrollmentInfo.type)})` : ""}.`;
  const sponsor = str(p.sponsorCollaboratorsModule?.leadSponsor?.name);
  if (sponsor) text += ` Lead sponsor: ${sponsor}.`;
  if (status) text += ` Overall status: ${enumText(status)}.`;
  const summary = str(p.descriptionModule?.briefSummary);
  if (summary) text += `\nSummary: ${clip(summary.replace(/\s+/g, " "), 600)}`;
  return text;
}

const MAX_ROWS = 12;

/** One outcome measure as text: groups with n and values, then each statistical analysis. */
function outcomeText(m: Json): string | undefined {
  if (m.reportingStatus && m.reportingStatus !== "POSTED") return undefined;
  const groups = new Map<string, string>(
    arr(m.groups).map((g) => [String(g.id), str(g.title) ?? String(g.id)]),
  );
  const denoms = new Map<string, string>();
  const participants =
    arr(m.denoms).find((d) => /participant/i.test(String(d?.units))) ?? arr(m.denoms)[0];
  for (const c of arr(participants?.counts)) denoms.set(String(c.groupId), String(c.value));
  const unit = str(m.unitOfMeasure);
  const dispersion = str(m.dispersionType);
  const rows: string[] = [];
  let total = 0;
  for (const cls of arr(m.classes)) {
    for (const cat of arr(cls.categories)) {
      const measurements = arr(cat.measurements);
      if (measurements.length === 0) continue;
      total++;
      if (rows.length >= MAX_ROWS) continue;
      const head = [str(cls.title), str(cat.title)].filter(Boolean).join(" / ");
      const values = measurements.map((v) => {
        const g = groups.get(String(v.groupId)) ?? String(v.groupId);
        const n = denoms.get(String(v.groupId));
        const missing = (x: unknown) => x === undefined || x === null || x === "NA";
        let value = missing(v.value) ? "not available" : String(v.value);
        if (!missing(v.value) && !missing(v.spread))
          value += ` (${dispersion ?? "spread"} ${v.spread})`;
        else if (!missing(v.value) && !(missing(v.lowerLimit) && missing(v.upperLimit))) {
          value += ` (${dispersion ?? "range"} ${missing(v.lowerLimit) ? "?" : v.lowerLimit} to ${missing(v.upperLimit) ? "?" : v.upperLimit})`;
        }
        if (str(v.comment)) value += ` [${clip(str(v.comment)!, 120)}]`;
        return `${g}${n ? ` (n=${n})` : ""}: ${value}`;
      });
      rows.push(`${head ? `${head}: ` : ""}${values.join("; ")}`);
    }
  }
  if (rows.length === 0) return undefined;
  const lines = [
    `${str(m.title)}${str(m.timeFrame) ? ` [time frame: ${str(m.timeFrame)}]` : ""}`,
    `Measure: ${m.paramType ? enumText(String(m.paramType)) : "value"}${unit ? ` (${unit})` : ""}.`,
    ...rows,
  ];
  if (total > rows.length)
    lines.push(`… and ${total - rows.length} more rows on ClinicalTrials.gov.`);
  for (const a of arr(m.analyses)) {
    const compared = arr(a.groupIds).map((g) => groups.get(String(g)) ?? String(g));
    const parts: string[] = [];
    if (str(a.paramType) && a.paramValue !== undefined)
      parts.push(`${str(a.paramType)} ${a.paramValue}`);
    if (a.ciLowerLimit !== undefined || a.ciUpperLimit !== undefined) {
      parts.push(`${a.ciPctValue ?? "?"}% CI ${a.ciLowerLimit ?? "?"} to ${a.ciUpperLimit ?? "?"}`);
    }
    if (a.pValue !== undefined)
      parts.push(
        `p ${/^[<>=≤≥]/.test(String(a.pValue)) ? "" : "= "}${a.pValue}`
          .replace(/p </, "p < ")
          .replace(/p >/, "p > "),
      );
    if (str(a.statisticalMethod)) parts.push(`method: ${str(a.statisticalMethod)}`);
    if (parts.length) lines.push(`Analysis (${joinList(compared)}): ${parts.join(", ")}.`);
  }
  return lines.join("\n");
}

/** The adverse-events answer and the event terms it lists (for facts). */
function adverseEventsText(ae: Json): { text: string; terms: string[] } | undefined {
  if (!ae || typeof ae !== "object") return undefined;
  const groups = arr(ae.eventGroups);
  if (groups.length === 0) return undefined;
  const names = new Map<string, string>(
    groups.map((g) => [String(g.id), str(g.title) ?? String(g.id)]),
  );
  const lines: string[] = [];
  const terms: string[] = [];
  if (str(ae.timeFrame))
    lines.push(`Time frame: ${clip(str(ae.timeFrame)!, 200).replace(/\.+$/, "")}.`);
  for (const g of groups) {
    const parts: string[] = [];
    const frac = (a: unknown, n: unknown) =>
      typeof a === "number" ? `${a}${typeof n === "number" ? `/${n}` : ""}` : undefined;
    const serious = frac(g.seriousNumAffected, g.seriousNumAtRisk);
    const other = frac(g.otherNumAffected, g.otherNumAtRisk);
    const deaths = frac(g.deathsNumAffected, g.deathsNumAtRisk);
    if (serious) parts.push(`serious adverse events in ${serious} participants`);
    if (other)
      parts.push(
        `other adverse events${ae.frequencyThreshold ? ` (frequency threshold ${ae.frequencyThreshold}%)` : ""} in ${other}`,
      );
    if (deaths) parts.push(`deaths ${deaths}`);
    if (parts.length) lines.push(`${names.get(String(g.id))}: ${parts.join("; ")}.`);
  }
  const top = (events: Json[], what: string) => {
    const ranked = events
      .map((e) => ({
        e,
        n: arr(e.stats).reduce(
          (a, s) => a + (typeof s.numAffected === "number" ? s.numAffected : 0),
          0,
        ),
      }))
      .filter((x) => x.n > 0 && str(x.e.term))
      .sort((a, b) => b.n - a.n)
      .slice(0, 8);
    if (ranked.length === 0) return;
    lines.push(`Most frequent ${what}:`);
    for (const { e } of ranked) {
      if (!terms.includes(str(e.term)!)) terms.push(str(e.term)!);
      const per = arr(e.stats)
        .filter((s) => typeof s.numAffected === "number")
        .map(
          (s) =>
            `${names.get(String(s.groupId)) ?? s.groupId} ${s.numAffected}${typeof s.numAtRisk === "number" ? `/${s.numAtRisk}` : ""}`,
        );
      lines.push(
        `- ${str(e.term)}${str(e.organSystem) ? ` (${str(e.organSystem)})` : ""}: ${per.join(", ")}`,
      );
    }
  };
  top(arr(ae.seriousEvents), "serious adverse events");
  top(arr(ae.otherEvents), "other adverse events");
  return lines.length > 0 ? { text: lines.join("\n"), terms } : undefined;
}
