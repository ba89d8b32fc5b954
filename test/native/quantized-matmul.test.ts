// Products against packed 4-bit and 8-bit weights (the MLX affine formats that GGUF Q4_0, Q4_1 and
// Q8_0 load into) equal dequantize-then-matmul, forward and backward through the activations, for
// the packed CPU primitive (packed_matmul.cc), MLX's kernel and the CPU decode kernels
// (decode_cpu.cc), at odd shapes (partial last blocks of W's rows, 1 to 130 rows). And a whole
// model kept packed (the CPU default) gives the float32-expanded logits, loss and LoRA gradients.
import { describe, expect, it } from "vitest";
import { loadNative } from "../../src/native/loader.js";
import { Model } from "../../src/train/model.js";
import { TINY, ints, maxAbsDiff } from "../train/native-helpers.js";

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

  it("the opt-in int8 decode products (MEDTUNE_DECODE_INT8=1) stay within int8 rounding of the reference", () => {
    // x rounded to int8 per 32 values moves each product by at most ~sum|w| * max|x| / 254.
    const shapes = [
      { bits: 4, groupSize: 32, inDim: 64, out: 33 },
      { bits: 4, groupSize: 32, inDim: 96, out: 40 }, // an odd number of 32-value chunks
      { bits: 4, groupSize: 64, inDim: 128, out: 50 },
      { bits: 8, groupSize: 32, inDim: 96, out: 30 },
      { bits: 8, groupSize: 64, inDim: 192, out: 600 },
    ] as const;
    try {
      for (const c of shapes) {
        const x = mlx.fromFloat32(values(c.inDim, 1), [1, c.inDim]);
        const w = mlx.fromFloat32(values(c.out * c.inDim, 2), [c.out, c.inDim]);
        const ref = mlx.quantizedMatmul(x, w, { ...c, mode: "dequantized" }).y.toFloat32Array();
        process.env.MEDTUNE_DECODE_INT8 = "1";
        const int8 = mlx.quantizedMatmul(x, w, { ...c, mode: "decode" }).y.toFloat32Array();
        delete process.env.MEDTUNE_DECODE_INT8;
        const scale = Math.max(...Array.from(ref, Math.abs));
        expect(maxAbsDiff(int8, ref) / scale).toBeLessThan(5e-3);
      }
    } finally {
      delete process.env.MEDTUNE_DECODE_INT8;
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
