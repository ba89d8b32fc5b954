// The fused CPU causal attention (native/src/attention_cpu.cc) equals MLX's
// scaled_dot_product_attention, forward and VJP (dq, dk, dv), across GQA, head sizes 64, 32 and
// 24 (the scalar kernels), odd lengths that leave partial 64-row blocks, batches, and keys longer
// than the queries (a cached prefix, mask aligned bottom-right). A training step through it gives
// the MLX path's loss and LoRA gradients.
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
  delete process.env.MEDTUNE_CPU_ATTENTION;
});

describe("fused CPU causal attention", () => {
  const mlx = loadNative();
  const cases = [
    { B: 1, H: 2, Hkv: 2, L: 1, Lk: 1, hd: 64 },
    { B: 2, H: 4, Hkv: 2, L: 7, Lk: 7, hd: 64 },
    { B: 1, H: 9, Hkv: 3, L: 65, Lk: 65, hd: 64 },
    { B: 3, H: 6, Hkv: 2, L: 130, Lk: 130, hd: 32 },
    { B: 2, H: 3, Hkv: 1, L: 70, Lk: 70, hd: 24 },
    { B: 2, H: 4, Hkv: 2, L: 40, Lk: 107, hd: 64 },
    { B: 1, H: 2, Hkv: 1, L: 1, Lk: 9, hd: 32 },
  ];
  for (const c of cases) {
    const name = `B ${c.B}, H ${c.H}/${c.Hkv}, L ${c.L}, Lk ${c.Lk}, hd ${c.hd}`;
    it(`${name}: o, dq, dk, dv equal MLX's sdpa and its VJP`, () => {
      // Amplitudes large enough that the softmax is peaked, not near uniform.
      const q = mlx.fromFloat32(values(c.B * c.H * c.L * c.hd, 1, 2), [c.B, c.H, c.L, c.hd]);
      const k = mlx.fromFloat32(values(c.B * c.Hkv * c.Lk * c.hd, 2, 2), [c.B, c.Hkv, c.Lk, c.hd]);
      const v = mlx.fromFloat32(values(c.B * c.Hkv * c.Lk * c.hd, 3, 1), [c.B, c.Hkv, c.Lk, c.hd]);
      const scale = 1 / Math.sqrt(c.hd);
      const ref = mlx.causalAttention(q, k, v, { scale, mode: "mlx" });
      const got = mlx.causalAttention(q, k, v, { scale, mode: "fused" });
      for (const key of ["o", "dq", "dk", "dv"] as const) {
        expect(got[key].shape).toEqual(ref[key].shape);
        const r = ref[key].toFloat32Array();
        const g = got[key].toFloat32Array();
        if (c.Lk === 1 && (key === "dq" || key === "dk")) {
          // One key: its probability is 1 whatever q and k are, so both gradients vanish (up to
          // rounding of exp(s - lse)).
          expect(maxAbs(g), key).toBeLessThan(1e-5);
          continue;
        }
        expect(maxAbs(r)).toBeGreaterThan(0);
        expect(maxAbsDiff(g, r) / maxAbs(r), key).toBeLessThan(2e-5);
      }
    });
  }

  it("the causal mask is real: a later key changes only the rows that see it", () => {
    const [B, H, L, hd] = [1, 2, 70, 64];
    const qv = values(B * H * L * hd, 4, 1);
    const kv = values(B * H * L * hd, 5, 1);
    const vv = values(B * H * L * hd, 6, 1);
    const run = (v: Float32Array) =>
      mlx
        .causalAttention(
          mlx.fromFloat32(qv, [B, H, L, hd]),
          mlx.fromFloat32(kv, [B, H, L, hd]),
          mlx.fromFloat32(v, [B, H, L, hd]),
          { scale: 0.125, mode: "fused" },
        )
        .o.toFloat32Array();
    const base = run(vv);
    const changed = vv.slice();
    changed[66 * hd + 3] += 1; // value row of key 66, head 0
    const after = run(changed);
    for (let i = 0; i < L; i++) {
      const row = (a: Float32Array) => a.slice(i * hd, (i + 1) * hd);
      const d = maxAbsDiff(row(after), row(base));
      if (i < 66) expect(d).toBe(0);
      else expect(d).toBeGreaterThan(1e-4);
    }
  });

  it("rejects what it does not support", () => {
    const q = mlx.fromFloat32(new Float32Array(2 * 3 * 4), [1, 2, 3, 4]);
    const k = mlx.fromFloat32(new Float32Array(2 * 2 * 4), [1, 2, 2, 4]);
    expect(() => mlx.causalAttention(q, k, k, { scale: 1, mode: "fused" })).toThrow(/Lk >= L/);
    process.env.MEDTUNE_CPU_ATTENTION = "mlx";
    expect(() => mlx.causalAttention(q, q, q, { scale: 1, mode: "fused" })).toThrow(/mlx/);
  });

  const models = [
    // hd 16, GQA 4/2.
    { name: "llama", config: {} },
    // GPT-2 style (learned positions, no GQA): native/src/model_gpt2.cc.
    {
      name: "biogpt",
      config: { architecture: "biogpt", maxPositionEmbeddings: 128, numKvHeads: 4 },
    },
  ] as const;
  for (const { name, config } of models) {
    it(`a ${name} training step through it gives the MLX path's loss and LoRA gradients`, () => {
      // L 70: one full and one partial 64-row block.
      expectStepEqualsMlx(tinyModel(5, config), "MEDTUNE_CPU_ATTENTION", [2, 70], 2, 3);
    });
  }
});
