// The fused CPU kernels of a training step (native/src/fused_cpu.cc) equal MLX's ops: SwiGLU
// forward and backward (dg, du) over odd sizes and large |g| where the sigmoid saturates; GELU
// (erf and tanh forms) and its backward; the softmax cross-entropy per row (loss and the masked
// softmax) over peaked and flat rows, masked rows and a vocabulary that is not a multiple of 16; a
// target outside the vocabulary gives NaN for its row. Llama and BioGPT training steps through
// them give the MLX path's loss and LoRA gradients.
import { afterEach, describe, expect, it } from "vitest";
import { loadNative } from "../../src/native/loader.js";
import {
  expectStepEqualsMlx,
  maxAbs,
  maxAbsDiff,
  tinyModel,
  wave as values,
} from "../train/native-helpers.js";

afterEach(() => {
  delete process.env.MEDTUNE_CPU_FUSED;
});

describe("fused CPU SwiGLU and cross-entropy", () => {
  const mlx = loadNative();

  for (const [rows, cols, amp] of [
    [1, 7, 3],
    [5, 1536, 4],
    [3, 1000, 60], // sigmoid saturated at both ends
  ] as const) {
    it(`SwiGLU (${rows}, ${cols}), |g| up to ${amp}: y, dg, du equal MLX's`, () => {
      const g = mlx.fromFloat32(values(rows * cols, 1, amp), [rows, cols]);
      const u = mlx.fromFloat32(values(rows * cols, 2, 2), [rows, cols]);
      const fused = mlx.swiglu(g, u, { mode: "fused" });
      const ref = mlx.swiglu(g, u, { mode: "mlx" });
      for (const k of ["y", "dg", "du"] as const) {
        const r = ref[k].toFloat32Array();
        expect(fused[k].shape).toEqual([rows, cols]);
        expect(maxAbs(r), k).toBeGreaterThan(0);
        expect(maxAbsDiff(fused[k].toFloat32Array(), r) / maxAbs(r), k).toBeLessThan(1e-5);
      }
    });
  }

  for (const form of ["erf", "tanh"] as const) {
    it(`GELU, ${form} form: y and dx equal MLX's over |x| up to 12 and a 7-value tail`, () => {
      // 4 × 1031: every sign and size, the erf tails included.
      const x = mlx.fromFloat32(values(4 * 1031, 5, 12), [4, 1031]);
      const fused = mlx.gelu(x, { form, mode: "fused" });
      const ref = mlx.gelu(x, { form, mode: "mlx" });
      for (const k of ["y", "dx"] as const) {
        const r = ref[k].toFloat32Array();
        expect(maxAbs(r), k).toBeGreaterThan(1);
        // Absolute: erf to 1.5e-7 of its value 1, times |x| <= 12.
        expect(maxAbsDiff(fused[k].toFloat32Array(), r), k).toBeLessThan(2e-6);
      }
    });
  }

  it("softmax cross-entropy rows: loss and masked softmax equal MLX's", () => {
    const [n, V] = [6, 1003];
    // Rows 0-2 peaked (amplitude 30), 3-5 flat (0.5); row 4 masked out.
    const data = new Float32Array(n * V);
    for (let r = 0; r < n; r++) data.set(values(V, r, r < 3 ? 30 : 0.5), r * V);
    const logits = mlx.fromFloat32(data, [n, V]);
    const targets = Int32Array.from([0, 17, 1002, 500, 3, 999]);
    const mask = Float32Array.from([1, 1, 1, 1, 0, 1]);
    const fused = mlx.softmaxCrossEntropy(logits, targets, mask, { mode: "fused" });
    const ref = mlx.softmaxCrossEntropy(logits, targets, mask, { mode: "mlx" });
    const lf = fused.loss.toFloat32Array();
    const lr = ref.loss.toFloat32Array();
    expect(lf[4]).toBe(0);
    for (let r = 0; r < n; r++)
      expect(Math.abs(lf[r]! - lr[r]!), `row ${r}`).toBeLessThan(
        1e-4 * Math.max(1, Math.abs(lr[r]!)),
      );
    const pr = ref.p.toFloat32Array();
    expect(maxAbsDiff(fused.p.toFloat32Array(), pr)).toBeLessThan(1e-6);
    // Each unmasked row of p is a distribution.
    const pf = fused.p.toFloat32Array();
    const rowSum = (r: number) => pf.subarray(r * V, (r + 1) * V).reduce((s, x) => s + x, 0);
    expect(Math.abs(rowSum(0) - 1)).toBeLessThan(1e-5);
    expect(rowSum(4)).toBe(0);
  });

  it("a target outside the vocabulary gives NaN for its row only", () => {
    const logits = mlx.fromFloat32(values(2 * 40, 3, 1), [2, 40]);
    const r = mlx.softmaxCrossEntropy(logits, Int32Array.from([5, 40]), Float32Array.from([1, 1]), {
      mode: "fused",
    });
    const loss = r.loss.toFloat32Array();
    expect(Number.isFinite(loss[0])).toBe(true);
    expect(Number.isNaN(loss[1])).toBe(true);
    expect(() =>
      mlx.softmaxCrossEntropy(logits, Int32Array.from([1]), Float32Array.from([1, 1]), {
        mode: "fused",
      }),
    ).toThrow(/one value per row/);
  });

  for (const [name, config] of [
    ["llama (SwiGLU)", {}],
    ["biogpt (GELU, erf)", { architecture: "biogpt", maxPositionEmbeddings: 128, numKvHeads: 4 }],
    [
      "biogpt (GELU, tanh)",
      {
        architecture: "biogpt",
        maxPositionEmbeddings: 128,
        numKvHeads: 4,
        hiddenAct: "gelu_pytorch_tanh",
      },
    ],
  ] as const) {
    it(`a ${name} training step through them gives the MLX path's loss and LoRA gradients`, () => {
      const m = tinyModel(6, config);
      expectStepEqualsMlx(m, "MEDTUNE_CPU_FUSED", [2, 37], 3);
      m.dispose();
    });
  }
});
