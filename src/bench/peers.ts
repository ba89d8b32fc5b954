/**
 * How `npm run bench` runs things: the peers' Python venv (.venv-bench, made on first use from
 * configs/python/requirements-bench.txt and re-made when that file changes), and child processes
 * — a peer script or a medtune child — whose one JSON result line is parsed and whose process
 * tree's peak RSS is sampled from /proc while it runs.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ROOT } from "../paths.js";
import { BenchChildError, parseResultLine } from "./stats.js";

export const BENCH_REQUIREMENTS = join(ROOT, "configs", "python", "requirements-bench.txt");

/** The peers' venv: .venv-bench, or MEDTUNE_BENCH_VENV. */
export function benchVenv(): string {
  return resolve(process.env.MEDTUNE_BENCH_VENV ?? join(ROOT, ".venv-bench"));
}

export class BenchSetupError extends Error {
  constructor(message: string, remedy: string) {
    super(`${message}\n  remedy: ${remedy}`);
    this.name = "BenchSetupError";
  }
}

export function benchPython(): string {
  return join(benchVenv(), "bin", "python");
}

/**
 * The bench venv's python, installing the pinned peers first when the venv is missing or was made
 * from another version of the requirements file. pip's output streams to `log`.
 */
export async function ensureBenchVenv(log: (line: string) => void): Promise<string> {
  const want = createHash("sha256").update(readFileSync(BENCH_REQUIREMENTS)).digest("hex");
  const venv = benchVenv();
  const stamp = join(venv, ".medtune-requirements.sha256");
  const python = benchPython();
  if (existsSync(python) && existsSync(stamp) && readFileSync(stamp, "utf8").trim() === want)
    return python;
  const base = process.env.MEDTUNE_BENCH_PYTHON ?? "python3";
  const probe = spawnSync(base, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], {
    encoding: "utf8",
  });
  const version = probe.status === 0 ? probe.stdout.trim() : "";
  const [maj, min] = version.split(".").map(Number);
  if (!version || maj !== 3 || min! < 10)
    throw new BenchSetupError(
      `bench: the peers need Python ≥ 3.10, and "${base}" is ${version ? `Python ${version}` : "not runnable"}`,
      "install Python ≥ 3.10 (the pins were checked on 3.11) or point MEDTUNE_BENCH_PYTHON at one; or run the bench with --no-peers",
    );
  log(
    `bench: installing the peers (PyTorch CPU, transformers, PEFT, mlx-lm) into ${venv} — once, a few minutes…`,
  );
  if (existsSync(stamp)) rmSync(stamp);
  const steps: [string, string[]][] = [
    [base, ["-m", "venv", venv]],
    [python, ["-m", "pip", "install", "--disable-pip-version-check", "-r", BENCH_REQUIREMENTS]],
  ];
  for (const [cmd, args] of steps) {
    const code = await new Promise<number>((resolve) => {
      const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
      const relay = (b: Buffer) =>
        String(b)
          .split("\n")
          .filter((l) => l.trim())
          .forEach((l) => log(`  ${l}`));
      p.stdout.on("data", relay);
      p.stderr.on("data", relay);
      p.on("error", () => resolve(127));
      p.on("close", (c) => resolve(c ?? 1));
    });
    if (code !== 0)
      throw new BenchSetupError(
        `bench: \`${[cmd, ...args].join(" ")}\` failed with exit code ${code} (its output is above)`,
        `check that PyPI is reachable and that ${BENCH_REQUIREMENTS} installs on this platform ` +
          `(\`${python} -m pip install -r ${BENCH_REQUIREMENTS}\` shows the error); ` +
          `\`rm -rf ${venv}\` starts over; --no-peers runs medtune alone`,
      );
  }
  writeFileSync(stamp, want + "\n");
  return python;
}

/** Resident set size of a process and all its descendants, from /proc (0 where unreadable). */
export function treeRssBytes(pid: number): number {
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    try {
      const status = readFileSync(`/proc/${p}/status`, "utf8");
      const m = /VmRSS:\s+(\d+) kB/.exec(status);
      if (m) total += Number(m[1]) * 1024;
      for (const t of readdirSync(`/proc/${p}/task`)) {
        const kids = readFileSync(`/proc/${p}/task/${t}/children`, "utf8").trim();
        if (kids) stack.push(...kids.split(/\s+/).map(Number));
      }
    } catch {
      // the process ended between reads
    }
  }
  return total;
}

export interface ChildRun {
  result: Record<string, unknown>;
  wallSeconds: number;
  /** Largest sampled RSS of the child's process tree (every 100 ms). */
  treePeakRssBytes: number;
}

export interface RunChildOptions {
  /** Names the child in errors ("peft", "medtune train"). */
  who: string;
  env?: Record<string, string>;
  cwd?: string;
  timeoutSeconds?: number;
  /** The child's stderr, line by line (progress). */
  onStderr?: (line: string) => void;
  signal?: AbortSignal;
}

/** Runs a command whose last stdout line is a JSON result; rejects with BenchChildError. */
export function runChild(cmd: string, args: string[], o: RunChildOptions): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, {
      cwd: o.cwd ?? ROOT,
      // no __pycache__ beside the peer scripts in the work tree
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", ...o.env },
      stdio: ["ignore", "pipe", "pipe"],
      signal: o.signal,
    });
    let stdout = "";
    let stderr = "";
    let partial = "";
    let peak = 0;
    const sampler = setInterval(() => {
      if (p.pid) peak = Math.max(peak, treeRssBytes(p.pid));
    }, 100);
    const timer = o.timeoutSeconds
      ? setTimeout(() => {
          stderr += `\n(killed after ${o.timeoutSeconds} s)`;
          p.kill("SIGKILL");
        }, o.timeoutSeconds * 1000)
      : undefined;
    p.stdout.on("data", (b: Buffer) => (stdout += String(b)));
    p.stderr.on("data", (b: Buffer) => {
      const text = partial + String(b);
      stderr = (stderr + String(b)).slice(-20_000);
      const lines = text.split(/\r|\n/);
      partial = lines.pop() ?? "";
      for (const l of lines) if (l.trim()) o.onStderr?.(l);
    });
    p.on("error", (e) => {
      clearInterval(sampler);
      clearTimeout(timer);
      reject(new BenchChildError(o.who, `could not start ${cmd}: ${e.message}`));
    });
    p.on("close", (code) => {
      clearInterval(sampler);
      clearTimeout(timer);
      try {
        const result = parseResultLine(o.who, stdout, stderr);
        if (code !== 0) throw new BenchChildError(o.who, `exited with code ${code}`);
        resolve({ result, wallSeconds: (performance.now() - t0) / 1000, treePeakRssBytes: peak });
      } catch (e) {
        reject(e instanceof BenchChildError ? e : new BenchChildError(o.who, String(e)));
      }
    });
  });
}

/** Argv that runs a bench module as a child of this Node (through tsx when running from src/). */
export function nodeChildArgs(moduleFile: string, args: string[]): [string, string[]] {
  const pre = moduleFile.endsWith(".ts") ? ["--import", "tsx"] : [];
  return [process.execPath, [...pre, moduleFile, ...args]];
}

/** Environment that gives every peer and medtune the same number of BLAS/OpenMP threads. */
export function threadEnv(threads: number): Record<string, string> {
  const n = String(threads);
  return { OMP_NUM_THREADS: n, OPENBLAS_NUM_THREADS: n, MKL_NUM_THREADS: n };
}

/**
 * The child side of a medtune bench child: when this process was started as
 * `node <self> --child '<json>'`, runs `fn` with the parsed JSON and prints its result as the one
 * JSON line (with this process's peak RSS), or `{"ok": false, "error": …}`.
 */
export function childEntry(
  self: string,
  fn: (args: never) => Promise<Record<string, unknown>>,
): void {
  if (process.argv[1] !== self || process.argv[2] !== "--child") return;
  (async () => {
    const result = await fn(JSON.parse(process.argv[3] ?? "{}") as never);
    process.stdout.write(
      JSON.stringify({ ok: true, ...result, peakRssBytes: process.resourceUsage().maxRSS * 1024 }) +
        "\n",
    );
  })().catch((e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.stdout.write(JSON.stringify({ ok: false, error: e.message }) + "\n");
    process.exitCode = 1;
  });
}

/** Starts this module as a medtune bench child with JSON arguments and returns its result line. */
export function runNodeChild(
  self: string,
  args: Record<string, unknown>,
  o: RunChildOptions,
): Promise<ChildRun> {
  const [cmd, argv] = nodeChildArgs(self, ["--child", JSON.stringify(args)]);
  return runChild(cmd, argv, o);
}
