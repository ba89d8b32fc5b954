/**
 * The default settings file (configs/augment.yaml): it loads, every key is documented, its
 * vocabularies point at the bundled data and give names for paraphrase and validation; the
 * Hetionet synonym source reads node names from the JSON graph as well as from the nodes TSV.
 *
 *   npx vitest run test/augment/config.test.ts
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { DEFAULT_CONFIG } from "../../src/augment/cli.js";
import { defaultConfig, loadConfig } from "../../src/augment/config.js";
import {
  drugBankVocabulary,
  EntityLexicon,
  hetionetNodes,
  loadHetionetNodes,
} from "../../src/augment/lexicon.js";
import { repoRoot, sharedDatasets } from "./helpers.js";

describe("configs/augment.yaml", () => {
  it("is the default, loads cleanly and points at files that exist", () => {
    expect(DEFAULT_CONFIG).toBe(path.join(repoRoot, "configs", "augment.yaml"));
    const c = loadConfig(DEFAULT_CONFIG);
    expect(c.vocabulary.drugbank).toEqual([
      path.join(repoRoot, "data/raw/drugbank/drugbank_sample_vocabulary.csv"),
    ]);
    expect(c.vocabulary.hetionetNodes).toEqual([
      path.join(repoRoot, "data/raw/hetionet/hetionet-v1.0-sample.json.bz2"),
    ]);
    for (const f of [...c.vocabulary.drugbank, ...c.vocabulary.hetionetNodes])
      expect(existsSync(f), f).toBe(true);
    // Same behaviour as the built-in defaults apart from the vocabularies.
    expect({ ...c, vocabulary: null }).toEqual({ ...defaultConfig(), vocabulary: null });
  });

  it("documents every key with a comment", () => {
    const lines = readFileSync(DEFAULT_CONFIG, "utf8").split("\n");
    const doc = parseYaml(lines.join("\n")) as Record<string, unknown>;
    const keys = Object.entries(doc).flatMap(([k, v]) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? [k, ...Object.keys(v).map((s) => `${k}.${s}`)]
        : [k],
    );
    expect(keys.length).toBeGreaterThan(20);
    for (const key of keys) {
      const leaf = key.split(".").pop()!;
      const i = lines.findIndex((l) => new RegExp(`^\\s*${leaf}:|[{,]\\s*${leaf}:`).test(l));
      expect(i, `key ${key} not found`).toBeGreaterThanOrEqual(0);
      // The key's own line carries a comment, or the line above it is one.
      const commented = lines[i]!.includes("#") || /^\s*#/.test(lines[i - 1] ?? "");
      expect(commented, `key ${key} (line ${i + 1}) has no comment`).toBe(true);
    }
  });

  it("gives the lexicon DrugBank synonyms and Hetionet names from the bundled data", async () => {
    const c = loadConfig(DEFAULT_CONFIG);
    const lex = EntityLexicon.from([
      ...c.vocabulary.drugbank.map((f) => drugBankVocabulary(f)),
      ...(await Promise.all(c.vocabulary.hetionetNodes.map((f) => loadHetionetNodes(f)))),
    ]);
    expect(lex.size).toBeGreaterThan(1000);
    // A Hetionet compound and a DrugBank synonym both resolve.
    expect(lex.resolveName("Bupropion")).toBeDefined();
    const aspirin = lex.resolveName("Acetylsalicylic acid")!;
    expect(lex.synonymsOf(aspirin).length).toBeGreaterThan(1);
  });
});

describe("Hetionet node names from the JSON graph", () => {
  it("reads the same names from the JSON subgraph as from its nodes", async () => {
    const json = path.join(sharedDatasets, "hetionet", "bupropion-CbGpPWpGaD-subgraph.json.gz");
    const fromJson = [...(await loadHetionetNodes(json)).entries()];
    expect(fromJson.length).toBeGreaterThan(100);
    const tsv = new Map(
      [
        ...hetionetNodes(
          path.join(sharedDatasets, "hetionet", "hetionet-v1.0-nodes.tsv"),
        ).entries(),
      ].map((e) => [e.id, e]),
    );
    for (const e of fromJson) expect(tsv.get(e.id), e.id).toEqual(e);
    const genes = [...(await loadHetionetNodes(json, ["Gene"])).entries()];
    expect(genes.length).toBeGreaterThan(0);
    expect(genes.every((e) => e.type === "Gene")).toBe(true);
  });

  it("names the file and the element when the JSON is not a Hetionet graph", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "medtune-nodes-"));
    const bad = path.join(dir, "bad.json.gz");
    writeFileSync(bad, gzipSync('{"nodes": [{"kind": "Gene", "name": "X"}], "edges": []}'));
    await expect(loadHetionetNodes(bad)).rejects.toThrow(/bad\.json\.gz.*nodes\[0\].*identifier/);
    const none = path.join(dir, "none.json");
    writeFileSync(none, '{"edges": []}');
    await expect(loadHetionetNodes(none)).rejects.toThrow(/none\.json.*"nodes" array/);
  });
});
