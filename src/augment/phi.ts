/**
 * PHI guard: finds HIPAA Safe Harbor identifiers in record text — person names (with titles,
 * credentials, contact labels or matching an e-mail address), dates tied to a person, ages over
 * 89, MRNs, phone/fax numbers, e-mail addresses, SSNs, street addresses, geographic units smaller
 * than a state (a city with its state and ZIP; ZIP digits beyond the first three), person-linked
 * URLs and IP addresses — and redacts them (`[EMAIL]`, `[PHONE]` …) or drops the record. ClinicalTrials.gov
 * contact details (central contacts, site contacts, results point of contact) are the real case.
 */
import type { InstructionRecord } from "../data/record.js";
import { cloneRecord, collect, StepTracker, type RecordStream, type StepResult } from "./step.js";

export type PhiType =
  | "NAME"
  | "DATE"
  | "AGE"
  | "MRN"
  | "PHONE"
  | "EMAIL"
  | "SSN"
  | "ADDRESS"
  | "CITY"
  | "ZIP"
  | "URL"
  | "IP";

export interface PhiFinding {
  type: PhiType;
  start: number;
  end: number;
  text: string;
}

const NAME_PART = String.raw`[A-Z][\p{Ll}'’-]+(?:-[A-Z][\p{Ll}]+)?`;
const PERSON = String.raw`${NAME_PART}(?:\s+[A-Z]\.?)?(?:\s+${NAME_PART}){1,2}`;
const CREDENTIAL = String.raw`(?:M\.?D\.?|Ph\.?D\.?|R\.?N\.?|D\.?O\.?|MPH|PharmD|MBBS|MSc|BSN|NP|PA-C|FRCPC?|DrPH|MS|MA|BS)`;
const MONTH = String.raw`(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)`;
const DATE = String.raw`(?:(?<![\d.])\d{1,2}(?<sep>[/.-])\d{1,2}\k<sep>\d{2,4}(?![\d.])|\d{4}-\d{2}-\d{2}|${MONTH}\.?\s+\d{1,2},?\s+\d{4}|\d{1,2}\s+${MONTH}\.?,?\s+\d{4})`;
const STREET = String.raw`(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Square|Sq)`;

interface Detector {
  type: PhiType;
  re: RegExp;
  /** Which capture group is the identifier (default: the whole match). */
  group?: number;
  /** Reject a match (e.g. a phone-shaped CI or too few digits). */
  reject?: (m: string, text: string, start: number) => boolean;
}

const digitCount = (s: string) => s.replace(/\D/g, "").length;
/** Numbers that belong to identifiers we must keep: NCT/PMID/DOI/ChEMBL/DrugBank ids. */
const inSourceId = (text: string, start: number) =>
  /(?:NCT|PMID:?\s*|doi:?\s*|10\.\d{4,}\/\S*|CHEMBL|DB)$/i.test(
    text.slice(Math.max(0, start - 20), start),
  );

const DETECTORS: Detector[] = [
  { type: "EMAIL", re: /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g },
  {
    type: "URL",
    re: /\b(?:https?:\/\/)?(?:www\.)?(?:facebook\.com|twitter\.com|x\.com|instagram\.com|linkedin\.com\/in|tiktok\.com|youtube\.com\/@)\/?[^\s)]+/gi,
  },
  {
    type: "URL",
    re: /\bhttps?:\/\/[^\s)]*(?:patient|\/~|user(?:s)?\/|profile|people\/|mychart)[^\s)]*/gi,
  },
  { type: "URL", re: /\bmailto:[^\s)]+/gi },
  {
    type: "IP",
    re: /\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b/g,
    reject: (_m, text, start) =>
      /(?:v|version|release)\s*$/i.test(text.slice(Math.max(0, start - 10), start)),
  },
  { type: "SSN", re: /\b\d{3}-\d{2}-\d{4}\b/g },
  {
    type: "SSN",
    re: /\b(?:SSN|social security(?: number| no\.?)?)\s*[:#]?\s*(\d{9}|\d{3}[ -]\d{2}[ -]\d{4})/gi,
    group: 1,
  },
  {
    type: "MRN",
    re: /\b(?:MRN|medical record(?: number| no\.?| #)?|patient (?:id|identifier|number|no\.?)|chart (?:number|no\.?)|account (?:number|no\.?))\s*[:#]?\s*([A-Z]{0,3}\d[\dA-Z-]{3,})/gi,
    group: 1,
  },
  // US/Canada: (314) 286-1138, 314-286-1138, 1-844-599-2273, +1 314.286.1138.
  {
    type: "PHONE",
    re: /(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}\b/g,
    reject: (_m, text, start) => inSourceId(text, start),
  },
  // French and similar: 01.49.95.81.69, 01 40 05 49 58.
  { type: "PHONE", re: /\b0\d(?:[\s.]\d{2}){4}\b/g },
  // International with a country code: +33 1 49 95 81 69, +44 20 7946 0958, +1844 599.
  {
    type: "PHONE",
    re: /\+\d{1,4}(?:[\s.-]?\(?\d{1,5}\)?){1,5}/g,
    reject: (m) => digitCount(m) < 7,
  },
  // Bare digits right after a phone label: "phone: 4165973422", "Tel 0149958169", "ext. 7802".
  {
    type: "PHONE",
    re: /\b(?:phone|tel(?:ephone)?|fax|mobile|cell|call|pager|ext(?:ension)?\.?)\b[^\d\n]{0,12}(\+?\d[\d\s().-]{2,}\d)/gi,
    group: 1,
    reject: (m, text, start) => digitCount(m) < 4 || inSourceId(text, start),
  },
  {
    type: "ADDRESS",
    re: new RegExp(
      String.raw`\b\d{1,5}\s+(?:[A-Z][\p{L}'.-]*\s+){1,4}${STREET}\b\.?(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Room|#)\.?\s*[\w-]+)?`,
      "gu",
    ),
  },
  {
    type: "ADDRESS",
    re: /\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|place|allée|chemin|quai)\s+[^\n,;]{2,40}/giu,
  },
  { type: "ADDRESS", re: /\b(?:P\.?\s?O\.?\s+Box|Postfach)\s+\d+/gi },
  {
    type: "DATE",
    re: new RegExp(
      String.raw`\b(?:born|DOB|date of birth|d\.o\.b\.|birthday|admitted|admission|discharged|discharge|died|deceased|date of death|seen|visited)\b(?:\s+(?:on|date|in))?\s*:?\s*(${DATE})`,
      "gi",
    ),
    group: 1,
  },
  {
    type: "AGE",
    re: /\b(?:aged?\s+)?(9\d|1[0-2]\d)[- ](?:years?|yrs?|y\/o|year-old)(?:[- ]old)?\b/gi,
    reject: (_m, text, start) =>
      /(?:over|than|≥|>|older)\s*$/i.test(text.slice(Math.max(0, start - 12), start)),
  },
  {
    type: "NAME",
    re: new RegExp(
      String.raw`\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+(${NAME_PART}(?:\s+${NAME_PART}){0,2})`,
      "gu",
    ),
    group: 1,
  },
  {
    type: "NAME",
    re: new RegExp(
      String.raw`\b(${PERSON}),?\s+${CREDENTIAL}(?:,\s*${CREDENTIAL})*(?![\p{L}])`,
      "gu",
    ),
    group: 1,
  },
  {
    type: "NAME",
    re: new RegExp(
      String.raw`\b(?:[Cc]ontact(?: person)?|[Pp]atient(?: name)?|[Nn]ame|[Pp]rincipal [Ii]nvestigator|[Ss]tudy (?:[Dd]irector|[Cc]hair)|[Pp]oint of [Cc]ontact|PI|[Ii]nvestigator)\s*[:=-]\s*(${PERSON})`,
      "gu",
    ),
    group: 1,
  },
];

/** US state and territory postal codes and names (a ZIP is recognised only after one of them). */
const STATE_CODES =
  "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP";
const STATE_NAMES =
  "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming|Puerto Rico|District of Columbia";
/** What follows a number in dosing and counts, never a ZIP ("IL 62704" is not "IN 10000 IU"). */
const UNIT_AFTER =
  /^\s*(?:[µμm]?g\b|mcg|kg|m?l\b|mL|IU|U\b|units?|mmol|nmol|pg|ng|patients|participants|subjects|cells|copies|%|-fold|times)/i;
/**
 * "City, ST 12345(-6789)": city and state code in any case (the comma and the ZIP make it an
 * address), or a state name; or, without a city, an upper-case state code right before a ZIP.
 */
const CITY_STATE_ZIP = new RegExp(
  String.raw`\b(?<city>[A-Z][\p{L}'.-]+(?:[ -][A-Z][\p{L}'.-]+){0,3}),\s*(?:${STATE_CODES}|${STATE_CODES.toLowerCase()}|${STATE_NAMES})\.?,?\s+(?<zip>\d{5}(?:-\d{4})?)(?![\d-])`,
  "gu",
);
const STATE_ZIP = new RegExp(
  String.raw`\b(?:${STATE_CODES})\s+(?<zip>\d{5}(?:-\d{4})?)(?![\d-])`,
  "gu",
);
/**
 * Three-digit ZIP areas with 20,000 people or fewer (HHS Safe Harbor guidance, 2000 census): their
 * first three digits are not kept either.
 */
const SMALL_ZIP3 = new Set(
  "036 059 063 102 203 556 692 790 821 823 830 831 878 879 884 890 893".split(" "),
);

/**
 * Geographic units smaller than a state, per Safe Harbor: the city named with a state and ZIP,
 * and every ZIP digit beyond the first three (all five in the small areas above).
 */
function geographicUnits(text: string): PhiFinding[] {
  const out: PhiFinding[] = [];
  const zip = (m: RegExpMatchArray) => {
    const z = m.groups!.zip!;
    const at = (m.index ?? 0) + m[0].lastIndexOf(z);
    if (UNIT_AFTER.test(text.slice(at + z.length, at + z.length + 16))) return false;
    const keep = SMALL_ZIP3.has(z.slice(0, 3)) ? 0 : 3;
    out.push({ type: "ZIP", start: at + keep, end: at + z.length, text: z.slice(keep) });
    return true;
  };
  for (const m of text.matchAll(CITY_STATE_ZIP)) {
    if (!zip(m)) continue;
    const city = m.groups!.city!;
    const start = m.index ?? 0;
    out.push({ type: "CITY", start, end: start + city.length, text: city });
  }
  for (const m of text.matchAll(STATE_ZIP)) {
    const at = (m.index ?? 0) + m[0].lastIndexOf(m.groups!.zip!);
    if (!out.some((f) => f.type === "ZIP" && f.end === at + m.groups!.zip!.length)) zip(m);
  }
  return out;
}

/** Names whose parts appear in an e-mail address found in the same text (camille.heslot@…). */
function namesFromEmails(text: string, emails: PhiFinding[]): PhiFinding[] {
  const parts = new Set<string>();
  for (const e of emails) {
    const local = e.text.split("@")[0] ?? "";
    for (const p of local.split(/[._\-+\d]+/)) if (p.length >= 3) parts.add(p.toLowerCase());
  }
  if (parts.size === 0) return [];
  const out: PhiFinding[] = [];
  const re = new RegExp(String.raw`${NAME_PART}(?:\s+(?:[A-Z]\.?\s+)?${NAME_PART}){0,3}`, "gu");
  for (const m of text.matchAll(re)) {
    const tokens = m[0].split(/\s+/);
    if (!tokens.some((t) => parts.has(t.replace(/[^\p{L}]/gu, "").toLowerCase()))) continue;
    const start = m.index ?? 0;
    out.push({ type: "NAME", start, end: start + m[0].length, text: m[0] });
  }
  return out;
}

/** Dates with day precision in a text that also names a person ("names with dates"). */
function datesNearNames(text: string): PhiFinding[] {
  const out: PhiFinding[] = [];
  for (const m of text.matchAll(new RegExp(DATE, "gi"))) {
    const start = m.index ?? 0;
    out.push({ type: "DATE", start, end: start + m[0].length, text: m[0] });
  }
  return out;
}

/** All PHI spans in a text, overlaps resolved in favour of the longer span. */
export function detectPhi(text: string): PhiFinding[] {
  const found: PhiFinding[] = [];
  for (const d of DETECTORS) {
    d.re.lastIndex = 0;
    for (const m of text.matchAll(d.re)) {
      const whole = m.index ?? 0;
      const span = d.group !== undefined ? m[d.group] : m[0];
      if (span === undefined) continue;
      const start = d.group !== undefined ? whole + m[0].indexOf(span) : whole;
      if (d.reject?.(span, text, start)) continue;
      found.push({ type: d.type, start, end: start + span.length, text: span });
    }
  }
  found.push(
    ...namesFromEmails(
      text,
      found.filter((f) => f.type === "EMAIL"),
    ),
  );
  if (found.some((f) => f.type === "NAME")) found.push(...datesNearNames(text));
  found.push(...geographicUnits(text));
  found.sort((a, b) => a.start - b.start || b.end - b.start - (a.end - a.start));
  const merged: PhiFinding[] = [];
  for (const f of found) {
    const last = merged[merged.length - 1];
    if (last && f.start < last.end) {
      if (f.end > last.end && f.end - f.start > last.end - last.start)
        merged[merged.length - 1] = f;
      continue;
    }
    merged.push(f);
  }
  return merged;
}

export interface Redaction {
  text: string;
  findings: PhiFinding[];
  /** Characters replaced. */
  redactedChars: number;
}

/** Replace each PHI span with `[TYPE]`. */
export function redactPhi(text: string): Redaction {
  const findings = detectPhi(text);
  let out = text;
  let redactedChars = 0;
  for (let i = findings.length - 1; i >= 0; i--) {
    const f = findings[i]!;
    out = `${out.slice(0, f.start)}[${f.type}]${out.slice(f.end)}`;
    redactedChars += f.end - f.start;
  }
  return { text: out, findings, redactedChars };
}

export interface PhiOptions {
  /** "redact" (default) replaces identifiers; "drop" removes any record that has one. */
  mode?: "redact" | "drop";
  /** Drop a record anyway when more than this share of its output was PHI (default 0.3). */
  maxRedactedShare?: number;
}

const FIELDS = ["instruction", "input", "output"] as const;

/** Redact string leaves of provenance (contacts copied from the source, say). */
function redactDeep(v: unknown, findings: PhiFinding[]): unknown {
  if (typeof v === "string") {
    const r = redactPhi(v);
    findings.push(...r.findings);
    return r.text;
  }
  if (Array.isArray(v)) return v.map((x) => redactDeep(x, findings));
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactDeep(x, findings)]));
  }
  return v;
}

export async function phiGuard(input: RecordStream, opts: PhiOptions = {}): Promise<StepResult> {
  const records = await collect(input);
  const mode = opts.mode ?? "redact";
  const maxShare = opts.maxRedactedShare ?? 0.3;
  const t = new StepTracker("phi", records);
  const byType: Record<string, number> = {};
  const out: InstructionRecord[] = [];
  for (const r of records) {
    const c = cloneRecord(r);
    const findings: PhiFinding[] = [];
    let outputShare = 0;
    for (const f of FIELDS) {
      const red = redactPhi(r[f]);
      if (red.findings.length === 0) continue;
      findings.push(...red.findings);
      c[f] = red.text;
      if (f === "output") outputShare = red.redactedChars / Math.max(1, r.output.length);
    }
    c.metadata.provenance = redactDeep(r.metadata.provenance, findings) as Record<string, unknown>;
    if (findings.length === 0) {
      out.push(r);
      continue;
    }
    const types = [...new Set(findings.map((f) => f.type))].sort();
    for (const f of findings) byType[f.type] = (byType[f.type] ?? 0) + 1;
    const detail = types.join(",");
    if (mode === "drop") t.drop(r, "contains PHI", detail);
    else if (outputShare > maxShare) t.drop(r, "output is mostly PHI", detail);
    else {
      c.metadata.phiRedacted = types;
      t.modify(r, "PHI redacted", detail);
      out.push(c);
    }
  }
  Object.assign(t.extra, { mode, identifiersByType: byType });
  return t.finish(out);
}
