/**
 * Showing medtune's results inside a tslab notebook cell: Plotly figures as
 * application/vnd.plotly.v1+json (JupyterLab renders them with the plotly wheel's extension,
 * offline) and HTML tables. tslab is imported lazily so this module loads outside a kernel too.
 */
import type { PlotlyFigure } from "./report.js";
import { escapeHtml } from "./report.js";

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

interface TslabDisplay {
  raw(contentType: string, b: unknown): void;
  html(s: string): void;
}

async function tslabDisplay(): Promise<TslabDisplay> {
  const tslab = (await import("tslab")) as unknown as { display: TslabDisplay };
  return tslab.display;
}

/** Draw a figure in the current cell's output (tslab sends the object as the MIME payload). */
export async function showFigure(figure: PlotlyFigure): Promise<void> {
  (await tslabDisplay()).raw(PLOTLY_MIME, figure);
}

/** A small HTML table in the current cell's output. */
export async function showTable(
  columns: string[],
  rows: (string | number | null)[][],
): Promise<void> {
  const head = columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("");
  const body = rows
    .map((r) => `<tr>${r.map((v) => `<td>${escapeHtml(String(v ?? ""))}</td>`).join("")}</tr>`)
    .join("");
  (await tslabDisplay()).html(
    `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`,
  );
}
