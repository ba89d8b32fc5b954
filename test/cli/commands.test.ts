// Every `medtune` command answers --help and refuses an unknown or misspelled flag (with a
// suggestion) before it does any work; the bin works through symlinks (`npm exec medtune`, an
// installed bin) and the documented package imports resolve. The subprocess cases run the built
// CLI in dist/ (fresh under `npm test`: its pre-script builds it); MEDTUNE_DIST points them at
// another build of src/.
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { COMMANDS, isMainModule, run } from "../../src/cli.js";
import { projectPaths } from "../../src/paths.js";
import { captured } from "./capture.js";

const ROOT = projectPaths.root;
const DIST = process.env.MEDTUNE_DIST ?? join(ROOT, "dist");

/** Names and mtimes under a folder: what a command that "did no work" must leave as it was. */
function snapshot(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .sort()
    .map((n) => `${n} ${statSync(join(dir, n)).mtimeMs}`);
}

/** A misspelling of a flag: two different adjacent letters swapped (--smaples for --samples). */
function typo(flag: string): string {
  for (let i = Math.floor(flag.length / 2) - 1; i < flag.length - 1; i++) {
    if (i >= 1 && flag[i] !== flag[i + 1] && flag[i] !== "-" && flag[i + 1] !== "-")
      return flag.slice(0, i) + flag[i + 1] + flag[i] + flag.slice(i + 2);
  }
  return flag.slice(0, -1); // a dropped last letter
}

describe("every medtune command", () => {
  const names = Object.keys(COMMANDS);

  it("includes the stages and the main job", () => {
    for (const n of ["smoke", "ingest", "download", "augment", "train", "quick-test"])
      expect(names).toContain(n);
  });

  for (const name of names) {
    it(`${name}: --help prints its usage and flags; unknown and misspelled flags exit 2 with a suggestion`, async () => {
      const help = await captured(() => run([name, "--help"]));
      expect(help.value, help.err).toBe(0);
      expect(help.out).toMatch(new RegExp(`^usage: medtune ${name}\\b`));
      expect(help.out).toMatch(/-h, --help/);

      const unknown = await captured(() => run([name, "--definitely-not-a-flag"]));
      expect(unknown.value).toBe(2);
      expect(unknown.err).toMatch(/unknown option "--definitely-not-a-flag"/);
      expect(unknown.out).toBe("");

      // The first declared flag with a name long enough to misspell.
      const flag = [...help.out.matchAll(/^ {2}--([a-z][a-z-]{3,})/gm)]
        .map((m) => m[1]!)
        .find((f) => f !== "help");
      if (flag === undefined) return; // a command without flags (none today)
      const wrong = typo(flag);
      expect(wrong).not.toBe(flag);
      const typoed = await captured(() => run([name, `--${wrong}`, "1"]));
      expect(typoed.value).toBe(2);
      expect(typoed.err).toContain(`unknown option "--${wrong}" (did you mean "--${flag}"?)`);
    });
  }

  it("a misspelled command is named with a suggestion", async () => {
    const r = await captured(() => run(["quick-tset"]));
    expect(r.value).toBe(2);
    expect(r.err).toMatch(/unknown command "quick-tset" \(did you mean "quick-test"\?\)/);
  });

  it("bad values are usage errors naming the flag (train --iters 0, ingest --sources typo)", async () => {
    const iters = await captured(() => run(["train", "--preset", "quick_test", "--iters", "0"]));
    expect(iters.value).toBe(2);
    expect(iters.err).toMatch(/iters \(--iters\): expected an integer ≥ 1, got 0/);
    const noFile = await captured(() => run(["train", "--config", "x.yaml"]));
    expect(noFile.value).toBe(2);
    expect(noFile.err).toMatch(/x\.yaml \(file\): cannot read the file/);
    const missing = await captured(() => run(["train"]));
    expect(missing.value).toBe(2);
    expect(missing.err).toMatch(/give exactly one of --preset NAME .* and --config FILE/);
    const source = await captured(() => run(["ingest", "--sources", "hetionet,drugbnk"]));
    expect(source.value).toBe(2);
    expect(source.err).toMatch(/did you mean "drugbank"/);
  });
});

describe("the main-module check", () => {
  it("compares real paths, so a symlinked bin runs", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-bin-"));
    const cli = join(ROOT, "src", "cli.ts");
    const link = join(dir, "medtune");
    symlinkSync(cli, link);
    const url = new URL(`file://${cli}`).href;
    expect(isMainModule(link, url)).toBe(true);
    expect(isMainModule(cli, url)).toBe(true);
    expect(isMainModule(join(ROOT, "src", "paths.ts"), url)).toBe(false);
    expect(isMainModule(undefined, url)).toBe(false);
    expect(isMainModule(join(dir, "no-such-file"), url)).toBe(false);
  });
});

describe.skipIf(!existsSync(join(DIST, "cli.js")))("the installed bin (dist/cli.js)", () => {
  // A package folder like an installed one: this package.json, the build, the dependencies.
  const pkg = mkdtempSync(join(tmpdir(), "medtune-pkg-"));
  cpSync(join(ROOT, "package.json"), join(pkg, "package.json"));
  symlinkSync(DIST, join(pkg, "dist"));
  symlinkSync(join(ROOT, "node_modules"), join(pkg, "node_modules"));
  const npmExec = (...args: string[]) =>
    spawnSync("npm", ["exec", "--offline", "--yes", "medtune", "--", ...args], {
      cwd: pkg,
      encoding: "utf8",
      timeout: 120_000,
    });

  it("`npm exec medtune -- --help` lists the commands (run through npm's symlink)", () => {
    const r = npmExec("--help");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^usage: medtune <command>/);
    for (const n of ["smoke", "ingest", "download", "augment", "train", "quick-test"])
      expect(r.stdout).toContain(`  ${n} `);
  });

  it("`npm exec medtune -- quick-test --help` prints help and does no work", () => {
    const watched = [projectPaths.processedData, join(ROOT, "evaluation"), join(ROOT, "logs")];
    const before = watched.map(snapshot);
    const r = npmExec("quick-test", "--help");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^usage: medtune quick-test/);
    expect(r.stdout).not.toMatch(/== native/);
    const typoed = npmExec("quick-test", "--iter", "3");
    expect(typoed.status).toBe(2);
    expect(typoed.stderr).toMatch(/unknown option "--iter" \(did you mean "--iters"\?\)/);
    expect(watched.map(snapshot)).toEqual(before);
  });

  it("runs through a symlink to the file and through a symlinked folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-link-"));
    symlinkSync(join(DIST, "cli.js"), join(dir, "medtune"));
    symlinkSync(DIST, join(dir, "dist-link"));
    for (const entry of [join(dir, "medtune"), join(dir, "dist-link", "cli.js")]) {
      const r = spawnSync(process.execPath, [entry, "train", "--help"], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^usage: medtune train/);
    }
  });

  it('the documented imports resolve: "medtune", "medtune/augment", "medtune/ingest"', () => {
    const script = join(pkg, "imports.mjs");
    writeFileSync(
      script,
      `const a = await import("medtune/augment");
const i = await import("medtune/ingest");
const m = await import("medtune");
console.log(typeof a.runAugment, typeof a.dedup, typeof i.runIngest, typeof m.augment.runAugment);`,
    );
    const r = spawnSync(process.execPath, [script], { cwd: pkg, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("function function function function");
  });
});
