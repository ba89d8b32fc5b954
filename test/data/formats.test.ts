import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { fromRow, readRecords, toRow, writeRecords, FORMAT_NAMES } from "../../src/data/formats.js";
import { readJsonlFile, writeJsonl } from "../../src/data/jsonl.js";
import {
  RecordFormatError,
  validateRecord,
  type InstructionRecord,
} from "../../src/data/record.js";
import {
  loadTemplates,
  parseRendered,
  parseTemplate,
  renderTemplate,
} from "../../src/data/templates.js";

const repoRoot = resolve(import.meta.dirname, "..", "..");

const records: InstructionRecord[] = [
  {
    id: "hetionet:CtD:yes:Compound::DB01156:Disease::DOID:0050742",
    instruction: "Does Bupropion treat nicotine dependence?",
    input: "",
    output:
      "Yes. According to PharmacotherapyDB, Bupropion is a disease-modifying treatment for nicotine dependence.",
    metadata: {
      source: "hetionet",
      task: "hetionet.CtD.yes",
      confidence: 0.95,
      citations: ["Hetionet:CtD", "Compound::DB01156"],
      license: "CC0-1.0",
      provenance: { file: "x.json.bz2", edgeIndex: [3, 4] },
      facts: [{ subject: "Bupropion", relation: "CtD", object: "nicotine dependence" }],
    },
  },
  {
    id: "pubmed-1-summary",
    instruction: "Summarise the abstract.\n\nBe brief.", // a blank line inside the instruction
    input: 'BACKGROUND: {braces} and "quotes" — unicode ✓.\n\nRESULTS: x.',
    output: "A summary.\n",
    metadata: {
      source: "pubmed",
      task: "pubmed.summary",
      confidence: 1,
      citations: ["PMID:1"],
      license: "NLM",
      provenance: {},
      extra: { nested: [1, null] },
    },
  },
];

describe("formats", () => {
  it("round-trips our records losslessly through every format, in memory and on disk", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-fmt-"));
    for (const f of FORMAT_NAMES) {
      for (const r of records) {
        const row = JSON.parse(JSON.stringify(toRow(r, f)));
        expect(fromRow(row, f, { file: "mem", line: 1 }), f).toEqual(r);
      }
      const file = join(dir, `x.${f}.jsonl`);
      await writeRecords(file, records, f);
      const back: InstructionRecord[] = [];
      for await (const r of readRecords(file)) back.push(r); // format detected from the rows
      expect(back, f).toEqual(records);
    }
  });

  it("reads Alpaca JSON arrays and other tools' rows with default metadata", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-fmt-"));
    const file = join(dir, "alpaca.json");
    writeFileSync(
      file,
      JSON.stringify(
        [
          { instruction: "Q?", input: "", output: "A." },
          { instruction: "Q2?", output: "A2." },
        ],
        null,
        2,
      ),
    );
    const defaults = {
      source: "augment" as const,
      task: "import",
      confidence: 1,
      citations: [],
      license: "MIT",
      provenance: {},
    };
    const back: InstructionRecord[] = [];
    for await (const r of readRecords(file, { format: "alpaca", defaults })) back.push(r);
    // Ids name the line on which each row starts in the pretty-printed array.
    expect(back.map((r) => [r.id, r.instruction, r.input])).toEqual([
      ["alpaca.json:2", "Q?", ""],
      ["alpaca.json:7", "Q2?", ""],
    ]);
    const sharegpt = {
      conversations: [
        { from: "system", value: "Be careful." },
        { from: "human", value: "Hi" },
        { from: "gpt", value: "Hello" },
      ],
    };
    const r = fromRow(sharegpt, "sharegpt", { file: "f", line: 3 }, { defaults });
    expect([r.instruction, r.output, r.metadata.system]).toEqual(["Hi", "Hello", "Be careful."]);
    expect(() => fromRow(sharegpt, "sharegpt", { file: "f", line: 3 })).toThrow(
      /f:3: expected a "metadata" object/,
    );
  });

  it("reports malformed lines with file:line and what was expected, and keeps the good ones", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-fmt-"));
    const file = join(dir, "bad.jsonl");
    const good = JSON.stringify(records[0]);
    writeFileSync(
      file,
      [
        good,
        "{not json",
        JSON.stringify({ ...records[0], output: 3 }),
        "",
        JSON.stringify({ ...records[0], metadata: { ...records[0]!.metadata, source: "wiki" } }),
        good,
      ].join("\n"),
    );
    const { records: ok, issues } = await readJsonlFile(file);
    expect(ok).toHaveLength(2);
    expect(issues.map((i) => i.line)).toEqual([2, 3, 5]);
    expect(issues[0]!.message).toMatch(/^expected one JSON object per line/);
    expect(issues[1]!.message).toBe('field "output" must be a string');
    expect(issues[2]!.message).toMatch(/^metadata\.source must be one of hetionet\|chembl/);
    const seen: string[] = [];
    for await (const _ of readRecords(file, { onIssue: (i) => seen.push(`${i.file}:${i.line}`) }))
      void _;
    expect(seen).toEqual([`${file}:2`, `${file}:3`, `${file}:5`]);
    await expect(async () => {
      for await (const _ of readRecords(file)) void _;
    }).rejects.toThrow(`${file}:2: expected one JSON object per line`);
  });

  it("reports a malformed row of a pretty-printed Alpaca array by the line it starts on", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-fmt-"));
    const file = join(dir, "alpaca.json");
    const rows = [
      { instruction: 'Q1 [with] {brackets}, "quotes"', input: "a,\nb", output: "A1." },
      { instruction: "Q2?", input: "", output: 2 },
      { instruction: "Q3?", input: "", output: "A3." },
      "not a row",
    ];
    const text = JSON.stringify(rows, null, 2);
    writeFileSync(file, text);
    const lines = text.split("\n");
    const startOf = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
    const defaults = {
      source: "augment" as const,
      task: "import",
      confidence: 1,
      citations: [],
      license: "MIT",
      provenance: {},
    };
    const issues: string[] = [];
    const ok: string[] = [];
    for await (const r of readRecords(file, {
      format: "alpaca",
      defaults,
      onIssue: (i) => issues.push(`${i.line} ${i.message}`),
    }))
      ok.push(r.id);
    expect(ok).toEqual([
      `alpaca.json:${startOf('"Q1') - 1}`,
      `alpaca.json:${startOf('"Q3?"') - 1}`,
    ]);
    expect(issues).toEqual([
      `${startOf('"Q2?"') - 1} row 1: expected "output" to be a string (Alpaca row)`,
      `${startOf('"not a row"')} row 3: expected a JSON object (alpaca row)`,
    ]);
  });

  it("validates metadata.facts", () => {
    const bad = {
      ...records[0],
      metadata: { ...records[0]!.metadata, facts: [{ subject: "A", relation: "", object: "B" }] },
    };
    expect(() => validateRecord(bad, "f.jsonl", 7)).toThrow(
      new RecordFormatError("metadata.facts[0].relation must be a non-empty string", "f.jsonl", 7),
    );
  });

  it("writes JSONL atomically (no temp file left behind)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-fmt-"));
    await writeJsonl(join(dir, "a.jsonl"), records);
    expect(readFileSync(join(dir, "a.jsonl"), "utf8").trim().split("\n")).toHaveLength(2);
    const { readdirSync } = await import("node:fs");
    expect(readdirSync(dir)).toEqual(["a.jsonl"]);
  });
});

describe("instruction templates", () => {
  it("loads the YAML templates in configs/templates and reverses their rendering", () => {
    const templates = loadTemplates(join(repoRoot, "configs", "templates"));
    expect([...templates.keys()].sort()).toEqual(["alpaca", "medtune-cited"]);
    for (const t of templates.values()) {
      for (const r of records) {
        const row = renderTemplate(t, r);
        expect(row.prompt).toContain(r.instruction);
        const back = parseRendered(t, row);
        expect(back.instruction).toBe(r.instruction);
        expect(back.input).toBe(r.input);
        if (t.name === "alpaca") expect(back.output).toBe(r.output);
      }
    }
    expect(renderTemplate(templates.get("medtune-cited")!, records[0]!).completion).toMatch(
      /Sources: Hetionet:CtD, Compound::DB01156$/,
    );
  });

  it("names the template file and the bad placeholder", () => {
    expect(() =>
      parseTemplate("name: x\nprompt: '{instruction} {inptu}'\n", "configs/templates/x.yaml"),
    ).toThrow("configs/templates/x.yaml: prompt: unknown placeholder {inptu}");
  });
});
