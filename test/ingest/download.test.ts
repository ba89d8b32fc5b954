/** Downloads against a local HTTP server on 127.0.0.1 serving fixture files: Range resume, checksums, plans. Never the internet. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createHash } from "node:crypto";
import { readFile, writeFile, readdir } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { Writable } from "node:stream";
import {
  downloadClinicalTrialsPages,
  downloadFile,
  planDownload,
  DownloadError,
} from "../../src/ingest/download.js";
import { fixtures, tempDir } from "./helpers.js";

const sif = path.join(fixtures, "hetionet", "hetionet-v1.0-edges-5k.sif.gz");
const pubmedGz = path.join(fixtures, "pubmed", "baseline", "pubmed26n1334.xml.gz");

interface Served {
  body: Buffer;
  etag: string;
  /** Answer Range requests (default true). */
  ranges?: boolean;
  /** Cut the connection after this many body bytes, on the first request only. */
  dropAfter?: number;
}

let server: Server;
let base: string;
const files = new Map<string, Served>();
const requests: { url: string; range?: string; ifRange?: string }[] = [];

function handle(req: IncomingMessage, res: ServerResponse) {
  requests.push({
    url: req.url!,
    ...(req.headers.range ? { range: req.headers.range } : {}),
    ...(req.headers["if-range"] ? { ifRange: String(req.headers["if-range"]) } : {}),
  });
  const f = files.get(req.url!.split("?")[0]!);
  if (!f) {
    res.writeHead(404).end("not found");
    return;
  }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
  const validatorOk = !req.headers["if-range"] || req.headers["if-range"] === f.etag;
  if (m && f.ranges !== false && validatorOk) {
    const start = Number(m[1]);
    if (start >= f.body.length) {
      res.writeHead(416, { "Content-Range": `bytes */${f.body.length}` }).end();
      return;
    }
    res.writeHead(206, {
      "Content-Range": `bytes ${start}-${f.body.length - 1}/${f.body.length}`,
      "Content-Length": f.body.length - start,
      ETag: f.etag,
    });
    res.end(f.body.subarray(start));
    return;
  }
  res.writeHead(200, { "Content-Length": f.body.length, ETag: f.etag });
  if (f.dropAfter !== undefined) {
    const cut = f.dropAfter;
    delete f.dropAfter;
    res.write(f.body.subarray(0, cut), () => res.socket?.destroy());
    return;
  }
  res.end(f.body);
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const quiet = { progress: false as const };

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("downloadFile", () => {
  it("downloads and verifies SHA-256, then skips a verified file on rerun", async () => {
    const body = await readFile(sif);
    files.set("/a/edges.sif.gz", { body, etag: '"v1"' });
    const dir = await tempDir("dl-full");
    const item = {
      url: `${base}/a/edges.sif.gz`,
      name: "edges.sif.gz",
      checksum: { algorithm: "sha256" as const, hex: sha256(body), from: "test" },
    };
    const r = await downloadFile(item, { dir, ...quiet });
    expect(r).toMatchObject({
      bytes: body.length,
      verified: "sha256",
      skipped: false,
      resumedFrom: 0,
    });
    expect(sha256(await readFile(r.path))).toBe(sha256(body));
    expect(await readdir(dir)).toEqual(["edges.sif.gz"]);
    const again = await downloadFile(item, { dir, ...quiet });
    expect(again.skipped).toBe(true);
  });

  it("resumes a partial file with Range and If-Range", async () => {
    const body = await readFile(sif);
    files.set("/b/edges.sif.gz", { body, etag: '"v2"' });
    const dir = await tempDir("dl-resume");
    const half = body.length >> 1;
    await writeFile(path.join(dir, "edges.sif.gz.part"), body.subarray(0, half));
    await writeFile(
      path.join(dir, "edges.sif.gz.part.json"),
      JSON.stringify({ url: `${base}/b/edges.sif.gz`, etag: '"v2"' }),
    );
    requests.length = 0;
    const r = await downloadFile(
      {
        url: `${base}/b/edges.sif.gz`,
        name: "edges.sif.gz",
        checksum: { algorithm: "sha256", hex: sha256(body), from: "test" },
      },
      { dir, ...quiet },
    );
    expect(requests[0]).toMatchObject({ range: `bytes=${half}-`, ifRange: '"v2"' });
    expect(r.resumedFrom).toBe(half);
    expect(sha256(await readFile(r.path))).toBe(sha256(body));
  });

  it("takes the whole file when the server ignores Range or the file changed", async () => {
    const body = await readFile(sif);
    files.set("/c/edges.sif.gz", { body, etag: '"new"' });
    const dir = await tempDir("dl-changed");
    await writeFile(
      path.join(dir, "edges.sif.gz.part"),
      Buffer.from("stale bytes of an older version"),
    );
    await writeFile(
      path.join(dir, "edges.sif.gz.part.json"),
      JSON.stringify({ url: `${base}/c/edges.sif.gz`, etag: '"old"' }),
    );
    const r = await downloadFile(
      {
        url: `${base}/c/edges.sif.gz`,
        name: "edges.sif.gz",
        checksum: { algorithm: "sha256", hex: sha256(body), from: "test" },
      },
      { dir, ...quiet },
    );
    expect(r.resumedFrom).toBe(0);
    expect(sha256(await readFile(r.path))).toBe(sha256(body));
  });

  it("retries a dropped connection from where it stopped", async () => {
    const body = await readFile(sif);
    files.set("/d/edges.sif.gz", { body, etag: '"v3"', dropAfter: 100_000 });
    const dir = await tempDir("dl-drop");
    requests.length = 0;
    const r = await downloadFile(
      { url: `${base}/d/edges.sif.gz`, name: "edges.sif.gz", size: body.length },
      { dir, ...quiet },
    );
    expect(requests.length).toBe(2);
    expect(requests[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(requests[1]!.range!)![0])).toBeGreaterThan(0);
    expect(r.verified).toBeNull();
    expect(sha256(await readFile(r.path))).toBe(sha256(body));
  });

  it("rejects a checksum mismatch, naming expected and actual, and removes the bad part", async () => {
    const body = await readFile(sif);
    files.set("/e/edges.sif.gz", { body, etag: '"v4"' });
    const dir = await tempDir("dl-bad");
    const wrong = "0".repeat(64);
    const p = downloadFile(
      {
        url: `${base}/e/edges.sif.gz`,
        name: "edges.sif.gz",
        checksum: { algorithm: "sha256", hex: wrong, from: "test" },
      },
      { dir, ...quiet },
    );
    await expect(p).rejects.toThrow(DownloadError);
    await expect(
      downloadFile(
        {
          url: `${base}/e/edges.sif.gz`,
          name: "edges.sif.gz",
          checksum: { algorithm: "sha256", hex: wrong, from: "test" },
        },
        { dir, ...quiet },
      ),
    ).rejects.toThrow(
      new RegExp(`SHA256 mismatch: expected ${wrong} \\(from test\\), got ${sha256(body)}`),
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it("reports HTTP errors with the URL", async () => {
    const dir = await tempDir("dl-404");
    await expect(
      downloadFile({ url: `${base}/missing.gz`, name: "m.gz" }, { dir, ...quiet }),
    ).rejects.toThrow(/missing\.gz.*HTTP 404/);
  });

  it("shows progress on the given stream", async () => {
    const body = await readFile(sif);
    files.set("/f/edges.sif.gz", { body, etag: '"v5"' });
    const dir = await tempDir("dl-progress");
    const out: string[] = [];
    const stream = new Writable({ write: (c, _e, cb) => (out.push(String(c)), cb()) });
    await downloadFile(
      { url: `${base}/f/edges.sif.gz`, name: "edges.sif.gz" },
      { dir, progress: stream },
    );
    expect(out.join("")).toMatch(/edges\.sif\.gz .*511\.2 KiB \/ 511\.2 KiB \(100\.0%\)/);
  });
});

describe("planDownload against a local mirror", () => {
  it("pubmed: reads the baseline listing and each file's .md5", async () => {
    const body = await readFile(pubmedGz);
    const md5 = createHash("md5").update(body).digest("hex");
    files.set("/pubmed/baseline/", {
      body: Buffer.from(
        '<html><a href="pubmed26n1334.xml.gz">pubmed26n1334.xml.gz</a> <a href="pubmed26n1334.xml.gz.md5">pubmed26n1334.xml.gz.md5</a> <a href="pubmed26n1335.xml.gz">x</a></html>',
      ),
      etag: '"l"',
    });
    files.set("/pubmed/baseline/pubmed26n1334.xml.gz", { body, etag: '"p"' });
    files.set("/pubmed/baseline/pubmed26n1334.xml.gz.md5", {
      body: Buffer.from(`MD5(pubmed26n1334.xml.gz)= ${md5}\n`),
      etag: '"m"',
    });
    const plan = await planDownload("pubmed", { baseUrl: `${base}/pubmed/baseline/`, files: 1 });
    expect(plan.items).toEqual([
      {
        url: `${base}/pubmed/baseline/pubmed26n1334.xml.gz`,
        name: "pubmed26n1334.xml.gz",
        checksum: { algorithm: "md5", hex: md5, from: "pubmed26n1334.xml.gz.md5" },
      },
    ]);
    expect(plan.notes[0]).toMatch(/1 of 2 baseline files/);
    const dir = await tempDir("dl-pubmed");
    const r = await downloadFile(plan.items[0]!, { dir, ...quiet });
    expect(r.verified).toBe("md5");
  });

  it("chembl: picks the SQLite dump and its SHA-256 from checksums.txt", async () => {
    files.set("/chembl/latest/checksums.txt", {
      body: Buffer.from(
        `${"a".repeat(64)}  chembl_35_chemreps.txt.gz\n${"b".repeat(64)}  chembl_35_sqlite.tar.gz\n`,
      ),
      etag: '"c"',
    });
    const plan = await planDownload("chembl_sqlite", { baseUrl: `${base}/chembl/latest` });
    expect(plan.items[0]).toMatchObject({
      url: `${base}/chembl/latest/chembl_35_sqlite.tar.gz`,
      name: "chembl_35_sqlite.tar.gz",
      checksum: { algorithm: "sha256", hex: "b".repeat(64) },
    });
  });

  it("hetionet: pins the Git-LFS SHA-256, so a different file is refused", async () => {
    const plan = await planDownload("hetionet", { baseUrl: `${base}/hetnet`, format: "tsv" });
    expect(plan.items.map((i) => i.name)).toEqual([
      "hetionet-v1.0-nodes.tsv",
      "hetionet-v1.0-edges.sif.gz",
    ]);
    expect(plan.items[1]!.checksum!.hex).toBe(
      "611f0411ac666be4e0270e54bbca67407e14720bfc3099311f0f5eec25c5a947",
    );
    // The 5k-edge excerpt is not the full SIF: both the size and the checksum say so.
    files.set("/hetnet/tsv/hetionet-v1.0-edges.sif.gz", { body: await readFile(sif), etag: '"h"' });
    const dir = await tempDir("dl-hetionet");
    await expect(downloadFile(plan.items[1]!, { dir, ...quiet })).rejects.toThrow(
      /size mismatch: expected 12401407 bytes/,
    );
    const json = await planDownload("hetionet", {});
    expect(json.items[0]).toMatchObject({
      url: "https://github.com/hetio/hetionet/raw/main/hetnet/json/hetionet-v1.0.json.bz2",
      size: 16_112_094,
    });
  });

  it("plans from the official locations when no mirror is given", async () => {
    // Official URLs are answered by this stub, never the network; it records what was asked.
    const asked: string[] = [];
    const official: Record<string, string> = {
      "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/":
        '<a href="pubmed26n0001.xml.gz">x</a><a href="pubmed26n0001.xml.gz.md5">y</a>',
      "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/pubmed26n0001.xml.gz.md5": `MD5(pubmed26n0001.xml.gz)= ${"c".repeat(32)}`,
      "https://ftp.ebi.ac.uk/pub/databases/chembl/ChEMBLdb/latest/checksums.txt": `${"d".repeat(64)}  chembl_36_sqlite.tar.gz`,
    };
    const fetchImpl = (async (url: string | URL | Request) => {
      asked.push(String(url));
      const body = official[String(url)];
      return new Response(body ?? "not found", { status: body === undefined ? 404 : 200 });
    }) as typeof fetch;
    const pubmed = await planDownload("pubmed", { fetchImpl });
    expect(pubmed.items[0]).toMatchObject({
      url: "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/pubmed26n0001.xml.gz",
      checksum: { algorithm: "md5", hex: "c".repeat(32) },
    });
    const chembl = await planDownload("chembl_sqlite", { fetchImpl });
    expect(chembl.items[0]!.url).toBe(
      "https://ftp.ebi.ac.uk/pub/databases/chembl/ChEMBLdb/latest/chembl_36_sqlite.tar.gz",
    );
    const ct = await planDownload("clinicaltrials", { fetchImpl });
    expect(ct.items[0]!.url).toMatch(
      /^https:\/\/clinicaltrials\.gov\/api\/v2\/studies\?format=json/,
    );
    expect(asked.every((u) => Object.keys(official).includes(u))).toBe(true);
  });

  it("drugbank: needs credentials for the full database", async () => {
    const anon = await planDownload("drugbank", {});
    expect(anon.items.map((i) => i.name)).toEqual(["drugbank_all_drugbank_vocabulary.csv.zip"]);
    expect(anon.notes.join(" ")).toMatch(/DRUGBANK_USERNAME/);
    const auth = await planDownload("drugbank", { credentials: { username: "u", password: "p" } });
    expect(auth.items[1]).toMatchObject({
      name: "drugbank_all_full_database.xml.zip",
      headers: { Authorization: `Basic ${Buffer.from("u:p").toString("base64")}` },
    });
  });

  it("clinicaltrials: saves API pages and resumes from the stored page token", async () => {
    const page = (n: number, next?: string) =>
      Buffer.from(
        JSON.stringify({
          studies: [{ protocolSection: { identificationModule: { nctId: `NCT0000000${n}` } } }],
          ...(next ? { nextPageToken: next } : {}),
        }),
      );
    const pages: Record<string, Buffer> = { "": page(1, "tok2"), tok2: page(2) };
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      const u = new URL(req.url!, base);
      res
        .writeHead(200, { "Content-Type": "application/json" })
        .end(pages[u.searchParams.get("pageToken") ?? ""]);
    };
    const s2 = createServer(handler);
    await new Promise<void>((r) => s2.listen(0, "127.0.0.1", () => r()));
    try {
      const plan = await planDownload("clinicaltrials", {
        baseUrl: `http://127.0.0.1:${(s2.address() as AddressInfo).port}/api/v2/`,
      });
      const dir = await tempDir("dl-ct");
      const first = await downloadClinicalTrialsPages(plan.items[0]!.url, {
        dir,
        pages: 1,
        ...quiet,
      });
      expect(first.done).toBe(false);
      const second = await downloadClinicalTrialsPages(plan.items[0]!.url, {
        dir,
        pages: 5,
        ...quiet,
      });
      expect(second.done).toBe(true);
      expect(second.pages.map((p) => path.basename(p))).toEqual(["studies-page-00002.json"]);
      expect(
        JSON.parse(await readFile(path.join(dir, "studies-page-00002.json"), "utf8")).studies[0]
          .protocolSection.identificationModule.nctId,
      ).toBe("NCT00000002");
    } finally {
      await new Promise<void>((r) => s2.close(() => r()));
    }
  });
});
