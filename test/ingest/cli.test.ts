/** `medtune ingest` and `medtune download` from the command line, on the bundled samples and a local server. */
import { describe, expect, it } from "vitest";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { main as ingestMain } from "../../src/ingest/cli.js";
import { main as downloadMain } from "../../src/ingest/download-cli.js";
import { sha256File } from "../../src/ingest/index.js";
import { validateRecord } from "../../src/data/record.js";
import { fixtures, repoRoot, tempDir } from "./helpers.js";

const samples = path.join(repoRoot, "data", "raw");

async function captured<T>(fn: () => Promise<T>): Promise<{ value: T; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string) => (
    out.push(String(c)),
    true
  )) as typeof process.stdout.write;
  process.stderr.write = ((c: string) => (
    err.push(String(c)),
    true
  )) as typeof process.stderr.write;
  try {
    return { value: await fn(), out: out.join(""), err: err.join("") };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}

const readJsonl = async (f: string) =>
  (await readFile(f, "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("medtune ingest", () => {
  it("turns the bundled Hetionet and DrugBank samples into valid records, with an audit log", async () => {
    const dir = await tempDir("cli");
    const out = path.join(dir, "processed");
    const logs = path.join(dir, "logs");
    const r = await captured(() =>
      ingestMain([
        "--sources",
        "hetionet,drugbank",
        "--in",
        samples,
        "--out",
        out,
        "--log-dir",
        logs,
        "--no-progress",
      ]),
    );
    expect(r.value).toBe(0);
    const het = await readJsonl(path.join(out, "hetionet.jsonl"));
    const db = await readJsonl(path.join(out, "drugbank.jsonl"));
    expect(het.length).toBeGreaterThan(100);
    // 13 drugs; their 31 interaction listings name 16 distinct pairs, each emitted once.
    expect(db.length).toBe(92);
    const ddi = db.map((r) => validateRecord(r)).filter((r) => r.metadata.task === "drugbank.ddi");
    expect(ddi).toHaveLength(16);
    expect(new Set(ddi.map((r) => [...r.metadata.citations.slice(0, 2)].sort().join())).size).toBe(
      16,
    );
    for (const rec of [...het, ...db]) validateRecord(rec);
    // Real facts in the samples: metformin treats type 2 diabetes; warfarin + aspirin raises bleeding risk.
    expect(het.find((x) => x.id === "hetionet:CtD:F:Compound::DB00331")!.output).toMatch(
      /type 2 diabetes mellitus/,
    );
    expect(db.find((x) => x.id === "drugbank:ddi:DB00682:DB00945")!.output).toMatch(/bleeding/);
    expect(r.out).toMatch(/hetionet: \d+ records/);
    const audit = await readJsonl(r.out.match(/audit log: (.+)/)![1]!);
    const inputs = audit.filter((a) => a.type === "input");
    expect(inputs.map((a) => path.basename(String(a.file))).sort()).toEqual([
      "drugbank_sample_full_database.xml",
      "drugbank_sample_vocabulary.csv",
      "hetionet-v1.0-sample.json.bz2",
    ]);
    for (const a of inputs) expect(a.sha256).toBe(await sha256File(String(a.file)));
    expect(
      audit.filter((a) => a.type === "ignored").map((a) => path.basename(String(a.file))),
    ).toContain("README.md");
    expect(audit.find((a) => a.type === "summary" && a.source === "drugbank")).toMatchObject({
      recordsByTask: { "drugbank.ddi": 16 },
    });
  });

  it("--limit and --exclude-noncommercial", async () => {
    const dir = await tempDir("cli-limit");
    const r = await captured(() =>
      ingestMain([
        "--sources",
        "drugbank,hetionet",
        "--in",
        samples,
        "--out",
        dir,
        "--log-dir",
        dir,
        "--limit",
        "5",
        "--exclude-noncommercial",
        "--no-progress",
      ]),
    );
    expect(r.value).toBe(0);
    const db = await readJsonl(path.join(dir, "drugbank.jsonl"));
    expect(db).toHaveLength(5);
    expect(db.every((x) => (x.metadata as { license: string }).license === "CC0-1.0")).toBe(true);
    expect(await readJsonl(path.join(dir, "hetionet.jsonl"))).toHaveLength(5);
  });

  it("a broken source fails with status 1 while the others are written", async () => {
    const dir = await tempDir("cli-broken");
    const raw = path.join(dir, "raw");
    await cp(path.join(samples, "drugbank"), path.join(raw, "drugbank"), { recursive: true });
    await mkdir(path.join(raw, "hetionet"), { recursive: true });
    const gz = await readFile(
      path.join(fixtures, "hetionet", "bupropion-CbGpPWpGaD-subgraph.json.gz"),
    );
    await writeFile(path.join(raw, "hetionet", "cut.json.gz"), gz.subarray(0, 50_000));
    const r = await captured(() =>
      ingestMain([
        "--sources",
        "hetionet,drugbank",
        "--in",
        raw,
        "--out",
        dir,
        "--log-dir",
        dir,
        "--no-progress",
      ]),
    );
    expect(r.value).toBe(1);
    expect(r.err).toMatch(/hetionet: FAILED: .*cut\.json\.gz.*gzip/);
    expect((await readJsonl(path.join(dir, "drugbank.jsonl"))).length).toBe(92);
  });

  it("usage errors exit 2", async () => {
    expect((await captured(() => ingestMain(["--sources", "nope"]))).value).toBe(2);
    expect((await captured(() => ingestMain(["--limit", "-3"]))).value).toBe(2);
    expect((await captured(() => ingestMain(["--bogus"]))).value).toBe(2);
    const missing = await captured(() =>
      ingestMain([
        "--sources",
        "hetionet",
        "--in",
        "/nonexistent",
        "--out",
        "/tmp",
        "--log-dir",
        "/tmp",
        "--no-progress",
      ]),
    );
    expect(missing.value).toBe(1);
    expect(missing.err).toMatch(/no input folder for source "hetionet".*medtune download hetionet/);
  });
});

describe("medtune download", () => {
  it("downloads a PubMed baseline file from a mirror and verifies its MD5", async () => {
    const body = await readFile(path.join(fixtures, "pubmed", "baseline", "pubmed26n1334.xml.gz"));
    const md5 = createHash("md5").update(body).digest("hex");
    const server = createServer((req, res) => {
      if (req.url === "/baseline/")
        res.end('<a href="pubmed26n1334.xml.gz">pubmed26n1334.xml.gz</a>');
      else if (req.url === "/baseline/pubmed26n1334.xml.gz.md5")
        res.end(`MD5(pubmed26n1334.xml.gz)= ${md5}\n`);
      else if (req.url === "/baseline/pubmed26n1334.xml.gz")
        res.writeHead(200, { "Content-Length": body.length }).end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const dir = await tempDir("cli-dl");
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/baseline/`;
      const r = await captured(() =>
        downloadMain(["pubmed", "--base-url", url, "--out", dir, "--no-progress"]),
      );
      expect(r.value).toBe(0);
      expect(r.out).toMatch(/pubmed26n1334\.xml\.gz: downloaded, \d+ bytes, MD5 verified/);
      expect(await readFile(path.join(dir, "pubmed", "pubmed26n1334.xml.gz"))).toEqual(body);
      const again = await captured(() =>
        downloadMain(["pubmed", "--base-url", url, "--out", dir, "--no-progress"]),
      );
      expect(again.out).toMatch(/already present/);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("usage errors exit 2", async () => {
    expect((await captured(() => downloadMain([]))).value).toBe(2);
    expect((await captured(() => downloadMain(["nope"]))).value).toBe(2);
    expect((await captured(() => downloadMain(["pubmed", "--files", "0"]))).value).toBe(2);
    expect((await captured(() => downloadMain(["hetionet", "--format", "xml"]))).value).toBe(2);
  });
});
