// The MLX addon's smoke surface: it loads (first in a child process, so a broken binary fails a
// test rather than the runner), its matmul equals a JS reference, memory counters move, and a
// missing or broken binary gives the documented, actionable error.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { NATIVE_FUNCTIONS, type NativeBinding } from "../../src/native/binding.js";
import {
  loadNative,
  loadNativeFrom,
  nativePaths,
  NativeLoadError,
} from "../../src/native/loader.js";
import { referenceMatmul, runSmoke, seededFloats } from "../../src/native/smoke.js";

describe("native addon", () => {
  let mlx: NativeBinding;

  beforeAll(() => {
    const { addon } = nativePaths();
    const probe = spawnSync(
      process.execPath,
      [
        "-e",
        `const m = require(${JSON.stringify(addon)}); process.stdout.write(m.version() + " " + m.backend())`,
      ],
      { encoding: "utf8", timeout: 60_000 },
    );
    if (probe.status !== 0) {
      throw new Error(
        `the addon does not load in a child process (status ${probe.status}, signal ${probe.signal}):\n${probe.stderr}`,
      );
    }
    expect(probe.stdout).toMatch(/^\d+\.\d+\.\d+ (cpu|metal|cuda)$/);
    mlx = loadNative();
  });

  it("declares every function the binary exports", () => {
    for (const name of NATIVE_FUNCTIONS)
      expect(typeof (mlx as unknown as Record<string, unknown>)[name], name).toBe("function");
  });

  it("reports MLX 0.32.4 and a device", () => {
    expect(mlx.version()).toBe("0.32.4");
    expect(["cpu", "gpu"]).toContain(mlx.defaultDevice().type);
  });

  it("multiplies float32 matrices from JS like a plain JS reference", () => {
    const [m, k, n] = [17, 33, 9];
    const a = seededFloats(m * k, 7);
    const b = seededFloats(k * n, 8);
    const ta = mlx.fromFloat32(a, [m, k]);
    const tb = mlx.fromFloat32(b, [k, n]);
    const c = mlx.matmul(ta, tb);
    expect(c.shape).toEqual([m, n]);
    expect(c.dtype).toBe("float32");
    const got = c.toFloat32Array();
    const want = referenceMatmul(a, b, m, k, n);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-4);
    for (const t of [ta, tb, c]) t.dispose();
  });

  it("moves the memory counters when an array is allocated and freed", () => {
    mlx.clearCache();
    mlx.resetPeakMemory();
    const before = mlx.memory();
    const t = mlx.fromFloat32(new Float32Array(1 << 20), [1 << 20]);
    const held = mlx.memory();
    expect(held.activeBytes - before.activeBytes).toBeGreaterThanOrEqual(4 << 20);
    expect(held.peakBytes).toBeGreaterThanOrEqual(held.activeBytes);
    t.dispose();
    const after = mlx.memory();
    expect(after.activeBytes).toBeLessThan(held.activeBytes);
    expect(after.cacheBytes + after.activeBytes).toBeGreaterThanOrEqual(before.activeBytes);
  });

  it("turns MLX exceptions into JS errors with a code", () => {
    const a = mlx.fromFloat32(new Float32Array(6), [2, 3]);
    expect(() => mlx.matmul(a, a)).toThrowError(/Last dimension/);
    try {
      mlx.matmul(a, a);
    } catch (e) {
      expect((e as { code?: string }).code).toBe("MEDTUNE_NATIVE_ERROR");
    }
    expect(() => mlx.fromFloat32(new Float32Array(5), [2, 3])).toThrowError(TypeError);
  });

  it("runSmoke reports a matmul error near float32 precision", () => {
    const r = runSmoke();
    expect(r.matmulMaxAbsError).toBeLessThan(1e-4);
    expect(r.memoryHeld.activeBytes).toBeGreaterThan(r.memoryBefore.activeBytes);
  });
});

describe("native loader errors", () => {
  const dir = mkdtempSync(join(tmpdir(), "medtune-loader-"));

  it("names the set-up step when the addon is not built", () => {
    const err = catchError(() =>
      loadNativeFrom({ addon: join(dir, "missing.node"), venv: nativePaths().venv }),
    );
    expect(err).toBeInstanceOf(NativeLoadError);
    expect((err as NativeLoadError).code).toBe("ADDON_MISSING");
    expect(err.message).toMatch(/npm run setup/);
  });

  it("blames the missing venv when the binary cannot load without it", () => {
    const broken = join(dir, "broken.node");
    writeFileSync(broken, "not an ELF or Mach-O file");
    const err = catchError(() => loadNativeFrom({ addon: broken, venv: join(dir, "no-venv") }));
    expect((err as NativeLoadError).code).toBe("VENV_MISSING");
    expect(err.message).toMatch(/venv/);
    expect(err.message).toMatch(/npm run setup/);
  });

  it("says to rebuild when the binary itself is broken", () => {
    const broken = join(dir, "broken2.node");
    writeFileSync(broken, "not an ELF or Mach-O file");
    const err = catchError(() => loadNativeFrom({ addon: broken, venv: nativePaths().venv }));
    expect((err as NativeLoadError).code).toBe("ADDON_LOAD_FAILED");
    expect(err.message).toMatch(/npm run build:native/);
  });
});

function catchError(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}
