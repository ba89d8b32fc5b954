// Products against packed 4-bit and 8-bit weights (the MLX affine formats that GGUF Q4_0, Q4_1 and
// Q8_0 load into) equal dequantize-then-matmul, forward and backward through the activations, for
// the packed CPU primitive (packed_matmul.cc), MLX's kernel and the CPU decode kernels
// (decode_cpu.cc), at odd shapes (partial last blocks of W's rows, 1 to 130 rows); the bfloat16
// tiles within bfloat16 rounding. And a whole model kept packed (the CPU default) gives the
// float32-expanded logits, loss and LoRA gradients.
import { statSync } from "node:fs";
import { describe, expect, it, onTestFinished } from "vitest";
import { loadNative } from "../../src/native/loader.js";
import { Model } from "../../src/train/model.js";
import { TINY, ints, maxAbsDiff, BUNDLED_GGUF } from "../train/native-helpers.js";

const GGUF = BUNDLED_GGUF;

function values(n: number, seed: number): Float32Array {
  return new Float32Array(n).map((_, i) => Math.sin(i * 0.37 + seed) * (1 + (i % 7) / 7));
}

describe("quantized matmul", () => {
  const mlx = loadNative();
  const cases = [
    { bits: 4, groupSize: 32, rows: 1, out: 33, inDim: 64 },
    { bits: 4, groupSize: 32, rows: 5, out: 300, inDim: 96 },
    { bits: 4, groupSize: 64, rows: 37, out: 517, inDim: 128 },
    { bits: 8, groupSize: 32, rows: 3, out: 47, inDim: 32 },
    { bits: 8, groupSize: 32, rows: 19, out: 257, inDim: 160 },
    { bits: 8, groupSize: 64, rows: 8, out: 600, inDim: 192 },
    // in 1024: blocks of 256 rows of W (packed_matmul.cc), so 600 and 777 end in partial blocks.
    { bits: 4, groupSize: 32, rows: 3, out: 600, inDim: 1024 },
    { bits: 4, groupSize: 64, rows: 1, out: 777, inDim: 1024 },
    { bits: 8, groupSize: 32, rows: 130, out: 777, inDim: 1024 },
    { bits: 8, groupSize: 64, rows: 1, out: 300, inDim: 1024 },
    { bits: 4, groupSize: 64, rows: 3, out: 257, inDim: 64 },
    // 4-bit rows are read in blocks of 128 values: a 64-value tail block, group 128.
    { bits: 4, groupSize: 64, rows: 1, out: 41, inDim: 192 },
    { bits: 4, groupSize: 128, rows: 1, out: 70, inDim: 384 },
    { bits: 4, groupSize: 128, rows: 6, out: 45, inDim: 640 },
  ] as const;
  for (const c of cases) {
    it(`${c.bits}-bit, group ${c.groupSize}: (${c.rows}, ${c.inDim}) x (${c.out}, ${c.inDim})^T`, () => {
      const x = mlx.fromFloat32(values(c.rows * c.inDim, 1), [c.rows, c.inDim]);
      const w = mlx.fromFloat32(values(c.out * c.inDim, 2), [c.out, c.inDim]);
      const ref = mlx.quantizedMatmul(x, w, { ...c, mode: "dequantized" });
      const yRef = ref.y.toFloat32Array();
      const dxRef = ref.dx.toFloat32Array();
      expect(ref.y.shape).toEqual([c.rows, c.out]);
      expect(ref.dx.shape).toEqual([c.rows, c.inDim]);
      const yScale = maxAbs(yRef);
      const dxScale = maxAbs(dxRef);
      for (const mode of ["tiled", "kernel", "decode"] as const) {
        const r = mlx.quantizedMatmul(x, w, { ...c, mode });
        expect(maxAbsDiff(r.y.toFloat32Array(), yRef) / yScale).toBeLessThan(1e-5);
        expect(maxAbsDiff(r.dx.toFloat32Array(), dxRef) / dxScale).toBeLessThan(1e-5);
      }
      // The quantization itself is real: the product differs from the float one.
      const exact = mlx.matmul(
        x,
        mlx.fromFloat32(transpose(values(c.out * c.inDim, 2), c.out, c.inDim), [c.inDim, c.out]),
      );
      expect(maxAbsDiff(exact.toFloat32Array(), yRef)).toBeGreaterThan(0);
    });
  }

  // The CPU path's compact scales and biases (native/src/quant_compact.h): float16 where exact,
  // symmetric biases dropped. Every product reads them back exactly, so it equals the same
  // product over float32 scales and biases bit for bit, and dequantize-then-matmul within 1e-5.
  const compactCases = [
    // GGUF Q4_0: float16 scales, bias -8 * scale.
    {
      bits: 4,
      groupSize: 32,
      rows: 37,
      out: 517,
      inDim: 1024,
      params: "symmetric",
      forms: ["float16", "implicit"],
    },
    // GGUF Q4_1: float16 scales and minimums.
    {
      bits: 4,
      groupSize: 32,
      rows: 5,
      out: 300,
      inDim: 96,
      params: "float16",
      forms: ["float16", "float16"],
    },
    // GGUF Q8_0: float16 scales, bias -128 * scale.
    {
      bits: 8,
      groupSize: 32,
      rows: 19,
      out: 257,
      inDim: 160,
      params: "symmetric",
      forms: ["float16", "implicit"],
    },
    {
      bits: 8,
      groupSize: 64,
      rows: 1,
      out: 300,
      inDim: 1024,
      params: "float16",
      forms: ["float16", "float16"],
    },
    // MLX's own float32 scales and biases of an asymmetric W (shifted) are not float16 values:
    // they stay float32 (for a W symmetric about 0, MLX's biases are -2^(bits-1) * scale too).
    {
      bits: 4,
      groupSize: 64,
      rows: 3,
      out: 257,
      inDim: 128,
      params: "mlx",
      forms: ["float32", "float32"],
      shift: 0.7,
    },
    // 520 groups a row: more than a row's inline scale storage (512), so converted on the heap.
    {
      bits: 4,
      groupSize: 32,
      rows: 2,
      out: 40,
      inDim: 32 * 520,
      params: "symmetric",
      forms: ["float16", "implicit"],
    },
  ] as const;
  for (const c of compactCases) {
    it(`compact ${c.params} ${c.bits}-bit, group ${c.groupSize} (${c.forms.join(" scales, ")} biases): (${c.rows}, ${c.inDim}) x (${c.out}, ${c.inDim})^T equals the float32 form`, () => {
      const x = mlx.fromFloat32(values(c.rows * c.inDim, 3), [c.rows, c.inDim]);
      const shift = "shift" in c ? c.shift : 0;
      const w = mlx.fromFloat32(
        values(c.out * c.inDim, 4).map((v) => v + shift),
        [c.out, c.inDim],
      );
      const opts = { bits: c.bits, groupSize: c.groupSize, params: c.params };
      const ref = mlx.quantizedMatmul(x, w, { ...opts, mode: "dequantized" });
      expect([ref.scales, ref.biases]).toEqual(["float32", "float32"]);
      const yRef = ref.y.toFloat32Array();
      const dxRef = ref.dx.toFloat32Array();
      for (const mode of ["tiled", "kernel", "decode", "dequantized"] as const) {
        const full = mlx.quantizedMatmul(x, w, { ...opts, mode });
        const compact = mlx.quantizedMatmul(x, w, { ...opts, mode, compact: true });
        expect([compact.scales, compact.biases]).toEqual(c.forms);
        expect(compact.y.toFloat32Array()).toEqual(full.y.toFloat32Array());
        expect(compact.dx.toFloat32Array()).toEqual(full.dx.toFloat32Array());
        expect(maxAbsDiff(compact.y.toFloat32Array(), yRef) / maxAbs(yRef)).toBeLessThan(1e-5);
        expect(maxAbsDiff(compact.dx.toFloat32Array(), dxRef) / maxAbs(dxRef)).toBeLessThan(1e-5);
      }
      // The int8 decode products read the same compact rows (their bias term included), one row
      // and several.
      for (const rows of [1, c.rows]) {
        const xi = mlx.fromFloat32(values(rows * c.inDim, 5), [rows, c.inDim]);
        const full = mlx.quantizedMatmul(xi, w, { ...opts, mode: "decode-int8" });
        const compact = mlx.quantizedMatmul(xi, w, { ...opts, mode: "decode-int8", compact: true });
        expect(compact.y.toFloat32Array()).toEqual(full.y.toFloat32Array());
      }
    });
  }

  // x rounded to int8 per 32 values moves each product by at most ~sum|w| * max|x| / 254.
  const int8Shapes = [
    { bits: 4, groupSize: 32, inDim: 64, out: 33 },
    { bits: 4, groupSize: 32, inDim: 96, out: 40 }, // an odd number of 32-value blocks
    { bits: 4, groupSize: 64, inDim: 128, out: 50 },
    { bits: 8, groupSize: 32, inDim: 96, out: 30 },
    { bits: 8, groupSize: 64, inDim: 192, out: 600 },
    { bits: 4, groupSize: 128, inDim: 640, out: 45 },
  ] as const;

  it("the int8 decode products stay within int8 rounding of the reference", () => {
    for (const c of int8Shapes) {
      for (const rows of [1, 3, 21]) {
        const x = mlx.fromFloat32(values(rows * c.inDim, 1), [rows, c.inDim]);
        const w = mlx.fromFloat32(values(c.out * c.inDim, 2), [c.out, c.inDim]);
        const ref = mlx.quantizedMatmul(x, w, { ...c, mode: "dequantized" }).y.toFloat32Array();
        const int8 = mlx.quantizedMatmul(x, w, { ...c, mode: "decode-int8" }).y.toFloat32Array();
        expect(maxAbsDiff(int8, ref) / maxAbs(ref)).toBeLessThan(5e-3);
        if (mlx.decodeInt8().kernel !== "none" && rows === 1) {
          // Really int8: not the float kernels' result.
          const float = mlx.quantizedMatmul(x, w, { ...c, mode: "decode" }).y.toFloat32Array();
          expect(maxAbsDiff(int8, float)).toBeGreaterThan(0);
        }
      }
    }
  });

  it.skipIf(mlx.decodeInt8().kernel !== "amx")(
    "AMX int8 products: each row's result is the same bits alone as in a batch of 1 to 40 rows",
    () => {
      // 40: three tiles of 16 positions, the last partial (a prompt chunk's kernel); 16 and 7: one
      // tile (a batched decode step's kernel, which unpacks the codes block by block).
      for (const [c, rows] of int8Shapes.flatMap((c) => [40, 16, 7].map((n) => [c, n] as const))) {
        const all = values(rows * c.inDim, 3);
        const w = mlx.fromFloat32(values(c.out * c.inDim, 4), [c.out, c.inDim]);
        const batch = mlx
          .quantizedMatmul(mlx.fromFloat32(all, [rows, c.inDim]), w, { ...c, mode: "decode-int8" })
          .y.toFloat32Array();
        for (const r of [0, 6, 15, 16, 39].filter((r) => r < rows)) {
          const one = mlx
            .quantizedMatmul(
              mlx.fromFloat32(all.slice(r * c.inDim, (r + 1) * c.inDim), [1, c.inDim]),
              w,
              { ...c, mode: "decode-int8" },
            )
            .y.toFloat32Array();
          expect(one).toEqual(batch.slice(r * c.out, (r + 1) * c.out));
        }
      }
    },
  );

  // bfloat16 tiles (native/src/bf16_amx.h), the packed products' default where the CPU has
  // AMX-BF16: x (or g) and W each rounded to bfloat16's 8 bits, sums in float32, so each output is
  // within 2^-7 sum_i |x_i W_i| of the float product. Shapes: a lone row, partial tiles of 16 and
  // blocks of 32 positions, several 64-row weight blocks and one of 32, a backward depth (out) over
  // 1024 (two panels, the second accumulating onto the first), 8-bit and groups of 64 and 128.
  const bf16Shapes = [
    { bits: 4, groupSize: 32, rows: 1, out: 32, inDim: 32 },
    { bits: 4, groupSize: 32, rows: 33, out: 544, inDim: 576 },
    { bits: 8, groupSize: 32, rows: 32, out: 64, inDim: 96 },
    { bits: 4, groupSize: 128, rows: 47, out: 2080, inDim: 256 },
    { bits: 8, groupSize: 64, rows: 70, out: 96, inDim: 1536 },
  ] as const;
  it.skipIf(mlx.packedBf16().kernel !== "amx")(
    "bfloat16 tile products stay within bfloat16 rounding of the float32 ones, forward and backward",
    () => {
      for (const c of bf16Shapes) {
        const xv = values(c.rows * c.inDim, 1);
        const x = mlx.fromFloat32(xv, [c.rows, c.inDim]);
        const w = mlx.fromFloat32(values(c.out * c.inDim, 2), [c.out, c.inDim]);
        const opts = { bits: c.bits, groupSize: c.groupSize };
        // W dequantized, transposed (in, out): the identity's product.
        const eye = new Float32Array(c.inDim * c.inDim).map((_, i) =>
          i % (c.inDim + 1) === 0 ? 1 : 0,
        );
        const wt = mlx
          .quantizedMatmul(mlx.fromFloat32(eye, [c.inDim, c.inDim]), w, {
            ...opts,
            mode: "dequantized",
          })
          .y.toFloat32Array();
        const float = mlx.quantizedMatmul(x, w, { ...opts, mode: "tiled" });
        const bf16 = mlx.quantizedMatmul(x, w, { ...opts, mode: "tiled-bf16" });
        const [y, yf] = [bf16.y.toFloat32Array(), float.y.toFloat32Array()];
        const [dx, dxf] = [bf16.dx.toFloat32Array(), float.dx.toFloat32Array()];
        let worstY = 0;
        for (let m = 0; m < c.rows; m++) {
          for (let o = 0; o < c.out; o++) {
            let bound = 0;
            for (let i = 0; i < c.inDim; i++)
              bound += Math.abs(xv[m * c.inDim + i]! * wt[i * c.out + o]!);
            const k = m * c.out + o;
            worstY = Math.max(worstY, Math.abs(y[k]! - yf[k]!) / bound);
          }
        }
        let worstDx = 0;
        for (let m = 0; m < c.rows; m++) {
          for (let i = 0; i < c.inDim; i++) {
            let bound = 0; // the cotangent is cos(0, 1, ...) over y's elements
            for (let o = 0; o < c.out; o++)
              bound += Math.abs(Math.cos(m * c.out + o) * wt[i * c.out + o]!);
            const k = m * c.inDim + i;
            worstDx = Math.max(worstDx, Math.abs(dx[k]! - dxf[k]!) / bound);
          }
        }
        expect(worstY).toBeLessThan(2 ** -7);
        expect(worstDx).toBeLessThan(2 ** -7);
        // Really bfloat16: not the float32 result.
        expect(maxAbsDiff(y, yf)).toBeGreaterThan(0);
        expect(maxAbsDiff(dx, dxf)).toBeGreaterThan(0);
      }
    },
  );

  it("the packed products' bfloat16 default follows MEDTUNE_PACKED_BF16", () => {
    const kernel = mlx.packedBf16().kernel;
    expect(mlx.packedBf16().byDefault).toBe(kernel === "amx");
    process.env.MEDTUNE_PACKED_BF16 = "0";
    try {
      expect(mlx.packedBf16()).toEqual({ kernel, byDefault: false });
      process.env.MEDTUNE_PACKED_BF16 = "yes";
      expect(() => mlx.packedBf16()).toThrow(/MEDTUNE_PACKED_BF16='yes': expected 0 or 1/);
    } finally {
      delete process.env.MEDTUNE_PACKED_BF16;
    }
  });

  it("a model kept packed (the CPU default, named) equals its float32 expansion (MEDTUNE_CPU_QUANTIZED_MATMUL=expand): logits, loss and LoRA gradients", () => {
    const config = { ...TINY, hiddenSize: 128, intermediateSize: 256, vocabSize: 300 };
    const load = (mode: string | undefined) => {
      if (mode) process.env.MEDTUNE_CPU_QUANTIZED_MATMUL = mode;
      else delete process.env.MEDTUNE_CPU_QUANTIZED_MATMUL;
      try {
        const m = Model.random(config, 4, { quantize: { bits: 4, groupSize: 32 } });
        m.addAdapters({ loraRank: 4, seed: 2 });
        return m;
      } finally {
        delete process.env.MEDTUNE_CPU_QUANTIZED_MATMUL;
      }
    };
    const mlx = loadNative();
    const grown = (f: () => Model) => {
      const before = mlx.memory().activeBytes;
      const m = f();
      return { m, bytes: mlx.memory().activeBytes - before };
    };
    // The packed float32 products (bfloat16 tiles differ by their rounding: tested above).
    process.env.MEDTUNE_PACKED_BF16 = "0";
    onTestFinished(() => {
      delete process.env.MEDTUNE_PACKED_BF16;
    });
    const { m: expanded, bytes: expandedBytes } = grown(() => load("expand"));
    const { m: packed, bytes: packedBytes } = grown(() => load("packed"));
    // Packed: no float32 copy of the projections (those are ~8x the 4-bit bytes).
    expect(packedBytes).toBeLessThan(expandedBytes / 2);
    const ids = ints(2 * 9, config.vocabSize, 5);
    expect(maxAbsDiff(packed.forward(ids, [2, 9]), expanded.forward(ids, [2, 9]))).toBeLessThan(
      1e-4,
    );
    const b = {
      inputs: ids,
      targets: ints(18, config.vocabSize, 6),
      mask: new Float32Array(18).fill(1),
      shape: [2, 9] as [number, number],
    };
    const ge = expanded.native.lossAndGrad(b);
    const gp = packed.native.lossAndGrad(b);
    expect(gp.lossSum).toBeCloseTo(ge.lossSum, 3);
    for (const [name, g] of Object.entries(ge.grads)) {
      const scale = Math.max(1e-6, ...Array.from(g, Math.abs));
      expect(maxAbsDiff(gp.grads[name]!, g) / scale).toBeLessThan(1e-4);
    }
  });

  it("the bundled Q4_1 GGUF kept packed holds about its file size and gives the float32-expanded model's logits and greedy tokens", async () => {
    // Q4_1's float16 scales and minimums stay float16 (float32 ones took 1.17x the file).
    const load = async (mode: string) => {
      process.env.MEDTUNE_CPU_QUANTIZED_MATMUL = mode;
      try {
        const before = mlx.memory().activeBytes;
        const m = await Model.load(GGUF);
        return { m, bytes: mlx.memory().activeBytes - before };
      } finally {
        delete process.env.MEDTUNE_CPU_QUANTIZED_MATMUL;
      }
    };
    const fileBytes = statSync(GGUF).size;
    process.env.MEDTUNE_PACKED_BF16 = "0"; // the float32 products, as above
    onTestFinished(() => {
      delete process.env.MEDTUNE_PACKED_BF16;
    });
    const packed = await load("packed");
    const expanded = await load("expand");
    try {
      expect(packed.bytes).toBeLessThan(fileBytes * 1.05);
      expect(expanded.bytes).toBeGreaterThan(fileBytes * 4);
      const V = packed.m.config.vocabSize;
      const ids = Int32Array.from({ length: 24 }, (_, i) => (i * 7919 + 13) % V);
      const lp = packed.m.forward(ids, [2, 12]);
      const le = expanded.m.forward(ids, [2, 12]);
      expect(maxAbsDiff(lp, le) / maxAbs(le)).toBeLessThan(1e-5);
      const prompt = Array.from(ids.slice(0, 10));
      const gp = await packed.m.generate(prompt, { maxTokens: 16 });
      const ge = await expanded.m.generate(prompt, { maxTokens: 16 });
      expect(gp.tokens).toEqual(ge.tokens);
    } finally {
      packed.m.dispose();
      expanded.m.dispose();
    }
  });

  it("an unknown MEDTUNE_CPU_QUANTIZED_MATMUL value is an error that names the variable", () => {
    process.env.MEDTUNE_CPU_QUANTIZED_MATMUL = "tile";
    try {
      expect(() => Model.random({ ...TINY }, 1, { quantize: { bits: 4, groupSize: 32 } })).toThrow(
        /MEDTUNE_CPU_QUANTIZED_MATMUL='tile': expected packed, expand or kernel/,
      );
    } finally {
      delete process.env.MEDTUNE_CPU_QUANTIZED_MATMUL;
    }
  });
});

function maxAbs(a: Float32Array): number {
  return a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}
