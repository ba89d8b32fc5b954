/**
 * Data-parallel training over MLX's distributed layer (its ring backend: TCP between ranks).
 *
 *   medtune train --preset quick_test --ranks 2                  # 2 processes on this machine
 *   medtune train --preset quick_test --hosts hosts.json --rank 0 # one rank of a multi-host run
 *
 * Every rank loads the same model and data and seeds the same adapters; rank r computes the
 * micro-batches r, r+N, … of each optimizer step, the gradients are summed over ranks (then divided
 * by the step's supervised tokens, as in one process), so N ranks train the same global batch as one
 * process. Rank 0 alone writes checkpoints, logs and adapters (native/src/train.cc).
 *
 * Hostfile (MLX's ring format): a JSON list with one entry per rank, in rank order, each a list of
 * "ip:port" addresses that rank listens on and its neighbours connect to:
 *
 *   [["10.0.0.1:5000"], ["10.0.0.2:5000"]]
 *
 * On several machines, start the same command on each with its own --rank (or MLX_RANK); each
 * machine needs the model, the data and — to resume — the run's checkpoints/ folder at the same
 * relative path (a shared filesystem, or rank 0's checkpoints copied). `--ranks N` writes a
 * localhost hostfile on free ports and starts the N ranks itself.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DistributedGroup } from "../native/binding.js";
import { loadNative } from "../native/loader.js";

/** The rank and hostfile of this process in a distributed run. */
export interface DistributedOptions {
  /** MLX ring hostfile (see the header); relative paths from the working directory. */
  hostfile: string;
  /** This process's rank, 0-based; default MLX_RANK from the environment. */
  rank?: number;
}

/** Reads and checks a ring hostfile; errors name the file and the entry. */
export function readHostfile(file: string): string[][] {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(
      `${file}: cannot read the hostfile as JSON (${(e as Error).message}); expected a list with one ["ip:port", …] per rank`,
    );
  }
  if (!Array.isArray(value) || value.length === 0)
    throw new Error(`${file}: expected a non-empty JSON list with one ["ip:port", …] per rank`);
  return value.map((entry: unknown, rank) => {
    if (
      !Array.isArray(entry) ||
      entry.length === 0 ||
      !entry.every((a) => typeof a === "string" && /^[^\s:]+:\d{1,5}$/.test(a))
    )
      throw new Error(
        `${file}: entry ${rank} (rank ${rank}) must be a non-empty list of "ip:port" strings, got ${JSON.stringify(entry)}`,
      );
    return entry as string[];
  });
}

let joined: DistributedGroup | null = null;

/** The group this process joined, or null when it trains alone. */
export function distributedGroup(): DistributedGroup | null {
  return joined;
}

/** True when this process writes the run's files: it trains alone, or it is rank 0. */
export function isWriterRank(): boolean {
  return joined === null || joined.rank === 0;
}

/**
 * Joins the ring of `hostfile` as `rank` (default MLX_RANK). Blocks until every rank has joined
 * (MLX retries its connections for a while, then fails with an error naming the address).
 */
export function joinGroup(o: DistributedOptions): DistributedGroup {
  const hosts = readHostfile(o.hostfile);
  const rank = o.rank ?? Number(process.env.MLX_RANK);
  if (!Number.isInteger(rank) || rank < 0 || rank >= hosts.length)
    throw new Error(
      `distributed: the rank must be an integer in [0, ${hosts.length}) for ${o.hostfile} (give --rank or MLX_RANK), got ${o.rank ?? process.env.MLX_RANK ?? "nothing"}`,
    );
  if (joined) {
    if (joined.rank !== rank || joined.size !== hosts.length)
      throw new Error(
        `distributed: this process already joined as rank ${joined.rank} of ${joined.size}`,
      );
    return joined;
  }
  // MLX's ring backend reads both from the environment when the group is formed.
  process.env.MLX_RANK = String(rank);
  process.env.MLX_HOSTFILE = o.hostfile;
  const group = loadNative().initDistributed("ring");
  if (group.size !== hosts.length || group.rank !== rank)
    throw new Error(
      `distributed: joined as rank ${group.rank} of ${group.size}, expected rank ${rank} of ${hosts.length} (${o.hostfile})`,
    );
  joined = group;
  return group;
}

/** `count` TCP ports free on 127.0.0.1 right now (each found by binding port 0). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A localhost hostfile for `ranks` ranks on free ports, in `dir`; returns its path. */
export async function writeLocalHostfile(dir: string, ranks: number): Promise<string> {
  const ports = await freePorts(ranks);
  const file = join(dir, "hostfile.json");
  writeFileSync(file, `${JSON.stringify(ports.map((p) => [`127.0.0.1:${p}`]))}\n`);
  return file;
}

export interface LaunchOptions {
  /** Processes to start, all on this machine. */
  ranks: number;
  /** The command each rank runs: [executable, ...args]; `rankArgs(rank, hostfile)` is appended. */
  command: readonly string[];
  /** Extra arguments per rank (default: `--hosts <hostfile> --rank <r>`). */
  rankArgs?: (rank: number, hostfile: string) => string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Rank 0's output as it arrives (default: this process's stdout / stderr). */
  onOutput?: (chunk: string, stream: "stdout" | "stderr") => void;
  signal?: AbortSignal;
  /** Seconds a rank gets to stop after SIGTERM before SIGKILL (default 3). */
  killGraceSeconds?: number;
}

export interface RankExit {
  rank: number;
  pid: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

export interface LaunchResult {
  /** Rank 0's exit status (what `medtune train --ranks N` exits with: 130 / 143 when stopped). */
  exitCode: number;
  ranks: RankExit[];
}

/** One rank failed, so the others were stopped; `ranks` says how each ended. */
export class RankFailedError extends Error {
  constructor(
    message: string,
    readonly ranks: RankExit[],
  ) {
    super(message);
    this.name = "RankFailedError";
  }
}

const TAIL_LINES = 20;

/**
 * Starts `ranks` copies of `command` on this machine, joined by a generated localhost hostfile;
 * streams rank 0's output; when one rank fails (non-zero exit or a signal), stops the others and
 * rejects with a RankFailedError naming it and quoting the end of its output. SIGINT / SIGTERM of
 * this process and `signal` are passed on to every rank; no rank outlives this process.
 */
export async function launchRanks(o: LaunchOptions): Promise<LaunchResult> {
  if (!Number.isInteger(o.ranks) || o.ranks < 1)
    throw new RangeError(`--ranks: expected an integer ≥ 1, got ${o.ranks}`);
  const dir = mkdtempSync(join(tmpdir(), "medtune-ranks-"));
  const hostfile = await writeLocalHostfile(dir, o.ranks);
  const rankArgs = o.rankArgs ?? ((r, h) => ["--hosts", h, "--rank", String(r)]);
  const out =
    o.onOutput ??
    ((chunk: string, stream: "stdout" | "stderr") =>
      (stream === "stdout" ? process.stdout : process.stderr).write(chunk));
  const [exe, ...args] = o.command;
  if (exe === undefined) throw new RangeError("launchRanks: empty command");

  const children: ChildProcess[] = [];
  const tails: string[][] = [];
  const exits: (RankExit | undefined)[] = [];
  let failed: RankExit | undefined;
  const grace = (o.killGraceSeconds ?? 3) * 1000;
  const stopAll = (sig: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(sig);
  };
  let killTimer: NodeJS.Timeout | undefined;
  const stopAllThenKill = () => {
    stopAll("SIGTERM");
    killTimer ??= setTimeout(() => stopAll("SIGKILL"), grace);
  };
  // Never leave ranks behind: on this process's exit (even an uncaught error) kill them.
  const onExit = () => stopAll("SIGKILL");
  // A stop asked of this process goes to every rank once (they run in their own process group,
  // so a terminal's Ctrl-C reaches them only through here); they stop at the same step boundary
  // with a checkpoint, and their non-zero exits are then no failure.
  let stopping = false;
  const forward = (sig: NodeJS.Signals) => () => {
    stopping = true;
    stopAll(sig);
  };
  const onSigint = forward("SIGINT");
  const onSigterm = forward("SIGTERM");
  const onSighup = forward("SIGTERM");
  const onAbort = () => {
    stopping = true;
    stopAllThenKill();
  };
  process.on("exit", onExit);
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigterm);
  process.on("SIGHUP", onSighup);
  o.signal?.addEventListener("abort", onAbort, { once: true });

  try {
    const ended = Array.from({ length: o.ranks }, (_, rank) => {
      const child = spawn(exe, [...args, ...rankArgs(rank, hostfile)], {
        cwd: o.cwd,
        env: {
          ...(o.env ?? process.env),
          MLX_RANK: String(rank),
          MLX_HOSTFILE: hostfile,
        },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true, // its own process group: see `forward`
      });
      children.push(child);
      const tail: string[] = [];
      tails.push(tail);
      for (const stream of ["stdout", "stderr"] as const) {
        child[stream]?.setEncoding("utf8");
        child[stream]?.on("data", (chunk: string) => {
          if (rank === 0) out(chunk, stream);
          tail.push(...chunk.split("\n").filter((l) => l.trim() !== ""));
          tail.splice(0, Math.max(0, tail.length - TAIL_LINES));
        });
      }
      return new Promise<RankExit>((resolve) => {
        const done = (exitCode: number | null, signal: NodeJS.Signals | null) => {
          const e: RankExit = { rank, pid: child.pid ?? -1, exitCode, signal };
          exits[rank] = e;
          if ((exitCode !== 0 || signal !== null) && failed === undefined && !stopping) {
            failed = e;
            stopAllThenKill();
          }
          resolve(e);
        };
        child.once("error", (err) => {
          tail.push(`cannot start: ${err.message}`);
          done(127, null);
        });
        child.once("exit", done);
      });
    });
    const ranks = await Promise.all(ended);
    if (failed !== undefined) {
      const f = failed;
      const how = f.signal ? `was killed by ${f.signal}` : `exited with code ${f.exitCode}`;
      const others = ranks
        .filter((r) => r.rank !== f.rank)
        .map((r) => `rank ${r.rank} ${r.signal ? `stopped (${r.signal})` : `exit ${r.exitCode}`}`)
        .join(", ");
      const tail = tails[f.rank]?.join("\n  ") ?? "";
      throw new RankFailedError(
        `distributed run: rank ${f.rank} of ${o.ranks} ${how}, so the other ranks were stopped (${others})` +
          (tail ? `\n  rank ${f.rank}'s last output:\n  ${tail}` : ""),
        ranks,
      );
    }
    return { exitCode: ranks[0]?.exitCode ?? 1, ranks };
  } finally {
    if (killTimer) clearTimeout(killTimer);
    process.removeListener("exit", onExit);
    process.removeListener("SIGINT", onSigint);
    process.removeListener("SIGTERM", onSigterm);
    process.removeListener("SIGHUP", onSighup);
    o.signal?.removeEventListener("abort", onAbort);
    rmSync(dir, { recursive: true, force: true });
  }
}
