/**
 * DrugBank → question/answer records.
 *
 *   readDrugbank(["full database.xml"], {})                                  full XML (.xml/.gz/.zip)
 *   readDrugbank(["drugbank_all_drugbank_vocabulary.csv"], {})               open Vocabulary (.csv/.zip)
 *
 * The full XML (CC BY-NC 4.0) is streamed with saxes: only top-level `<drug>` elements (children of
 * the `<drugbank>` root) start a record; the `<drug>` elements nested in pathways and elsewhere are
 * just other elements on the path. Per drug we keep what the questions need (ids, name, indication,
 * mechanism, targets, food and drug interactions), so memory is one drug, never the file. Each
 * listed drug interaction becomes a warning cited by both DrugBank ids. The Vocabulary CSV (CC0)
 * gives names, synonyms and identifiers; with `excludeNonCommercial` only it is used.
 *
 * DrugBank ships both as .zip; a zip is read through its central directory, one entry streamed.
 */
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { createInflateRaw } from "node:zlib";
import { PassThrough, type Readable } from "node:stream";
import { SaxesParser, type SaxesTagNS } from "saxes";
import { parse as parseCsv } from "csv-parse";
import type { Fact, InstructionRecord } from "../data/record.js";
import { openInput, Utf8Stats, XmlCaps } from "./io.js";
import {
  ID_GRAMMAR,
  IngestError,
  idProblem,
  inputLimits,
  tooLargeReason,
  type IngestEvent,
  type IngestOptions,
  type WarningEvent,
} from "./types.js";

export const DRUGBANK_NS = "http://www.drugbank.ca";
export const DRUGBANK_XML_LICENSE = "CC-BY-NC-4.0";
export const DRUGBANK_VOCABULARY_LICENSE = "CC0-1.0";

/** A decompressed byte stream with a count of the on-disk bytes consumed. */
interface ByteSource {
  stream: Readable;
  bytesTotal: number;
  bytesRead(): number;
  /** The name inside a zip, for provenance. */
  entry?: string;
  /** Invalid UTF-8 in the decompressed bytes. */
  utf8: Utf8Stats;
}

export async function* readDrugbank(
  files: string[],
  opts: IngestOptions = {},
): AsyncGenerator<IngestEvent> {
  const limit = opts.limit ?? Infinity;
  const state = { emitted: 0, limit };
  const pairs: PairState = {
    seen: new Set(),
    pending: new Set(),
    known: new Set(),
    unresolved: { count: 0 },
  };
  const csv = files.filter((f) => /\.csv(\.gz|\.zip)?$/i.test(f));
  const xml = files.filter((f) => /\.xml(\.gz|\.bz2|\.zip)?$/i.test(f));
  const other = files.filter((f) => !csv.includes(f) && !xml.includes(f));
  if (other[0])
    throw new IngestError(
      "not a DrugBank file: expected the full XML (.xml/.xml.zip) or the Vocabulary CSV (.csv/.csv.zip)",
      other[0],
    );
  for (const f of csv) {
    if (state.emitted >= limit) return;
    yield* readVocabulary(f, opts, state, pairs.known);
  }
  // Interaction partners must be drugs of these files: collect the top-level ids first.
  if (!opts.excludeNonCommercial) {
    for (const f of xml) await scanDrugIds(f, pairs.known);
  }
  for (const f of xml) {
    if (state.emitted >= limit) return;
    if (opts.excludeNonCommercial) {
      yield {
        type: "skip",
        file: f,
        location: "whole file",
        reason: `excluded by --exclude-noncommercial: the DrugBank full database is ${DRUGBANK_XML_LICENSE}`,
      };
      continue;
    }
    yield* readFullXml(f, opts, state, pairs);
  }
}

async function openSource(file: string, want: RegExp): Promise<ByteSource> {
  if (/\.zip$/i.test(file)) return openZipEntry(file, want);
  return openInput(file);
}

// ---------------------------------------------------------------------------------------------
// Full database XML.

interface Interaction {
  id: string;
  name: string;
  description: string;
  line: number;
}

interface Target {
  /** DrugBank's target id (BE0000048), when given. */
  id: string;
  name: string;
  organism: string;
  actions: string[];
  pmids: string[];
}

interface Drug {
  index: number;
  line: number;
  type: string;
  primaryId: string;
  firstId: string;
  name: string;
  groups: string[];
  indication: string;
  mechanism: string;
  food: string[];
  interactions: Interaction[];
  badInteractions: { line: number; reason: string }[];
  targets: Target[];
}

/** Paths under a top-level drug (joined by "/") whose text we keep. */
const TEXT_PATHS = new Set([
  "drugbank-id",
  "name",
  "indication",
  "mechanism-of-action",
  "groups/group",
  "food-interactions/food-interaction",
  "drug-interactions/drug-interaction/drugbank-id",
  "drug-interactions/drug-interaction/name",
  "drug-interactions/drug-interaction/description",
  "targets/target/id",
  "targets/target/name",
  "targets/target/organism",
  "targets/target/actions/action",
  "targets/target/references/articles/article/pubmed-id",
]);

/**
 * DrugBank lists every interaction under both drugs (with the same sentence), so each unordered
 * pair is emitted once: by the drug with the smaller id, or by the larger one when the smaller is
 * not in the file. Streaming decides this with two small sets instead of one key per pair (the
 * full release lists ~2.9M interactions, ~1.45M pairs: a Set of pair-key strings would hold over
 * 100 MB):
 *  - `seen`: ids of top-level drugs read so far (~17k in the full release);
 *  - `pending`: pairs emitted by the larger id while the smaller was not yet read. If the smaller
 *    drug comes later it skips them; the full release is in id order, so this holds only pairs
 *    whose partner is absent from the file.
 * The one case left out by design: a smaller-id drug that is in the file but does not list a pair
 * its partner lists (an asymmetric listing) loses that pair when the partner comes after it.
 */
interface PairState {
  seen: Set<string>;
  pending: Set<string>;
  /**
   * Ids of every top-level drug in the XML files (a pre-pass) and of the vocabulary rows: an
   * interaction naming a drug outside them is skipped, since its name could not be checked.
   */
  known: Set<string>;
  /** Interactions of the current file whose partner is not in `known`. */
  unresolved: { count: number; first?: string };
}

/** Whether drug `id` emits its interaction with `partner` (see PairState); updates the state. */
export function emitsPair(pairs: PairState, id: string, partner: string): boolean {
  if (id < partner) return !pairs.pending.delete(`${id}|${partner}`);
  if (pairs.seen.has(partner)) return false;
  pairs.pending.add(`${partner}|${id}`);
  return true;
}

async function* readFullXml(
  file: string,
  opts: IngestOptions,
  state: { emitted: number; limit: number },
  pairs: PairState,
): AsyncGenerator<IngestEvent> {
  const src = await openSource(file, /\.xml$/i);
  if (src.bytesTotal === 0) {
    throw new IngestError("empty file: expected a DrugBank <drugbank> document", file);
  }
  const parser = new SaxesParser({ xmlns: true, position: true });
  const caps = new XmlCaps(file, inputLimits(opts));
  const queue: IngestEvent[] = [];
  /** Element names below the root; path[0] === "drug" inside a top-level drug. */
  const path: string[] = [];
  let rootSeen = false;
  let drug: Drug | null = null;
  let drugCount = 0;
  let text = "";
  let capturing = false;
  let primaryFlag = false;
  let inter: Partial<Interaction> | null = null;
  let target: Target | null = null;

  const rel = () => path.slice(1).join("/");
  const where = () =>
    `${drug ? `drug #${drugCount} (line ${drug.line}), ` : ""}line ${parser.line}, column ${parser.column}`;

  parser.on("opentag", (tag: SaxesTagNS) => {
    if (!rootSeen) {
      if (tag.local !== "drugbank" || tag.uri !== DRUGBANK_NS) {
        throw new IngestError(
          `expected the root element <drugbank xmlns="${DRUGBANK_NS}">, got <${tag.name}>${tag.uri ? ` in namespace ${tag.uri}` : ""}`,
          file,
          `line ${parser.line}`,
        );
      }
      rootSeen = true;
      return;
    }
    path.push(tag.local);
    caps.open(path.length + 1, parser.position, where);
    if (path.length === 1) {
      if (tag.local !== "drug") return;
      caps.startRecord(parser.position);
      drug = {
        index: drugCount++,
        line: parser.line,
        type: tag.attributes.type?.value ?? "",
        primaryId: "",
        firstId: "",
        name: "",
        groups: [],
        indication: "",
        mechanism: "",
        food: [],
        interactions: [],
        badInteractions: [],
        targets: [],
      };
      return;
    }
    if (!drug || path[0] !== "drug") return;
    const r = rel();
    if (r === "drug-interactions/drug-interaction") inter = { line: parser.line };
    else if (r === "targets/target")
      target = { id: "", name: "", organism: "", actions: [], pmids: [] };
    else if (r === "drugbank-id") primaryFlag = tag.attributes.primary?.value === "true";
    capturing = TEXT_PATHS.has(r);
    text = "";
  });

  const onText = (t: string) => {
    if (capturing) text += t;
  };
  parser.on("text", onText);
  parser.on("cdata", onText);

  parser.on("closetag", (tag: SaxesTagNS) => {
    caps.close(parser.position);
    if (path.length === 0) return; // the root closes
    const d = drug as Drug | null;
    if (d && path[0] === "drug") {
      const r = rel();
      const v = text.trim();
      if (capturing) {
        switch (r) {
          case "drugbank-id":
            if (!d.firstId) d.firstId = v;
            if (primaryFlag && !d.primaryId) d.primaryId = v;
            break;
          case "name":
            d.name = v;
            break;
          case "indication":
            d.indication = v;
            break;
          case "mechanism-of-action":
            d.mechanism = v;
            break;
          case "groups/group":
            d.groups.push(v);
            break;
          case "food-interactions/food-interaction":
            if (v) d.food.push(v);
            break;
          case "drug-interactions/drug-interaction/drugbank-id":
            if (inter) inter.id = v;
            break;
          case "drug-interactions/drug-interaction/name":
            if (inter) inter.name = v;
            break;
          case "drug-interactions/drug-interaction/description":
            if (inter) inter.description = v;
            break;
          case "targets/target/id":
            if (target) target.id = v;
            break;
          case "targets/target/name":
            if (target) target.name = v;
            break;
          case "targets/target/organism":
            if (target) target.organism = v;
            break;
          case "targets/target/actions/action":
            if (target && v) target.actions.push(v);
            break;
          case "targets/target/references/articles/article/pubmed-id":
            if (target && ID_GRAMMAR.pmid.test(v)) target.pmids.push(v);
            break;
        }
        capturing = false;
        text = "";
      }
      if (r === "drug-interactions/drug-interaction" && inter) {
        const missing = (["id", "name", "description"] as const).filter((k) => !inter![k]);
        if (missing.length === 0 && !idProblem("drugbank", inter.id))
          d.interactions.push(inter as Interaction);
        else {
          d.badInteractions.push({
            line: inter.line ?? parser.line,
            reason: missing.length
              ? `drug-interaction lacks ${missing.join(", ")}`
              : `drug-interaction drugbank-id ${JSON.stringify(inter.id)} is not a DrugBank id (${ID_GRAMMAR.drugbank})`,
          });
        }
        inter = null;
      } else if (r === "targets/target" && target) {
        if (target.name) d.targets.push(target);
        target = null;
      }
    }
    path.pop();
    if (path.length === 0 && tag.local === "drug" && d) {
      caps.endRecord();
      drug = null;
      queue.push(...drugEvents(d, file, src.entry, pairs));
    }
  });

  let chunks = 0;
  const readError = (e: unknown) =>
    e instanceof IngestError
      ? e
      : new IngestError(
          `read failed (corrupt or truncated compressed data?): ${(e as Error).message ?? String(e)}`,
          file,
        );
  try {
    const decoder = new TextDecoder("utf-8");
    for await (const chunk of src.stream as AsyncIterable<Buffer>) {
      try {
        parser.write(decoder.decode(chunk, { stream: true }));
      } catch (e) {
        throw xmlError(e, file, parser);
      }
      caps.check(parser.position, where);
      while (queue.length > 0) {
        const ev = queue.shift()!;
        if (ev.type === "record") {
          if (state.emitted >= state.limit) return;
          state.emitted++;
        }
        yield ev;
      }
      if (state.emitted >= state.limit) return;
      if (++chunks % 8 === 0) {
        opts.signal?.throwIfAborted();
        yield { type: "progress", file, bytesRead: src.bytesRead(), bytesTotal: src.bytesTotal };
      }
    }
    try {
      parser.write(decoder.decode());
      parser.close();
    } catch (e) {
      throw xmlError(e, file, parser, "file truncated? ");
    }
  } catch (e) {
    throw readError(e);
  } finally {
    src.stream.destroy();
  }
  for (const ev of queue) {
    if (ev.type === "record") {
      if (state.emitted >= state.limit) return;
      state.emitted++;
    }
    yield ev;
  }
  if (!rootSeen)
    throw new IngestError("no XML elements: expected a DrugBank <drugbank> document", file);
  if (drugCount === 0) throw new IngestError("no top-level <drug> elements under <drugbank>", file);
  const warning = utf8Warning(file, src);
  if (warning) yield warning;
  if (pairs.unresolved.count > 0) {
    yield {
      type: "warning",
      file,
      location: pairs.unresolved.first!,
      kind: "unresolved-reference",
      count: pairs.unresolved.count,
      message: `${pairs.unresolved.count} interaction(s) name a drug that is in none of the input files (kept with DrugBank's name, provenance.partnerUnresolved, confidence 0.75); first: ${pairs.unresolved.first}`,
    };
    pairs.unresolved = { count: 0 };
  }
  yield { type: "progress", file, bytesRead: src.bytesRead(), bytesTotal: src.bytesTotal };
}

function xmlError(e: unknown, file: string, parser: SaxesParser, hint = ""): Error {
  if (e instanceof IngestError) return e;
  const msg = (e as Error).message ?? String(e);
  return new IngestError(
    `malformed XML: ${hint}${msg}`,
    file,
    `line ${parser.line}, column ${parser.column}`,
  );
}

const ddiQuestions = [
  (a: string, b: string) => `What happens when ${a} is taken together with ${b}?`,
  (a: string, b: string) => `Is there a drug interaction between ${a} and ${b}?`,
  (a: string, b: string) => `What interaction warning applies when ${a} is combined with ${b}?`,
];

function drugEvents(
  d: Drug,
  file: string,
  entry: string | undefined,
  pairs: PairState,
): IngestEvent[] {
  const out: IngestEvent[] = [];
  const where = `drug #${d.index + 1} (line ${d.line})`;
  const id = d.primaryId || d.firstId;
  if (!id || idProblem("drugbank", id)) {
    out.push({
      type: "skip",
      file,
      location: where,
      reason: `no primary drugbank-id (${ID_GRAMMAR.drugbank}) found${id ? `, got ${JSON.stringify(id.slice(0, 40))}` : ""}`,
    });
    return out;
  }
  if (!d.name) {
    out.push({ type: "skip", file, location: `${where} ${id}`, reason: "drug has no <name>" });
    return out;
  }
  const provenance = (extra: Record<string, unknown> = {}) => ({
    file,
    ...(entry ? { entry } : {}),
    drug: id,
    line: d.line,
    ...extra,
  });
  const rec = (
    suffix: string,
    task: string,
    instruction: string,
    output: string,
    citations: string[],
    confidence: number,
    facts: Fact[],
    extra?: Record<string, unknown>,
  ): IngestEvent => ({
    type: "record",
    record: {
      id: `drugbank:${suffix}`,
      instruction,
      input: "",
      output,
      metadata: {
        source: "drugbank",
        task,
        confidence,
        citations,
        license: DRUGBANK_XML_LICENSE,
        provenance: provenance(extra),
        ...(facts.length > 0 ? { facts } : {}),
      },
    } satisfies InstructionRecord,
  });
  const cite = `DrugBank:${id}`;
  const drugFact = (
    relation: string,
    object: string,
    objectType: string,
    objectId?: string,
  ): Fact => ({
    subject: d.name,
    relation,
    object,
    subjectId: cite,
    subjectType: "Compound",
    objectType,
    ...(objectId ? { objectId } : {}),
  });
  if (d.indication) {
    out.push(
      rec(
        `indication:${id}`,
        "drugbank.indication",
        `What is ${d.name} indicated for?`,
        d.indication,
        [cite],
        0.9,
        indicationTerms(d.indication).map((t) => drugFact("indicated for", t, "Indication")),
      ),
    );
  }
  if (d.mechanism) {
    out.push(
      rec(
        `mechanism:${id}`,
        "drugbank.mechanism",
        `What is the mechanism of action of ${d.name}?`,
        d.mechanism,
        [cite],
        0.9,
        [],
      ),
    );
  }
  if (d.targets.length > 0) {
    const parts = d.targets.map((t) => {
      const bits = [
        t.actions.join(", "),
        t.organism && t.organism !== "Humans" ? t.organism : "",
      ].filter(Boolean);
      return bits.length ? `${t.name} (${bits.join("; ")})` : t.name;
    });
    const pmids = [...new Set(d.targets.flatMap((t) => t.pmids))].map((p) => `PMID:${p}`);
    out.push(
      rec(
        `targets:${id}`,
        "drugbank.targets",
        `What are the molecular targets of ${d.name}?`,
        `According to DrugBank, ${d.name} acts on: ${parts.join("; ")}.`,
        [cite, ...pmids],
        0.9,
        d.targets.map((t) =>
          drugFact("targets", t.name, "Target", t.id ? `DrugBank:${t.id}` : undefined),
        ),
      ),
    );
  }
  if (d.food.length > 0) {
    out.push(
      rec(
        `food:${id}`,
        "drugbank.food",
        `Are there food or supplement interactions to watch for with ${d.name}?`,
        `Yes. DrugBank advises: ${d.food.join(" ")}`,
        [cite],
        0.85,
        [],
      ),
    );
  }
  for (const bad of d.badInteractions) {
    out.push({
      type: "skip",
      file,
      location: `${where} ${id} drug-interaction at line ${bad.line}`,
      reason: bad.reason,
    });
  }
  for (const it of d.interactions) {
    if (!emitsPair(pairs, id, it.id)) continue;
    // A partner outside the input files keeps DrugBank's name for it, marked unresolved (and
    // counted for the audit log): nothing in the input confirms that id and name belong together.
    const resolved = pairs.known.has(it.id);
    if (!resolved) {
      pairs.unresolved.count++;
      pairs.unresolved.first ??= `${where} ${id} drug-interaction at line ${it.line}: ${it.id}`;
    }
    const q = ddiQuestions[(d.index + it.line) % ddiQuestions.length]!;
    const yesNo = q === ddiQuestions[1];
    out.push(
      rec(
        `ddi:${id}:${it.id}`,
        "drugbank.ddi",
        q(d.name, it.name),
        yesNo ? `Yes. ${it.description}` : it.description,
        [cite, `DrugBank:${it.id}`],
        resolved ? 0.9 : 0.75,
        interactionFacts(d.name, id, it),
        {
          interactionLine: it.line,
          partner: it.id,
          ...(resolved ? {} : { partnerUnresolved: true }),
        },
      ),
    );
  }
  pairs.seen.add(id);
  return out;
}

/**
 * The facts of one interaction: always the unordered "interacts" pair, plus the direction of the
 * effect when the description is one of DrugBank's directed templates ("A may increase the … of
 * B": A increases B; "The … of A can be decreased when combined with B": B decreases A). The
 * "risk or severity of … when A is combined with B" template names no direction, so none is added.
 */
export function interactionFacts(name: string, id: string, it: Interaction): Fact[] {
  const a = { name, id: `DrugBank:${id}` };
  const b = { name: it.name, id: `DrugBank:${it.id}` };
  const fact = (relation: string, s: typeof a, o: typeof a): Fact => ({
    subject: s.name,
    relation,
    object: o.name,
    subjectId: s.id,
    objectId: o.id,
    subjectType: "Compound",
    objectType: "Compound",
  });
  const facts = [fact("interacts", a, b)];
  const byName = (n: string) => (n === a.name ? a : n === b.name ? b : undefined);
  const active = /^(.+?) may (increase|decrease) the .+? of (.+?)\.?$/.exec(it.description);
  const passive =
    /^The (?!risk or severity\b).+? of (.+?) can be (increased|decreased) when (?:it is )?(?:combined|used in combination) with (.+?)\.?$/.exec(
      it.description,
    );
  if (active) {
    const [s, o] = [byName(active[1]!), byName(active[3]!)];
    if (s && o && s !== o) facts.push(fact(`${active[2]}s`, s, o));
  } else if (passive) {
    const [o, s] = [byName(passive[1]!), byName(passive[3]!)];
    if (s && o && s !== o)
      facts.push(fact(passive[2] === "increased" ? "increases" : "decreases", s, o));
  }
  return facts;
}

/** Words that make a phrase name a condition rather than a purpose ("LDL cholesterol", "use"). */
const CONDITION_SUFFIX = /(?:itis|osis|[ae]?emia|oma|pathy|algia|ism|ia|sis|rrh?oea|rrhea)$/;
const CONDITION_WORDS = new Set(
  (
    "disease syndrome infection pain fever inflammation stroke infarction ulcer hypertension " +
    "hypotension angina cancer arrhythmia dysfunction thrombosis failure disorder dependence " +
    "mellitus diabetes asthma epilepsy migraine tumour tumor injury deficiency obesity eczema " +
    "acne seizure nausea vomiting insomnia depression anxiety schizophrenia"
  ).split(" "),
);

const namesCondition = (phrase: string): boolean =>
  phrase
    .toLowerCase()
    .split(/[\s-]+/)
    .flatMap((w) => [w, w.replace(/s$/, "")])
    .some((w) => CONDITION_WORDS.has(w) || (w.length > 5 && CONDITION_SUFFIX.test(w)));

/**
 * The conditions an indication text names, read conservatively: the phrases after "treatment of",
 * "prevention of", "relief of", "indicated for" …, up to the end of the clause, split on
 * "and"/"or"/commas, kept only when they read as a condition (a disease word or suffix) and are
 * not a nested "X of Y" phrase. Every term is a verbatim substring of the text, so a fact names
 * what the record says; coordinated adjectives ("gastric and duodenal ulcers") lose their
 * adjective-only parts rather than gaining a wrong fact. Recall is traded for precision.
 */
export function indicationTerms(text: string): string[] {
  const out: string[] = [];
  const lead =
    /\b(?:(?:the )?(?:treatment|prevention|prophylaxis|relief|management)(?: and (?:treatment|prevention|prophylaxis|relief|management))? of|indicated for(?: the (?:treatment|prevention|management) of)?)\s+/gi;
  for (const m of text.matchAll(lead)) {
    const rest = text.slice((m.index ?? 0) + m[0].length);
    const end = rest.search(
      /[.;:([]|,\s+(?:and|together|in|with)\b|\s+(?:in|with|who|after|caused|together|due|such)\b/i,
    );
    const clause = rest.slice(0, end < 0 ? rest.length : end);
    for (const part of clause.split(/,\s*|\s+(?:and|or)\s+(?:of\s+)?/)) {
      const t = part.replace(/^(?:the)\s+/i, "").trim();
      if (/^(?:for|use)\b|\bof\b/i.test(t) || t.split(/\s+/).length > 8) continue;
      if (t.length >= 3 && namesCondition(t) && !out.includes(t)) out.push(t);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Open Vocabulary CSV: DrugBank ID, Accession Numbers, Common name, CAS, UNII, Synonyms, Standard InChI Key.

const VOCAB_COLUMNS = [
  "DrugBank ID",
  "Accession Numbers",
  "Common name",
  "CAS",
  "UNII",
  "Synonyms",
  "Standard InChI Key",
];

async function* readVocabulary(
  file: string,
  opts: IngestOptions,
  state: { emitted: number; limit: number },
  known: Set<string>,
): AsyncGenerator<IngestEvent> {
  const src = await openSource(file, /\.csv$/i);
  const limits = inputLimits(opts);
  const parser = src.stream.pipe(
    parseCsv({
      bom: true,
      relax_column_count: true,
      info: true,
      skip_empty_lines: true,
      // One row (or one unterminated quoted field) over the record cap fails instead of growing.
      max_record_size: limits.maxRecordChars,
    }),
  );
  // io.ts rethrows source errors on its own iterator; the pipe would not carry them to the parser.
  src.stream.on("error", (e) => parser.destroy(e));
  let header: string[] | null = null;
  let rows = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: string[];
      info: { lines: number };
    }>) {
      const line = info.lines;
      if (!header) {
        header = record.map((h) => h.trim());
        const missing = VOCAB_COLUMNS.filter((c) => !header!.includes(c));
        if (missing.length > 0) {
          throw new IngestError(
            `not a DrugBank Vocabulary CSV: header lacks ${missing.map((m) => `"${m}"`).join(", ")} (expected ${VOCAB_COLUMNS.join(",")})`,
            file,
            "line 1",
          );
        }
        continue;
      }
      if (record.length !== header.length) {
        yield {
          type: "skip",
          file,
          location: `line ${line}`,
          reason: `expected ${header.length} columns, got ${record.length}`,
        };
        continue;
      }
      const row = Object.fromEntries(header.map((h, i) => [h, (record[i] ?? "").trim()]));
      const id = row["DrugBank ID"]!;
      const name = row["Common name"]!;
      const badId = idProblem("drugbank", id);
      if (badId || !name) {
        yield {
          type: "skip",
          file,
          location: `line ${line}`,
          reason: badId ?? "empty Common name",
        };
        continue;
      }
      known.add(id);
      for (const ev of vocabularyRecords(row, file, line, src.entry)) {
        if (state.emitted >= state.limit) return;
        state.emitted++;
        yield ev;
      }
      if (++rows % 5000 === 0) {
        opts.signal?.throwIfAborted();
        yield { type: "progress", file, bytesRead: src.bytesRead(), bytesTotal: src.bytesTotal };
      }
    }
  } catch (e) {
    if (e instanceof IngestError) throw e;
    const err = e as Error & { code?: string; lines?: number };
    if (err.code === "CSV_MAX_RECORD_SIZE") {
      throw new IngestError(
        tooLargeReason("one CSV row", limits.maxRecordChars, limits),
        file,
        `line ${err.lines ?? "?"}`,
      );
    }
    throw new IngestError(
      `malformed CSV: ${err.message}`,
      file,
      err.lines ? `line ${err.lines}` : undefined,
    );
  } finally {
    src.stream.destroy();
  }
  if (!header)
    throw new IngestError("empty file: expected the DrugBank Vocabulary CSV header", file);
  const warning = utf8Warning(file, src);
  if (warning) yield warning;
  yield { type: "progress", file, bytesRead: src.bytesRead(), bytesTotal: src.bytesTotal };
}

function vocabularyRecords(
  row: Record<string, string>,
  file: string,
  line: number,
  entry?: string,
): IngestEvent[] {
  const id = row["DrugBank ID"]!;
  const name = row["Common name"]!;
  const meta = (task: string) => ({
    source: "drugbank" as const,
    task,
    confidence: 0.95,
    citations: [`DrugBank:${id}`],
    license: DRUGBANK_VOCABULARY_LICENSE,
    provenance: { file, ...(entry ? { entry } : {}), line, drug: id },
  });
  const out: IngestEvent[] = [];
  const synonyms = (row.Synonyms ?? "")
    .split(" | ")
    .map((s) => s.trim())
    .filter((s) => s && s.toLowerCase() !== name.toLowerCase());
  if (synonyms.length > 0) {
    out.push({
      type: "record",
      record: {
        id: `drugbank:synonyms:${id}`,
        instruction: `What other names is ${name} known by?`,
        input: "",
        output: `${name} (DrugBank ${id}) is also known as: ${synonyms.join("; ")}.`,
        metadata: meta("drugbank.synonyms"),
      },
    });
  }
  const ids = [
    `DrugBank ID ${id}`,
    row.CAS ? `CAS number ${row.CAS}` : "",
    row.UNII ? `UNII ${row.UNII}` : "",
    row["Standard InChI Key"] ? `InChIKey ${row["Standard InChI Key"]}` : "",
  ].filter(Boolean);
  out.push({
    type: "record",
    record: {
      id: `drugbank:identifiers:${id}`,
      instruction: `What are the standard identifiers of ${name}?`,
      input: "",
      output: `${name}: ${ids.join(", ")}.`,
      metadata: meta("drugbank.identifiers"),
    },
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Zip: DrugBank's downloads are single-entry zips. Sizes come from the central directory (the
// local header may defer them to a data descriptor), so the entry is a byte range of the file.

export async function openZipEntry(file: string, want: RegExp): Promise<ByteSource> {
  const size = (await stat(file)).size;
  const fh = await open(file, "r");
  let entry: { name: string; method: number; dataStart: number; compSize: number } | undefined;
  try {
    const tailLen = Math.min(size, 65_557); // EOCD (22) + longest comment (65,535)
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0)
      throw new IngestError(
        "not a zip file, or truncated: no end-of-central-directory record",
        file,
      );
    const entries = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    if (cdOffset === 0xffffffff || entries === 0xffff)
      throw new IngestError("ZIP64 archives are not supported; unzip it first", file);
    if (cdOffset + cdSize > size)
      throw new IngestError(
        "zip central directory lies past the end of the file (truncated?)",
        file,
      );
    const cd = Buffer.alloc(cdSize);
    await fh.read(cd, 0, cdSize, cdOffset);
    const names: string[] = [];
    let p = 0;
    for (let k = 0; k < entries; k++) {
      if (cd.readUInt32LE(p) !== 0x02014b50)
        throw new IngestError("corrupt zip central directory", file);
      const method = cd.readUInt16LE(p + 10);
      const compSize = cd.readUInt32LE(p + 20);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      const localOffset = cd.readUInt32LE(p + 42);
      const name = cd.toString("utf8", p + 46, p + 46 + nameLen);
      p += 46 + nameLen + extraLen + commentLen;
      names.push(name);
      if (!want.test(name)) continue;
      if (method !== 0 && method !== 8)
        throw new IngestError(
          `zip entry "${name}" uses compression method ${method}; only stored and deflate are supported`,
          file,
        );
      if (compSize === 0xffffffff)
        throw new IngestError("ZIP64 archives are not supported; unzip it first", file);
      const lh = Buffer.alloc(30);
      await fh.read(lh, 0, 30, localOffset);
      if (lh.readUInt32LE(0) !== 0x04034b50)
        throw new IngestError(`corrupt zip: no local header for "${name}"`, file);
      const dataStart = localOffset + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
      if (dataStart + compSize > size)
        throw new IngestError(
          `zip entry "${name}" runs past the end of the file (truncated?)`,
          file,
        );
      entry = { name, method, dataStart, compSize };
      break;
    }
    if (!entry)
      throw new IngestError(
        `zip has no entry matching ${want}; entries: ${names.slice(0, 10).join(", ")}`,
        file,
      );
  } finally {
    await fh.close();
  }
  // Streams are made only now, after the last await, and piped at once, so no chunk is emitted
  // before the caller starts reading.
  let read = 0;
  const raw = createReadStream(file, {
    start: entry.dataStart,
    end: entry.dataStart + entry.compSize - 1,
    highWaterMark: 1 << 20,
  });
  raw.on("data", (c: Buffer | string) => (read += c.length));
  const sink = entry.method === 8 ? createInflateRaw() : new PassThrough();
  raw.on("error", (e) => sink.destroy(e));
  sink.on("error", () => undefined); // surfaced by the consumer's iterator
  const utf8 = new Utf8Stats();
  const check = utf8.transform();
  sink.on("error", (e) => check.destroy(e));
  const stream: Readable = raw.pipe(sink).pipe(check);
  return { stream, bytesTotal: size, bytesRead: () => read, entry: entry.name, utf8 };
}

function utf8Warning(file: string, src: ByteSource): WarningEvent | undefined {
  return src.utf8.warning(src.entry ? `${file}!${src.entry}` : file);
}

/**
 * The ids of the top-level drugs of a DrugBank XML (a top-level <drug> carries a type attribute;
 * the <drug> elements inside pathways do not), by plain string search: far faster than the SAX
 * pass, which reports any malformed XML afterwards.
 */
async function scanDrugIds(file: string, into: Set<string>): Promise<void> {
  const src = await openSource(file, /\.xml$/i);
  // On the bytes (tags and ids are ASCII): no decoded copy of a 1.5 GB file passes through the heap.
  let carry = Buffer.alloc(0);
  let wantId = false;
  try {
    for await (const chunk of src.stream as AsyncIterable<Buffer>) {
      const buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      let pos = 0;
      let keep = -1; // start of a token cut by the chunk boundary
      for (;;) {
        if (wantId) {
          const at = buf.indexOf("<drugbank-id", pos);
          const gt = at < 0 ? -1 : buf.indexOf(62, at); // ">"
          const lt = gt < 0 ? -1 : buf.indexOf(60, gt); // "<"
          if (lt < 0) {
            keep = at;
            break;
          }
          const id = buf.toString("latin1", gt + 1, lt).trim();
          if (ID_GRAMMAR.drugbank.test(id)) into.add(id);
          wantId = false;
          pos = lt;
          continue;
        }
        const at = buf.indexOf("<drug type=", pos);
        if (at < 0) break;
        wantId = true;
        pos = at + 11;
      }
      // Keep what a cut token may still need: a partial tag or one id (the SAX pass caps the rest).
      carry = Buffer.from(buf.subarray(keep >= 0 ? keep : Math.max(pos, buf.length - 64)));
      if (carry.length > 1 << 20) return;
    }
  } catch {
    // A broken file is reported with its position by the SAX pass that follows.
  } finally {
    src.stream.destroy();
  }
}
