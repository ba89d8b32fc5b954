/**
 * The one way medtune writes a file: into `<file>.tmp-<pid>-<hex>` beside it (same folder, so the
 * rename is atomic on one filesystem), fsync, then rename over the target. Until the rename the
 * previous file is untouched, so a crash or an error never leaves a half-written output.
 *
 *   await writeFileAtomic("data/processed/train.jsonl", lines);          // whole content
 *   const f = await AtomicFile.open(target); await f.write(text); await f.commit();   // streamed
 *
 * A folder written whole (a merged model) is built in `tempPathFor(dir)` and put in place by
 * `replaceSync`, which keeps the earlier folder until the new one is there.
 *
 * A killed process leaves its temporary behind. The pid in the name says whose it was: opening a
 * target first removes the temporaries of that target whose process is gone (`removeStaleTemporaries`),
 * and `removeStaleTemporariesIn(dir)` does the same for a folder the native trainer writes into
 * (its checkpoints are `<file>.tmp-<pid>.safetensors`).
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  createWriteStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
  type WriteStream,
} from "node:fs";
import { mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** The temporary a write of `file` goes through: `<file>.tmp-<pid>-<8 hex>`. */
export function tempPathFor(file: string): string {
  return `${file}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
}

const OWNER_RE = /\.tmp-(\d+)(?:[-.][^/]*)?$/;

/** The pid in a temporary's name (`tempPathFor`'s, or the trainer's `.tmp-<pid>.safetensors`). */
export function temporaryOwner(name: string): number | undefined {
  const m = OWNER_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Whether a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A temporary (of `target` when given) whose writing process is gone. */
function isStale(name: string, target?: string): boolean {
  if (target !== undefined && !name.startsWith(`${target}.tmp-`)) return false;
  const pid = temporaryOwner(name);
  return pid !== undefined && !processAlive(pid);
}

function removeStale(dir: string, names: string[], target?: string): string[] {
  const removed = names.filter((n) => isStale(n, target)).map((n) => join(dir, n));
  // recursive: a folder written whole (replaceSync) leaves a temporary folder.
  for (const p of removed) rmSync(p, { recursive: true, force: true });
  return removed;
}

/** Remove the temporaries of `file` left by processes that are gone; returns the removed paths. */
export async function removeStaleTemporaries(file: string): Promise<string[]> {
  const dir = dirname(file);
  return removeStale(dir, await readdir(dir).catch(() => [] as string[]), basename(file));
}

/** Remove every temporary in `dir` (of any target) whose process is gone; returns their paths. */
export function removeStaleTemporariesIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return removeStale(dir, names);
}

/** A streamed atomic write: `write` text, then `commit` (fsync + rename) or `abort`. */
export class AtomicFile {
  readonly tempPath: string;
  /** Bytes written so far (UTF-8). */
  bytes = 0;
  private out: WriteStream;
  private failed: Error | undefined;
  private closed = false;

  private constructor(readonly targetPath: string) {
    this.tempPath = tempPathFor(targetPath);
    this.out = createWriteStream(this.tempPath, { flags: "wx", highWaterMark: 1 << 20 });
    this.out.on("error", (e) => {
      this.failed = e;
    });
  }

  /** Opens a write whose result appears at `targetPath` only when `commit()` succeeds. */
  static async open(targetPath: string): Promise<AtomicFile> {
    await mkdir(dirname(targetPath), { recursive: true });
    await removeStaleTemporaries(targetPath);
    const f = new AtomicFile(targetPath);
    // The temporary exists once this resolves, so a crash from here on leaves a named leftover.
    await new Promise<void>((resolve, reject) => {
      f.out.once("open", () => resolve());
      f.out.once("error", reject);
    });
    return f;
  }

  /** Appends text; waits for the stream to drain so memory stays bounded. */
  async write(text: string): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.closed) throw new Error(`${this.targetPath}: write after commit/abort`);
    this.bytes += Buffer.byteLength(text);
    if (this.out.write(text)) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        this.out.off("error", onError);
        resolve();
      };
      const onError = (e: Error) => {
        this.out.off("drain", onDrain);
        reject(e);
      };
      this.out.once("drain", onDrain);
      this.out.once("error", onError);
    });
  }

  /** Flushes, fsyncs and renames the temporary over the target. */
  async commit(): Promise<void> {
    if (this.closed) throw new Error(`${this.targetPath}: already committed or aborted`);
    this.closed = true;
    await this.end();
    if (this.failed) {
      await rm(this.tempPath, { force: true });
      throw this.failed;
    }
    try {
      const fh = await open(this.tempPath, "r+");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(this.tempPath, this.targetPath);
    } catch (e) {
      await rm(this.tempPath, { force: true });
      throw e;
    }
  }

  /** Drops the temporary; the target keeps its previous content. Safe after commit, or twice. */
  async abort(): Promise<void> {
    this.closed = true;
    await this.end();
    await rm(this.tempPath, { force: true });
  }

  private end(): Promise<void> {
    return new Promise((resolve) => {
      if (this.out.closed || this.out.destroyed) return resolve();
      this.out.end(() => resolve());
      this.out.once("error", () => resolve());
    });
  }
}

/** Writes `data` (or each of `lines` followed by "\n") to `file` atomically. */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array | Iterable<string>,
): Promise<void> {
  if (typeof data === "string" || data instanceof Uint8Array) {
    await mkdir(dirname(file), { recursive: true });
    await removeStaleTemporaries(file);
    const tmp = tempPathFor(file);
    try {
      const fh = await open(tmp, "wx");
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, file);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    return;
  }
  const f = await AtomicFile.open(file);
  try {
    let buf = "";
    for (const line of data) {
      buf += `${line}\n`;
      if (buf.length > 1 << 20) {
        await f.write(buf);
        buf = "";
      }
    }
    if (buf) await f.write(buf);
    await f.commit();
  } catch (e) {
    await f.abort();
    throw e;
  }
}

/** writeFileAtomic for synchronous callers (small files: configs, reports). */
export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  removeStale(dirname(file), readdirSync(dirname(file)), basename(file));
  const tmp = tempPathFor(file);
  try {
    const fd = openSync(tmp, "wx");
    try {
      const bytes = typeof data === "string" ? Buffer.from(data) : data;
      let at = 0;
      while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Moves the finished `temp` (a file or a folder from `tempPathFor(target)`) to `target`. An earlier
 * folder at `target` is moved aside first and put back if the move fails, so `target` is always
 * either the old or the new content; the old one is deleted only after.
 */
export function replaceSync(temp: string, target: string): void {
  const earlier = existsSync(target) ? tempPathFor(target) : undefined;
  if (earlier) renameSync(target, earlier);
  try {
    renameSync(temp, target);
  } catch (e) {
    if (earlier) renameSync(earlier, target);
    throw e;
  }
  if (earlier) rmSync(earlier, { recursive: true, force: true });
}
