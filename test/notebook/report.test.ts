// HTML reports: self-contained (no network), escaped, figures drawn by the inlined plotly.js —
// checked in headless Chromium when it is installed (CI installs it), by the DOM Plotly leaves.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderReportHtml, writeReport, type ReportOptions } from "../../src/notebook/report.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find(
  (p) => existsSync(p),
);

const sample: ReportOptions = {
  title: "quick_test <run>",
  subtitle: "SmolLM2 & friends",
  blocks: [
    { kind: "heading", text: "Training" },
    { kind: "text", text: "Loss fell from 3.1 to 1.2.\n\nSecond <b>paragraph</b>." },
    {
      kind: "table",
      columns: ["step", "loss"],
      rows: [
        [1, 3.1],
        [2, 2.4],
      ],
      caption: "per step",
    },
    {
      kind: "figure",
      figure: {
        data: [
          {
            type: "scatter",
            mode: "lines",
            x: [1, 2, 3],
            y: [3.1, 2.4, 1.2],
            name: "train </script>",
          },
        ],
        layout: { title: { text: "loss" } },
      },
      caption: "training loss",
    },
    { kind: "pre", text: "answer: <none>" },
  ],
  generatedAt: new Date("2026-01-02T03:04:05Z"),
};

describe("HTML report", () => {
  const html = renderReportHtml(sample);

  it("escapes text and keeps figure JSON from closing its script element", () => {
    expect(html).toContain("<title>quick_test &lt;run&gt;</title>");
    expect(html).toContain("Second &lt;b&gt;paragraph&lt;/b&gt;.");
    expect(html).toContain("answer: &lt;none&gt;");
    expect(html).not.toContain("train </script>");
    expect(html).toContain("train \\u003c/script\\u003e");
  });

  it("is self-contained: plotly inlined once, nothing fetched", () => {
    expect(html.match(/plotly\.js v3\./g)?.length).toBe(1);
    expect(html).not.toMatch(/<script[^>]+src=/i);
    expect(html).not.toMatch(/<link[^>]+href=/i);
    expect(html).toContain('Plotly.newPlot("figure-1"');
  });

  it("omits plotly.js when there is no figure", () => {
    const plain = renderReportHtml({ title: "t", blocks: [{ kind: "text", text: "x" }] });
    expect(plain).not.toContain("plotly.js");
    expect(plain.length).toBeLessThan(5000);
  });

  it("writes atomically", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-report-"));
    const file = writeReport(join(dir, "sub", "report.html"), sample);
    expect(readFileSync(file, "utf8")).toBe(html);
  });

  it.skipIf(!CHROMIUM)("renders its figures in headless Chromium with the network off", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-report-"));
    const file = writeReport(join(dir, "report.html"), sample);
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
        `--user-data-dir=${join(dir, "profile")}`,
        "--virtual-time-budget=5000",
        "--dump-dom",
        `file://${file}`,
      ],
      { encoding: "utf8", timeout: 90_000, maxBuffer: 64 << 20 },
    );
    expect(res.status, res.stderr).toBe(0);
    // Plotly replaces the empty div with its SVG layers and draws one trace.
    expect(res.stdout).toMatch(/class="main-svg"/);
    expect(res.stdout).toMatch(/class="[^"]*\bscatterlayer\b/);
  });
});
