// Report blocks shared by show() and `medtune report`: which stage result becomes which tables and
// figures, the markdown subset of notebook cells (escaped, never raw HTML), executed-notebook outputs.
import { describe, expect, it, vi } from "vitest";
import type { IngestResult } from "../../src/ingest/index.js";
import { augmentFunnel, ingestFunnel, stageBlocks } from "../../src/notebook/blocks.js";
import { frameBlock, liveTraining, trainingProgressHtml } from "../../src/notebook/display.js";
import { medicalAccuracyFigure, safetyProbeFigure } from "../../src/notebook/figures.js";
import { markdownHtml, renderReportHtml } from "../../src/notebook/report.js";
import { mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunRecord } from "../../src/workbench/pipeline.js";
import { notebookBlocks, notFromRun, outputBlocks } from "../../src/workbench/run-report.js";
import type { AugmentReport } from "../../src/augment/report.js";
import { comparisonTable, evaluationReportBlocks } from "../../src/evaluate/report-blocks.js";
import type { EvaluationResult } from "../../src/evaluate/run.js";

const ingest: IngestResult = {
  ok: true,
  auditLog: "logs/ingest-x.jsonl",
  sources: [
    {
      source: "pubmed",
      ok: true,
      output: "data/processed/pubmed.jsonl",
      files: ["a.xml"],
      warnings: [],
      records: 7,
      skipped: 3,
      recordsByTask: { "pubmed.qa": 5, "pubmed.summary": 2 },
      skippedByReason: { "no abstract": 2, retracted: 1 },
      inputBytes: 2048,
      seconds: 0.5,
    },
  ],
};

describe("stage blocks", () => {
  it("ingest: a table per source, records per task, a funnel of the skips by reason", () => {
    expect(ingestFunnel(ingest)).toEqual([
      { label: "items read", count: 10 },
      { label: "− no abstract", count: 8 },
      { label: "− retracted", count: 7 },
      { label: "records written", count: 7 },
    ]);
    const blocks = stageBlocks(ingest);
    const figures = blocks.filter((b) => b.kind === "figure");
    expect(figures).toHaveLength(2);
    expect(JSON.stringify(figures[0])).toContain('"pubmed.qa"');
    const tables = blocks.filter((b) => b.kind === "table");
    expect(tables[0]).toMatchObject({ rows: [["pubmed", 7, 3, 1, 0, 0.5, "ok"]] });
    expect(tables[1]).toMatchObject({
      rows: [
        ["pubmed", "no abstract", 2],
        ["pubmed", "retracted", 1],
      ],
    });
  });

  it("augment: the funnel follows each step's output", () => {
    const report = {
      input: { records: 10, files: [], malformedLines: [] },
      steps: [
        { step: "dedup", in: 10, out: 8, dropped: 2, added: 0 },
        { step: "negatives", in: 8, out: 12, dropped: 0, added: 4 },
      ],
    } as unknown as AugmentReport;
    expect(augmentFunnel(report)).toEqual([
      { label: "input records", count: 10 },
      { label: "dedup (−2)", count: 8 },
      { label: "negatives (−0 +4)", count: 12 },
    ]);
  });

  it("refuses what is not a stage result", () => {
    expect(() => stageBlocks({ foo: 1 })).toThrow(/not a stage result/);
  });

  it("evaluation: show() draws evaluate's own report tables, and the run summary its comparison table", () => {
    const comparison = {
      task: "pubmedqa",
      score: "accuracy",
      n: 4,
      base: 0.25,
      fineTuned: 0.75,
      delta: 0.5,
      low: 0,
      high: 1,
      mcnemarP: 0.5,
    };
    const r = {
      suite: "quick",
      variants: ["base", "fineTuned"],
      tasks: {
        base: [
          {
            task: "pubmedqa",
            metrics: { accuracy: { value: 0.25, low: 0.05, high: 0.7, n: 4, chance: 1 / 3 } },
          },
        ],
        fineTuned: [{ task: "pubmedqa", metrics: { accuracy: { value: 0.75, n: 4 } } }],
      },
      comparisons: [comparison],
      figures: { accuracy: { data: [{ type: "bar", x: ["a"], y: [1] }], layout: {} } },
      validator: [],
      validatorHeldOut: [],
      sideBySide: [{ task: "pubmedqa", id: "q1", question: "Q?", base: "no", fineTuned: "yes" }],
      timings: [{ task: "pubmedqa", items: 4, seconds: 2, secondsPerItem: 0.5 }],
    } as unknown as EvaluationResult;
    const shown = stageBlocks(r);
    expect(shown[0]).toEqual({ kind: "heading", text: "Evaluation (suite quick)" });
    expect(shown.slice(1)).toEqual(evaluationReportBlocks(r));
    const table = comparisonTable([comparison]);
    expect(shown).toContainEqual(table);
    expect(table.kind === "table" && table.rows[0]).toEqual([
      "pubmedqa",
      "accuracy",
      4,
      "0.250",
      "0.750",
      "0.500 [0.000, 1.000]",
      "0.500",
    ]);
    const metrics = shown.find((b) => b.kind === "table" && b.columns.includes("chance"));
    expect(metrics?.kind === "table" && metrics.rows).toEqual([
      ["base", "pubmedqa", "accuracy", "0.250", "0.050", "0.700", 4, "0.333"],
      ["fineTuned", "pubmedqa", "accuracy", "0.750", "—", "—", 4, "—"],
    ]);
    expect(shown.filter((b) => b.kind === "figure")).toHaveLength(1);
  });

  it("a failed runAugment result shows its reasons", () => {
    expect(stageBlocks({ ok: false, error: "no input", input: {} })).toEqual([
      { kind: "pre", text: "no input" },
    ]);
  });
});

describe("training figures", () => {
  it("draw the safety probe only when the run probed", () => {
    expect(safetyProbeFigure([{ type: "progress" }])).toBeUndefined();
    const fig = safetyProbeFigure([
      { type: "safety", iteration: 10, refusalRate: 0.5, meanSafetyScore: 0.8, seconds: 1 },
      { type: "progress" },
      { type: "safety", iteration: 20, refusalRate: 0.75, meanSafetyScore: 0.9, seconds: 1 },
    ] as never);
    expect(fig!.data.map((t) => [t.x, t.y])).toEqual([
      [
        [10, 20],
        [0.5, 0.75],
      ],
      [
        [10, 20],
        [0.8, 0.9],
      ],
    ]);
  });
});

describe("medical accuracy figure", () => {
  it("draws the per-epoch measurements only when the run measured them", () => {
    expect(medicalAccuracyFigure([{ type: "progress" }])).toBeUndefined();
    const at = (iteration: number, accuracy: number) => ({
      type: "accuracy",
      iteration,
      epoch: iteration / 10,
      items: 8,
      correct: accuracy * 8,
      accuracy,
      accuracyNormalized: accuracy / 2,
      meanGoldProbability: 0.4,
      seconds: 3,
    });
    const fig = medicalAccuracyFigure([at(10, 0.25), { type: "progress" }, at(20, 0.5)] as never);
    expect(fig!.data.map((t) => [t.x, t.y])).toEqual([
      [
        [10, 20],
        [0.25, 0.5],
      ],
      [
        [10, 20],
        [0.125, 0.25],
      ],
      [
        [10, 20],
        [0.4, 0.4],
      ],
    ]);
  });
});

describe("notebook display pieces", () => {
  it("a DataFrame-like becomes a table block, long frames cut with a caption", () => {
    const df = {
      columns: ["a", "b"],
      values: [
        [1, "x"],
        [2, "y"],
        [3, "z"],
      ],
      shape: [3, 2],
    };
    expect(frameBlock(df, 2)).toEqual({
      kind: "table",
      columns: ["a", "b"],
      rows: [
        [1, "x"],
        [2, "y"],
      ],
      caption: "first 2 of 3 rows",
    });
  });

  it("the live training line has progress, ETA, loss, throughput and memory against the limit", () => {
    const html = trainingProgressHtml(
      {
        type: "progress",
        iteration: 5,
        trainLoss: 2.5,
        learningRate: 1e-4,
        tokensPerSecond: 321,
        trainedTokens: 1000,
        supervisedTokens: 500,
        peakMemoryBytes: 2 ** 30,
        activeMemoryBytes: 2 ** 29,
        cacheBytes: 0,
      },
      { totalSteps: 20, elapsedSeconds: 10, memoryLimitBytes: 2 ** 31 },
    );
    expect(html).toContain("step 5 / 20");
    expect(html).toContain("ETA 30 s");
    expect(html).toContain("loss 2.500");
    expect(html).toContain("321 tokens/s");
    expect(html).toContain("peak 1024 MiB of 2048 MiB");
    expect(html).toContain("width:25.0%");
  });

  it("the live display takes a run's total steps and ETA from its monitor events", async () => {
    const drawn: string[] = [];
    vi.doMock("tslab", () => ({
      display: {},
      newDisplay: () => ({ html: (h: string) => drawn.push(h) }),
    }));
    const live = await liveTraining({ totalSteps: 0 }); // a config by epochs has no iters
    const progress = (iteration: number) => ({
      type: "progress",
      iteration,
      trainLoss: 3,
      learningRate: 1e-4,
      tokensPerSecond: 100,
      trainedTokens: 10,
      supervisedTokens: 5,
      peakMemoryBytes: 2 ** 20,
      activeMemoryBytes: 2 ** 20,
      cacheBytes: 0,
    });
    live.onEvent(progress(1) as never);
    live.onEvent({ type: "monitor", iteration: 1, totalSteps: 24, etaSeconds: 92 } as never);
    expect(drawn.at(-1)).toContain("step 1 / 24");
    expect(drawn.at(-1)).toContain("ETA 92 s");
    vi.doUnmock("tslab");
  });
});

describe("executed notebooks in the report", () => {
  it("markdown: headings, lists, code, emphasis and links; raw HTML escaped", () => {
    const html = markdownHtml(
      "# Title\n\nSome **bold** and `code` <script>x</script>.\n\n- one\n- two\n\n1. first\n\n```\na < b\n```\n\n[docs](https://example.org/x)",
    );
    expect(html).toContain("<h3>Title</h3>");
    expect(html).toContain("<strong>bold</strong>");
    expect(html).toContain("<code>code</code>");
    expect(html).toContain("&lt;script&gt;x&lt;/script&gt;");
    expect(html).not.toContain("<script>");
    expect(html).toContain("<ul><li>one</li><li>two</li></ul>");
    expect(html).toContain("<ol><li>first</li></ol>");
    expect(html).toContain('<pre class="code">a &lt; b</pre>');
    expect(html).toContain('<a href="https://example.org/x">docs</a>');
  });

  it("outputs: Plotly MIME → figure, HTML kept, streams and errors as text", () => {
    const fig = { data: [{ type: "bar", x: [1], y: [2] }] };
    expect(
      outputBlocks({
        output_type: "display_data",
        data: { "application/vnd.plotly.v1+json": fig },
      }),
    ).toEqual([{ kind: "figure", figure: fig }]);
    expect(
      outputBlocks({ output_type: "display_data", data: { "text/html": "<b>x</b>" } }),
    ).toEqual([{ kind: "html", html: "<b>x</b>" }]);
    expect(outputBlocks({ output_type: "stream", name: "stdout", text: ["a", "b"] })).toEqual([
      { kind: "pre", text: "ab" },
    ]);
    expect(outputBlocks({ output_type: "error", ename: "Error", evalue: "boom" })).toEqual([
      { kind: "pre", text: "Error: boom" },
    ]);
  });

  it("a notebook becomes its markdown, code and outputs in order, figures drawn once each", () => {
    const blocks = notebookBlocks(
      {
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {},
        cells: [
          { cell_type: "markdown", source: "# A", metadata: {} },
          {
            cell_type: "code",
            source: "show(x)",
            metadata: {},
            outputs: [
              {
                output_type: "display_data",
                data: { "application/vnd.plotly.v1+json": { data: [{ y: [1] }] } },
              },
            ],
          },
        ],
      },
      "01_ingest",
    );
    expect(blocks.map((b) => b.kind)).toEqual(["heading", "markdown", "code", "figure"]);
    const html = renderReportHtml({ title: "t", blocks });
    expect(html).toContain('Plotly.newPlot("figure-1"');
    expect(html.match(/plotly\.js v3\./g)?.length).toBe(1);
  });
});

describe("run report summary", () => {
  it("shows a stage's shared output only when this run wrote it", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-run-report-"));
    const file = join(dir, "metrics.jsonl");
    writeFileSync(file, `${JSON.stringify({ type: "done", iteration: 3 })}\n`);
    const at = (iso: string) => new Date(iso);
    const run = {
      startedAt: "2026-01-01T10:00:00.000Z",
      finishedAt: "2026-01-01T10:30:00.000Z",
    } as RunRecord;
    utimesSync(file, at("2026-01-01T10:10:00Z"), at("2026-01-01T10:10:00Z"));
    expect(notFromRun(file, run)).toBeUndefined();
    utimesSync(file, at("2026-01-01T09:00:00Z"), at("2026-01-01T09:00:00Z"));
    expect(notFromRun(file, run)).toMatch(/from an earlier run/);
    utimesSync(file, at("2026-01-01T11:00:00Z"), at("2026-01-01T11:00:00Z"));
    expect(notFromRun(file, run)).toMatch(/rewritten by a later run/);
    expect(notFromRun(file, { ...run, finishedAt: null })).toBeUndefined(); // still running
    expect(notFromRun(join(dir, "none.json"), run)).toMatch(/missing/);
  });
});
