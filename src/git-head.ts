/**
 * The commit checked out in a git working tree, read from the repository's files instead of by
 * running `git rev-parse HEAD`. Training records it in run.json while the native addon's BLAS
 * threads may be busy in the same process, and a fork there is a known hang: OpenBLAS shuts its
 * threads down in a fork handler, which can block forever while another thread is inside a BLAS
 * call. Reading files forks nothing.
 *
 * Handles a .git directory or a .git file ("gitdir: …", worktrees and submodules), a detached HEAD,
 * loose refs and packed-refs (in the common directory of a worktree).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

const SHA = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** The git directory of the work tree that holds `dir` (searching upwards), or undefined. */
function gitDirOf(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const dotGit = join(d, ".git");
    if (existsSync(dotGit)) {
      if (statSync(dotGit).isDirectory()) return dotGit;
      const m = /^gitdir:\s*(.+?)\s*$/m.exec(readFileSync(dotGit, "utf8"));
      return m ? resolve(d, m[1]!) : undefined;
    }
    if (dirname(d) === d) return undefined;
  }
}

function readOptional(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, "utf8") : undefined;
}

/** A ref's commit: the loose file in the git dir or its common dir, else packed-refs. */
function resolveRef(gitDir: string, ref: string): string | undefined {
  const common = readOptional(join(gitDir, "commondir"))?.trim();
  const dirs = [gitDir, ...(common ? [resolve(gitDir, common)] : [])];
  for (const d of dirs) {
    const loose = readOptional(join(d, ref))?.trim();
    if (loose && SHA.test(loose)) return loose;
  }
  for (const d of dirs) {
    const packed = readOptional(join(d, "packed-refs"));
    if (!packed) continue;
    for (const line of packed.split("\n")) {
      const [sha, name] = line.trim().split(" ");
      if (name === ref && sha && SHA.test(sha)) return sha;
    }
  }
  return undefined;
}

/** The checked-out commit of the work tree holding `dir`; undefined outside git or for an unborn branch. */
export function gitHead(dir: string): string | undefined {
  const gitDir = gitDirOf(dir);
  if (!gitDir) return undefined;
  const head = readOptional(join(gitDir, "HEAD"))?.trim();
  if (!head) return undefined;
  if (SHA.test(head)) return head; // detached
  const m = /^ref:\s*(\S+)$/.exec(head);
  return m ? resolveRef(gitDir, m[1]!) : undefined;
}
