/**
 * Self-contained HTML reports: one offline file with plotly.min.js inlined once and each figure
 * drawn with Plotly.newPlot — no CDN, so a report opens the same on a plane as in the lab.
 *
 *   await writeReport("evaluation/results/quick_test/report.html", { title, blocks });
 *
 * Blocks are plain data (headings, text, tables, figures, preformatted text), so the CLI, the
 * notebook exporter and tests build reports the same way.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { writeFileAtomicSync } from "../fs-atomic.js";

/** A Plotly figure as plain JSON: the application/vnd.plotly.v1+json payload (plotly.js 3). */
export interface PlotlyFigure {
  data: Record<string, unknown>[];
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

export type ReportBlock =
  | { kind: "heading"; text: string; level?: 2 | 3 }
  | { kind: "text"; text: string }
  | { kind: "pre"; text: string }
  | { kind: "table"; columns: string[]; rows: (string | number | null)[][]; caption?: string }
  | { kind: "figure"; figure: PlotlyFigure; caption?: string }
  /** Markdown (a notebook's markdown cell), rendered by markdownHtml. */
  | { kind: "markdown"; text: string }
  /** Source code, shown as written (a notebook's code cell). */
  | { kind: "code"; text: string; language?: string }
  /** Markup produced by medtune itself (never user text): e.g. a notebook's text/html output. */
  | { kind: "html"; html: string };

export interface ReportOptions {
  title: string;
  subtitle?: string;
  blocks: ReportBlock[];
  /** Shown in the footer; default now. */
  generatedAt?: Date;
}

const require = createRequire(import.meta.url);
let plotlySource: string | undefined;

/** plotly.min.js from node_modules, read once per process. */
export function plotlyBundle(): string {
  plotlySource ??= readFileSync(require.resolve("plotly.js-dist-min/plotly.min.js"), "utf8");
  return plotlySource;
}

export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** JSON that is safe inside a <script> element (no "</script>", no HTML comment openers). */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

function renderTable(b: Extract<ReportBlock, { kind: "table" }>): string {
  const head = b.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("");
  const body = b.rows
    .map(
      (r) =>
        `<tr>${r
          .map((v) =>
            typeof v === "number"
              ? `<td class="num">${escapeHtml(formatNumber(v))}</td>`
              : `<td>${escapeHtml(v ?? "")}</td>`,
          )
          .join("")}</tr>`,
    )
    .join("\n");
  const caption = b.caption ? `<caption>${escapeHtml(b.caption)}</caption>` : "";
  return `<table>${caption}<thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}

/** One block as HTML; a figure becomes an empty plot element with `figureId` (drawn by a script). */
export function renderBlockHtml(b: ReportBlock, figureId = "figure"): string {
  switch (b.kind) {
    case "heading": {
      const level = b.level ?? 2;
      return `<h${level}>${escapeHtml(b.text)}</h${level}>`;
    }
    case "text":
      return b.text
        .split(/\n{2,}/)
        .map((para) => `<p>${escapeHtml(para)}</p>`)
        .join("\n");
    case "pre":
      return `<pre>${escapeHtml(b.text)}</pre>`;
    case "code":
      return `<pre class="code">${escapeHtml(b.text)}</pre>`;
    case "markdown":
      return `<div class="markdown">${markdownHtml(b.text)}</div>`;
    case "table":
      return renderTable(b);
    case "figure": {
      const caption = b.caption ? `<figcaption>${escapeHtml(b.caption)}</figcaption>` : "";
      return `<figure><div class="plot" id="${figureId}"></div>${caption}</figure>`;
    }
    case "html":
      return `<div class="html-output">${b.html}</div>`;
  }
}

/** Inline markdown: code spans, bold, italics, links (http(s) and relative only); escaped first. */
function markdownInline(s: string): string {
  return escapeHtml(s)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>")
    .replace(/\[([^\]]+)\]\(((?:https?:\/\/|\.{0,2}\/|[\w-]+\.)[^)\s]*)\)/g, '<a href="$2">$1</a>');
}

/**
 * The markdown our notebooks use — headings, paragraphs, lists, fenced code, inline code, bold,
 * italics, links — as HTML. Raw HTML in the markdown is escaped, never passed through.
 */
export function markdownHtml(md: string): string {
  const out: string[] = [];
  const lines = md.replace(/\r\n/g, "\n").split("\n");
  let para: string[] = [];
  let list: { tag: "ul" | "ol"; items: string[] } | undefined;
  const flush = () => {
    if (para.length) out.push(`<p>${markdownInline(para.join(" "))}</p>`);
    para = [];
    if (list)
      out.push(
        `<${list.tag}>${list.items.map((i) => `<li>${markdownInline(i)}</li>`).join("")}</${list.tag}>`,
      );
    list = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^```/.exec(line);
    if (fence) {
      flush();
      const code: string[] = [];
      while (++i < lines.length && !/^```/.test(lines[i]!)) code.push(lines[i]!);
      out.push(`<pre class="code">${escapeHtml(code.join("\n"))}</pre>`);
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    const item = /^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/.exec(line);
    if (h) {
      flush();
      // Notebook headings sit below the report's own h1/h2.
      const level = Math.min(6, h[1]!.length + 2);
      out.push(`<h${level}>${markdownInline(h[2]!)}</h${level}>`);
    } else if (item) {
      if (para.length) flush();
      const tag = item[1] ? "ul" : "ol";
      if (list && list.tag !== tag) flush();
      list ??= { tag, items: [] };
      list.items.push(item[3]!);
    } else if (line.trim() === "") flush();
    else if (list && /^\s+/.test(line)) list.items[list.items.length - 1] += ` ${line.trim()}`;
    else {
      if (list) flush();
      para.push(line.trim());
    }
  }
  flush();
  return out.join("\n");
}

export function renderReportHtml(opts: ReportOptions): string {
  const parts: string[] = [];
  const figures: { id: string; figure: PlotlyFigure }[] = [];
  for (const b of opts.blocks) {
    if (b.kind === "figure") {
      const id = `figure-${figures.length + 1}`;
      figures.push({ id, figure: b.figure });
      parts.push(renderBlockHtml(b, id));
    } else parts.push(renderBlockHtml(b));
  }
  const draw = figures
    .map(
      ({ id, figure }) =>
        `Plotly.newPlot(${scriptJson(id)}, ${scriptJson(figure.data)}, ${scriptJson(figure.layout ?? {})}, ${scriptJson({ responsive: true, displaylogo: false, ...(figure.config ?? {}) })});`,
    )
    .join("\n");
  const generated = (opts.generatedAt ?? new Date()).toISOString();
  const plotly = figures.length
    ? `<script>${plotlyBundle().replace(/<\/script/gi, "<\\/script")}</script>`
    : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="medtune">
<title>${escapeHtml(opts.title)}</title>
<style>
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #1d2125; }
h1 { margin-bottom: 0.1em; } .subtitle { color: #5b636b; margin-top: 0; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border-bottom: 1px solid #dde1e4; padding: 0.3em 0.8em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { text-align: left; color: #5b636b; padding-bottom: 0.3em; }
pre.code { background: #f7f7fb; border-left: 3px solid #3b7dd8; }
.markdown { margin: 1.5em 0 0.5em; }
pre { background: #f4f6f8; padding: 0.8em; overflow-x: auto; font-size: 13px; white-space: pre-wrap; }
figure { margin: 1em 0; } .plot { width: 100%; min-height: 360px; } figcaption { color: #5b636b; font-size: 13px; }
footer { color: #8a9299; font-size: 12px; margin-top: 3em; }
</style>
${plotly}
</head>
<body>
<h1>${escapeHtml(opts.title)}</h1>
${opts.subtitle ? `<p class="subtitle">${escapeHtml(opts.subtitle)}</p>` : ""}
${parts.join("\n")}
<footer>Generated by medtune at ${escapeHtml(generated)}.</footer>
${draw ? `<script>\n${draw}\n</script>` : ""}
</body>
</html>
`;
}

/** Write the report atomically (src/fs-atomic.ts) and return its path. */
export function writeReport(file: string, opts: ReportOptions): string {
  writeFileAtomicSync(file, renderReportHtml(opts));
  return file;
}
