/**
 * runMerge / runConvert on tiny models (the transformers parity fixture and tiny random llamas):
 * fused logits equal base + adapter (LoRA against transformers' own PEFT logits, DoRA against our
 * native forward); HF and GGUF exports reload with the same logits; untouched tensors keep their
 * bytes; Q8_0/Q4_0/Q4_1 exports reload and match their dequantized reference; mlx ↔ PEFT adapter
 * conversion; an aborted export leaves nothing behind; a full disk is refused up front.
 *
 *   npx vitest run test/merge/merge.test.ts
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertAdapters } from "../../src/merge/adapters.js";
import { readGguf } from "../../src/merge/gguf.js";
import { checkDiskSpace, runConvert, runMerge, type MergeEvent } from "../../src/merge/index.js";
import { hfConfigJson } from "../../src/merge/source.js";
import { Model } from "../../src/train/model.js";
import { ints, maxAbsDiff, TINY } from "../train/native-helpers.js";
import { fixtureInputs, PARITY_DIR, referenceLogits } from "../train/weights-io.js";

const dir = mkdtempSync(join(tmpdir(), "medtune-merge-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LLAMA = join(PARITY_DIR, "llama");
const ADAPTER = join(LLAMA, "adapter");

/** Small random adapter weights so the adapter changes the logits noticeably. */
function randomizeAdapters(m: Model, seed: number, dora = false): void {
  const weights = m.native.getAdapterWeights();
  const patch: Record<string, { a?: Float32Array; b?: Float32Array; m?: Float32Array }> = {};
  let k = seed;
  const rnd = (n: number, s: number) =>
    Float32Array.from(ints(n, 2001, k++), (v) => ((v - 1000) / 1000) * s);
  for (const [name, w] of Object.entries(weights)) {
    const mag =
      dora && w.m ? Float32Array.from(w.m, (v, i) => v * (1 + 0.2 * Math.sin(i))) : undefined;
    patch[name] = { a: rnd(w.a.length, 0.3), b: rnd(w.b.length, 0.3), ...(mag ? { m: mag } : {}) };
  }
  m.native.setAdapterWeights(patch);
}

/** A tiny random float32 llama as a HF directory (config.json + model.safetensors). */
function tinyHfDir(name: string, seed: number): string {
  const out = join(dir, name);
  mkdirSync(out, { recursive: true });
  const m = Model.random(TINY, seed);
  m.native.saveBaseWeights(join(out, "model.safetensors"));
  m.dispose();
  writeFileSync(
    join(out, "config.json"),
    JSON.stringify(hfConfigJson(TINY, { torchDtype: "float32" })),
  );
  return out;
}

const logitsOf = async (
  source: string,
  ids: Int32Array,
  shape: [number, number],
  adapters?: string,
) => {
  const m = await Model.load(source);
  try {
    if (adapters) m.loadAdapters(adapters);
    return m.forward(ids, shape);
  } finally {
    m.dispose();
  }
};

describe("LoRA merge on the transformers parity fixture", () => {
  it("fused GGUF (F32 kept) and HF float32 exports reproduce transformers' PEFT logits", async () => {
    const out = join(dir, "lora");
    const r = await runMerge({
      adapters: ADAPTER,
      base: LLAMA,
      formats: ["gguf", "hf"],
      hfDtype: "float32",
      outDir: out,
      llamaCpp: false,
    });
    const { ids, shape } = fixtureInputs("llama");
    const want = referenceLogits("llama", "logits_with_adapter");
    const gguf = await logitsOf(r.gguf!.path, ids, shape);
    const hf = await logitsOf(r.hf!.dir, ids, shape);
    expect(maxAbsDiff(gguf, want)).toBeLessThan(2e-4);
    expect(maxAbsDiff(hf, want)).toBeLessThan(2e-4);
    // The adapter matters: the base alone is far from these logits.
    expect(maxAbsDiff(referenceLogits("llama"), want)).toBeGreaterThan(1e-2);
    const v = r.verification!;
    for (const x of v.exports) {
      expect(x.reloadedBy).toBe("medtune");
      expect(x.logits!.maxAbsDiff).toBeLessThan(2e-4);
      expect(x.logits!.top1Agreement).toBe(1);
    }
    expect(r.gguf!.fusedTensors).toBe(14);
    expect(existsSync(join(out, "verification.json"))).toBe(true);
    expect(existsSync(join(out, "hf", "generation_config.json"))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("mlx-lm ↔ PEFT conversion keeps the adapter's logits", async () => {
    const mlxDir = join(dir, "adapter-mlx");
    const peftDir = join(dir, "adapter-peft");
    await convertAdapters({ adapters: ADAPTER, base: LLAMA, to: "mlx", outDir: mlxDir });
    await convertAdapters({ adapters: mlxDir, base: LLAMA, to: "peft", outDir: peftDir });
    expect(existsSync(join(mlxDir, "adapters.safetensors"))).toBe(true);
    const { ids, shape } = fixtureInputs("llama");
    const want = referenceLogits("llama", "logits_with_adapter");
    expect(maxAbsDiff(await logitsOf(LLAMA, ids, shape, mlxDir), want)).toBeLessThan(2e-4);
    expect(maxAbsDiff(await logitsOf(LLAMA, ids, shape, peftDir), want)).toBeLessThan(2e-4);
  });
});

describe("DoRA and quantized bases", () => {
  let base: string;
  let doraDir: string;
  const ids = ints(2 * 12, TINY.vocabSize, 5);
  const shape: [number, number] = [2, 12];

  beforeAll(async () => {
    base = tinyHfDir("tiny", 3);
    doraDir = join(dir, "dora");
    mkdirSync(doraDir);
    const m = await Model.load(base);
    m.addAdapters({
      loraRank: 4,
      loraAlpha: 8,
      dora: true,
      loraKeys: ["q", "k", "v", "o", "down"],
    });
    randomizeAdapters(m, 11, true);
    m.saveAdapters(doraDir, "mlx");
    m.dispose();
  });

  it("fused DoRA equals the native DoRA forward (float tolerance)", async () => {
    const want = await logitsOf(base, ids, shape, doraDir);
    const plain = await logitsOf(base, ids, shape);
    expect(maxAbsDiff(want, plain)).toBeGreaterThan(1e-2);
    const r = await runMerge({
      adapters: doraDir,
      base,
      formats: ["gguf", "hf"],
      hfDtype: "float32",
      outDir: join(dir, "dora-out"),
    });
    expect(r.adapter.dora).toBe(true);
    expect(r.loraGguf).toBeUndefined(); // llama.cpp has no DoRA form
    expect(maxAbsDiff(await logitsOf(r.gguf!.path, ids, shape), want)).toBeLessThan(1e-4);
    expect(maxAbsDiff(await logitsOf(r.hf!.dir, ids, shape), want)).toBeLessThan(1e-4);
  });

  for (const q of ["q8_0", "q4_0", "q4_1"] as const) {
    it(`${q}: a quantized GGUF of the base reloads with the logits of its dequantized weights`, async () => {
      const gguf = join(dir, `tiny-${q}.gguf`);
      await runConvert({ source: base, to: "gguf", out: gguf, quantize: q });
      const types = new Set(
        readGguf(gguf)
          .tensors.filter((t) => t.dims.length === 2)
          .map((t) => t.type),
      );
      expect([...types]).toEqual([{ q8_0: 8, q4_0: 2, q4_1: 3 }[q]]);
      // The reference: the same blocks dequantized by our TS codec into a float32 HF directory.
      const hf = join(dir, `tiny-${q}-hf`);
      await runConvert({ source: gguf, to: "hf", out: hf, hfDtype: "float32" });
      const a = await logitsOf(gguf, ids, shape);
      const b = await logitsOf(hf, ids, shape);
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-4);
      const float = await logitsOf(base, ids, shape);
      expect(maxAbsDiff(a, float)).toBeGreaterThan(0); // it really was quantized
    });
  }

  it("merging into a Q4_1 GGUF base keeps untouched tensors' bytes and requantizes the fused ones", async () => {
    const gguf = join(dir, "tiny-q4_1.gguf");
    if (!existsSync(gguf))
      await runConvert({ source: base, to: "gguf", out: gguf, quantize: "q4_1" });
    const loraDir = join(dir, "lora-qv");
    mkdirSync(loraDir, { recursive: true });
    const m = await Model.load(gguf);
    m.addAdapters({ loraRank: 4, loraAlpha: 8, loraKeys: ["q", "v"] });
    randomizeAdapters(m, 21);
    m.saveAdapters(loraDir, "mlx");
    const want = m.forward(ids, shape);
    m.dispose();
    const r = await runMerge({
      adapters: loraDir,
      base: gguf,
      formats: ["gguf"],
      quantize: "q8_0",
      outDir: join(dir, "qv"),
    });
    const src = readGguf(gguf);
    const out = readGguf(r.gguf!.path);
    for (const t of out.tensors) {
      const s = src.tensors.find((x) => x.name === t.name)!;
      if (/attn_(q|v)\.weight$/.test(t.name)) expect(t.type).toBe(8);
      else {
        expect(t.type).toBe(s.type);
        expect(Buffer.from(out.tensorBytes(t)).equals(Buffer.from(src.tensorBytes(s)))).toBe(true);
      }
    }
    expect(r.gguf!.fusedTensors).toBe(4);
    // Base + adapter vs the merged file: only Q8_0 rounding of the fused q/v remains.
    const got = await logitsOf(r.gguf!.path, ids, shape);
    expect(maxAbsDiff(got, want)).toBeLessThan(0.05);
    expect(r.verification!.exports[0]!.logits!.top1Agreement).toBeGreaterThanOrEqual(0.9);
  });

  it("an aborted export leaves no files and keeps an earlier export", async () => {
    const out = join(dir, "aborted");
    mkdirSync(out);
    writeFileSync(join(out, "earlier.txt"), "keep me");
    const controller = new AbortController();
    const seen: MergeEvent[] = [];
    await expect(
      runMerge({
        adapters: doraDir,
        base,
        formats: ["gguf", "hf"],
        outDir: out,
        signal: controller.signal,
        onEvent: (e) => {
          seen.push(e);
          if (e.type === "progress" && e.stage === "hf" && e.done === 3) controller.abort();
        },
      }),
    ).rejects.toThrow(/cancelled/);
    expect(seen.some((e) => e.type === "progress" && e.stage === "gguf")).toBe(true);
    expect(readdirSync(out)).toEqual(["earlier.txt"]);
    expect(readdirSync(dir).filter((f) => f.startsWith("aborted."))).toEqual([]);
  });

  it("refuses up front when the disk cannot hold the export", () => {
    expect(() => checkDiskSpace(join(dir, "big"), 1e18)).toThrow(
      /not enough disk space.*needs about/,
    );
  });

  it("names the adapter file when it does not fit the base", async () => {
    const other = tinyHfDir("tiny-wide", 4);
    const cfg = { ...TINY, hiddenSize: 128, intermediateSize: 256 };
    writeFileSync(
      join(other, "config.json"),
      JSON.stringify(hfConfigJson(cfg, { torchDtype: "float32" })),
    );
    const m = Model.random(cfg, 4);
    m.native.saveBaseWeights(join(other, "model.safetensors"));
    m.dispose();
    await expect(
      runMerge({ adapters: doraDir, base: other, outDir: join(dir, "mismatch") }),
    ).rejects.toThrow(/dora|shape|adapter/i);
    expect(existsSync(join(dir, "mismatch"))).toBe(false);
  });
});
