/**
 * Downloading the sources' official dumps: resumable (HTTP Range + If-Range), verified against the
 * checksum the source publishes (SHA-256 or MD5), with progress.
 *
 *   const plan = await planDownload("pubmed", { files: 2 });
 *   for (const item of plan.items) await downloadFile(item, { dir: "data/raw/pubmed" });
 *
 * A download goes to `<name>.part` with its validators (ETag / Last-Modified) in `<name>.part.json`;
 * a rerun, or a retry after a dropped connection, asks for the remaining bytes only, and the server
 * answers 200 with the whole file if it changed meanwhile. The file gets its real name only after
 * the checksum matched, so a finished name is always a verified (or, for sources that publish no
 * checksum, a complete) file.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { Progress } from "./progress.js";
import type { IngestSourceId } from "./types.js";

export type ChecksumAlgorithm = "sha256" | "md5";

export interface DownloadItem {
  url: string;
  /** File name under the target folder. */
  name: string;
  checksum?: { algorithm: ChecksumAlgorithm; hex: string; from: string };
  /** Expected size in bytes, when published. */
  size?: number;
  headers?: Record<string, string>;
}

export interface DownloadPlan {
  source: IngestSourceId;
  items: DownloadItem[];
  /** Things the user should know (missing credentials, no published checksum …). */
  notes: string[];
}

export class DownloadError extends Error {
  constructor(
    message: string,
    readonly url: string,
    readonly file?: string,
  ) {
    super(`${url}${file ? ` → ${file}` : ""}: ${message}`);
    this.name = "DownloadError";
  }
}

/** Official locations. `baseUrl` in PlanOptions replaces the part before the file path (mirrors, tests). */
export const OFFICIAL_BASE: Record<IngestSourceId, string> = {
  // GitHub serves the Git-LFS objects through a redirect to media.githubusercontent.com.
  hetionet: "https://github.com/hetio/hetionet/raw/main/hetnet/",
  chembl_sqlite: "https://ftp.ebi.ac.uk/pub/databases/chembl/ChEMBLdb/latest/",
  pubmed: "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/",
  clinicaltrials: "https://clinicaltrials.gov/api/v2/",
  drugbank: "https://go.drugbank.com/releases/latest/downloads/",
};

/** SHA-256 and size from the Git-LFS pointers in hetio/hetionet (commit 38873689). */
const HETIONET_FILES = {
  json: [
    {
      path: "json/hetionet-v1.0.json.bz2",
      sha256: "a342ab57e9073e6c02bb5e109d1f16917e6f933be4e5c77ebbaebfa26b984c19",
      size: 16_112_094,
    },
  ],
  tsv: [
    { path: "tsv/hetionet-v1.0-nodes.tsv", sha256: undefined, size: 2_509_984 },
    {
      path: "tsv/hetionet-v1.0-edges.sif.gz",
      sha256: "611f0411ac666be4e0270e54bbca67407e14720bfc3099311f0f5eec25c5a947",
      size: 12_401_407,
    },
  ],
} as const;

export interface PlanOptions {
  baseUrl?: string;
  /** pubmed: how many baseline files, in order (default 1); `Infinity` for all. */
  files?: number;
  /** hetionet: the JSON dump (default, carries licences) or the TSV/SIF pair. */
  format?: "json" | "tsv";
  /** clinicaltrials: pages of up to 1000 studies (default 1). */
  pages?: number;
  /** drugbank: account credentials (the full database needs a login). */
  credentials?: { username: string; password: string };
  fetchImpl?: typeof fetch;
}

async function fetchText(
  url: string,
  fetchImpl: typeof fetch,
  headers?: Record<string, string>,
): Promise<string> {
  let res: Response;
  try {
    res = await fetchImpl(url, { headers: headers ?? {} });
  } catch (e) {
    throw new DownloadError(`request failed: ${(e as Error).message}`, url);
  }
  if (!res.ok) throw new DownloadError(`HTTP ${res.status} ${res.statusText}`, url);
  return res.text();
}

/** What to download for a source; may read the source's listing or checksum file. */
export async function planDownload(
  source: IngestSourceId,
  opts: PlanOptions = {},
): Promise<DownloadPlan> {
  const base = (opts.baseUrl ?? OFFICIAL_BASE[source]).replace(/\/?$/, "/");
  const f = opts.fetchImpl ?? fetch;
  const notes: string[] = [];
  switch (source) {
    case "hetionet": {
      const items = HETIONET_FILES[opts.format ?? "json"].map((x) => ({
        url: base + x.path,
        name: path.posix.basename(x.path),
        size: x.size,
        ...(x.sha256
          ? {
              checksum: {
                algorithm: "sha256" as const,
                hex: x.sha256,
                from: "Git-LFS pointer in hetio/hetionet",
              },
            }
          : {}),
      }));
      if (opts.format === "tsv")
        notes.push(
          "hetionet-v1.0-nodes.tsv is a plain Git file: no published checksum (size checked)",
        );
      return { source, items, notes };
    }
    case "chembl_sqlite": {
      // checksums.txt in the release folder lists "<sha256>  <file>" for every dump file.
      const sums = await fetchText(base + "checksums.txt", f);
      const m = /^([0-9a-f]{64})\s+\*?(chembl_\d+_sqlite\.tar\.gz)\s*$/im.exec(sums);
      if (!m)
        throw new DownloadError(
          "no chembl_NN_sqlite.tar.gz line in checksums.txt",
          base + "checksums.txt",
        );
      return {
        source,
        items: [
          {
            url: base + m[2],
            name: m[2]!,
            checksum: { algorithm: "sha256", hex: m[1]!.toLowerCase(), from: "checksums.txt" },
          },
        ],
        notes,
      };
    }
    case "pubmed": {
      // The baseline folder's index lists pubmedYYnNNNN.xml.gz; each has a .md5 beside it.
      const html = await fetchText(base, f);
      const names = [...new Set(html.match(/pubmed\d{2}n\d{4}\.xml\.gz(?!\.)/g) ?? [])].sort();
      if (names.length === 0)
        throw new DownloadError("no pubmedYYnNNNN.xml.gz files in the listing", base);
      const chosen = names.slice(0, opts.files ?? 1);
      const items: DownloadItem[] = [];
      for (const name of chosen) {
        const md5Text = await fetchText(`${base}${name}.md5`, f);
        const md5 = /\b([0-9a-f]{32})\b/i.exec(md5Text);
        if (!md5)
          throw new DownloadError(
            `no MD5 in ${JSON.stringify(md5Text.slice(0, 80))}`,
            `${base}${name}.md5`,
          );
        items.push({
          url: base + name,
          name,
          checksum: { algorithm: "md5", hex: md5[1]!.toLowerCase(), from: `${name}.md5` },
        });
      }
      notes.push(`${chosen.length} of ${names.length} baseline files (use --files N or --all)`);
      return { source, items, notes };
    }
    case "clinicaltrials": {
      // API v2 pages ({studies, nextPageToken}); pages chain by token, so they are fetched by
      // downloadClinicalTrialsPages, not as independent items.
      notes.push(
        "ClinicalTrials.gov publishes no checksum; each page is checked to be a complete JSON page",
      );
      return {
        source,
        items: [
          {
            url: `${base}studies?format=json&pageSize=1000&countTotal=true`,
            name: "studies-page-00001.json",
          },
        ],
        notes,
      };
    }
    case "drugbank": {
      const items: DownloadItem[] = [];
      const auth = opts.credentials
        ? {
            Authorization: `Basic ${Buffer.from(`${opts.credentials.username}:${opts.credentials.password}`).toString("base64")}`,
          }
        : undefined;
      items.push({
        url: base + "all-drugbank-vocabulary",
        name: "drugbank_all_drugbank_vocabulary.csv.zip",
        ...(auth ? { headers: auth } : {}),
      });
      if (auth) {
        items.push({
          url: base + "all-full-database",
          name: "drugbank_all_full_database.xml.zip",
          headers: auth,
        });
      } else {
        notes.push(
          "the full database (CC BY-NC 4.0) needs a DrugBank account: set DRUGBANK_USERNAME and DRUGBANK_PASSWORD",
        );
      }
      notes.push(
        "DrugBank publishes no checksum; only the download size is checked against Content-Length",
      );
      return { source, items, notes };
    }
  }
}

export interface DownloadOptions {
  dir: string;
  /** Progress to stderr (default), to a stream, or off. */
  progress?: boolean | NodeJS.WritableStream;
  signal?: AbortSignal;
  /** Abort a response that sends nothing for this long, then resume (default 60 s). */
  idleTimeoutMs?: number;
  /** Attempts per file when the connection drops (default 4); each resumes. */
  attempts?: number;
  /** Download again even if the file is there. */
  force?: boolean;
  fetchImpl?: typeof fetch;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  /** Bytes that were already on disk from an earlier, interrupted run. */
  resumedFrom: number;
  verified: ChecksumAlgorithm | null;
  skipped: boolean;
}

export async function hashFile(file: string, algorithm: ChecksumAlgorithm): Promise<string> {
  const h = createHash(algorithm);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }))
    h.update(chunk as Buffer);
  return h.digest("hex");
}

async function sizeOf(file: string): Promise<number | null> {
  try {
    return (await stat(file)).size;
  } catch {
    return null;
  }
}

interface PartMeta {
  url: string;
  etag?: string;
  lastModified?: string;
  total?: number;
}

export async function downloadFile(
  item: DownloadItem,
  opts: DownloadOptions,
): Promise<DownloadResult> {
  await mkdir(opts.dir, { recursive: true });
  const dest = path.join(opts.dir, item.name);
  const part = `${dest}.part`;
  const metaFile = `${dest}.part.json`;
  if (!opts.force && (await sizeOf(dest)) !== null) {
    if (item.checksum) {
      const got = await hashFile(dest, item.checksum.algorithm);
      if (got === item.checksum.hex)
        return {
          path: dest,
          bytes: (await sizeOf(dest))!,
          resumedFrom: 0,
          verified: item.checksum.algorithm,
          skipped: true,
        };
      // A finished name with a wrong checksum is not ours to trust: fetch it again.
    } else {
      return {
        path: dest,
        bytes: (await sizeOf(dest))!,
        resumedFrom: 0,
        verified: null,
        skipped: true,
      };
    }
  }
  const attempts = opts.attempts ?? 4;
  let firstOffset: number | null = null;
  for (let attempt = 1; ; attempt++) {
    try {
      const offset = await fetchToPart(item, part, metaFile, opts);
      firstOffset ??= offset;
      break;
    } catch (e) {
      if (e instanceof DownloadError && !(e as DownloadError & { retryable?: boolean }).retryable)
        throw e;
      if (opts.signal?.aborted || attempt >= attempts) {
        throw e instanceof DownloadError
          ? e
          : new DownloadError(
              `${(e as Error).message}; rerun to resume from ${(await sizeOf(part)) ?? 0} bytes`,
              item.url,
              dest,
            );
      }
      await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 10_000)));
    }
  }
  const bytes = (await sizeOf(part)) ?? 0;
  if (item.size !== undefined && bytes !== item.size) {
    await rm(part, { force: true });
    await rm(metaFile, { force: true });
    throw new DownloadError(
      `size mismatch: expected ${item.size} bytes, got ${bytes}`,
      item.url,
      dest,
    );
  }
  let verified: ChecksumAlgorithm | null = null;
  if (item.checksum) {
    const got = await hashFile(part, item.checksum.algorithm);
    if (got !== item.checksum.hex) {
      // A corrupt file cannot be resumed into a good one: start over next time.
      await rm(part, { force: true });
      await rm(metaFile, { force: true });
      throw new DownloadError(
        `${item.checksum.algorithm.toUpperCase()} mismatch: expected ${item.checksum.hex} (from ${item.checksum.from}), got ${got}; the partial file was removed`,
        item.url,
        dest,
      );
    }
    verified = item.checksum.algorithm;
  }
  await rename(part, dest);
  await rm(metaFile, { force: true });
  return { path: dest, bytes, resumedFrom: firstOffset ?? 0, verified, skipped: false };
}

/** One HTTP exchange into `part`; returns the offset it resumed from. Throws retryable errors for network trouble. */
async function fetchToPart(
  item: DownloadItem,
  part: string,
  metaFile: string,
  opts: DownloadOptions,
): Promise<number> {
  const f = opts.fetchImpl ?? fetch;
  let meta: PartMeta | null = null;
  try {
    meta = JSON.parse(await readFile(metaFile, "utf8")) as PartMeta;
  } catch {
    meta = null;
  }
  let offset = (await sizeOf(part)) ?? 0;
  if (offset > 0 && (!meta || meta.url !== item.url)) offset = 0; // a part from another URL
  const headers: Record<string, string> = { ...(item.headers ?? {}) };
  if (offset > 0) {
    headers.Range = `bytes=${offset}-`;
    const validator = meta?.etag && !meta.etag.startsWith("W/") ? meta.etag : meta?.lastModified;
    if (validator) headers["If-Range"] = validator;
  }
  const idle = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, idle.signal]) : idle.signal;
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  let timer = setTimeout(() => idle.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
  const retryable = (msg: string) =>
    Object.assign(new DownloadError(msg, item.url, part), { retryable: true });
  let res: Response;
  try {
    res = await f(item.url, { headers, signal, redirect: "follow" });
  } catch (e) {
    clearTimeout(timer);
    if (opts.signal?.aborted) throw e;
    throw retryable(`request failed: ${(e as Error).message}`);
  }
  try {
    let append = false;
    let total: number | undefined;
    if (res.status === 206 && offset > 0) {
      const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
      if (!cr || Number(cr[1]) !== offset) {
        await res.body?.cancel();
        await rm(part, { force: true });
        throw retryable(
          `server answered Range ${offset}- with Content-Range ${JSON.stringify(res.headers.get("content-range"))}; restarting`,
        );
      }
      append = true;
      if (cr[3] !== "*") total = Number(cr[3]);
    } else if (res.status === 416 && offset > 0) {
      // Nothing left to send: the part may already be complete.
      const cr = /^bytes \*\/(\d+)$/.exec(res.headers.get("content-range") ?? "");
      await res.body?.cancel();
      if (cr && Number(cr[1]) === offset) return offset;
      await rm(part, { force: true });
      throw retryable("server refused the resume range; restarting");
    } else if (res.status === 200) {
      offset = 0; // no Range support, or the file changed (If-Range): take the whole body
      const len = res.headers.get("content-length");
      if (len !== null && /^\d+$/.test(len)) total = Number(len);
    } else {
      await res.body?.cancel();
      const err = new DownloadError(`HTTP ${res.status} ${res.statusText}`, item.url);
      if (res.status >= 500 || res.status === 429) throw Object.assign(err, { retryable: true });
      throw err;
    }
    const newMeta: PartMeta = { url: item.url };
    const etag = res.headers.get("etag");
    const lm = res.headers.get("last-modified");
    if (etag) newMeta.etag = etag;
    if (lm) newMeta.lastModified = lm;
    if (total !== undefined) newMeta.total = total;
    await writeFile(metaFile, JSON.stringify(newMeta));
    const progress =
      opts.progress === false
        ? null
        : new Progress({
            label: item.name,
            showRecords: false,
            ...(total !== undefined
              ? { bytesTotal: total }
              : item.size !== undefined
                ? { bytesTotal: item.size }
                : {}),
            ...(typeof opts.progress === "object" ? { stream: opts.progress } : {}),
          });
    const out = createWriteStream(part, { flags: append ? "a" : "w" });
    let written = offset;
    const outDone = new Promise<void>((resolve, reject) => {
      out.once("error", reject);
      out.once("finish", resolve);
    });
    try {
      if (!res.body) throw retryable("empty response body");
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
        written += chunk.length;
        if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
        progress?.update({ bytesRead: written });
      }
    } catch (e) {
      out.end();
      await outDone.catch(() => undefined);
      progress?.done("interrupted");
      if (e instanceof DownloadError) throw e;
      if (opts.signal?.aborted) throw e;
      throw retryable(`connection lost at byte ${written}: ${(e as Error).message}`);
    }
    out.end();
    await outDone;
    progress?.done();
    if (total !== undefined && written !== total) {
      throw retryable(`incomplete: ${written} of ${total} bytes`);
    }
    return append ? offset : 0;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * ClinicalTrials.gov API v2: pages of studies chained by `nextPageToken`. Each page is saved as
 * `studies-page-NNNNN.json` atomically; `studies-pages.json` remembers the token for the next page,
 * so a rerun continues where the last one stopped.
 */
export async function downloadClinicalTrialsPages(
  firstUrl: string,
  opts: DownloadOptions & { pages: number },
): Promise<{ pages: string[]; done: boolean }> {
  const f = opts.fetchImpl ?? fetch;
  await mkdir(opts.dir, { recursive: true });
  const stateFile = path.join(opts.dir, "studies-pages.json");
  let state: { saved: number; nextPageToken: string | null; url: string } = {
    saved: 0,
    nextPageToken: null,
    url: firstUrl,
  };
  try {
    const s = JSON.parse(await readFile(stateFile, "utf8")) as typeof state;
    if (s.url === firstUrl) state = s;
  } catch {
    // first run
  }
  const pages: string[] = [];
  const progress =
    opts.progress === false
      ? null
      : new Progress({
          label: "clinicaltrials pages",
          showRecords: true,
          ...(typeof opts.progress === "object" ? { stream: opts.progress } : {}),
        });
  let fetched = 0;
  let bytes = 0;
  while (fetched < opts.pages) {
    if (state.saved > 0 && state.nextPageToken === null) break; // finished earlier
    const url = state.nextPageToken
      ? `${firstUrl}&pageToken=${encodeURIComponent(state.nextPageToken)}`
      : firstUrl;
    const text = await fetchText(url, f);
    let page: { studies?: unknown; nextPageToken?: unknown };
    try {
      page = JSON.parse(text) as typeof page;
    } catch (e) {
      throw new DownloadError(`not a complete JSON page: ${(e as Error).message}`, url);
    }
    if (!Array.isArray(page.studies))
      throw new DownloadError('expected a page object with a "studies" array', url);
    const name = `studies-page-${String(state.saved + 1).padStart(5, "0")}.json`;
    const dest = path.join(opts.dir, name);
    await writeFile(`${dest}.part`, text);
    await rename(`${dest}.part`, dest);
    pages.push(dest);
    state = {
      saved: state.saved + 1,
      nextPageToken: typeof page.nextPageToken === "string" ? page.nextPageToken : null,
      url: firstUrl,
    };
    await writeFile(stateFile, JSON.stringify(state));
    fetched++;
    bytes += text.length;
    progress?.update({ bytesRead: bytes, records: state.saved });
  }
  progress?.done();
  return { pages, done: state.nextPageToken === null };
}
