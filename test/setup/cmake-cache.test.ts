// Set-up in a checkout moved to another folder: native/build keeps a CMake cache made for the old
// path, which CMake refuses to reuse. scripts/setup.mjs must see that and build from clean. Checked
// without a full rebuild: a copy of set-up in a temp "moved checkout" with a small cache naming the
// old folders, and no venv, so the step stops right after the clean-up at the next real problem.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectPaths } from "../../src/paths.js";

const ROOT = projectPaths.root;

/** The lines of a CMakeCache.txt that say where it was configured (as CMake writes them). */
function tinyCache(sourceDir: string, buildDir: string): string {
  return [
    "# This is the CMakeCache file.",
    "CMAKE_BUILD_TYPE:STRING=Release",
    `medtune_native_BINARY_DIR:STATIC=${buildDir}`,
    `medtune_native_SOURCE_DIR:STATIC=${sourceDir}`,
    `CMAKE_CACHEFILE_DIR:INTERNAL=${buildDir}`,
    `CMAKE_HOME_DIRECTORY:INTERNAL=${sourceDir}`,
    "",
  ].join("\n");
}

/** staleCmakeCache(buildDir, sourceDir) from scripts/setup.mjs, run in a child (plain JS module). */
function stale(buildDir: string, sourceDir: string): string | null {
  const r = spawnSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `const m = await import(${JSON.stringify(join(ROOT, "scripts", "setup.mjs"))});
       process.stdout.write(JSON.stringify(m.staleCmakeCache(process.argv[1], process.argv[2]) ?? null));`,
      buildDir,
      sourceDir,
    ],
    { encoding: "utf8" },
  );
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as string | null;
}

describe("a stale CMake cache", () => {
  it("is told apart from a current one", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-cmake-"));
    const build = join(dir, "native", "build");
    mkdirSync(build, { recursive: true });
    writeFileSync(join(build, "CMakeCache.txt"), tinyCache(join(dir, "native"), build));
    expect(stale(build, join(dir, "native"))).toBeNull();
    writeFileSync(
      join(build, "CMakeCache.txt"),
      tinyCache("/old/checkout/native", "/old/checkout/native/build"),
    );
    expect(stale(build, join(dir, "native"))).toMatch(
      /CMakeCache\.txt was made for \/old\/checkout\/native, not .*\(CMAKE_HOME_DIRECTORY\)/,
    );
    expect(stale(join(dir, "no-build"), join(dir, "native"))).toBeNull(); // nothing to reuse
  });

  it.skipIf(!existsSync(join(ROOT, "native", "build", "CMakeCache.txt")))(
    "this checkout's own cache is current",
    () => {
      expect(stale(join(ROOT, "native", "build"), join(ROOT, "native"))).toBeNull();
    },
  );

  it("set-up in a moved checkout removes the old build folder and goes on", () => {
    const moved = mkdtempSync(join(tmpdir(), "medtune-moved-"));
    for (const f of ["scripts/setup.mjs", "configs/bundled-model.json", "native/CMakeLists.txt"]) {
      mkdirSync(join(moved, f, ".."), { recursive: true });
      copyFileSync(join(ROOT, f), join(moved, f));
    }
    const build = join(moved, "native", "build");
    mkdirSync(build, { recursive: true });
    writeFileSync(
      join(build, "CMakeCache.txt"),
      tinyCache("/old/checkout/native", "/old/checkout/native/build"),
    );
    writeFileSync(join(build, "left-from-old-build.o"), "");
    const r = spawnSync(
      process.execPath,
      [join(moved, "scripts", "setup.mjs"), "--only", "native-addon", "--force", "--json"],
      {
        cwd: moved,
        encoding: "utf8",
        env: {
          ...process.env,
          MEDTUNE_VENV: join(moved, "no-venv"),
          MEDTUNE_STATE_DIR: join(moved, "state"),
        },
      },
    );
    expect(r.stderr).toMatch(
      /native-addon: .*CMakeCache\.txt was made for \/old\/checkout\/native.*; building from clean/,
    );
    expect(existsSync(build)).toBe(false);
    // What stops it now is the next real problem (no venv here), not CMake's refusal.
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/setup failed at step "native-addon": the Python venv is missing/);
    expect(r.stderr).not.toMatch(/CMakeCache\.txt directory/);
  });
});
