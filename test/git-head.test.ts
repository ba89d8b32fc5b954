// gitHead reads the checked-out commit from the repository's files; checked against `git rev-parse`
// on real repositories: a branch with a loose ref, the same ref packed, a detached HEAD, a linked
// worktree (a .git file and a common dir), an unborn branch and a folder outside any repository.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { gitHead } from "../src/git-head.js";

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], {
    cwd,
    encoding: "utf8",
  }).trim();

describe("gitHead", () => {
  it("equals git rev-parse HEAD for loose, packed, detached and worktree checkouts", () => {
    const repo = mkdtempSync(join(tmpdir(), "medtune-git-"));
    git(repo, "init", "-q", "-b", "main");
    expect(gitHead(repo)).toBeUndefined(); // unborn branch
    writeFileSync(join(repo, "a.txt"), "a\n");
    git(repo, "add", "a.txt");
    git(repo, "commit", "-q", "-m", "one");
    const one = git(repo, "rev-parse", "HEAD");
    expect(gitHead(repo)).toBe(one);

    writeFileSync(join(repo, "a.txt"), "b\n");
    git(repo, "commit", "-q", "-am", "two");
    const two = git(repo, "rev-parse", "HEAD");
    git(repo, "pack-refs", "--all");
    expect(gitHead(join(repo))).toBe(two);

    git(repo, "checkout", "-q", one);
    expect(gitHead(repo)).toBe(one);
    git(repo, "checkout", "-q", "main");

    const wt = join(mkdtempSync(join(tmpdir(), "medtune-gitwt-")), "wt");
    git(repo, "worktree", "add", "-q", "-b", "side", wt, one);
    expect(gitHead(wt)).toBe(git(wt, "rev-parse", "HEAD"));
    expect(gitHead(wt)).toBe(one);
  });

  it("is undefined outside a repository", () => {
    expect(gitHead(mkdtempSync(join(tmpdir(), "medtune-nogit-")))).toBeUndefined();
  });
});
