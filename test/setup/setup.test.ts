// Set-up (scripts/setup.mjs): a second run does nothing, and the documented failures — a missing
// venv, a missing model, a corrupted model — give errors that name the step and the remedy.
import { spawnSync } from "node:child_process";
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  bundledModelInfo,
  bundledModelPath,
  ModelFileError,
  projectPaths,
} from "../../src/paths.js";

const ROOT = projectPaths.root;

interface StepReport {
  step: string;
  action: "up-to-date" | "ran";
  note?: string;
}
interface SetupJson {
  ok: boolean;
  steps?: StepReport[];
  step?: string;
  message?: string;
  remedy?: string;
  command?: string;
}

function setup(
  args: string[],
  env: Record<string, string> = {},
): { json: SetupJson; stderr: string; status: number | null } {
  const res = spawnSync(process.execPath, [join(ROOT, "scripts", "setup.mjs"), "--json", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 600_000,
  });
  const last = res.stdout.trim().split("\n").pop() ?? "{}";
  return { json: JSON.parse(last) as SetupJson, stderr: res.stderr, status: res.status };
}

describe("setup", () => {
  it("does nothing when run a second time", () => {
    const first = setup([]);
    expect(first.status, first.stderr).toBe(0);
    const second = setup([]);
    expect(second.status, second.stderr).toBe(0);
    expect(second.json.steps?.map((s) => s.step)).toEqual([
      "node-deps",
      "python-venv",
      "model",
      "embedder",
      "native-addon",
      "typescript",
      "tslab-kernel",
    ]);
    expect(second.json.steps?.every((s) => s.action === "up-to-date")).toBe(true);
    expect(second.stderr).toBe("");
  });

  it("names the step and the remedy when the venv is missing", () => {
    const state = mkdtempSync(join(tmpdir(), "medtune-state-"));
    const r = setup(["--only", "native-addon", "--force"], {
      MEDTUNE_VENV: join(state, "no-such-venv"),
      MEDTUNE_STATE_DIR: state,
    });
    expect(r.status).toBe(1);
    expect(r.json).toMatchObject({ ok: false, step: "native-addon" });
    expect(r.json.message).toMatch(/venv is missing/);
    expect(r.json.remedy).toMatch(/npm run setup/);
    expect(r.stderr).toMatch(/setup failed at step "native-addon"/);
    expect(r.stderr).toMatch(/remedy:/);
  });
});

describe("tslab kernel", () => {
  it("is registered in the venv and runs this project's tslab", () => {
    const spec = JSON.parse(
      readFileSync(
        join(projectPaths.venv(), "share", "jupyter", "kernels", "tslab", "kernel.json"),
        "utf8",
      ),
    ) as { argv: string[]; language: string };
    expect(spec.language).toBe("typescript");
    expect(spec.argv[0]).toBe(join(ROOT, "node_modules", ".bin", "tslab"));
  });
});

describe("bundled model", () => {
  const info = bundledModelInfo();

  it("is in place with its pinned checksum", async () => {
    const file = await bundledModelPath({ verify: true });
    expect(file.endsWith(info.file)).toBe(true);
  });

  it("reports a missing model with the step that restores it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-models-"));
    process.env.MEDTUNE_MODELS_DIR = dir;
    try {
      const err = await bundledModelPath().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModelFileError);
      expect((err as ModelFileError).code).toBe("MODEL_MISSING");
      expect((err as Error).message).toMatch(/npm run setup/);
    } finally {
      delete process.env.MEDTUNE_MODELS_DIR;
    }
  });

  it("detects a corrupted copy (checksum mismatch), and set-up replaces it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-models-"));
    const state = mkdtempSync(join(tmpdir(), "medtune-state-"));
    mkdirSync(join(dir, "base"));
    const copy = join(dir, "base", info.file);
    copyFileSync(await bundledModelPath(), copy);
    const fd = openSync(copy, "r+");
    writeSync(fd, Buffer.from("corrupted!"), 0, 10, 4096); // same size, different bytes
    closeSync(fd);

    process.env.MEDTUNE_MODELS_DIR = dir;
    try {
      const err = await bundledModelPath({ verify: true }).catch((e: unknown) => e);
      expect((err as ModelFileError).code).toBe("MODEL_CORRUPT");
      expect((err as Error).message).toMatch(/checksum mismatch/);
    } finally {
      delete process.env.MEDTUNE_MODELS_DIR;
    }

    const r = setup(["--only", "model"], { MEDTUNE_MODELS_DIR: dir, MEDTUNE_STATE_DIR: state });
    expect(r.status, r.stderr).toBe(0);
    expect(r.json.steps?.[0]?.note).toMatch(/corrupt.*replaced/);
    process.env.MEDTUNE_MODELS_DIR = dir;
    try {
      await expect(bundledModelPath({ verify: true })).resolves.toBe(copy);
    } finally {
      delete process.env.MEDTUNE_MODELS_DIR;
    }
    expect(existsSync(`${copy}.partial`)).toBe(false);
  });
});
