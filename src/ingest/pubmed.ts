/**
 * PubMed/MEDLINE reader: baseline and update files (`pubmedYYnNNNN.xml.gz`, root
 * `PubmedArticleSet`) and E-utilities efetch XML, parsed as a SAX stream (saxes) so that a 70 MB
 * gzip file never sits in memory as a tree.
 *
 * Records, cited by `PMID:…` (DOI, year, MeSH and publication types kept in metadata for filters):
 * - `pubmed.reasoning_chain`: structured abstracts (BACKGROUND/OBJECTIVE → METHODS → RESULTS →
 *   CONCLUSIONS) become a step-by-step chain that ends in the authors' conclusion;
 * - `pubmed.conclusion`: results → the conclusion the authors drew from them;
 * - `pubmed.title`: any abstract → its title;
 * - `pubmed.mesh`: title + abstract → the MeSH descriptors NLM indexed it with.
 *
 * Deletions and revisions: the last mention of a PMID wins, as NLM's update files intend. Files are processed in name order
 * (basename, so baseline pubmed26n1334 comes before update pubmed26n1335). A first, cheap pass
 * scans every file for citation PMIDs and `DeleteCitation` PMIDs without building objects and
 * stores, per PMID, the last file (and whether that mention was a deletion) in a paged Uint16Array:
 * 2 bytes per PMID in the touched 64k-PMID pages, so at most ~90 MB for all of PubMed and a few
 * hundred KB for a handful of files, whatever their size. The second pass emits an article only
 * where its file holds the last mention and that mention is not a deletion; others are skip events
 * ("deleted by DeleteCitation in …", "superseded by a later version in …"). A PMID repeated inside
 * one file is emitted once per copy (real update files do not repeat a PMID).
 *
 * Retracted publications (PublicationType "Retracted Publication" or CommentsCorrections
 * RefType="RetractionIn"), retraction notices and errata are skipped with a reason. A malformed
 * article (no PMID, no title) is a skip with its element index and line; a file that is not
 * well-formed PubmedArticleSet XML, or a truncated gzip, is an IngestError naming it.
 */
import path from "node:path";
import { SaxesParser } from "saxes";
import type { Fact, InstructionRecord } from "../data/record.js";
import { openInput, XmlCaps, type InputStream } from "./io.js";
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

export const PUBMED_LICENSE = "NLM Terms and Conditions";
const PROGRESS_EVERY_BYTES = 1 << 20;

export type SectionCategory = "background" | "objective" | "methods" | "results" | "conclusions";

export interface AbstractSection {
  label?: string;
  nlmCategory?: string;
  /** Our reading of the section's role; undefined for sections that are not part of the chain. */
  category?: SectionCategory;
  text: string;
}

export interface MeshHeading {
  descriptor: string;
  ui?: string;
  major: boolean;
  qualifiers: string[];
}

/** One parsed PubmedArticle: only what the records and filters need. */
export interface PubmedArticle {
  pmid: string;
  title: string;
  abstract: AbstractSection[];
  copyright?: string;
  mesh: MeshHeading[];
  publicationTypes: string[];
  year?: number;
  doi?: string;
  journal?: string;
  status?: string;
  indexingMethod?: string;
  /** CommentsCorrections RefType="RetractionIn": a retraction notice points at this article. */
  retracted: boolean;
}

/** Sort key: basename first, so baseline/ and updatefiles/ interleave by file number. */
export function pubmedFileOrder(files: string[]): string[] {
  return [...files].sort((a, b) => {
    const ka = path.basename(a);
    const kb = path.basename(b);
    return ka < kb ? -1 : ka > kb ? 1 : a < b ? -1 : a > b ? 1 : 0;
  });
}

export async function* readPubmed(
  files: string[],
  opts: IngestOptions = {},
): AsyncGenerator<IngestEvent> {
  const ordered = pubmedFileOrder(files);
  if (ordered.length > 0x7ffe)
    throw new IngestError("too many PubMed files in one run (max 32766)", ordered[0]!);
  const index = new LastMentionIndex();
  const limits = inputLimits(opts);
  for (let i = 0; i < ordered.length; i++) {
    opts.signal?.throwIfAborted();
    await scanMentions(ordered[i]!, i, index, limits, opts.signal);
  }

  let emitted = 0;
  for (let i = 0; i < ordered.length; i++) {
    const file = ordered[i]!;
    for await (const ev of parseFile(file, opts.signal, limits)) {
      if (ev.type !== "article") {
        yield ev;
        continue;
      }
      const { article, location } = ev;
      const last = index.get(Number(article.pmid));
      if (last && (last.file !== i || last.deleted)) {
        const where = ordered[last.file] ?? "?";
        const reason = last.deleted
          ? `PMID ${article.pmid} deleted by DeleteCitation in ${where}`
          : `PMID ${article.pmid} superseded by a later version in ${where}`;
        yield { type: "skip", file, location, reason };
        continue;
      }
      const exclusion = exclusionReason(article);
      if (exclusion) {
        yield { type: "skip", file, location, reason: `PMID ${article.pmid}: ${exclusion}` };
        continue;
      }
      const records = articleRecords(article, file, location);
      if (records.length === 0) {
        yield {
          type: "skip",
          file,
          location,
          reason: `PMID ${article.pmid}: no abstract to build records from`,
        };
        continue;
      }
      for (const record of records) {
        yield { type: "record", record };
        if (opts.limit !== undefined && ++emitted >= opts.limit) return;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pass 1: last mention of each PMID (bounded memory: paged typed array, see file header).

const PAGE_BITS = 16;

class LastMentionIndex {
  private pages = new Map<number, Uint16Array>();

  /** Encoded as fileIndex * 2 + deleted + 1; 0 means never seen. */
  set(pmid: number, file: number, deleted: boolean): void {
    if (!Number.isInteger(pmid) || pmid <= 0 || pmid > 0x7fffffff) return;
    const key = pmid >>> PAGE_BITS;
    let page = this.pages.get(key);
    if (!page) {
      page = new Uint16Array(1 << PAGE_BITS);
      this.pages.set(key, page);
    }
    page[pmid & ((1 << PAGE_BITS) - 1)] = file * 2 + (deleted ? 1 : 0) + 1;
  }

  get(pmid: number): { file: number; deleted: boolean } | undefined {
    if (!Number.isInteger(pmid) || pmid <= 0) return undefined;
    const v = this.pages.get(pmid >>> PAGE_BITS)?.[pmid & ((1 << PAGE_BITS) - 1)] ?? 0;
    if (v === 0) return undefined;
    return { file: (v - 1) >> 1, deleted: ((v - 1) & 1) === 1 };
  }
}

/**
 * Find citation PMIDs (the first <PMID> after <MedlineCitation or <BookDocument, which the DTD
 * puts first) and the PMIDs inside <DeleteCitation> with plain string search: several times
 * faster than SAX, and pass 2 reports any well-formedness error with a line number.
 */
async function scanMentions(
  file: string,
  fileIndex: number,
  index: LastMentionIndex,
  limits: InputLimits,
  signal?: AbortSignal,
): Promise<void> {
  const input = openInput(file);
  // On the bytes (the tokens are ASCII): no decoded copy of the file passes through the heap.
  let carry = Buffer.alloc(0);
  let inDelete = false;
  let wantCitationPmid = false;
  try {
    for await (const chunk of input.stream as AsyncIterable<Buffer>) {
      signal?.throwIfAborted();
      const buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      let pos = 0;
      let keepFrom = -1; // start of a token cut by the chunk boundary
      for (;;) {
        if (inDelete || wantCitationPmid) {
          const p = buf.indexOf("<PMID", pos);
          const end = inDelete ? buf.indexOf("</DeleteCitation>", pos) : -1;
          if (end >= 0 && (p < 0 || end < p)) {
            inDelete = false;
            pos = end + "</DeleteCitation>".length;
            continue;
          }
          if (p < 0) break;
          const gt = buf.indexOf(">", p);
          const lt = gt < 0 ? -1 : buf.indexOf("<", gt);
          if (lt < 0) {
            keepFrom = p;
            break;
          }
          index.set(Number(buf.toString("latin1", gt + 1, lt).trim()), fileIndex, inDelete);
          wantCitationPmid = false;
          pos = lt;
          continue;
        }
        const m = nextOpening(buf, pos);
        if (!m) break;
        if (m.kind === "delete") inDelete = true;
        else wantCitationPmid = true;
        pos = m.end;
      }
      // Nothing before pos matters any more; a partial token can only be in the last few chars.
      carry = Buffer.from(buf.subarray(keepFrom >= 0 ? keepFrom : Math.max(pos, buf.length - 24)));
      if (carry.length > limits.maxRecordChars) {
        throw new IngestError(tooLargeReason("one <PMID> element", carry.length, limits), file);
      }
    }
  } finally {
    input.stream.destroy();
  }
}

function nextOpening(
  buf: Buffer,
  from: number,
): { kind: "citation" | "delete"; end: number } | undefined {
  let best: { kind: "citation" | "delete"; end: number; at: number } | undefined;
  for (const [token, kind] of [
    ["<MedlineCitation", "citation"],
    ["<BookDocument", "citation"],
    ["<DeleteCitation>", "delete"],
  ] as const) {
    const at = buf.indexOf(token, from);
    if (at >= 0 && (!best || at < best.at)) best = { kind, end: at + token.length, at };
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Pass 2: SAX parse into PubmedArticle objects.

type ParseEvent =
  | { type: "article"; article: PubmedArticle; location: string }
  | Exclude<IngestEvent, { type: "record" }>;

interface Draft {
  pmid?: string;
  title?: string;
  abstract: AbstractSection[];
  copyright?: string;
  mesh: MeshHeading[];
  publicationTypes: string[];
  pubYear?: number;
  articleYear?: number;
  doi?: string;
  elocationDoi?: string;
  journal?: string;
  status?: string;
  indexingMethod?: string;
  retracted: boolean;
}

/** Stream one file's articles. Exported for tests and for tools that want the parsed fields. */
export async function* parseFile(
  file: string,
  signal?: AbortSignal,
  limits: InputLimits = inputLimits(),
): AsyncGenerator<ParseEvent> {
  let input: InputStream;
  try {
    input = openInput(file);
  } catch (e) {
    throw e instanceof IngestError ? e : new IngestError(String(e), file);
  }
  const parser = new SaxesParser({ xmlns: false, fileName: file, position: true });
  const caps = new XmlCaps(file, limits);
  const queue: ParseEvent[] = [];
  const stack: string[] = [];
  let rootSeen = false;
  let elementIndex = 0;
  let articleLine = 0;
  let articleColumn = 0;
  let draft: Draft | undefined;
  // Text capture: everything under the capturing element, inline tags (<i>, <sub>) included.
  let capture: { depth: number; parts: string[]; done: (text: string) => void } | undefined;

  const locate = () =>
    `PubmedArticle #${elementIndex} (line ${articleLine}, column ${articleColumn})`;
  const parent = (n = 1) => stack[stack.length - n];
  const where = () => (stack.length >= 2 ? locate() : `line ${parser.line}`);
  const startCapture = (done: (text: string) => void) => {
    capture = { depth: stack.length, parts: [], done };
  };

  parser.on("opentag", (tag) => {
    const name = tag.name;
    const attrs = tag.attributes as Record<string, string>;
    if (!rootSeen) {
      rootSeen = true;
      if (name !== "PubmedArticleSet") {
        throw new IngestError(
          `expected root element <PubmedArticleSet>, found <${name}>`,
          file,
          `line ${parser.line}`,
        );
      }
    }
    stack.push(name);
    caps.open(stack.length, parser.position, where);
    if (capture) return;
    const depth = stack.length;
    if (depth === 2) {
      caps.startRecord(parser.position);
      if (name === "PubmedArticle") {
        elementIndex++;
        articleLine = parser.line;
        articleColumn = parser.column;
        draft = { abstract: [], mesh: [], publicationTypes: [], retracted: false };
      } else if (name === "PubmedBookArticle") {
        elementIndex++;
        articleLine = parser.line;
        articleColumn = parser.column;
      }
      return;
    }
    if (!draft) return;
    const p = parent(2);
    switch (name) {
      case "MedlineCitation":
        draft.status = attrs.Status;
        draft.indexingMethod = attrs.IndexingMethod;
        break;
      case "PMID":
        if (p === "MedlineCitation") startCapture((t) => (draft!.pmid = t.trim()));
        break;
      case "ArticleTitle":
        if (p === "Article") startCapture((t) => (draft!.title = t));
        break;
      case "AbstractText":
        if (p === "Abstract" && parent(3) === "Article") {
          const section: AbstractSection = {
            label: attrs.Label,
            nlmCategory: attrs.NlmCategory,
            text: "",
          };
          startCapture((t) => {
            section.text = t;
            section.category = classifySection(section.label, section.nlmCategory);
            if (t.length > 0) draft!.abstract.push(section);
          });
        }
        break;
      case "CopyrightInformation":
        if (p === "Abstract" && parent(3) === "Article")
          startCapture((t) => (draft!.copyright = t));
        break;
      case "Title":
        if (p === "Journal") startCapture((t) => (draft!.journal = t));
        break;
      case "Year":
        if (p === "PubDate") startCapture((t) => (draft!.pubYear = toYear(t)));
        else if (p === "ArticleDate") startCapture((t) => (draft!.articleYear = toYear(t)));
        break;
      case "MedlineDate":
        if (p === "PubDate") startCapture((t) => (draft!.pubYear = toYear(t)));
        break;
      case "ELocationID":
        if (attrs.EIdType === "doi" && attrs.ValidYN !== "N")
          startCapture((t) => (draft!.elocationDoi = t.trim()));
        break;
      case "ArticleId":
        // The article's own ids live in PubmedData/ArticleIdList; ReferenceList has more below.
        if (attrs.IdType === "doi" && p === "ArticleIdList" && parent(3) === "PubmedData") {
          startCapture((t) => (draft!.doi = t.trim()));
        }
        break;
      case "PublicationType":
        startCapture((t) => draft!.publicationTypes.push(t.trim()));
        break;
      case "DescriptorName":
        if (p === "MeshHeading") {
          const heading: MeshHeading = {
            descriptor: "",
            ui: attrs.UI,
            major: attrs.MajorTopicYN === "Y",
            qualifiers: [],
          };
          startCapture((t) => {
            heading.descriptor = t.trim();
            draft!.mesh.push(heading);
          });
        }
        break;
      case "QualifierName":
        if (p === "MeshHeading") {
          const major = attrs.MajorTopicYN === "Y";
          startCapture((t) => {
            const h = draft!.mesh[draft!.mesh.length - 1];
            if (h) {
              h.qualifiers.push(t.trim());
              if (major) h.major = true;
            }
          });
        }
        break;
      case "CommentsCorrections":
        if (attrs.RefType === "RetractionIn") draft.retracted = true;
        break;
    }
  });

  parser.on("text", (text: string) => {
    if (capture) capture.parts.push(text);
  });

  parser.on("closetag", (tag) => {
    const depth = stack.length;
    stack.pop();
    caps.close(parser.position);
    if (depth === 2) caps.endRecord();
    if (capture && depth === capture.depth) {
      const c = capture;
      capture = undefined;
      c.done(c.parts.join("").replace(/\s+/g, " ").trim());
      return;
    }
    if (depth !== 2) return;
    if (tag.name === "PubmedBookArticle") {
      queue.push({
        type: "skip",
        file,
        location: `PubmedBookArticle #${elementIndex} (line ${articleLine}, column ${articleColumn})`,
        reason: "book articles (PubmedBookArticle) are not ingested",
      });
    } else if (tag.name === "PubmedArticle" && draft) {
      const d = draft;
      draft = undefined;
      const problem = !d.pmid
        ? "missing MedlineCitation/PMID"
        : idProblem("pmid", d.pmid)
          ? `PMID ${JSON.stringify(d.pmid.slice(0, 40))} is not a number (${ID_GRAMMAR.pmid})`
          : !d.title
            ? `PMID ${d.pmid}: Article/ArticleTitle missing or empty`
            : undefined;
      if (problem) {
        queue.push({ type: "skip", file, location: locate(), reason: problem });
      } else {
        queue.push({
          type: "article",
          location: locate(),
          article: {
            pmid: d.pmid!,
            title: d.title!,
            abstract: d.abstract,
            copyright: d.copyright,
            mesh: d.mesh,
            publicationTypes: d.publicationTypes,
            year: d.pubYear ?? d.articleYear,
            doi: d.doi ?? d.elocationDoi,
            journal: d.journal,
            status: d.status,
            indexingMethod: d.indexingMethod,
            retracted: d.retracted,
          },
        });
      }
    }
  });

  const decoder = new TextDecoder("utf-8");
  let lastProgress = 0;
  yield { type: "progress", file, bytesRead: 0, bytesTotal: input.bytesTotal };
  try {
    for await (const chunk of input.stream as AsyncIterable<Buffer>) {
      signal?.throwIfAborted();
      writeOrThrow(parser, decoder.decode(chunk, { stream: true }), file);
      caps.check(parser.position, where);
      for (const ev of queue.splice(0)) yield ev;
      const read = input.bytesRead();
      if (read - lastProgress >= PROGRESS_EVERY_BYTES) {
        lastProgress = read;
        yield { type: "progress", file, bytesRead: read, bytesTotal: input.bytesTotal };
      }
    }
    writeOrThrow(parser, decoder.decode(), file);
    if (!rootSeen)
      throw new IngestError("expected PubmedArticleSet XML, found no elements (empty file?)", file);
    try {
      parser.close();
    } catch (e) {
      throw new IngestError(
        `XML ends early (file truncated?): ${(e as Error).message}`,
        file,
        `line ${parser.line}`,
      );
    }
    for (const ev of queue.splice(0)) yield ev;
    const warning = input.utf8.warning(file);
    if (warning) yield warning;
    yield { type: "progress", file, bytesRead: input.bytesTotal, bytesTotal: input.bytesTotal };
  } finally {
    input.stream.destroy();
  }
}

function writeOrThrow(parser: SaxesParser, text: string, file: string): void {
  if (text.length === 0) return;
  try {
    parser.write(text);
  } catch (e) {
    if (e instanceof IngestError) throw e;
    throw new IngestError(
      `not well-formed PubMed XML: ${(e as Error).message}`,
      file,
      `line ${parser.line}`,
    );
  }
}

function toYear(text: string): number | undefined {
  const m = /\b(1[89]\d\d|20\d\d)\b/.exec(text);
  return m ? Number(m[1]) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Sections and records.

const NLM_CATEGORIES: Record<string, SectionCategory> = {
  BACKGROUND: "background",
  OBJECTIVE: "objective",
  METHODS: "methods",
  RESULTS: "results",
  CONCLUSIONS: "conclusions",
};

/**
 * NlmCategory when NLM assigned one; otherwise English keywords in the label. Registration numbers,
 * keywords and funding are never part of the chain, whatever their category says (NLM files
 * "CLINICAL TRIAL REGISTRATION" under BACKGROUND).
 */
export function classifySection(label?: string, nlmCategory?: string): SectionCategory | undefined {
  const l = (label ?? "").toLowerCase();
  if (/\b(registration|registry|keywords?|funding|trial number)\b/.test(l)) return undefined;
  const fromNlm = nlmCategory ? NLM_CATEGORIES[nlmCategory.toUpperCase()] : undefined;
  if (fromNlm) return fromNlm;
  if (!l) return undefined;
  if (/\b(conclusions?|interpretation|implications?|discussion)\b/.test(l)) return "conclusions";
  if (/\b(results?|findings)\b/.test(l)) return "results";
  if (/\b(methods?|design|materials|setting|participants|patients)\b/.test(l)) return "methods";
  if (/\b(objectives?|aims?|purpose|importance|research question)\b/.test(l)) return "objective";
  if (/\b(background|introduction|context|rationale)\b/.test(l)) return "background";
  return undefined;
}

/** Why an article yields no records at all, or undefined when it is usable. */
export function exclusionReason(a: PubmedArticle): string | undefined {
  if (a.publicationTypes.includes("Retracted Publication"))
    return "retracted publication (PublicationType)";
  if (a.retracted) return "retracted publication (CommentsCorrections RetractionIn)";
  for (const t of ["Retraction of Publication", "Retraction Notice", "Published Erratum"]) {
    if (a.publicationTypes.includes(t)) return `not a study report (PublicationType "${t}")`;
  }
  return undefined;
}

function joinCategory(a: PubmedArticle, cat: SectionCategory): string | undefined {
  const parts = a.abstract.filter((s) => s.category === cat).map((s) => s.text);
  return parts.length > 0 ? parts.join(" ") : undefined;
}

export function articleRecords(
  a: PubmedArticle,
  file: string,
  location: string,
): InstructionRecord[] {
  const out: InstructionRecord[] = [];
  if (a.abstract.length === 0) return out;
  const confidence = a.status === "MEDLINE" ? 0.9 : 0.8;
  const base = (task: string, extra: Record<string, unknown> = {}) => ({
    source: "pubmed" as const,
    task,
    confidence,
    citations: [`PMID:${a.pmid}`],
    license: PUBMED_LICENSE,
    provenance: {
      file: path.basename(file),
      location,
      pmid: a.pmid,
      doi: a.doi,
      copyright: a.copyright,
      ...extra,
    },
    year: a.year,
    doi: a.doi,
    publicationTypes: a.publicationTypes,
    mesh: a.mesh.map((m) => m.descriptor),
  });
  const id = (task: string) => `pubmed-${a.pmid}-${task}`;
  const abstractText = a.abstract
    .map((s) => (s.label ? `${s.label}: ${s.text}` : s.text))
    .join("\n");

  const background = joinCategory(a, "background");
  const objective = joinCategory(a, "objective");
  const methods = joinCategory(a, "methods");
  const results = joinCategory(a, "results");
  const conclusions = joinCategory(a, "conclusions");

  if (results && conclusions && methods && (background || objective)) {
    const steps: string[] = [];
    if (background) steps.push(`Background: ${background}`);
    if (objective) steps.push(`Objective: ${objective}`);
    steps.push(`Methods: ${methods}`, `Results: ${results}`);
    const given = steps.join("\n");
    const chain = steps.map((s, k) => `Step ${k + 1}. ${s}`);
    chain.push(`Conclusion: ${conclusions}`);
    out.push({
      id: id("reasoning_chain"),
      instruction:
        "Reason step by step through the study below, from what it set out to learn, through how it was done and what it found, to the conclusion the evidence supports.",
      input: `Title: ${a.title}\n${given}`,
      output: chain.join("\n"),
      metadata: base("pubmed.reasoning_chain"),
    });
  }
  if (results && conclusions) {
    out.push({
      id: id("conclusion"),
      instruction:
        "Given these results from a biomedical study, what conclusion did the authors draw?",
      input: `Title: ${a.title}\nResults: ${results}`,
      output: conclusions,
      metadata: base("pubmed.conclusion"),
    });
  }
  if (abstractText.length >= 200) {
    out.push({
      id: id("title"),
      instruction: "Write the title of the article this biomedical abstract belongs to.",
      input: abstractText,
      output: a.title,
      metadata: base("pubmed.title"),
    });
  }
  if (a.mesh.length > 0) {
    const list = a.mesh
      .map(
        (m) =>
          `${m.descriptor}${m.major ? " (major topic)" : ""}${m.qualifiers.length ? ` / ${m.qualifiers.join(", ")}` : ""}`,
      )
      .join("; ");
    out.push({
      id: id("mesh"),
      instruction: "Which MeSH headings would NLM index this article under?",
      input: `Title: ${a.title}\n${abstractText}`,
      output: list,
      metadata: {
        ...base("pubmed.mesh"),
        confidence: a.indexingMethod === "Automated" ? 0.8 : 0.95,
        facts: meshFacts(a),
      },
    });
  }
  return out;
}

/**
 * MeSH check tags describe the study population, not the article's topic: NLM adds them to nearly
 * every article ("Humans", "Female"), so as facts they would only join unrelated articles.
 */
export const MESH_CHECK_TAGS = new Set([
  "Humans",
  "Animals",
  "Male",
  "Female",
  "Infant",
  "Infant, Newborn",
  "Child",
  "Child, Preschool",
  "Adolescent",
  "Young Adult",
  "Adult",
  "Middle Aged",
  "Aged",
  "Aged, 80 and over",
  "Pregnancy",
  "Mice",
  "Rats",
]);

/** Article → MeSH topic facts: the article named by its title (the text carries it), the heading by its UI. */
export function meshFacts(a: PubmedArticle): Fact[] {
  return a.mesh
    .filter((m) => !MESH_CHECK_TAGS.has(m.descriptor))
    .map((m) => ({
      subject: a.title,
      relation: m.major ? "has major MeSH topic" : "has MeSH topic",
      object: m.descriptor,
      subjectId: `PMID:${a.pmid}`,
      subjectType: "Article",
      objectType: "MeSH",
      ...(m.ui ? { objectId: `MeSH:${m.ui}` } : {}),
    }));
}
