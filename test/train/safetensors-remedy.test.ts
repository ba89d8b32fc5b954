// A damaged safetensors file gets an error that names it, says what is wrong (the addon's check)
// and what to do, which depends on what the file was: a base model, adapters or a checkpoint.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Model } from "../../src/train/model.js";
import { projectPaths } from "../../src/paths.js";
import { tinyModel } from "./native-helpers.js";

/** A safetensors file whose 8-byte header length points past the end of the file. */
function corruptHeader(file: string): void {
  const bytes = readFileSync(file);
  bytes.writeBigUInt64LE(BigInt(bytes.length) * 4n, 0);
  writeFileSync(file, bytes);
}

describe("a corrupt safetensors file", () => {
  it("of a Hugging Face model: re-download or re-export", async () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-st-model-"));
    const fixture = join(projectPaths.root, "test", "fixtures", "parity", "llama");
    for (const f of ["config.json", "model.safetensors"])
      copyFileSync(join(fixture, f), join(dir, f));
    corruptHeader(join(dir, "model.safetensors"));
    const err = (await Model.load(dir).then(
      () => new Error("loaded a corrupt model"),
      (e: unknown) => e as Error,
    )) as Error;
    expect(err.message).toMatch(/model\.safetensors: corrupt safetensors header/);
    expect(err.message).toMatch(/\n {2}remedy: download the model again .*re-export it/);
  });

  it("of adapters: copy again or re-export, naming the tools that write them", () => {
    const trained = tinyModel(1);
    trained.addAdapters({ loraRank: 2, loraKeys: ["q", "v"] });
    const dir = mkdtempSync(join(tmpdir(), "medtune-st-adapter-"));
    trained.saveAdapters(dir, "mlx");
    corruptHeader(join(dir, "adapters.safetensors"));
    const fresh = tinyModel(1);
    expect(() => fresh.loadAdapters(dir)).toThrow(
      /adapters\.safetensors: corrupt safetensors header[^]*remedy: copy or download the adapters again, or re-export them .*medtune train/,
    );
    trained.dispose();
    fresh.dispose();
  });

  it("of a checkpoint: resume from the step before, or --fresh", () => {
    const m = tinyModel(1);
    m.addAdapters({ loraRank: 2, loraKeys: ["q", "v"] });
    const dir = mkdtempSync(join(tmpdir(), "medtune-st-ckpt-"));
    mkdirSync(dir, { recursive: true });
    m.saveAdapters(dir, "mlx");
    const file = join(dir, "0000004_adapters.safetensors");
    copyFileSync(join(dir, "adapters.safetensors"), file);
    writeFileSync(file, readFileSync(file).subarray(0, 5));
    expect(() => m.loadAdapterWeights(file)).toThrow(
      /0000004_adapters\.safetensors: truncated safetensors[^]*remedy: delete this step's .* or rerun with --fresh/,
    );
    m.dispose();
  });
});
