/** Hetionet reader on the real fixtures: nodes TSV + 5k-edge SIF, the real JSON subgraph, bad input, bounded memory (SIF and JSON). */
import { describe, expect, it, beforeAll } from "vitest";
import { readFile, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { gunzipSync, gzipSync } from "node:zlib";
import path from "node:path";
import {
  readHetionet,
  TopLevelJsonSplitter,
  type HetionetStats,
} from "../../src/ingest/hetionet/index.js";
import { IngestError } from "../../src/ingest/types.js";
import { validateRecord, type InstructionRecord } from "../../src/data/record.js";
import { collect, fixtures, readerRssOnTwoSizes, tempDir, writeGenerated } from "./helpers.js";

const H = path.join(fixtures, "hetionet");
const nodesTsv = path.join(H, "hetionet-v1.0-nodes.tsv");
const sif = path.join(H, "hetionet-v1.0-edges-5k.sif.gz");
const subgraph = path.join(H, "bupropion-CbGpPWpGaD-subgraph.json.gz");

describe("hetionet: nodes TSV + edges SIF (real 5k-edge fixture)", () => {
  let records: InstructionRecord[];
  let stats: HetionetStats;
  const byId = new Map<string, InstructionRecord>();
  /** Real CtD/CpD pairs from the SIF, to check answers against. */
  const treats = new Set<string>();
  const palliates = new Set<string>();

  beforeAll(async () => {
    const r = await collect(readHetionet([nodesTsv, sif], {}, { onStats: (s) => (stats = s) }));
    records = r.records;
    for (const rec of records) byId.set(rec.id, rec);
    const text = gunzipSync(await readFile(sif)).toString("utf8");
    for (const line of text.split(/\r?\n/)) {
      const [s, m, t] = line.split("\t");
      if (m === "CtD") treats.add(`${s}|${t}`);
      if (m === "CpD") palliates.add(`${s}|${t}`);
    }
  });

  it("reads every node of the real nodes table, by kind", () => {
    // Counts from ../shared/datasets/FORMATS.md §1.3 (the saved nodes file).
    expect(stats.nodesByKind).toMatchObject({
      Anatomy: 402,
      "Biological Process": 11381,
      "Cellular Component": 1391,
      Compound: 1552,
      Disease: 137,
      Gene: 20945,
      "Molecular Function": 2884,
      Pathway: 1822,
      "Pharmacologic Class": 345,
      "Side Effect": 5734,
      Symptom: 438,
    });
    expect(stats.edgesByMetaedge.CtD).toBe(755);
    expect(stats.edgesByMetaedge.CpD).toBe(390);
    expect(stats.edgesByMetaedge.PCiC).toBe(1029);
  });

  it("answers a known CtD edge with the right disease, and lists all of a compound's indications", () => {
    // Compound::DB00997 (Doxorubicin) –CtD→ Disease::DOID:363 (uterine cancer) is the first CtD line.
    const rec = byId.get("hetionet:CtD:F:Compound::DB00997")!;
    expect(rec.instruction).toMatch(/Doxorubicin/);
    expect(rec.output).toMatch(/uterine cancer/);
    const expected = [...treats]
      .filter((p) => p.startsWith("Compound::DB00997|"))
      .map((p) => p.split("|")[1]);
    expect(expected.length).toBeGreaterThan(1);
    expect(rec.metadata.citations.slice(2).sort()).toEqual(expected.sort());
    const reverse = byId.get("hetionet:CtD:R:Disease::DOID:363")!;
    expect(reverse.output).toMatch(/Doxorubicin/);
    expect(rec.metadata).toMatchObject({
      source: "hetionet",
      task: "hetionet.CtD",
      license: "CC-BY-4.0",
    });
    expect(rec.metadata.provenance).toMatchObject({
      format: "sif",
      licenseFrom: expect.stringMatching(/metaedge default/),
    });
  });

  it("makes one CtD question per treating compound and per treated disease", () => {
    const forward = records.filter((r) => r.metadata.task === "hetionet.CtD");
    const reverse = records.filter((r) => r.metadata.task === "hetionet.CtD.reverse");
    expect(forward).toHaveLength(new Set([...treats].map((p) => p.split("|")[0])).size); // 387 in metaedges.tsv
    expect(forward).toHaveLength(387);
    // Diseases with more than MAX_ANSWER_ITEMS treatments get a logged skip instead of a list.
    const treated = new Set([...treats].map((p) => p.split("|")[1]));
    expect(reverse.length).toBeGreaterThan(70);
    expect(reverse.length).toBeLessThanOrEqual(treated.size);
    for (const r of reverse) expect(treated.has(r.metadata.citations[1])).toBe(true);
  });

  it("answers 'no' only for a treatable disease the compound neither treats nor palliates", () => {
    const no = records.filter((r) => r.metadata.task === "hetionet.CtD.no");
    const yes = records.filter((r) => r.metadata.task === "hetionet.CtD.yes");
    expect(no.length).toBeGreaterThan(300);
    for (const r of no) {
      const [, compound, disease] = r.metadata.citations;
      expect(r.output.startsWith("No.")).toBe(true);
      expect(treats.has(`${compound}|${disease}`)).toBe(false);
      expect(palliates.has(`${compound}|${disease}`)).toBe(false);
      expect([...treats].some((p) => p.endsWith(`|${disease}`))).toBe(true);
    }
    for (const r of yes) {
      const [, compound, disease] = r.metadata.citations;
      expect(treats.has(`${compound}|${disease}`)).toBe(true);
    }
  });

  it("keeps licences: SIDER side effects and CbG are non-commercial, and are dropped on request", async () => {
    const cc = records.find((r) => r.metadata.task === "hetionet.CcSE")!;
    expect(cc.metadata.license).toBe("CC-BY-NC-SA-4.0");
    const r = await collect(readHetionet([nodesTsv, sif], { excludeNonCommercial: true }));
    const tasks = new Set(r.records.map((x) => x.metadata.task));
    expect(tasks.has("hetionet.CcSE")).toBe(false);
    expect(tasks.has("hetionet.CbG")).toBe(false);
    expect(tasks.has("hetionet.CtD")).toBe(true);
    expect(r.skips.some((s) => /exclude-noncommercial/.test(s.reason))).toBe(true);
  });

  it("every record passes the schema and ids are unique", () => {
    for (const r of records) validateRecord(r);
    expect(new Set(records.map((r) => r.id)).size).toBe(records.length);
  });

  it("logs untemplated metaedges and over-long lists instead of dropping them silently", async () => {
    const r = await collect(readHetionet([nodesTsv, sif], { limit: 1 }));
    expect(r.skips.some((s) => /metaedge Gr>G \(5000 edges\)/.test(s.location))).toBe(true);
  });

  it("gives the same records when the sort spills to disk", async () => {
    let spilled: HetionetStats | undefined;
    const r = await collect(
      readHetionet([nodesTsv, sif], {}, { spillLines: 7_000, onStats: (s) => (spilled = s) }),
    );
    expect(spilled!.spilledRuns).toBeGreaterThan(10);
    expect(r.records).toEqual(records);
  });

  it("stops at the limit", async () => {
    const r = await collect(readHetionet([nodesTsv, sif], { limit: 25 }));
    expect(r.records).toHaveLength(25);
  });
});

describe("hetionet: JSON format (real bupropion subgraph)", () => {
  it("reads the gzipped and the bzip2 dump alike", async () => {
    let stats!: HetionetStats;
    const gz = await collect(readHetionet([subgraph], {}, { onStats: (s) => (stats = s) }));
    expect(stats.nodesByKind).toMatchObject({
      Compound: expect.any(Number),
      Gene: expect.any(Number),
    });
    expect(Object.values(stats.nodesByKind).reduce((a, b) => a + b, 0)).toBe(3060);
    expect(Object.values(stats.edgesByMetaedge).reduce((a, b) => a + b, 0)).toBe(18474);
    // Ramelteon (DB00980) binds MTNR1A (Gene 4543)? The subgraph's first edges: DB00980 binds genes 1576, 1544, 1557.
    const ram = gz.records.find((r) => r.id === "hetionet:CbG:F:Compound::DB00980")!;
    expect(ram.instruction).toMatch(/Ramelteon/);
    expect(ram.metadata.citations).toEqual(
      expect.arrayContaining(["Gene::1576", "Gene::1544", "Gene::1557"]),
    );
    expect(ram.metadata.provenance).toMatchObject({
      format: "json",
      licenseFrom: expect.stringMatching(/edge data has no license/),
    });

    const dir = await tempDir("hetionet-bz2");
    const bz = path.join(dir, "subgraph.json.bz2");
    const plain = gunzipSync(await readFile(subgraph));
    await writeFile(path.join(dir, "subgraph.json"), plain);
    execFileSync("bzip2", ["-k", path.join(dir, "subgraph.json")]);
    const b = await collect(readHetionet([bz], {}));
    expect(b.records.map((r) => r.output)).toEqual(gz.records.map((r) => r.output));
  });

  it("takes edge source and licence from edge data and normalises the licence", async () => {
    const dir = await tempDir("hetionet-json");
    const f = path.join(dir, "g.json");
    await writeFile(
      f,
      JSON.stringify({
        metanode_kinds: ["Compound", "Side Effect"],
        metaedge_tuples: [["Compound", "Side Effect", "causes", "both"]],
        kind_to_abbrev: { Compound: "C", "Side Effect": "SE", causes: "c" },
        nodes: [
          { kind: "Compound", identifier: "DB00331", name: "Metformin", data: {} },
          { kind: "Side Effect", identifier: "C0000737", name: "Abdominal pain", data: {} },
        ],
        edges: [
          {
            source_id: ["Compound", "DB00331"],
            target_id: ["Side Effect", "C0000737"],
            kind: "causes",
            direction: "both",
            data: { source: "SIDER 4.1", license: "CC BY-NC-SA 4.0", unbiased: false },
          },
        ],
      }),
    );
    const r = await collect(readHetionet([f], {}));
    expect(r.records).toHaveLength(1);
    expect(r.records[0]!.metadata.license).toBe("CC-BY-NC-SA-4.0");
    expect(r.records[0]!.metadata.provenance).toMatchObject({
      edgeSources: ["SIDER 4.1"],
      licenseFrom: "edge data",
    });
    expect((await collect(readHetionet([f], { excludeNonCommercial: true }))).records).toHaveLength(
      0,
    );
  });

  it("skips a malformed element with its position and keeps going", async () => {
    const dir = await tempDir("hetionet-bad");
    const text = gunzipSync(await readFile(subgraph)).toString("utf8");
    // Break the first edge's source_id, keeping brackets balanced.
    const broken = text.replace(
      '"source_id": [\n        "Compound",\n        "DB00980"\n      ]',
      '"source_id": "DB00980"',
    );
    expect(broken).not.toBe(text);
    const f = path.join(dir, "g.json.gz");
    await writeFile(f, gzipSync(broken));
    const r = await collect(readHetionet([f], {}));
    expect(r.skips).toContainEqual(
      expect.objectContaining({
        file: f,
        location: "edges[0]",
        reason: expect.stringMatching(/source_id/),
      }),
    );
    expect(r.records.length).toBeGreaterThan(100);
  });

  it("splits top-level JSON across arbitrary chunk boundaries", () => {
    const doc = JSON.stringify({ a: 'x\\"}', nodes: [{ k: "]}{" }, { k: 2 }], n: 5, edges: [] });
    for (const size of [1, 2, 3, 7]) {
      const s = new TopLevelJsonSplitter("t.json", new Set(["nodes", "edges"]));
      const items = [];
      for (let i = 0; i < doc.length; i += size) items.push(...s.feed(doc.slice(i, i + size)));
      s.end();
      expect(items.map((x) => `${x.key}:${x.text}`)).toEqual([
        'a:"x\\\\\\"}"',
        'nodes:{"k":"]}{"}',
        'nodes:{"k":2}',
        "n:5",
      ]);
    }
  });
});

describe("hetionet: unusable files are IngestErrors naming the file", () => {
  it("truncated gzip", async () => {
    const dir = await tempDir("hetionet-trunc");
    const f = path.join(dir, "edges.sif.gz");
    const buf = await readFile(sif);
    await writeFile(f, buf.subarray(0, buf.length >> 1));
    await expect(collect(readHetionet([nodesTsv, f], {}))).rejects.toThrow(IngestError);
    await expect(collect(readHetionet([nodesTsv, f], {}))).rejects.toThrow(f);
  });

  it("truncated JSON, wrong schema, wrong headers, SIF without nodes", async () => {
    const dir = await tempDir("hetionet-bad2");
    const text = gunzipSync(await readFile(subgraph)).toString("utf8");
    const cut = path.join(dir, "cut.json");
    await writeFile(cut, text.slice(0, text.length - 5000));
    await expect(collect(readHetionet([cut], {}))).rejects.toThrow(/unexpected end of JSON/);
    const meta = path.join(dir, "meta.json");
    await writeFile(meta, await readFile(path.join(H, "hetionet-v1.0-metagraph.json")));
    await expect(collect(readHetionet([meta], {}))).rejects.toThrow(/no "nodes" array/);
    const arr = path.join(dir, "arr.json");
    await writeFile(arr, "[1,2]");
    await expect(collect(readHetionet([arr], {}))).rejects.toThrow(/expected a JSON object/);
    const badTsv = path.join(dir, "nodes.tsv");
    await writeFile(badTsv, "identifier,name\nx,y\n");
    await expect(collect(readHetionet([badTsv, sif], {}))).rejects.toThrow(/nodes header/);
    await expect(collect(readHetionet([sif], {}))).rejects.toThrow(/nodes TSV/);
    await expect(collect(readHetionet([path.join(dir, "x.csv")], {}))).rejects.toThrow(IngestError);
  });

  it("skips SIF lines with a bad field count, unknown metaedge or unknown node, naming the line", async () => {
    const dir = await tempDir("hetionet-lines");
    const f = path.join(dir, "e.sif");
    await writeFile(
      f,
      [
        "source\tmetaedge\ttarget",
        "Compound::DB00997\tCtD\tDisease::DOID:363",
        "only\ttwo",
        "Compound::DB00997\tXxX\tDisease::DOID:363",
        "Compound::DB99999\tCtD\tDisease::DOID:363",
        "Compound::DB00997\tCtD\tGene::1",
      ].join("\n"),
    );
    const r = await collect(readHetionet([nodesTsv, f], {}));
    expect(r.skips.map((s) => s.location)).toEqual(
      expect.arrayContaining(["line 3", "line 4", "line 5", "line 6"]),
    );
    expect(r.skips.find((s) => s.location === "line 6")!.reason).toMatch(
      /CtD joins Compound to Disease, got Compound to Gene/,
    );
    expect(r.records.some((x) => x.id === "hetionet:CtD:F:Compound::DB00997")).toBe(true);
  });
});

describe("hetionet: bounded memory", () => {
  let seed = 7;
  const rnd = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  const pick = (xs: string[]) => xs[rnd(xs.length)]!;

  it("peak RSS barely grows when the SIF grows 10×", async () => {
    const dir = await tempDir("hetionet-rss");
    // Real node ids; random CuG/GiG edges between them (the content does not matter for memory).
    const lines = (await readFile(nodesTsv, "utf8")).split("\n");
    const compounds = lines.filter((l) => l.startsWith("Compound::")).map((l) => l.split("\t")[0]!);
    const genes = lines.filter((l) => l.startsWith("Gene::")).map((l) => l.split("\t")[0]!);
    const write = async (file: string, edges: number) => {
      await writeGenerated(
        file,
        (function* () {
          yield "source\tmetaedge\ttarget\n";
          for (let i = 0; i < edges; i++)
            yield i % 2
              ? `${pick(compounds)}\tCuG\t${pick(genes)}\n`
              : `${pick(genes)}\tGiG\t${pick(genes)}\n`;
        })(),
      );
      return file;
    };
    const small = await write(path.join(dir, "small.sif"), 65_000); // ≈ 2 MB
    const large = await write(path.join(dir, "large.sif"), 650_000); // ≈ 20 MB
    const { small: a, large: b } = await readerRssOnTwoSizes(
      "hetionet",
      [nodesTsv, small],
      [nodesTsv, large],
      192,
    );
    expect(b.records).toBeGreaterThan(a.records);
    expect(b.maxRssBytes - a.maxRssBytes).toBeLessThan(160 * 2 ** 20);
  }, 180_000);

  it("peak RSS barely grows when the JSON dump's edges grow 10×", async () => {
    const dir = await tempDir("hetionet-json-rss");
    // The real subgraph's header and nodes; its edges' kinds between random nodes of the right kinds.
    const g = JSON.parse(gunzipSync(await readFile(subgraph)).toString("utf8")) as {
      nodes: { kind: string; identifier: string | number }[];
      edges: { source_id: [string, unknown]; target_id: [string, unknown]; kind: string }[];
    } & Record<string, unknown>;
    const ids = new Map<string, string[]>();
    for (const n of g.nodes) {
      const k = ids.get(n.kind) ?? [];
      k.push(JSON.stringify(n.identifier));
      ids.set(n.kind, k);
    }
    const shapes = [
      ...new Set(g.edges.map((e) => `${e.source_id[0]}|${e.kind}|${e.target_id[0]}`)),
    ];
    const { nodes, edges: _edges, ...header } = g;
    const write = async (file: string, edges: number) => {
      await writeGenerated(
        file,
        (function* () {
          yield JSON.stringify(header).slice(0, -1) + ',"nodes":[\n';
          yield nodes.map((n) => JSON.stringify(n)).join(",\n");
          yield '\n],"edges":[\n';
          for (let i = 0; i < edges; i++) {
            const [sk, kind, tk] = pick(shapes).split("|") as [string, string, string];
            yield `${i ? "," : ""}{"source_id":["${sk}",${pick(ids.get(sk)!)}],"target_id":["${tk}",${pick(ids.get(tk)!)}],"kind":"${kind}","direction":"both","data":{"source":"generated","license":"CC0 1.0"}}\n`;
          }
          yield "]}\n";
        })(),
      );
      return file;
    };
    const small = await write(path.join(dir, "small.json.gz"), 12_000); // ≈ 2.5 MB of JSON
    const large = await write(path.join(dir, "large.json.gz"), 120_000); // ≈ 17 MB
    const { small: a, large: b } = await readerRssOnTwoSizes("hetionet", [small], [large], 192);
    // The node set is fixed, so the record count saturates (lists are capped); the edges read grow 10×.
    expect(a.records).toBeGreaterThan(1000);
    expect(b.records).toBeGreaterThan(1000);
    expect(b.maxRssBytes - a.maxRssBytes).toBeLessThan(160 * 2 ** 20);
  }, 180_000);
});
