// Adapter and model files: mlx-lm ↔ PEFT ↔ reload give identical logits, writes leave no temp
// files, and truncated / corrupt / mismatched files are errors naming the file, never crashes.
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { openSync, readSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadNative } from "../../src/native/loader.js";
import { Model } from "../../src/train/model.js";
import { ints, maxAbsDiff, tinyModel, BUNDLED_GGUF } from "./native-helpers.js";

const GGUF = BUNDLED_GGUF;

function trainedModel(): Model {
  const m = tinyModel(1);
  m.addAdapters({
    loraRank: 4,
    loraAlpha: 8,
    seed: 3,
    loraKeys: ["q", "v", "o", "up"],
    loraLayers: 1,
  });
  const w = m.native.getAdapterWeights();
  const upd: Record<string, { b: Float32Array }> = {};
  for (const [n, x] of Object.entries(w)) upd[n] = { b: x.b.map((_, i) => 0.03 * Math.cos(i)) };
  m.native.setAdapterWeights(upd);
  return m;
}

describe("adapter files", () => {
  it("round-trip mlx-lm -> PEFT -> mlx-lm with identical logits", () => {
    const m = trainedModel();
    const ids = ints(16, 256, 4);
    const want = m.forward(ids, [2, 8]);
    const mlxDir = mkdtempSync(join(tmpdir(), "medtune-mlx-"));
    const peftDir = mkdtempSync(join(tmpdir(), "medtune-peft-"));
    m.saveAdapters(mlxDir, "mlx");
    expect(readdirSync(mlxDir).sort()).toEqual(["adapter_config.json", "adapters.safetensors"]);
    const mlxCfg = JSON.parse(readFileSync(join(mlxDir, "adapter_config.json"), "utf8"));
    expect(mlxCfg).toMatchObject({
      fine_tune_type: "lora",
      num_layers: 1,
      lora_parameters: { rank: 4, scale: 2 },
    });

    const a = tinyModel(1);
    a.loadAdapters(mlxDir);
    expect(maxAbsDiff(a.forward(ids, [2, 8]), want)).toBe(0);
    a.saveAdapters(peftDir, "peft");
    const peftCfg = JSON.parse(readFileSync(join(peftDir, "adapter_config.json"), "utf8"));
    expect(peftCfg).toMatchObject({
      peft_type: "LORA",
      r: 4,
      lora_alpha: 8,
      layers_to_transform: [1],
    });
    expect(peftCfg.target_modules).toEqual(["q_proj", "v_proj", "o_proj", "up_proj"]);

    const b = tinyModel(1);
    b.loadAdapters(peftDir);
    expect(maxAbsDiff(b.forward(ids, [2, 8]), want)).toBe(0);
    // PEFT stores lora_A (r, in): check the key and shape in the safetensors header.
    const header: Record<string, { shape: number[] }> = safetensorsHeader(
      join(peftDir, "adapter_model.safetensors"),
    );
    expect(header["base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"]?.shape).toEqual(
      [4, 64],
    );
    expect(header["base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"]?.shape).toEqual(
      [64, 4],
    );
    const mh = safetensorsHeader(join(mlxDir, "adapters.safetensors"));
    expect(mh["model.layers.1.self_attn.q_proj.lora_a"]?.shape).toEqual([64, 4]);
    for (const x of [m, a, b]) x.dispose();
  });

  it("rejects truncated adapter files, naming the file", () => {
    const m = trainedModel();
    const dir = mkdtempSync(join(tmpdir(), "medtune-bad-"));
    m.saveAdapters(dir, "mlx");
    const file = join(dir, "adapters.safetensors");
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 100));
    const t = tinyModel(1);
    expect(() => t.loadAdapters(dir)).toThrow(/adapters\.safetensors: truncated/);
    writeFileSync(file, bytes.subarray(0, 5));
    expect(() => t.loadAdapters(dir)).toThrow(/adapters\.safetensors: truncated/);
    writeFileSync(file, Buffer.from("\xff\xff\xff\xff\xff\xff\xff\xffgarbage", "latin1"));
    expect(() => t.loadAdapters(dir)).toThrow(/corrupt safetensors header/);
    expect(t.adapters).toBeUndefined();
    m.dispose();
    t.dispose();
  });

  it("rejects adapters of the wrong shape (rank or base model) and missing configs", () => {
    const m = trainedModel();
    const dir = mkdtempSync(join(tmpdir(), "medtune-shape-"));
    m.saveAdapters(dir, "mlx");
    // Claim another rank: the tensors no longer fit.
    const cfgFile = join(dir, "adapter_config.json");
    const cfg = JSON.parse(readFileSync(cfgFile, "utf8"));
    cfg.lora_parameters.rank = 8;
    writeFileSync(cfgFile, JSON.stringify(cfg));
    const t = tinyModel(1);
    expect(() => t.loadAdapters(dir)).toThrow(
      /adapters\.safetensors: adapter 'layers\.1\.[a-z_.]+' has shapes/,
    );
    // Another base model: wider hidden size.
    cfg.lora_parameters.rank = 4;
    writeFileSync(cfgFile, JSON.stringify(cfg));
    const wide = tinyModel(1, { hiddenSize: 128 });
    expect(() => wide.loadAdapters(dir)).toThrow(/another base model/);
    writeFileSync(cfgFile, "{not json");
    expect(() => t.loadAdapters(dir)).toThrow(/adapter_config\.json: invalid JSON/);
    for (const x of [m, t, wide]) x.dispose();
  });

  it("rejects a truncated GGUF and a missing file with the file's name", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-gguf-"));
    const bad = join(dir, "cut.gguf");
    const fd = openSync(GGUF, "r");
    const buf = Buffer.alloc(2_000_000);
    readSync(fd, buf, 0, buf.length, 0);
    closeSync(fd);
    writeFileSync(bad, buf);
    const mlx = loadNative();
    expect(() => mlx.loadGguf(bad)).toThrow(
      /cut\.gguf: truncated GGUF file: tensor 'token_embd\.weight'/,
    );
    writeFileSync(bad, "GGUF");
    expect(() => mlx.loadGguf(bad)).toThrow(/cut\.gguf/);
    expect(() => mlx.loadGguf(join(dir, "none.gguf"))).toThrow(/none\.gguf/);
  });

  it("rejects a truncated HF model.safetensors and a config of another architecture", async () => {
    const m = tinyModel(2);
    const dir = mkdtempSync(join(tmpdir(), "medtune-hfbad-"));
    const file = join(dir, "model.safetensors");
    m.native.saveBaseWeights(file);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length >> 1));
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({
        model_type: "llama",
        vocab_size: 256,
        hidden_size: 64,
        intermediate_size: 128,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        tie_word_embeddings: true,
      }),
    );
    await expect(Model.load(dir)).rejects.toThrow(/model\.safetensors: truncated/);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ model_type: "gpt2" }));
    await expect(Model.load(dir)).rejects.toThrow(
      /config\.json: model_type "gpt2" is not supported/,
    );
    expect(existsSync(file)).toBe(true);
    m.dispose();
  });

  it("checkpoint writes are atomic: no temp files remain", () => {
    const m = trainedModel();
    const dir = mkdtempSync(join(tmpdir(), "medtune-atomic-"));
    m.saveAdapters(dir, "peft");
    m.saveAdapters(dir, "peft");
    expect(readdirSync(dir).filter((n) => n.includes(".tmp"))).toEqual([]);
    copyFileSync(join(dir, "adapter_model.safetensors"), join(dir, "copy.safetensors"));
    expect(() => loadNative().validateSafetensors(join(dir, "copy.safetensors"))).not.toThrow();
    m.dispose();
  });
});

function safetensorsHeader(file: string): Record<string, { shape: number[] }> {
  const b = readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  return JSON.parse(b.subarray(8, 8 + n).toString("utf8"));
}
