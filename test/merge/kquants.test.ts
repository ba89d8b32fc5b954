/**
 * The TypeScript K-quant codecs (src/merge/quants.ts): dequantization equals gguf-py's reference
 * on the committed fixtures (scripts/make_kquant_fixtures.py), quantize → dequantize stays within
 * each type's error bound on weight-like data, and the GGUF writer stores every type so that the
 * reader returns the same bytes.
 *
 *   npx vitest run test/merge/kquants.test.ts
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { GGML, gv, readGguf, writeGguf, type GgmlTypeName } from "../../src/merge/gguf.js";
import { DEQUANTIZABLE, QUANTIZABLE, dequantize, quantize } from "../../src/merge/quants.js";

const TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q5_0", "Q5_1"] as const;

/**
 * Relative RMS error bounds for Gaussian weights (std 0.02, one 0.15 outlier per 256), about 15%
 * above what the quantizers reach (measured: Q2_K 0.315, Q3_K 0.185, Q4_K 0.082, Q5_K 0.042,
 * Q6_K 0.022, Q5_0 0.056, Q5_1 0.043).
 */
const RMSE_BOUND: Record<(typeof TYPES)[number], number> = {
  Q2_K: 0.36,
  Q3_K: 0.21,
  Q4_K: 0.095,
  Q5_K: 0.048,
  Q6_K: 0.026,
  Q5_0: 0.064,
  Q5_1: 0.049,
};

function gaussian(n: number, seed: number, std: number): Float32Array {
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++)
    x[i] = std * Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
  return x;
}

describe("K-quant codecs", () => {
  it("read and write every K-quant type", () => {
    for (const t of TYPES) {
      expect(DEQUANTIZABLE).toContain(t);
      expect(QUANTIZABLE).toContain(t);
    }
  });

  it.each(TYPES)("%s dequantizes the fixture blocks to gguf-py's values", (type) => {
    const f = JSON.parse(
      readFileSync(path.resolve(`test/fixtures/kquants/${type}.json`), "utf8"),
    ) as { rows: number; cols: number; bytes: string; values: number[] };
    const got = dequantize(type, new Uint8Array(Buffer.from(f.bytes, "base64")), f.rows * f.cols);
    let err = 0;
    for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i]! - f.values[i]!));
    console.log(`TS ${type}: max |Δ| vs gguf-py ${err} over ${got.length} values`);
    expect(err).toBe(0);
  });

  it.each(TYPES)("%s quantize → dequantize stays within its error bound", (type) => {
    const x = gaussian(8192, 13, 0.02);
    // An outlier per super-block, as real weight rows have.
    for (let i = 100; i < x.length; i += 256) x[i] = 0.15;
    const bytes = quantize(type, x);
    expect(bytes.length).toBe((x.length / GGML[type].block) * GGML[type].bytes);
    const y = dequantize(type, bytes, x.length);
    let e2 = 0;
    let s2 = 0;
    for (let i = 0; i < x.length; i++) {
      e2 += (x[i]! - y[i]!) ** 2;
      s2 += x[i]! ** 2;
    }
    const rel = Math.sqrt(e2 / s2);
    console.log(`${type}: relative RMS error ${rel.toFixed(4)}`);
    expect(rel).toBeLessThan(RMSE_BOUND[type]);
    // Deterministic: the same weights give the same bytes.
    expect(Buffer.from(quantize(type, x)).equals(Buffer.from(bytes))).toBe(true);
  });

  it("quantizes all-zero and constant blocks without NaN", () => {
    for (const type of TYPES) {
      for (const fill of [0, 0.01, -0.03]) {
        const x = new Float32Array(256).fill(fill);
        const y = dequantize(type, quantize(type, x), 256);
        for (const v of y) expect(Math.abs(v - fill)).toBeLessThanOrEqual(Math.abs(fill) * 0.02);
      }
    }
  });

  const dir = mkdtempSync(path.join(tmpdir(), "medtune-kquant-gguf-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the GGUF writer stores every K-quant type and the reader returns its bytes", async () => {
    const file = path.join(dir, "kquants.gguf");
    const x = gaussian(2 * 512, 7, 0.05);
    const data = new Map<GgmlTypeName, Uint8Array>(TYPES.map((t) => [t, quantize(t, x)]));
    await writeGguf(
      file,
      new Map([["general.architecture", gv.str("llama")]]),
      TYPES.map((t) => ({
        name: `${t}.weight`,
        dims: [512, 2],
        type: t,
        bytes: () => data.get(t)!,
      })),
    );
    const g = readGguf(file);
    for (const t of TYPES) {
      const info = g.tensors.find((i) => i.name === `${t}.weight`)!;
      expect(info.type).toBe(GGML[t].id);
      expect(Buffer.from(g.tensorBytes(info)).equals(Buffer.from(data.get(t)!))).toBe(true);
    }
  });
});
