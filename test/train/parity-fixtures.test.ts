/**
 * The golden fixtures in test/fixtures/parity (written by scripts/make_parity_fixtures.py with
 * torch + transformers + peft) are well-formed: every safetensors file parses (8-byte header
 * length, JSON header, contiguous float32 data that ends at the file's end), tensor shapes agree
 * with config.json, inputs and logits have the advertised shapes, and the PEFT adapter is
 * nonzero. The logits comparison itself lives with the native model's tests. The biogpt case has
 * BioGPT's own tensor names and layout (learned positions, LayerNorms with biases, fc1/fc2).
 *
 *   npx vitest run test/train/parity-fixtures.test.ts
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

const DIR = path.resolve("test/fixtures/parity");

interface TensorEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Parse a safetensors file into {name → Float32Array, shape}; throws on any layout problem. */
function readSafetensors(file: string): Map<string, { shape: number[]; data: Float32Array }> {
  const buf = readFileSync(file);
  const headerLen = Number(buf.readBigUInt64LE(0));
  expect(8 + headerLen, `${file}: header length`).toBeLessThanOrEqual(buf.length);
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString("utf8")) as Record<
    string,
    TensorEntry | object
  >;
  const base = 8 + headerLen;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  const spans: [number, number][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const t = entry as TensorEntry;
    expect(t.dtype, `${file}: ${name} dtype`).toBe("F32");
    const count = t.shape.reduce((a, b) => a * b, 1);
    const [start, end] = t.data_offsets;
    expect(end - start, `${file}: ${name} byte length`).toBe(count * 4);
    spans.push([start, end]);
    const bytes = buf.subarray(base + start, base + end);
    // Copy: the slice may not be 4-byte aligned inside the file buffer.
    const data = new Float32Array(new Uint8Array(bytes).buffer);
    expect(data.every(Number.isFinite), `${file}: ${name} has non-finite values`).toBe(true);
    out.set(name, { shape: t.shape, data });
  }
  // Tensors tile the data section exactly: no gaps, no overlap, nothing after the last one.
  spans.sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [s, e] of spans) {
    expect(s).toBe(at);
    at = e;
  }
  expect(base + at, `${file}: data section size`).toBe(buf.length);
  return out;
}

interface HfConfig {
  model_type: string;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim?: number;
  rope_theta: number;
  rope_scaling: Record<string, unknown> | null;
  sliding_window?: number | null;
  tie_word_embeddings: boolean;
}

/** BioGptForCausalLM's tensors; output_projection is tied to the embedding and not stored. */
function expectedBioGptShapes(c: HfConfig & { max_position_embeddings: number }) {
  const H = c.hidden_size;
  const I = c.intermediate_size;
  const m = new Map<string, number[]>([
    ["biogpt.embed_tokens.weight", [c.vocab_size, H]],
    ["biogpt.embed_positions.weight", [c.max_position_embeddings + 2, H]],
    ["biogpt.layer_norm.weight", [H]],
    ["biogpt.layer_norm.bias", [H]],
  ]);
  const linear = (name: string, out: number, inp: number) => {
    m.set(`${name}.weight`, [out, inp]);
    m.set(`${name}.bias`, [out]);
  };
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `biogpt.layers.${l}.`;
    for (const proj of ["q_proj", "k_proj", "v_proj", "out_proj"])
      linear(`${p}self_attn.${proj}`, H, H);
    linear(`${p}fc1`, I, H);
    linear(`${p}fc2`, H, I);
    for (const norm of ["self_attn_layer_norm", "final_layer_norm"]) {
      m.set(`${p}${norm}.weight`, [H]);
      m.set(`${p}${norm}.bias`, [H]);
    }
  }
  return m;
}

function expectedShapes(c: HfConfig): Map<string, number[]> {
  if (c.model_type === "biogpt") {
    return expectedBioGptShapes(c as HfConfig & { max_position_embeddings: number });
  }
  const H = c.hidden_size;
  const D = c.head_dim ?? H / c.num_attention_heads;
  const q = c.num_attention_heads * D;
  const kv = c.num_key_value_heads * D;
  const I = c.intermediate_size;
  const m = new Map<string, number[]>([
    ["model.embed_tokens.weight", [c.vocab_size, H]],
    ["model.norm.weight", [H]],
  ]);
  if (!c.tie_word_embeddings) m.set("lm_head.weight", [c.vocab_size, H]);
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    m.set(`${p}input_layernorm.weight`, [H]);
    m.set(`${p}post_attention_layernorm.weight`, [H]);
    m.set(`${p}self_attn.q_proj.weight`, [q, H]);
    m.set(`${p}self_attn.k_proj.weight`, [kv, H]);
    m.set(`${p}self_attn.v_proj.weight`, [kv, H]);
    m.set(`${p}self_attn.o_proj.weight`, [H, q]);
    m.set(`${p}mlp.gate_proj.weight`, [I, H]);
    m.set(`${p}mlp.up_proj.weight`, [I, H]);
    m.set(`${p}mlp.down_proj.weight`, [H, I]);
    if (c.model_type === "qwen2") {
      // Qwen2 keeps biases on q, k and v (not o).
      m.set(`${p}self_attn.q_proj.bias`, [q]);
      m.set(`${p}self_attn.k_proj.bias`, [kv]);
      m.set(`${p}self_attn.v_proj.bias`, [kv]);
    }
  }
  return m;
}

const manifest = JSON.parse(readFileSync(path.join(DIR, "manifest.json"), "utf8")) as {
  seq_len: number;
  cases: Record<
    string,
    { model_type: string; logits_shape: number[]; adapter?: { r: number; lora_alpha: number } }
  >;
};

describe("parity fixtures", () => {
  it("cover llama, llama3 rope scaling, mistral with a sliding window, qwen2, biogpt — under 1 MB", () => {
    expect(Object.keys(manifest.cases).sort()).toEqual([
      "biogpt",
      "llama",
      "llama3_rope",
      "mistral",
      "qwen2",
    ]);
    const size = (p: string): number =>
      statSync(p).isDirectory()
        ? readdirSync(p).reduce((s, f) => s + size(path.join(p, f)), 0)
        : statSync(p).size;
    expect(size(DIR)).toBeLessThan(1024 * 1024);
  });

  for (const [name, info] of Object.entries(manifest.cases)) {
    describe(name, () => {
      const dir = path.join(DIR, name);
      const config = JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8")) as HfConfig;

      it("config.json uses the published (transformers 4.x) keys", () => {
        expect(config.model_type).toBe(info.model_type);
        if (name === "biogpt") {
          // GPT-2-style: no RoPE, no GQA; scaled, tied embeddings as microsoft/biogpt.
          expect(config.rope_theta).toBeUndefined();
          expect(config).toMatchObject({ scale_embedding: true, tie_word_embeddings: true });
          return;
        }
        expect(typeof config.rope_theta).toBe("number");
        expect(config.num_attention_heads % config.num_key_value_heads).toBe(0);
        if (name === "mistral") expect(config.sliding_window).toBeLessThan(manifest.seq_len);
        if (name === "llama3_rope") expect(config.rope_scaling?.rope_type).toBe("llama3");
      });

      it("model.safetensors holds exactly the expected float32 tensors", () => {
        const tensors = readSafetensors(path.join(dir, "model.safetensors"));
        const want = expectedShapes(config);
        expect([...tensors.keys()].sort()).toEqual([...want.keys()].sort());
        for (const [k, shape] of want) expect(tensors.get(k)?.shape, k).toEqual(shape);
      });

      it("inputs and logits have the advertised shapes", () => {
        const inputs = JSON.parse(readFileSync(path.join(dir, "inputs.json"), "utf8")) as {
          input_ids: number[][];
        };
        expect(inputs.input_ids.length).toBe(2);
        for (const row of inputs.input_ids) {
          expect(row.length).toBe(manifest.seq_len);
          expect(row.every((id) => Number.isInteger(id) && id >= 0 && id < config.vocab_size)).toBe(
            true,
          );
        }
        const logits = readSafetensors(path.join(dir, "logits.safetensors"));
        const shape = [2, manifest.seq_len, config.vocab_size];
        expect(info.logits_shape).toEqual(shape);
        expect(logits.get("logits")?.shape).toEqual(shape);
        if (info.adapter) expect(logits.get("logits_with_adapter")?.shape).toEqual(shape);
      });

      if (info.adapter) {
        it("the PEFT adapter is a nonzero LoRA on every projection of every layer", () => {
          const cfg = JSON.parse(
            readFileSync(path.join(dir, "adapter", "adapter_config.json"), "utf8"),
          ) as {
            peft_type: string;
            r: number;
            lora_alpha: number;
            target_modules: string[];
            use_rslora: boolean;
          };
          expect(cfg.peft_type).toBe("LORA");
          expect([cfg.r, cfg.lora_alpha, cfg.use_rslora]).toEqual([
            info.adapter?.r,
            info.adapter?.lora_alpha,
            false,
          ]);
          const tensors = readSafetensors(path.join(dir, "adapter", "adapter_model.safetensors"));
          const want = expectedShapes(config);
          const biogpt = config.model_type === "biogpt";
          const modules = biogpt
            ? [
                "self_attn.q_proj",
                "self_attn.k_proj",
                "self_attn.v_proj",
                "self_attn.out_proj",
                "fc1",
                "fc2",
              ]
            : [
                "self_attn.q_proj",
                "self_attn.k_proj",
                "self_attn.v_proj",
                "self_attn.o_proj",
                "mlp.gate_proj",
                "mlp.up_proj",
                "mlp.down_proj",
              ];
          const prefix = biogpt ? "biogpt.layers" : "model.layers";
          expect(tensors.size).toBe(config.num_hidden_layers * modules.length * 2);
          for (let l = 0; l < config.num_hidden_layers; l++) {
            for (const mod of modules) {
              const [out, inp] = want.get(`${prefix}.${l}.${mod}.weight`) as [number, number];
              const key = `base_model.model.${prefix}.${l}.${mod}`;
              const a = tensors.get(`${key}.lora_A.weight`);
              const b = tensors.get(`${key}.lora_B.weight`);
              expect(a?.shape, `${key}.lora_A`).toEqual([cfg.r, inp]);
              expect(b?.shape, `${key}.lora_B`).toEqual([out, cfg.r]);
              expect(
                b?.data.some((v) => v !== 0),
                `${key}.lora_B is zero`,
              ).toBe(true);
            }
          }
          // The adapter must move the logits, or PEFT-loading parity would pass with no adapter at all.
          const logits = readSafetensors(path.join(dir, "logits.safetensors"));
          const base = logits.get("logits")?.data as Float32Array;
          const adapted = logits.get("logits_with_adapter")?.data as Float32Array;
          let maxDelta = 0;
          for (let i = 0; i < base.length; i++)
            maxDelta = Math.max(maxDelta, Math.abs((base[i] as number) - (adapted[i] as number)));
          expect(maxDelta).toBeGreaterThan(1e-3);
        });
      }
    });
  }
});
