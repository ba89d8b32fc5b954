/**
 * `medtune models` (src/models/list.ts, cli.ts): lists the bundled GGUF (architecture, file type,
 * tensor-type mix, parameters, size, the pinned SHA-256), a K-quant GGUF's file type, a Hugging
 * Face directory and an embedding model; the second listing hashes nothing (cache by path, size,
 * mtime) and a changed file is hashed again.
 *
 *   npx vitest run test/models/list.test.ts
 */
import { createHash } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it, vi } from "vitest";

import { gv, writeGguf } from "../../src/merge/gguf.js";
import { quantize } from "../../src/merge/quants.js";
import { main } from "../../src/models/cli.js";
import { listModels, type ListModelsResult } from "../../src/models/list.js";

const BUNDLED = JSON.parse(readFileSync(path.resolve("configs/bundled-model.json"), "utf8")) as {
  file: string;
  sha256: string;
  bytes: number;
};

const dir = mkdtempSync(path.join(tmpdir(), "medtune-models-"));
const modelsDir = path.join(dir, "models");
const cacheFile = path.join(dir, "cache", "model-checksums.json");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A safetensors file of float32 tensors (name -> shape), values 0.5. */
function writeSafetensors(file: string, tensors: Record<string, number[]>, dtype = "F32"): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  const width = dtype === "F32" ? 4 : 2;
  for (const [name, shape] of Object.entries(tensors)) {
    const n = shape.reduce((a, b) => a * b, 1) * width;
    header[name] = { dtype, shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, json, Buffer.alloc(offset, 0x3f)]));
}

function manifestSha(d: string, files: string[]): string {
  const lines = files
    .sort()
    .map((f) => `${createHash("sha256").update(readFileSync(path.join(d, f))).digest("hex")}  ${f}\n`)
    .join("");
  return createHash("sha256").update(lines).digest("hex");
}

describe("medtune models", () => {
  const hf = path.join(modelsDir, "base", "tiny-llama");
  const emb = path.join(modelsDir, "embeddings", "mini-bert");
  let first: ListModelsResult;

  it("lists the bundled GGUF, a K-quant GGUF, an HF directory and an embedding model", async () => {
    mkdirSync(path.join(modelsDir, "base"), { recursive: true });
    symlinkSync(path.resolve("models/base", BUNDLED.file), path.join(modelsDir, "base", BUNDLED.file));
    // A tiny Q4_K_M-typed GGUF: general.file_type 15, one Q4_K and one Q6_K matrix, an F32 norm.
    const x = new Float32Array(2 * 256).map((_, i) => Math.sin(i) / 10);
    await writeGguf(
      path.join(modelsDir, "base", "tiny.Q4_K_M.gguf"),
      new Map([
        ["general.architecture", gv.str("llama")],
        ["general.name", gv.str("tiny")],
        ["general.file_type", gv.u32(15)],
      ]),
      [
        { name: "blk.0.ffn_up.weight", dims: [256, 2], type: "Q4_K", bytes: () => quantize("Q4_K", x) },
        { name: "output.weight", dims: [256, 2], type: "Q6_K", bytes: () => quantize("Q6_K", x) },
        { name: "output_norm.weight", dims: [256], type: "F32", bytes: () => quantize("F32", x.subarray(0, 256)) },
      ],
    );
    mkdirSync(hf, { recursive: true });
    writeFileSync(path.join(hf, "config.json"), JSON.stringify({ model_type: "llama", torch_dtype: "bfloat16" }));
    writeFileSync(path.join(hf, "tokenizer.json"), "{}");
    writeSafetensors(path.join(hf, "model.safetensors"), { "model.embed_tokens.weight": [64, 16], "model.norm.weight": [16] }, "BF16");
    mkdirSync(emb, { recursive: true });
    writeFileSync(path.join(emb, "config.json"), JSON.stringify({ model_type: "bert" }));
    writeSafetensors(path.join(emb, "model.safetensors"), { "embeddings.word_embeddings.weight": [30, 8] });
    mkdirSync(path.join(modelsDir, "lora_adapters", "run1"), { recursive: true }); // not a model

    first = await listModels({ dir: modelsDir, cacheFile });
    expect(first.skipped).toEqual([]);
    expect(first.models.map((m) => [m.kind, m.path])).toEqual([
      ["gguf", `base/${BUNDLED.file}`],
      ["hf", "base/tiny-llama"],
      ["gguf", "base/tiny.Q4_K_M.gguf"],
      ["embedding", "embeddings/mini-bert"],
    ]);
    const [bundled, tiny, kq, mini] = first.models;
    expect(bundled).toMatchObject({
      architecture: "llama",
      quantization: "Q4_1",
      tensorTypes: { Q4_1: 210, Q8_0: 1, F32: 61 },
      parameters: 134_515_008,
      bytes: BUNDLED.bytes,
      sha256: BUNDLED.sha256,
    });
    expect(kq).toMatchObject({
      name: "tiny",
      quantization: "Q4_K_M",
      tensorTypes: { Q4_K: 1, Q6_K: 1, F32: 1 },
      parameters: 1280,
    });
    expect(tiny).toMatchObject({
      architecture: "llama",
      quantization: "BF16",
      parameters: 64 * 16 + 16,
      sha256: manifestSha(hf, ["config.json", "model.safetensors", "tokenizer.json"]),
    });
    expect(mini).toMatchObject({ architecture: "bert", quantization: "F32", parameters: 240 });
    expect(first.hashedBytes).toBeGreaterThan(BUNDLED.bytes);
  });

  it("a second listing hashes nothing; a changed file is hashed again", async () => {
    const again = await listModels({ dir: modelsDir, cacheFile });
    expect(again.hashedBytes).toBe(0);
    expect(again.models).toEqual(first.models);

    const weights = path.join(hf, "model.safetensors");
    const size = readFileSync(weights).length;
    const later = new Date(Date.now() + 5000);
    utimesSync(weights, later, later);
    const third = await listModels({ dir: modelsDir, cacheFile });
    expect(third.hashedBytes).toBe(size);
    expect(third.models[1]!.sha256).toBe(first.models[1]!.sha256); // same bytes, same checksum
  });

  it("a broken entry is skipped with the reason; the rest are listed", async () => {
    const bad = path.join(modelsDir, "broken.gguf");
    writeFileSync(bad, "not a gguf");
    const r = await listModels({ dir: modelsDir, cacheFile, checksums: false });
    expect(r.skipped).toEqual([{ path: "broken.gguf", message: expect.stringMatching(/broken\.gguf/) }]);
    expect(r.models).toHaveLength(4);
    expect(r.models.every((m) => m.sha256 === null)).toBe(true);
    rmSync(bad);
  });

  it("the CLI prints a table or JSON and rejects unknown flags", async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(await main(["--dir", modelsDir, "--json", "--no-checksums"])).toBe(0);
      const json = JSON.parse(out.join("")) as ListModelsResult;
      expect(json.models.map((m) => m.quantization)).toEqual(["Q4_1", "BF16", "Q4_K_M", "F32"]);
      out.length = 0;
      expect(await main(["--dir", modelsDir, "--no-checksums"])).toBe(0);
      expect(out.join("")).toMatch(/^KIND\s+PATH\s+ARCH\s+QUANT/);
      expect(out.join("")).toMatch(/gguf\s+base\/tiny\.Q4_K_M\.gguf\s+llama\s+Q4_K_M\s+Q4_K:1 Q6_K:1 F32:1/);
      expect(await main(["--jsn"])).toBe(2);
    } finally {
      spy.mockRestore();
      err.mockRestore();
    }
  });
});
