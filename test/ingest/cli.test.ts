/** `medtune ingest` and `medtune download` from the command line, on the bundled samples and a local server. */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { main as ingestMain } from "../../src/ingest/cli.js";
import { main as downloadMain } from "../../src/ingest/download-cli.js";
import { runIngest, sha256File } from "../../src/ingest/index.js";
import { validateRecord } from "../../src/data/record.js";
import { fixtures, repoRoot, tempDir } from "./helpers.js";
import { captured } from "../cli/capture.js";

const samples = path.join(repoRoot, "data", "raw");

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

describe("medtune ingest: nothing lost", () => {
  const H = path.join(fixtures, "hetionet");
  // An incomplete nodes file: the header and three Anatomy nodes, so every SIF edge names a
  // missing node; and a nodes file whose every node is of a kind Hetionet does not have.
  async function hetionetInput(kind: "incomplete" | "unknown-kind"): Promise<string> {
    const dir = await tempDir(`cli-${kind}`);
    const het = path.join(dir, "raw", "hetionet");
    await mkdir(het, { recursive: true });
    await cp(path.join(H, "hetionet-v1.0-edges-5k.sif.gz"), path.join(het, "edges.sif.gz"));
    const nodes = (await readFile(path.join(H, "hetionet-v1.0-nodes.tsv"), "utf8")).split("\n");
    // Hetionet's nodes.tsv has CRLF line ends.
    const text =
      kind === "incomplete"
        ? nodes.slice(0, 4).join("\n") + "\n"
        : nodes
            .map((l, i) =>
              i === 0 || !l
                ? l
                : l.replace(/^[^:]*::/, "Widget::").replace(/\t[^\t]*$/, "\tWidget"),
            )
            .join("\n");
    await writeFile(path.join(het, "nodes.tsv"), text);
    return dir;
  }
  const run = (dir: string, ...extra: string[]) =>
    captured(() =>
      ingestMain([
        "--sources",
        "hetionet",
        "--in",
        path.join(dir, "raw"),
        "--out",
        path.join(dir, "out"),
        "--log-dir",
        path.join(dir, "logs"),
        "--no-progress",
        ...extra,
      ]),
    );

  for (const kind of ["incomplete", "unknown-kind"] as const) {
    it(`a source that skips every record (${kind} nodes file) fails and keeps the previous output`, async () => {
      const dir = await hetionetInput(kind);
      const previous = path.join(dir, "out", "hetionet.jsonl");
      await mkdir(path.dirname(previous), { recursive: true });
      const good = Buffer.from('{"id":"hetionet:previous-good-run"}\n');
      await writeFile(previous, good);
      const r = await run(dir);
      expect(r.value).toBe(1);
      expect(r.err).toMatch(/hetionet: FAILED/);
      expect(await readFile(previous)).toEqual(good);
      expect(await readdir(path.dirname(previous))).toEqual(["hetionet.jsonl"]);
      if (kind === "incomplete") {
        // The reasons, counted: which nodes were missing and how often.
        expect(r.err).toMatch(
          /nothing to write \(\d+ read, 0 kept\); left out: "source node Gene::N is not in the nodes table" ×\d+/,
        );
        expect(r.err).toMatch(/--allow-empty/);
      }
    });
  }

  it("the result says why (ok false, skips by reason), and --allow-empty writes the empty output", async () => {
    const dir = await hetionetInput("incomplete");
    const out = path.join(dir, "out");
    const r = await runIngest({
      sources: ["hetionet"],
      inDir: path.join(dir, "raw"),
      outDir: out,
      logDir: path.join(dir, "logs"),
      progress: false,
    });
    expect(r.ok).toBe(false);
    const s = r.sources[0]!;
    expect(s).toMatchObject({ ok: false, output: null, records: 0 });
    expect(s.skipped).toBeGreaterThan(1000);
    expect(Object.values(s.skippedByReason).reduce((a, b) => a + b, 0)).toBe(s.skipped);
    expect(s.error).toMatch(/nothing to write/);
    const allowed = await run(dir, "--allow-empty");
    expect(allowed.value).toBe(0);
    expect(await readFile(path.join(out, "hetionet.jsonl"), "utf8")).toBe("");
  });

  it("a source that keeps less than --min-output-ratio of what it read fails", async () => {
    const dir = await tempDir("cli-ratio");
    const out = path.join(dir, "out");
    await mkdir(out, { recursive: true });
    await writeFile(path.join(out, "hetionet.jsonl"), "previous\n");
    const nodes = (await readFile(path.join(H, "hetionet-v1.0-nodes.tsv"), "utf8")).split("\n");
    const raw = path.join(dir, "raw", "hetionet");
    await mkdir(raw, { recursive: true });
    await cp(path.join(H, "hetionet-v1.0-edges-5k.sif.gz"), path.join(raw, "edges.sif.gz"));
    // Only Gene, Compound and Disease nodes: edges touching other kinds are skipped.
    await writeFile(
      path.join(raw, "nodes.tsv"),
      nodes.filter((l, i) => i === 0 || /\t(Gene|Compound|Disease)\r?$/.test(l)).join("\n") + "\n",
    );
    const args = ["--sources", "hetionet", "--in", path.join(dir, "raw"), "--out", out];
    const common = ["--log-dir", path.join(dir, "logs"), "--no-progress"];
    const loose = await captured(() => ingestMain([...args, ...common, "--min-output-ratio", "0"]));
    expect(loose.value, loose.err).toBe(0);
    const kept = (await readJsonl(path.join(out, "hetionet.jsonl"))).length;
    const m = /hetionet: (\d+) records, (\d+) skipped/.exec(loose.out)!;
    const ratio = Number(m[1]) / (Number(m[1]) + Number(m[2]));
    expect(Number(m[1])).toBe(kept);
    expect(ratio).toBeGreaterThan(0);
    expect(ratio).toBeLessThan(0.9);
    const before = await readFile(path.join(out, "hetionet.jsonl"));
    const strict = await captured(() =>
      ingestMain([...args, ...common, "--min-output-ratio", String(Math.min(1, ratio + 0.05))]),
    );
    expect(strict.value).toBe(1);
    expect(strict.err).toMatch(/below the minimum output ratio/);
    // Byte-for-byte (Buffer.equals: a deep toEqual of megabytes is slow).
    expect((await readFile(path.join(out, "hetionet.jsonl"))).equals(before)).toBe(true);
  });
});

describe("medtune ingest: leftovers of a killed run", () => {
  it("removes the temporaries of its outputs left by a dead process, keeps a live one's", async () => {
    const dir = await tempDir("cli-stale");
    const out = path.join(dir, "out");
    await mkdir(out, { recursive: true });
    // A real writer process killed mid-write (SIGKILL: no cleanup runs).
    const child = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "-e",
        `import { AtomicFile } from ${JSON.stringify(path.join(repoRoot, "src", "fs-atomic.ts"))};
         const f = await AtomicFile.open(${JSON.stringify(path.join(out, "drugbank.jsonl"))});
         await f.write("half a record");
         process.kill(process.pid, "SIGKILL");`,
      ],
      { cwd: repoRoot, encoding: "utf8" },
    );
    expect(child.signal).toBe("SIGKILL");
    const left = (await readdir(out)).filter((n) => n.includes(".tmp-"));
    expect(left).toEqual([
      expect.stringMatching(new RegExp(`^drugbank\\.jsonl\\.tmp-${child.pid}-`)),
    ]);
    // A temporary of a process that is still running (this one) must survive.
    const live = `drugbank.jsonl.tmp-${process.pid}-0000beef`;
    await writeFile(path.join(out, live), "in progress");
    // The killed run's audit log, whose name (a time stamp) no later run writes again.
    const staleLog = `ingest-2026-01-01T00-00-00-000Z.jsonl.tmp-${child.pid}-00c0ffee`;
    await writeFile(path.join(dir, staleLog), '{"type":"run"}\n');
    const r = await captured(() =>
      ingestMain([
        "--sources",
        "drugbank",
        "--in",
        samples,
        "--out",
        out,
        "--log-dir",
        dir,
        "--no-progress",
      ]),
    );
    expect(r.value, r.err).toBe(0);
    expect((await readdir(out)).sort()).toEqual(["drugbank.jsonl", live]);
    expect(await readdir(dir)).not.toContain(staleLog);
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
