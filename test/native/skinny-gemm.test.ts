// The short-side GEMM (native/src/skinny_gemm.cc) that takes MLX's LoRA-shaped products from
// OpenBLAS: each of the six products of a LoRA layer's forward and backward, at ranks that fill
// one, three and four 16-float vectors, odd row counts and a width that is not a multiple of 16,
// equals BLAS to float32 rounding (1e-5 of the largest output; sums of up to 576 terms); alpha
// and beta are applied, and C is not read when beta is 0; shapes that are not LoRA's stay with
// BLAS; and MLX's own matmul is routed through it.
import { describe, expect, it } from "vitest";
import { loadNative } from "../../src/native/loader.js";
import { maxAbs, maxAbsDiff, wave } from "../train/native-helpers.js";

const mlx = loadNative();
const hasAvx512 = mlx.skinnyGemm(
  mlx.fromFloat32(wave(2048 * 576, 1, 1), [2048, 576]),
  mlx.fromFloat32(wave(576 * 16, 2, 1), [576, 16]),
  { transA: false, transB: false, alpha: 1, beta: 0 },
).taken;

interface Product {
  name: string;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

// One LoRA layer (x: (M, inDim), A: (inDim, r), B: (r, outDim)) as MLX multiplies it.
function loraProducts(M: number, inDim: number, outDim: number, r: number): Product[] {
  return [
    { name: "x A", M, N: r, K: inDim, transA: false, transB: false },
    { name: "u B", M, N: outDim, K: r, transA: false, transB: false },
    { name: "dY B^T", M, N: r, K: outDim, transA: false, transB: true },
    { name: "u^T dY", M: r, N: outDim, K: M, transA: true, transB: false },
    { name: "x^T dU", M: inDim, N: r, K: M, transA: true, transB: false },
    { name: "dU A^T", M, N: inDim, K: r, transA: false, transB: true },
  ];
}

function run(p: Product, opts: { alpha: number; beta: number; c?: Float32Array }) {
  const a = mlx.fromFloat32(wave(p.M * p.K, 3, 1), p.transA ? [p.K, p.M] : [p.M, p.K]);
  const b = mlx.fromFloat32(wave(p.K * p.N, 4, 0.5), p.transB ? [p.N, p.K] : [p.K, p.N]);
  const c = opts.c ? mlx.fromFloat32(opts.c, [p.M, p.N]) : undefined;
  return mlx.skinnyGemm(a, b, { transA: p.transA, transB: p.transB, ...opts, c });
}

describe.skipIf(!hasAvx512)("short-side GEMM (LoRA products)", () => {
  for (const r of [16, 40, 64]) {
    for (const p of loraProducts(523, 576, 264, r)) {
      it(`rank ${r}, ${p.name} (${p.M} x ${p.K} . ${p.K} x ${p.N}) equals BLAS`, () => {
        const got = run(p, { alpha: 1, beta: 0 });
        expect(got.taken).toBe(true);
        const s = got.skinny.toFloat32Array();
        const ref = got.blas.toFloat32Array();
        expect(maxAbs(ref)).toBeGreaterThan(0.1);
        expect(maxAbsDiff(s, ref) / maxAbs(ref)).toBeLessThan(1e-5);
        // The same call again gives the same bits: each output's sum has one order.
        expect(run(p, { alpha: 1, beta: 0 }).skinny.toFloat32Array()).toEqual(s);
      });
    }
  }

  it("applies alpha and beta, and never reads C when beta is 0", () => {
    for (const p of loraProducts(523, 576, 264, 16)) {
      const c = wave(p.M * p.N, 5, 2);
      const got = run(p, { alpha: 1.5, beta: 0.5, c });
      expect(got.taken, p.name).toBe(true);
      const ref = got.blas.toFloat32Array();
      expect(maxAbsDiff(got.skinny.toFloat32Array(), ref) / maxAbs(ref), p.name).toBeLessThan(1e-5);
      // beta 0 with C full of NaN: CBLAS does not read C then, and neither may this.
      const nan = run(p, { alpha: 2, beta: 0, c: new Float32Array(p.M * p.N).fill(NaN) });
      expect(nan.skinny.toFloat32Array().some(Number.isNaN), p.name).toBe(false);
    }
  });

  it("leaves other shapes to BLAS", () => {
    const others: Product[] = [
      // decode: one row of activations times a weight
      { name: "gemv", M: 1, N: 1536, K: 2048, transA: false, transB: false },
      // every side long
      { name: "square", M: 256, N: 256, K: 256, transA: false, transB: false },
      // short but too little work to share out
      { name: "small", M: 64, N: 8, K: 64, transA: false, transB: false },
      // a short M with B transposed: not a LoRA product
      { name: "rows x W^T", M: 16, N: 1536, K: 2048, transA: true, transB: true },
    ];
    for (const p of others) expect(run(p, { alpha: 1, beta: 0 }).taken, p.name).toBe(false);
  });

  it.skipIf(!mlx.blas().startsWith("OpenBLAS"))(
    "MLX's matmul on a LoRA shape runs through it (bit for bit its result)",
    () => {
      const x = mlx.fromFloat32(wave(1024 * 576, 6, 1), [1024, 576]);
      const a = mlx.fromFloat32(wave(576 * 16, 7, 1), [576, 16]);
      const viaMlx = mlx.matmul(x, a).toFloat32Array();
      const direct = mlx.skinnyGemm(x, a, { transA: false, transB: false, alpha: 1, beta: 0 });
      expect(direct.taken).toBe(true);
      expect(viaMlx).toEqual(direct.skinny.toFloat32Array());
      expect(viaMlx).not.toEqual(direct.blas.toFloat32Array());
    },
  );
});
