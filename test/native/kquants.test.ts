/**
 * GGUF K-quants in the native loader (native/src/kquants.cc): every block type decodes to gguf-py's
 * reference values (test/fixtures/kquants, from scripts/make_kquant_fixtures.py); K-quant GGUFs
 * made from the bundled model with merge's writer load, report per type what stayed quantized,
 * compute the same logits kept quantized as from their dequantized floats, and agree with
 * llama.cpp's next-token top-1 at ≥ 95% of positions; a corrupt block names file and tensor.
 *
 *   npx vitest run test/native/kquants.test.ts
 *
 * The files requantize the first 8 layers' ffn_down (the bundled model's only rows that are a
 * multiple of 256: hidden 576 is not) with the Q4_K_M / Q5_K_M recipe, so Q4_K or Q5_K and Q6_K
 * sit beside the source's Q4_1. MEDTUNE_SKIP_LLAMA_CPP=1 skips the llama.cpp comparison.
 */
import { copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { closeSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { writeGgufExport, type QuantizeType } from "../../src/merge/export.js";
import { GGML, readGguf, writeGguf, type GgmlTypeName } from "../../src/merge/gguf.js";
import { dequantize, quantize } from "../../src/merge/quants.js";
import { openModelSource } from "../../src/merge/source.js";
import { compareLogits, llamaCppCheck, promptLogits } from "../../src/merge/verify.js";
import { loadNative } from "../../src/native/loader.js";
import { Model } from "../../src/train/model.js";
import { loadTokenizer } from "../../src/train/tokenizer.js";

const MODEL = path.resolve("models/base/SmolLM2-135M-Instruct.Q4_1.gguf");
const FIXTURES = path.resolve("test/fixtures/kquants");
const TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q5_0", "Q5_1"] as const;
const POSITIONS = 150;
const TEXT =
  "Metformin lowers hepatic glucose production and improves insulin sensitivity in type 2 " +
  "diabetes. The dose is reduced when the estimated glomerular filtration rate falls below 45 " +
  "mL/min and the drug is stopped below 30 mL/min because of the risk of lactic acidosis. " +
  "Warfarin inhibits vitamin K epoxide reductase and is monitored with the international " +
  "normalized ratio; many antibiotics and amiodarone increase its effect through cytochrome P450 " +
  "interactions. Statins inhibit HMG-CoA reductase and lower low-density lipoprotein cholesterol, " +
  "reducing the risk of myocardial infarction and ischemic stroke in adults with cardiovascular " +
  "disease. Apixaban and rivaroxaban are direct oral anticoagulants used in atrial fibrillation.";

interface Fixture {
  type: GgmlTypeName;
  typeId: number;
  rows: number;
  cols: number;
  bytes: Uint8Array;
  values: number[];
}

function fixture(type: string): Fixture {
  const f = JSON.parse(readFileSync(path.join(FIXTURES, `${type}.json`), "utf8")) as Omit<
    Fixture,
    "bytes"
  > & { bytes: string };
  return { ...f, bytes: new Uint8Array(Buffer.from(f.bytes, "base64")) };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe("K-quant blocks decode to gguf-py's reference values", () => {
  it.each(TYPES)("%s, native (through the loader's conversion)", (type) => {
    const f = fixture(type);
    const got = loadNative().ggmlToFloat32(f.typeId, f.bytes, f.rows, f.cols);
    expect(got.length).toBe(f.values.length);
    const err = maxAbsDiff(got, f.values);
    console.log(`native ${type}: max |Δ| vs gguf-py ${err} over ${got.length} values`);
    // Kept-quantized types go through MLX's dequantize (scale·q + bias in float32).
    expect(err).toBeLessThanOrEqual(1e-6 * Math.max(...f.values.map(Math.abs)));
  });

  it("a non-finite block scale is refused with the block and row", () => {
    const f = fixture("Q4_K");
    const bad = f.bytes.slice();
    bad[144 + 1] = 0x7e; // block 1's f16 d -> NaN
    expect(() => loadNative().ggmlToFloat32(f.typeId, bad, f.rows, f.cols)).toThrow(
      /block 1 \(row 0\) has a non-finite Q4_K scale/,
    );
    expect(() => loadNative().ggmlToFloat32(f.typeId, f.bytes, f.rows, f.cols + 256)).toThrow(
      /do not hold/,
    );
  });
});

describe("K-quant GGUFs of the bundled model", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "medtune-kquants-"));
  const file = (q: QuantizeType) => path.join(dir, `smollm2-${q}.gguf`);
  let ids: number[] = [];

  /** The first 8 layers' ffn_down through the recipe of `q`; everything else copied. */
  async function exportKQuant(q: QuantizeType): Promise<Record<string, number>> {
    const src = openModelSource(MODEL);
    const touched = new Set(
      src.tensors
        .filter((t) => /^blk\.[0-7]\.ffn_down\.weight$/.test(t.ggufName))
        .map((t) => t.hfName),
    );
    const plan = await writeGgufExport(file(q), src, () => undefined, touched, { quantize: q });
    const counts: Record<string, number> = {};
    for (const p of plan) counts[p.type] = (counts[p.type] ?? 0) + 1;
    return counts;
  }

  /** A copy of `from` with the tensors of `types` stored as F32 (their dequantized values). */
  async function dequantizedCopy(from: string, to: string, types: GgmlTypeName[]): Promise<void> {
    const g = readGguf(from);
    const name = (id: number) =>
      Object.keys(GGML).find((k) => GGML[k as GgmlTypeName].id === id) as GgmlTypeName;
    await writeGguf(
      to,
      g.metadata,
      g.tensors.map((t) => {
        const type = name(t.type);
        const n = t.dims.reduce((a, b) => a * b, 1);
        return types.includes(type)
          ? {
              name: t.name,
              dims: t.dims,
              type: "F32" as const,
              bytes: () => quantize("F32", dequantize(type, g.tensorBytes(t), n)),
            }
          : { name: t.name, dims: t.dims, type, bytes: () => g.tensorBytes(t) };
      }),
    );
  }

  beforeAll(async () => {
    const tok = await loadTokenizer(MODEL);
    ids = tok.encode(TEXT).slice(0, POSITIONS);
    expect(ids.length).toBe(POSITIONS);
    expect(await exportKQuant("q4_k_m")).toMatchObject({ Q4_K: 4, Q6_K: 4 });
    expect(await exportKQuant("q5_k_m")).toMatchObject({ Q5_K: 4, Q6_K: 4 });
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Per file: loaded kept quantized with MLX's quantized kernel for every product (no float copy
  // on CPU), its logits compared with the same file's K-quant tensors stored as dequantized F32,
  // and with llama.cpp's top-1.
  it.each([
    ["q4_k_m", "Q4_K", 4],
    ["q5_k_m", "Q5_K", 5],
  ] as const)(
    "%s: kept quantized, equal to its dequantized floats, agreeing with llama.cpp",
    async (q, kType, bits) => {
      const before = process.env.MEDTUNE_CPU_QUANTIZED_MATMUL;
      process.env.MEDTUNE_CPU_QUANTIZED_MATMUL = "1";
      let m: Model;
      try {
        m = await Model.load(file(q));
      } finally {
        if (before === undefined) delete process.env.MEDTUNE_CPU_QUANTIZED_MATMUL;
        else process.env.MEDTUNE_CPU_QUANTIZED_MATMUL = before;
      }
      const V = m.config.vocabSize;
      let ours: Float32Array[];
      try {
        expect(m.loadNotes).toEqual([
          "F32: 61 tensors stored as floats",
          "Q4_1: 202 tensors kept quantized (MLX affine, 4 bits, group 32)",
          "Q8_0: 1 tensor kept quantized (MLX affine, 8 bits, group 32)",
          `${kType}: 4 tensors kept quantized (MLX affine, ${bits} bits, group 32)`,
          "Q6_K: 4 tensors dequantized to float32 (no exact MLX layout)",
        ]);
        ours = promptLogits(m, [ids]);
      } finally {
        m.dispose();
      }

      const floats = path.join(dir, `${q}-f32.gguf`);
      await dequantizedCopy(file(q), floats, [kType]);
      const ref = await Model.load(floats);
      const cmp = compareLogits(promptLogits(ref, [ids]), ours, V);
      ref.dispose();
      console.log(`${q} kept quantized vs dequantized floats: max |Δlogit| ${cmp.maxAbsDiff}`);
      expect(cmp.top1Agreement).toBe(1);
      expect(cmp.maxAbsDiff).toBeLessThan(2e-3);

      if (process.env.MEDTUNE_SKIP_LLAMA_CPP === "1") return;
      const check = await llamaCppCheck(file(q), [ids], ours, V);
      console.log(`${q}: llama.cpp top-1 agreement ${check.top1Agreement} over ${check.positions}`);
      expect(check.positions).toBe(POSITIONS);
      expect(check.top1Agreement).toBeGreaterThanOrEqual(0.95);
    },
    // ~10 s on an idle 2-core machine; generous because CI machines are shared.
    300_000,
  );

  it("a corrupt K-quant block is refused naming the file and the tensor", async () => {
    const g = readGguf(file("q4_k_m"));
    const t = g.tensors.find((x) => x.type === GGML.Q4_K.id)!;
    const bad = path.join(dir, "corrupt.gguf");
    copyFileSync(file("q4_k_m"), bad);
    const fd = openSync(bad, "r+");
    writeSync(fd, Buffer.from([0x00, 0x7e]), 0, 2, g.dataOffset + t.offset); // block 0's d = NaN
    closeSync(fd);
    await expect(Model.load(bad)).rejects.toThrow(
      new RegExp(`corrupt\\.gguf: tensor '${t.name.replace(/\./g, "\\.")}' \\(Q4_K\\): block 0`),
    );
  });
});
