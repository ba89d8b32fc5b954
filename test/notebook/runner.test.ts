// The headless runner on small notebooks written here, through the real jupyter_server and tslab
// kernel of the venv: parameter injection, a failing cell, a timeout, and no process left behind.
import { spawnSync } from "node:child_process";
import { getEventListeners } from "node:events";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parameterValues } from "../../src/workbench/cli.js";
import {
  descendants,
  injectParameters,
  runNotebook,
  type Notebook,
  type NotebookRunResult,
} from "../../src/workbench/runner.js";
import { projectPaths } from "../../src/paths.js";
import { runWorkbench } from "../../src/workbench/pipeline.js";

const HAVE_KERNEL = existsSync(
  join(projectPaths.venv(), "share", "jupyter", "kernels", "tslab", "kernel.json"),
);

function notebook(cells: { source: string; tags?: string[] }[]): Notebook {
  return {
    cells: cells.map((c) => ({
      cell_type: "code",
      source: c.source,
      metadata: c.tags ? { tags: c.tags } : {},
      outputs: [],
      execution_count: null,
    })),
    metadata: { kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" } },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

function write(nb: Notebook): string {
  const dir = mkdtempSync(join(tmpdir(), "medtune-nb-"));
  const file = join(dir, "t.ipynb");
  writeFileSync(file, JSON.stringify(nb));
  return file;
}

/** Processes whose command line names this test's notebook folder or server. */
function jupyterProcesses(): string[] {
  const ps = spawnSync("ps", ["-A", "-o", "pid=,args="], { encoding: "utf8" }).stdout;
  return ps.split("\n").filter((l) => /jupyter-server|jupyter server|tslab kernel/.test(l));
}

const textOf = (r: NotebookRunResult, index: number) => {
  const nb = JSON.parse(readFileSync(r.output, "utf8")) as Notebook;
  return JSON.stringify(nb.cells[index]!.outputs);
};

describe("parameters", () => {
  it("go in a cell after the one tagged parameters, as JSON literals", () => {
    const nb = notebook([
      { source: "a" },
      { source: "const n = 1;", tags: ["parameters"] },
      { source: "b" },
    ]);
    const { notebook: out, warning } = injectParameters(nb, { n: 5, name: "x y", on: true });
    expect(warning).toBeUndefined();
    expect(out.cells.map((c) => c.metadata.tags?.[0] ?? "")).toEqual([
      "",
      "parameters",
      "injected-parameters",
      "",
    ]);
    expect(out.cells[2]!.source).toContain('const n = 5;\nconst name = "x y";\nconst on = true;');
  });
  it("go first, with a warning, when no cell is tagged", () => {
    const { notebook: out, warning } = injectParameters(notebook([{ source: "a" }]), { n: 1 });
    expect(warning).toMatch(/no cell tagged/);
    expect(out.cells[0]!.metadata.tags).toEqual(["injected-parameters"]);
  });
  it("parse -p values as JSON when they parse, strings otherwise; lists survive the comma split", () => {
    expect(parameterValues(["n=3", "name=abc", "xs=[1", "2]", "f=0.5"])).toEqual({
      n: 3,
      name: "abc",
      xs: [1, 2],
      f: 0.5,
    });
    expect(() => parameterValues(["=3"])).toThrow(/key=value/);
  });
});

describe.skipIf(!HAVE_KERNEL)("runNotebook through jupyter_server and tslab", () => {
  it("injects parameters, records outputs and timing, stops at the failing cell and cleans up", async () => {
    const before = jupyterProcesses().length;
    const input = write(
      notebook([
        { source: 'const n = 2;\nconst label = "default";', tags: ["parameters"] },
        {
          source:
            'console.log(`n=${n} label=${label}`);\nimport * as tslab from "tslab";\ntslab.display.html("<b>shown</b>");',
        },
        { source: 'throw new RangeError("boom " + n);' },
        { source: 'console.log("never runs");' },
      ]),
    );
    let serverPid = 0;
    const abort = new AbortController();
    const r = await runNotebook({
      notebook: input,
      output: input.replace(/\.ipynb$/, ".out.ipynb"),
      parameters: { n: 5, label: "from CLI" },
      cellTimeoutSeconds: 120,
      signal: abort.signal,
      onEvent: (e) => {
        if (e.type === "server") serverPid = e.pid;
      },
    });
    expect(r.ok).toBe(false);
    expect(r.failure).toMatchObject({
      index: 3,
      firstLine: 'throw new RangeError("boom " + n);',
      timedOut: false,
    });
    expect(r.failure!.error).toMatch(/RangeError: boom 5/);
    expect(textOf(r, 2)).toContain("n=5 label=from CLI");
    expect(textOf(r, 2)).toContain("<b>shown</b>");
    expect(textOf(r, 3)).toContain('"output_type":"error"');
    const nb = JSON.parse(readFileSync(r.output, "utf8")) as Notebook;
    expect(nb.cells[4]!.outputs).toEqual([]); // never executed
    expect(nb.cells[2]!.metadata.medtune).toMatchObject({ status: "ok" });
    expect(nb.cells[2]!.execution_count).toBeGreaterThan(0);
    expect(nb.metadata.medtune).toMatchObject({ ok: false, parameters: { n: 5 } });
    // Each cell's abort listener went with the cell (medtune run shares one signal across notebooks).
    expect(getEventListeners(abort.signal, "abort")).toEqual([]);
    // Nothing left behind: the server and its kernel are gone.
    expect(serverPid).toBeGreaterThan(0);
    expect(descendants(serverPid)).toEqual([]);
    expect(() => process.kill(serverPid, 0)).toThrow();
    expect(jupyterProcesses().length).toBeLessThanOrEqual(before);
  }, 180_000);

  it("interrupts and fails a cell over its timeout, and still saves the notebook", async () => {
    const input = write(
      notebook([
        { source: 'console.log("first");' },
        { source: "await new Promise((r) => setTimeout(r, 600_000));" },
        { source: 'console.log("never runs");' },
      ]),
    );
    const before = jupyterProcesses().length;
    const r = await runNotebook({ notebook: input, cellTimeoutSeconds: 20 });
    expect(r.ok).toBe(false);
    expect(r.failure).toMatchObject({ index: 1, timedOut: true });
    expect(r.failure!.error).toMatch(/timed out after 20 s/);
    expect(textOf(r, 0)).toContain("first");
    expect(textOf(r, 1)).toContain("CellTimeout");
    expect(jupyterProcesses().length).toBeLessThanOrEqual(before);
  }, 180_000);

  it("medtune run, interrupted in a notebook: run.json names it, the cell it was in, and the error", async () => {
    const runsDir = mkdtempSync(join(tmpdir(), "medtune-runs-"));
    const abort = new AbortController();
    await expect(
      runWorkbench({
        preset: "tiny",
        id: "stopped",
        runsDir,
        notebooks: ["01_ingest"],
        signal: abort.signal,
        onEvent: (e) => {
          if (e.type === "runner" && e.event.type === "cell" && e.event.index >= 2)
            abort.abort(new Error("interrupted"));
        },
      }),
    ).rejects.toThrow(/interrupted/);
    const record = JSON.parse(readFileSync(join(runsDir, "stopped", "run.json"), "utf8"));
    expect(record.ok).toBe(false);
    expect(record.finishedAt).toEqual(expect.any(String));
    expect(record.notebooks).toMatchObject([
      { name: "01_ingest", ok: false, failure: { index: 2, error: "interrupted" } },
    ]);
    expect(existsSync(join(runsDir, "stopped", "01_ingest.ipynb"))).toBe(true);
  }, 300_000);
});
