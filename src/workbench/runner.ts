/**
 * The headless notebook runner: executes a .ipynb cell by cell in a real kernel and writes the
 * executed notebook, so a notebook is a reproducible job (`medtune run-notebook`, `medtune run`).
 *
 *   const r = await runNotebook({ notebook: "notebooks/01_ingest.ipynb", output: "runs/x/01.ipynb",
 *                                 parameters: { limit: 20 } });
 *   if (!r.ok) console.error(r.failure);       // names the cell and its error
 *
 * It starts its own jupyter_server from the venv (loopback, a free port, a random token) and talks
 * to it through @jupyterlab/services, the client JupyterLab itself uses. The session is opened on
 * the notebook's path, so the kernel runs in the notebook's folder and `../dist/index.js` resolves
 * as it does in `npm run lab`. Parameters go into a new cell after the one tagged `parameters`
 * (papermill's convention). A cell fails when its execute reply says `error` (tslab sends no
 * traceback, so the error text is the error message or the cell's stderr). A cell over its
 * timeout is interrupted, then failed. The executed notebook is saved even on failure, and the
 * server and every process under it (kernels start their own sessions, so a process-group kill
 * alone would miss them) are stopped before this returns.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { basename, dirname, join } from "node:path";
import { writeFileAtomicSync } from "../fs-atomic.js";
import { fromRoot, projectPaths } from "../paths.js";

/** The parts of nbformat 4 the runner reads and writes. */
export interface NotebookCell {
  cell_type: "code" | "markdown" | "raw";
  id?: string;
  source: string | string[];
  metadata: Record<string, unknown> & { tags?: string[] };
  outputs?: NotebookOutput[];
  execution_count?: number | null;
}
export type NotebookOutput = Record<string, unknown> & { output_type: string };
export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

export type ParameterValue = string | number | boolean | null | ParameterValue[];

export interface RunNotebookOptions {
  /** The notebook to execute (relative paths against the project root). */
  notebook: string;
  /** Where the executed notebook goes (default: beside the input, `<name>.executed.ipynb`). */
  output?: string;
  /** Values injected after the `parameters` cell, as `const key = value;`. */
  parameters?: Record<string, ParameterValue>;
  /** A cell running longer is interrupted, then failed (default 600 s). */
  cellTimeoutSeconds?: number;
  /** Kernel name (default: the notebook's kernelspec, else tslab). */
  kernelName?: string;
  onEvent?: (e: RunnerEvent) => void;
  signal?: AbortSignal;
}

export type RunnerEvent =
  | { type: "server"; url: string; pid: number }
  | { type: "warning"; message: string }
  | { type: "cell"; index: number; total: number; firstLine: string }
  | { type: "cell-done"; index: number; seconds: number; status: "ok" | "error" | "timeout" }
  | { type: "done"; ok: boolean; output: string; seconds: number };

export interface CellFailure {
  /** Index in the executed notebook (parameters cell included) and the cell's id. */
  index: number;
  cellId: string | undefined;
  firstLine: string;
  /** The error as the kernel reported it (name: message), or the timeout. */
  error: string;
  timedOut: boolean;
}

export interface NotebookRunResult {
  ok: boolean;
  notebook: string;
  output: string;
  parameters: Record<string, ParameterValue>;
  cells: { index: number; seconds: number; status: "ok" | "error" | "timeout" }[];
  failure?: CellFailure;
  seconds: number;
}

const sourceText = (s: string | string[]) => (Array.isArray(s) ? s.join("") : s);
const firstLineOf = (s: string | string[]) =>
  sourceText(s)
    .split("\n")
    .find((l) => l.trim())
    ?.trim()
    .slice(0, 100) ?? "";

/** `key=value` → [key, value]; the value is JSON when it parses (numbers, booleans, lists), else a string. */
export function parseParameter(arg: string): [string, ParameterValue] {
  const eq = arg.indexOf("=");
  const key = eq > 0 ? arg.slice(0, eq) : "";
  if (!/^[A-Za-z_$][\w$]*$/.test(key))
    throw new Error(`parameter "${arg}": expected key=value with an identifier as key`);
  const raw = arg.slice(eq + 1);
  try {
    return [key, JSON.parse(raw) as ParameterValue];
  } catch {
    return [key, raw];
  }
}

/** The notebook with a cell of parameters after the one tagged `parameters` (or first, with a warning). */
export function injectParameters(
  nb: Notebook,
  parameters: Record<string, ParameterValue>,
): { notebook: Notebook; warning?: string } {
  if (Object.keys(parameters).length === 0) return { notebook: nb };
  const lines = Object.entries(parameters).map(([k, v]) => `const ${k} = ${JSON.stringify(v)};`);
  const cell: NotebookCell = {
    cell_type: "code",
    id: "injected-parameters",
    metadata: { tags: ["injected-parameters"] },
    source: `// Parameters injected by medtune run-notebook\n${lines.join("\n")}\n`,
    outputs: [],
    execution_count: null,
  };
  const at = nb.cells.findIndex((c) => c.metadata.tags?.includes("parameters"));
  const cells = [...nb.cells.filter((c) => !c.metadata.tags?.includes("injected-parameters"))];
  const after = cells.findIndex((c) => c.metadata.tags?.includes("parameters"));
  cells.splice(after + 1, 0, cell);
  return {
    notebook: { ...nb, cells },
    warning:
      at < 0
        ? "no cell tagged `parameters`: parameters were injected as the first cell"
        : undefined,
  };
}

export function readNotebook(file: string): Notebook {
  let nb: Notebook;
  try {
    nb = JSON.parse(readFileSync(file, "utf8")) as Notebook;
  } catch (e) {
    throw new Error(`${file}: not a readable notebook (${(e as Error).message})`);
  }
  if (!Array.isArray(nb.cells) || nb.nbformat !== 4)
    throw new Error(`${file}: expected an nbformat 4 notebook with a "cells" list`);
  return nb;
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

/** Every process below `pid` (kernels run in sessions of their own, so the group misses them). */
export function descendants(pid: number): number[] {
  const ps = spawnSync("ps", ["-A", "-o", "pid=,ppid="], { encoding: "utf8" });
  const children = new Map<number, number[]>();
  for (const line of ps.stdout.split("\n")) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (!p || pp === undefined) continue;
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A jupyter_server of our own; `stop()` ends it and everything under it. */
export interface JupyterServer {
  url: string;
  token: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startJupyterServer(
  rootDir: string,
  signal?: AbortSignal,
): Promise<JupyterServer> {
  const venv = projectPaths.venv();
  const jupyter = join(venv, "bin", "jupyter");
  const port = await freePort();
  const token = randomBytes(24).toString("hex");
  const args = [
    "server",
    "--no-browser",
    "--ServerApp.ip=127.0.0.1",
    `--ServerApp.port=${port}`,
    "--ServerApp.port_retries=0",
    `--IdentityProvider.token=${token}`,
    `--ServerApp.root_dir=${rootDir}`,
    ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
  ];
  let child: ChildProcess;
  try {
    child = spawn(jupyter, args, {
      detached: true, // its own process group, killed as one
      stdio: ["ignore", "ignore", "pipe"],
      env: {
        ...process.env,
        PATH: `${join(venv, "bin")}:${process.env.PATH ?? ""}`,
        JUPYTER_PATH: join(venv, "share", "jupyter"),
      },
    });
  } catch (e) {
    throw new Error(`${jupyter}: cannot start (${(e as Error).message}); run \`npm run setup\``);
  }
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited: string | undefined;
  child.on("error", (e) => (exited = e.message));
  child.on("exit", (code, sig) => (exited ??= `exited with ${sig ?? code}`));
  const pid = child.pid!;
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    const pids = [pid, ...descendants(pid)];
    for (const sig of ["SIGTERM", "SIGKILL"] as const) {
      try {
        process.kill(-pid, sig);
      } catch {
        /* group already gone */
      }
      for (const p of pids) {
        try {
          process.kill(p, sig);
        } catch {
          /* already gone */
        }
      }
      for (let i = 0; i < 50 && pids.some(alive); i++) await sleep(100);
      if (!pids.some(alive)) break;
    }
    child.stderr!.destroy();
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) {
      throw new Error(
        `jupyter server ${exited} before it was ready (${jupyter})\n${stderr.trim()}`,
      );
    }
    if (signal?.aborted || Date.now() > deadline) {
      await stop();
      throw signal?.aborted
        ? new Error("cancelled while the jupyter server started")
        : new Error(`jupyter server not ready after 60 s at ${url}\n${stderr.trim()}`);
    }
    try {
      const res = await fetch(`${url}/api/status`, {
        headers: { Authorization: `token ${token}` },
      });
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    await sleep(200);
  }
  return { url, token, pid, stop };
}

type KernelConnection = NonNullable<
  Awaited<ReturnType<import("@jupyterlab/services").SessionManager["startNew"]>>["kernel"]
>;

/** A kernel of `server` in a session on `path` (relative to its root_dir: the kernel's folder). */
export interface KernelSession {
  kernel: KernelConnection;
  /** Shuts the kernel down (5 s at most) and drops the connections; the server keeps running. */
  close(): Promise<void>;
}

export async function openKernelSession(
  server: JupyterServer,
  path: string,
  kernelName: string,
): Promise<KernelSession> {
  // Loaded here: @jupyterlab/services is only needed by the runner.
  const { ServerConnection, KernelManager, SessionManager } = await import("@jupyterlab/services");
  const serverSettings = ServerConnection.makeSettings({
    baseUrl: `${server.url}/`,
    wsUrl: `${server.url.replace(/^http/, "ws")}/`,
    token: server.token,
    appendToken: true,
  });
  const kernelManager = new KernelManager({ serverSettings });
  const sessionManager = new SessionManager({ serverSettings, kernelManager });
  let session: Awaited<ReturnType<typeof sessionManager.startNew>> | undefined;
  const close = async () => {
    await Promise.race([session?.shutdown().catch(() => undefined), sleep(5000)]);
    session?.dispose();
    sessionManager.dispose();
    kernelManager.dispose();
  };
  try {
    session = await sessionManager.startNew({
      path,
      name: basename(path),
      type: "notebook",
      kernel: { name: kernelName },
    });
    if (!session.kernel) throw new Error(`no kernel "${kernelName}" started for ${path}`);
    return { kernel: session.kernel, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The `Name: message` line of a stack trace that tslab printed to stderr (it sends no traceback). */
export function stderrError(stderr: string): string | undefined {
  const lines = stderr.split("\n");
  const at = lines.findIndex(
    (l) => /^(?:[A-Z]\w*)?(?:Error|Exception)\b[^:]*:/.test(l) || /^\w*Error$/.test(l),
  );
  if (at >= 0) return lines[at]!.trim();
  const text = stderr.trim();
  return text ? text.split("\n").slice(-3).join("\n") : undefined;
}

type IOPubMessage = { header: { msg_type: string }; content: Record<string, unknown> };

/** Records a cell's iopub messages as nbformat outputs; display updates reach earlier cells too. */
class OutputRecorder {
  private displays = new Map<string, Record<string, unknown>[]>();
  private clearPending = false;
  stderr = "";
  error: string | undefined;

  constructor(private outputs: NotebookOutput[]) {}

  start(outputs: NotebookOutput[]) {
    this.outputs = outputs;
    this.stderr = "";
    this.error = undefined;
    this.clearPending = false;
  }

  private push(o: NotebookOutput) {
    if (this.clearPending) {
      this.outputs.length = 0;
      this.clearPending = false;
    }
    this.outputs.push(o);
  }

  handle(msg: IOPubMessage, executionCount: () => number | null) {
    const c = msg.content;
    switch (msg.header.msg_type) {
      case "stream": {
        const name = c.name as string;
        const text = c.text as string;
        if (name === "stderr") this.stderr += text;
        const last = this.outputs.at(-1);
        if (!this.clearPending && last?.output_type === "stream" && last.name === name)
          last.text = (last.text as string) + text;
        else this.push({ output_type: "stream", name, text });
        break;
      }
      case "display_data":
      case "execute_result": {
        const o: NotebookOutput = {
          output_type: msg.header.msg_type,
          data: c.data,
          metadata: c.metadata ?? {},
          ...(msg.header.msg_type === "execute_result"
            ? { execution_count: executionCount() }
            : {}),
        };
        this.push(o);
        const id = (c.transient as { display_id?: string } | undefined)?.display_id;
        if (id) this.displays.set(id, [...(this.displays.get(id) ?? []), o]);
        break;
      }
      case "update_display_data": {
        const id = (c.transient as { display_id?: string } | undefined)?.display_id;
        for (const o of (id && this.displays.get(id)) || []) {
          o.data = c.data;
          o.metadata = c.metadata ?? {};
        }
        break;
      }
      case "error":
        this.error = `${String(c.ename)}: ${String(c.evalue)}`;
        this.push({
          output_type: "error",
          ename: c.ename,
          evalue: c.evalue,
          traceback: (c.traceback as string[] | undefined) ?? [],
        });
        break;
      case "clear_output":
        if (c.wait) this.clearPending = true;
        else this.outputs.length = 0;
        break;
    }
  }
}

export async function runNotebook(o: RunNotebookOptions): Promise<NotebookRunResult> {
  const started = performance.now();
  const input = fromRoot(o.notebook);
  const output = fromRoot(
    o.output ?? join(dirname(input), `${basename(input, ".ipynb")}.executed.ipynb`),
  );
  const parameters = o.parameters ?? {};
  const timeoutMs = (o.cellTimeoutSeconds ?? 600) * 1000;
  const injected = injectParameters(readNotebook(input), parameters);
  if (injected.warning) o.onEvent?.({ type: "warning", message: injected.warning });
  const nb = injected.notebook;
  const kernelName =
    o.kernelName ?? (nb.metadata.kernelspec as { name?: string } | undefined)?.name ?? "tslab";
  for (const c of nb.cells)
    if (c.cell_type === "code") {
      c.outputs = [];
      c.execution_count = null;
    }
  nb.metadata.medtune = { parameters, startedAt: new Date().toISOString() };

  const cells: NotebookRunResult["cells"] = [];
  let failure: CellFailure | undefined;
  const save = () => writeFileAtomicSync(output, `${JSON.stringify(nb, null, 1)}\n`);
  const server = await startJupyterServer(dirname(input), o.signal);
  o.onEvent?.({ type: "server", url: server.url, pid: server.pid });
  let kernelSession: KernelSession | undefined;
  try {
    kernelSession = await openKernelSession(server, basename(input), kernelName);
    const kernel = kernelSession.kernel;
    const recorder = new OutputRecorder([]);
    const code = nb.cells.filter((c) => c.cell_type === "code");
    for (const [index, cell] of nb.cells.entries()) {
      if (cell.cell_type !== "code") continue;
      o.signal?.throwIfAborted();
      const text = sourceText(cell.source);
      const firstLine = firstLineOf(cell.source);
      o.onEvent?.({ type: "cell", index, total: code.length, firstLine });
      cell.outputs = [];
      recorder.start(cell.outputs);
      const t0 = performance.now();
      const startedAt = new Date().toISOString();
      let count: number | null = null;
      const future = kernel.requestExecute({
        code: text,
        silent: false,
        store_history: true,
        allow_stdin: false,
        stop_on_error: true,
      });
      future.onIOPub = (msg) => {
        if (msg.header.msg_type === "execute_input")
          count = (msg.content as { execution_count?: number }).execution_count ?? count;
        recorder.handle(msg as unknown as IOPubMessage, () => count);
      };
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">(
        (r) => (timer = setTimeout(() => r("timeout"), timeoutMs)),
      );
      // One listener per cell, removed when the cell ends (a run of many cells shares the signal).
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<"abort">((r) => {
        onAbort = () => r("abort");
        o.signal?.addEventListener("abort", onAbort, { once: true });
      });
      let outcome: "ok" | "error" | "timeout" | "abort";
      let replyError: string | undefined;
      try {
        const r = await Promise.race([future.done, timedOut, aborted]);
        if (r === "timeout" || r === "abort") outcome = r;
        else {
          const content = r.content as {
            status: string;
            execution_count?: number;
            ename?: string;
            evalue?: string;
          };
          count = content.execution_count ?? count;
          outcome = content.status === "ok" ? "ok" : "error";
          if (content.status !== "ok" && content.ename)
            replyError = `${content.ename}: ${content.evalue ?? ""}`;
        }
      } catch (e) {
        outcome = "error";
        replyError = (e as Error).message;
      } finally {
        clearTimeout(timer);
        if (onAbort) o.signal?.removeEventListener("abort", onAbort);
      }
      if (outcome === "timeout" || outcome === "abort") {
        // Interrupt (the kernel's SIGINT), give it a moment to reply, then give up on the cell.
        await kernel.interrupt().catch(() => undefined);
        await Promise.race([future.done.catch(() => undefined), sleep(10_000)]);
      }
      const seconds = (performance.now() - t0) / 1000;
      cell.execution_count = count;
      cell.metadata.execution = {
        "iopub.execute_input": startedAt,
        "shell.execute_reply": new Date().toISOString(),
      };
      cell.metadata.medtune = { seconds: Number(seconds.toFixed(3)), status: outcome };
      const status = outcome === "abort" ? "error" : outcome;
      cells.push({ index, seconds, status });
      o.onEvent?.({ type: "cell-done", index, seconds, status });
      if (outcome === "abort") o.signal?.throwIfAborted();
      if (outcome !== "ok") {
        const error =
          outcome === "timeout"
            ? `timed out after ${timeoutMs / 1000} s (interrupted)`
            : (stderrError(recorder.stderr) ??
              replyError ??
              recorder.error ??
              "the kernel reported an error without a message");
        failure = { index, cellId: cell.id, firstLine, error, timedOut: outcome === "timeout" };
        if (!cell.outputs.some((x) => x.output_type === "error"))
          cell.outputs.push({
            output_type: "error",
            ename: outcome === "timeout" ? "CellTimeout" : "Error",
            evalue: error,
            traceback: [],
          });
        break;
      }
    }
  } finally {
    const done = performance.now();
    nb.metadata.medtune = {
      ...(nb.metadata.medtune as object),
      seconds: Number(((done - started) / 1000).toFixed(3)),
      ok: !failure,
      ...(failure ? { failure } : {}),
    };
    save();
    await kernelSession?.close();
    await server.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  o.onEvent?.({ type: "done", ok: !failure, output, seconds });
  return {
    ok: !failure,
    notebook: input,
    output,
    parameters,
    cells,
    ...(failure ? { failure } : {}),
    seconds,
  };
}
