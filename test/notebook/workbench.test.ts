// The curated notebooks 01-05 executed through the real jupyter_server and tslab kernel on the
// tiny preset (`medtune run --preset tiny`): every notebook runs without an error output, its
// figures carry data, and the run's report is one offline HTML file whose figures Chromium draws
// without a network request (when Chromium is installed; CI installs it).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PLOTLY_MIME } from "../../src/notebook/display.js";
import { projectPaths } from "../../src/paths.js";
import { runWorkbench, type WorkbenchRunResult } from "../../src/workbench/pipeline.js";
import { writeRunReport } from "../../src/workbench/run-report.js";
import type { Notebook, NotebookOutput } from "../../src/workbench/runner.js";

const READY =
  existsSync(join(projectPaths.venv(), "share", "jupyter", "kernels", "tslab", "kernel.json")) &&
  existsSync(join(projectPaths.root, "dist", "index.js"));
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find(
  (p) => existsSync(p),
);

/** Figures each notebook must draw at least (its show() calls). */
const MIN_FIGURES: Record<string, number> = {
  "01_ingest": 3, // records per source and task, funnel, token lengths
  "02_augment": 3, // funnel, step counts, token lengths per split
  "03_train": 4, // loss, learning rate, tokens/s, memory
  "04_evaluate": 1,
  "05_merge": 1, // perplexity of the exports
};

const outputsOf = (nb: Notebook): NotebookOutput[] => nb.cells.flatMap((c) => c.outputs ?? []);
const hasData = (fig: { data?: Record<string, unknown>[] }) =>
  (fig.data ?? []).some((t) =>
    ["x", "y", "values"].some((k) => Array.isArray(t[k]) && (t[k] as unknown[]).length > 0),
  );

describe.skipIf(!READY)("notebooks 01-05 on the tiny preset", () => {
  let run: WorkbenchRunResult;

  it("all execute, with figures that carry data and no error output", async () => {
    const runsDir = mkdtempSync(join(tmpdir(), "medtune-runs-"));
    run = await runWorkbench({ preset: "tiny", id: "ci", runsDir });
    const failed = run.record.notebooks.find((n) => !n.ok);
    expect(failed, JSON.stringify(failed?.failure)).toBeUndefined();
    expect(run.record.notebooks.map((n) => n.name)).toEqual(Object.keys(MIN_FIGURES));
    for (const n of run.record.notebooks) {
      const nb = JSON.parse(readFileSync(join(run.dir, n.executed), "utf8")) as Notebook;
      const outputs = outputsOf(nb);
      expect(
        outputs.filter((o) => o.output_type === "error"),
        n.name,
      ).toEqual([]);
      const figures = outputs
        .map((o) => (o.data as Record<string, unknown> | undefined)?.[PLOTLY_MIME])
        .filter(Boolean) as { data?: Record<string, unknown>[] }[];
      expect(figures.length, n.name).toBeGreaterThanOrEqual(MIN_FIGURES[n.name]!);
      expect(figures.filter((f) => !hasData(f)).length, `${n.name}: figures without data`).toBe(0);
      // Cells print summaries, never a whole result object (tslab prints a cell's last value).
      const printed = outputs.map((o) => String(o.text ?? "")).join("");
      expect(printed, n.name).not.toMatch(/^\s*config: \{/m);
      // Every code cell ran and was timed.
      for (const c of nb.cells.filter((x) => x.cell_type === "code"))
        expect(c.metadata.medtune, n.name).toMatchObject({ status: "ok" });
    }
    const record = JSON.parse(readFileSync(run.runJson, "utf8"));
    expect(record).toMatchObject({ ok: true, preset: "tiny" });
  }, 1_500_000);

  it("make one offline report: summary, every notebook, plotly inlined once", () => {
    expect(run?.ok).toBe(true);
    const { file, figures } = writeRunReport({ runDir: run.dir });
    const html = readFileSync(file, "utf8");
    expect(figures).toBeGreaterThanOrEqual(12);
    expect(html.match(/plotly\.js v3\./g)?.length).toBe(1);
    expect(html).not.toMatch(/<script[^>]+src=/i);
    expect(html).not.toMatch(/<link[^>]+href=/i);
    for (const heading of ["Summary", "Base vs fine-tuned", "01_ingest", "05_merge"])
      expect(html).toContain(heading);
    expect(html).toContain("final train loss");
  });

  it.skipIf(!CHROMIUM)("renders in headless Chromium with no network request", () => {
    const { file } = writeRunReport({ runDir: run.dir });
    const dir = mkdtempSync(join(tmpdir(), "medtune-chromium-"));
    const netLog = join(dir, "net.json");
    const res = spawnSync(
      CHROMIUM!,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        `--user-data-dir=${join(dir, "profile")}`,
        `--log-net-log=${netLog}`,
        "--virtual-time-budget=10000",
        "--dump-dom",
        `file://${file}`,
      ],
      { encoding: "utf8", timeout: 120_000, maxBuffer: 256 << 20 },
    );
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/class="main-svg"/);
    // The page asked for nothing over the network (Chromium's own Google endpoints aside).
    const urls = [...readFileSync(netLog, "utf8").matchAll(/"url":"(https?:\/\/[^"]+)"/g)]
      .map((m) => m[1]!)
      .filter((u) => !/^https?:\/\/[^/]*\.(google|googleapis|gstatic)\.com\//.test(u));
    expect(urls).toEqual([]);
  });
});
