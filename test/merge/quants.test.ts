/**
 * ggml block codecs of src/merge/quants.ts: legacy types byte-identical to the independent reference
 * encoder of test/train/weights-io.ts; K-quant blocks decoded against hand-built blocks (scale
 * packing, nibble and high-bit order) and round trips within each type's error bound; GGUF
 * read/write round trip; HF ↔ GGUF names and the q/k row permutation.
 *
 *   npx vitest run test/merge/quants.test.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gv, readGguf, writeGguf } from "../../src/merge/gguf.js";
import { dequantize, fromHalf, quantize, toHalf } from "../../src/merge/quants.js";
import { planGgufTypes, targetType } from "../../src/merge/export.js";
import {
  ggufToHfName,
  hfToGgufName,
  toGgufRows,
  toHfRows,
  type ModelSource,
  type SourceTensor,
} from "../../src/merge/source.js";
import { encode, permuteForGguf } from "../train/weights-io.js";
import { ints, maxAbsDiff, TINY } from "../train/native-helpers.js";

function gaussian(n: number, seed: number): Float32Array {
  const u = ints(2 * n, 1 << 30, seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = (u[2 * i]! + 1) / (1 << 30);
    const b = u[2 * i + 1]! / (1 << 30);
    out[i] = 0.05 * Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * b);
  }
  return out;
}

const rms = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s / a.length);
};

const dir = mkdtempSync(join(tmpdir(), "medtune-quants-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("legacy block types", () => {
  const x = gaussian(32 * 64, 7);
  for (const type of ["F16", "Q8_0", "Q4_0", "Q4_1"] as const) {
    it(`${type}: bytes and dequantized values equal the reference encoder`, () => {
      const ref = encode(type, x);
      const ours = quantize(type, x);
      expect(Buffer.from(ours).equals(Buffer.from(ref.bytes))).toBe(true);
      // (numeric equality: the reference keeps -0 where a stored int8 zero reads back as +0)
      expect(maxAbsDiff(dequantize(type, ours, x.length), ref.dequantized)).toBe(0);
    });
  }
  it("Q5_0 round trip is within one step of each block (the far side clamps at level 31)", () => {
    const back = dequantize("Q5_0", quantize("Q5_0", x), x.length);
    for (let b = 0; b < x.length / 32; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
      const step = amax / 16;
      for (let j = 0; j < 32; j++)
        expect(Math.abs(back[b * 32 + j]! - x[b * 32 + j]!)).toBeLessThanOrEqual(
          step * 1.01 + 1e-6,
        );
    }
  });
  it("half-precision conversion round-trips every finite half", () => {
    for (let h = 0; h < 0x7c00; h += 7) expect(toHalf(fromHalf(h))).toBe(h);
  });
});

describe("K-quants", () => {
  it("Q4_K decodes a hand-built block: 6-bit scales/mins packing and nibble order", () => {
    const block = new Uint8Array(144);
    const v = new DataView(block.buffer);
    v.setUint16(0, toHalf(0.5), true); // d
    v.setUint16(2, toHalf(0.25), true); // dmin
    const sc = [1, 2, 3, 4, 33, 45, 50, 63];
    const mn = [5, 6, 7, 8, 17, 40, 60, 62];
    // The layout as ggml documents it: j < 4 low 6 bits in bytes j / j+4; j ≥ 4 split across
    // byte j+4 (low nibbles) and the top two bits of bytes j-4 / j.
    for (let j = 0; j < 4; j++) {
      block[4 + j] = sc[j]! | ((sc[j + 4]! >> 4) << 6);
      block[8 + j] = mn[j]! | ((mn[j + 4]! >> 4) << 6);
      block[12 + j] = (sc[j + 4]! & 15) | ((mn[j + 4]! & 15) << 4);
    }
    for (let i = 0; i < 128; i++) block[16 + i] = (i % 16) | (((i * 7) % 16) << 4);
    const y = dequantize("Q4_K", block, 256);
    for (let k = 0; k < 256; k++) {
      const chunk = Math.floor(k / 64);
      const inChunk = k % 64;
      const sub = 2 * chunk + (inChunk >= 32 ? 1 : 0);
      const byte = block[16 + 32 * chunk + (inChunk % 32)]!;
      const q = inChunk >= 32 ? byte >> 4 : byte & 15;
      expect(y[k]).toBeCloseTo(0.5 * sc[sub]! * q - 0.25 * mn[sub]!, 5);
    }
  });

  it("Q6_K decodes a hand-built block: 4 low + 2 high bits, signed 8-bit scales", () => {
    const block = new Uint8Array(210);
    const v = new DataView(block.buffer);
    const L = Array.from({ length: 256 }, (_, i) => (i * 37 + 11) % 64);
    const scales = Array.from({ length: 16 }, (_, j) => (j % 2 ? -1 : 1) * (j * 8 + 3));
    for (let half = 0; half < 2; half++)
      for (let l = 0; l < 32; l++) {
        const q = [0, 32, 64, 96].map((o) => L[128 * half + l + o]!);
        block[64 * half + l] = (q[0]! & 15) | ((q[2]! & 15) << 4);
        block[64 * half + l + 32] = (q[1]! & 15) | ((q[3]! & 15) << 4);
        block[128 + 32 * half + l] =
          (q[0]! >> 4) | ((q[1]! >> 4) << 2) | ((q[2]! >> 4) << 4) | ((q[3]! >> 4) << 6);
      }
    scales.forEach((s, j) => v.setInt8(192 + j, s));
    v.setUint16(208, toHalf(0.125), true);
    const y = dequantize("Q6_K", block, 256);
    for (let k = 0; k < 256; k++)
      expect(y[k]).toBeCloseTo(0.125 * scales[Math.floor(k / 16)]! * (L[k]! - 32), 5);
  });

  it("round trips: Q6_K ≈ 6-bit, Q4_K ≈ 4-bit error, deterministic bytes", () => {
    const x = gaussian(256 * 32, 3);
    const std = Math.sqrt(x.reduce((a, t) => a + t * t, 0) / x.length);
    const q6 = quantize("Q6_K", x);
    const q4 = quantize("Q4_K", x);
    expect(q6.length).toBe(32 * 210);
    expect(q4.length).toBe(32 * 144);
    const e6 = rms(dequantize("Q6_K", q6, x.length), x) / std;
    const e4 = rms(dequantize("Q4_K", q4, x.length), x) / std;
    const e41 = rms(dequantize("Q4_1", quantize("Q4_1", x), x.length), x) / std;
    expect(e6).toBeLessThan(0.04);
    expect(e4).toBeLessThan(0.14);
    // Q4_K's fitted scales should do at least as well as Q4_1's min/max blocks.
    expect(e4).toBeLessThanOrEqual(e41 * 1.05);
    expect(Buffer.from(quantize("Q4_K", x)).equals(Buffer.from(q4))).toBe(true);
    console.log(
      `relative RMS error: Q6_K ${e6.toFixed(4)}, Q4_K ${e4.toFixed(4)}, Q4_1 ${e41.toFixed(4)}`,
    );
  });
});

describe("GGUF and names", () => {
  it("writes and reads back metadata of every kind and tensor bytes", async () => {
    const file = join(dir, "t.gguf");
    const x = gaussian(256 * 2, 5);
    const meta = new Map([
      ["general.architecture", gv.str("llama")],
      ["a.u32", gv.u32(7)],
      ["a.f32", gv.f32(0.5)],
      ["a.bool", gv.bool(true)],
      ["a.strs", gv.strs(["x", "ÿ", ""])],
      ["a.i32s", gv.i32s([1, -2, 3])],
    ]);
    const q = quantize("Q6_K", x);
    await writeGguf(file, meta, [
      { name: "w", dims: [256, 2], type: "Q6_K", bytes: () => q },
      { name: "n", dims: [3], type: "F32", bytes: () => quantize("F32", Float32Array.of(1, 2, 3)) },
    ]);
    const g = readGguf(file);
    expect(g.metadata.get("a.u32")?.value).toBe(7);
    expect(g.metadata.get("a.bool")?.value).toBe(true);
    expect(g.metadata.get("a.strs")?.value).toEqual(["x", "ÿ", ""]);
    expect(g.metadata.get("a.i32s")?.value).toEqual([1, -2, 3]);
    expect(g.tensors.map((t) => [t.name, t.dims, t.type])).toEqual([
      ["w", [256, 2], 14],
      ["n", [3], 0],
    ]);
    expect(Buffer.from(g.tensorBytes(g.tensors[0]!)).equals(Buffer.from(q))).toBe(true);
    expect(g.dataOffset % 32).toBe(0);
  });

  it("maps HF ↔ GGUF names and permutes q/k rows like llama.cpp's converter", () => {
    for (const n of [
      "model.embed_tokens.weight",
      "lm_head.weight",
      "model.layers.3.self_attn.q_proj.weight",
      "model.layers.3.self_attn.k_proj.bias",
      "model.layers.0.mlp.down_proj.weight",
      "model.layers.1.post_attention_layernorm.weight",
    ])
      expect(ggufToHfName(hfToGgufName(n)!)).toBe(n);
    expect(hfToGgufName("model.layers.2.self_attn.o_proj.weight")).toBe("blk.2.attn_output.weight");
    const w = gaussian(16 * 3, 9);
    const ref = permuteForGguf({ shape: [16, 3], data: w }, 2).data;
    expect(Array.from(toGgufRows(w, 16, 3, 2))).toEqual(Array.from(ref));
    expect(Array.from(toHfRows(ref, 16, 3, 2))).toEqual(Array.from(w));
  });

  it("rejects a file that is not GGUF, naming it", () => {
    expect(() => readGguf(join(__dirname, "quants.test.ts"))).toThrow(
      /quants\.test\.ts: not a GGUF file/,
    );
  });
});

describe("Q4_K_M recipe", () => {
  it("gives Q6_K to the tied embedding and to attn_v / ffn_down in llama.cpp's extra-bit layers", () => {
    const layers = 30;
    const tensor = (ggufName: string, shape: number[]): SourceTensor => ({
      hfName: ggufToHfName(ggufName)!,
      ggufName,
      shape,
      type: "F16",
      permuted: false,
      raw: () => new Uint8Array(0),
      float32: () => new Float32Array(0),
    });
    const tensors = [tensor("token_embd.weight", [1000, 512])];
    for (let i = 0; i < layers; i++)
      for (const n of ["attn_q", "attn_v", "ffn_down", "ffn_up"])
        tensors.push(tensor(`blk.${i}.${n}.weight`, n === "ffn_up" ? [512, 300] : [512, 512]));
    const src = { config: { ...TINY, numLayers: layers }, tensors } as unknown as ModelSource;
    const type = (name: string) =>
      targetType(
        tensors.find((t) => t.ggufName === name)!,
        "q4_k_m",
        src,
      );
    expect(type("token_embd.weight")).toBe("Q6_K");
    const more = Array.from({ length: layers }, (_, i) => i).filter(
      (i) => type(`blk.${i}.attn_v.weight`) === "Q6_K",
    );
    // n/8 = 3 and 7n/8 = 26 in integer arithmetic; every third layer between.
    expect(more).toEqual([0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]);
    expect(type("blk.4.ffn_down.weight")).toBe("Q4_K");
    expect(type("blk.5.ffn_down.weight")).toBe("Q6_K");
    expect(type("blk.4.attn_q.weight")).toBe("Q4_K");
    // Rows of 300 values hold no 256-value super-block: llama.cpp's fallback would be Q5_0,
    // which needs rows of 32 too, so these stay F16.
    expect(type("blk.4.ffn_up.weight")).toBe("F16");
  });

  it("keeps untouched quantized tensors and gives fused ones of a 4-bit base Q8_0, not a second 5-bit rounding", () => {
    const t = (ggufName: string, type: "Q4_1" | "F16"): SourceTensor => ({
      hfName: ggufToHfName(ggufName)!,
      ggufName,
      shape: [576, 576],
      type,
      permuted: false,
      raw: () => new Uint8Array(0),
      float32: () => new Float32Array(0),
    });
    const q4 = [t("blk.4.attn_q.weight", "Q4_1"), t("blk.4.attn_k.weight", "Q4_1")];
    const src = {
      kind: "gguf",
      config: { ...TINY, numLayers: 30 },
      tensors: q4,
    } as unknown as ModelSource;
    const touched = new Set([q4[0]!.hfName]);
    const plan = planGgufTypes(src, touched, "q4_k_m");
    expect(plan.map((p) => [p.type, p.copied, p.fused])).toEqual([
      ["Q8_0", false, true],
      ["Q4_1", true, false],
    ]);
    // From a float base, llama.cpp's fallback for rows of 576 stands.
    const f16 = { ...src, kind: "hf", tensors: [t("blk.4.attn_q.weight", "F16")] } as ModelSource;
    expect(planGgufTypes(f16, touched, "q4_k_m")[0]!.type).toBe("Q5_0");
  });
});
