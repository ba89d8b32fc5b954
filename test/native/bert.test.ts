// The native BERT encoder against transformers' BertModel on tiny random checkpoints
// (test/fixtures/bert, written by scripts/make_embedder_fixtures.py): last hidden state, mean and
// CLS pooling, L2 normalisation, exact and tanh GELU, token types, a "bert."-prefixed checkpoint,
// padded rows. Bad configs, weights and inputs give errors that name the file or the value.
//   npx vitest run test/native/bert.test.ts
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { NativeBertConfig } from "../../src/native/binding.js";
import { loadNative } from "../../src/native/loader.js";
import { bertConfigFromJson } from "../../src/models/embedder.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "bert");

interface Expected {
  shape: [number, number];
  hiddenSize: number;
  ids: number[];
  mask: number[];
  typeIds: number[];
  lastHiddenState: number[];
  mean: number[];
  meanNormalized: number[];
  cls: number[];
  clsNormalized: number[];
}

function fixture(name: string) {
  const dir = join(FIXTURES, name);
  const config = bertConfigFromJson(
    dir,
    JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>,
  );
  const expected = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")) as Expected;
  return { dir, config, expected, weights: join(dir, "model.safetensors") };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Only real (unmasked) positions: a padded position's state is never used. */
function realPositions(hidden: ArrayLike<number>, mask: number[], d: number): number[] {
  const out: number[] = [];
  mask.forEach((m, p) => {
    if (m) for (let k = 0; k < d; k++) out.push(hidden[p * d + k]!);
  });
  return out;
}

describe("native BERT encoder vs transformers (tiny random checkpoints)", () => {
  for (const name of ["tiny-gelu", "tiny-tanh"]) {
    it(`${name}: hidden states and pooled vectors match`, async () => {
      const { config, expected: e, weights } = fixture(name);
      const bert = loadNative().loadBert(config, weights);
      const inputs = {
        ids: Int32Array.from(e.ids),
        mask: Uint8Array.from(e.mask),
        typeIds: Int32Array.from(e.typeIds),
        shape: e.shape,
      };
      const mean = await bert.encode({
        ...inputs,
        pooling: "mean",
        normalize: false,
        returnHidden: true,
      });
      const hiddenDiff = maxAbsDiff(
        realPositions(mean.hidden!, e.mask, e.hiddenSize),
        realPositions(e.lastHiddenState, e.mask, e.hiddenSize),
      );
      const diffs = {
        hidden: hiddenDiff,
        mean: maxAbsDiff(mean.embeddings, e.mean),
        meanNormalized: maxAbsDiff(
          (await bert.encode({ ...inputs, pooling: "mean", normalize: true })).embeddings,
          e.meanNormalized,
        ),
        cls: maxAbsDiff(
          (await bert.encode({ ...inputs, pooling: "cls", normalize: false })).embeddings,
          e.cls,
        ),
        clsNormalized: maxAbsDiff(
          (await bert.encode({ ...inputs, pooling: "cls", normalize: true })).embeddings,
          e.clsNormalized,
        ),
      };
      console.log(`${name} max |native - transformers|:`, diffs);
      for (const [what, d] of Object.entries(diffs)) expect(d, what).toBeLessThan(2e-5);
      bert.dispose();
    });
  }

  it("runs in bfloat16 too, close to the float32 result", async () => {
    const { config, expected: e, weights } = fixture("tiny-gelu");
    const bert = loadNative().loadBert(config, weights, { dtype: "bfloat16" });
    const { embeddings } = await bert.encode({
      ids: Int32Array.from(e.ids),
      mask: Uint8Array.from(e.mask),
      shape: e.shape,
      pooling: "mean",
      normalize: true,
    });
    // bfloat16 keeps 8 bits of mantissa: unit vectors agree to a few hundredths.
    expect(maxAbsDiff(embeddings, e.meanNormalized)).toBeLessThan(0.05);
    bert.dispose();
  });

  it("a row's vector does not depend on the padding or the other rows of its batch", async () => {
    const { config, expected: e, weights } = fixture("tiny-gelu");
    const bert = loadNative().loadBert(config, weights);
    const [, L] = e.shape;
    // Row 1 (7 real tokens) alone, unpadded.
    const alone = await bert.encode({
      ids: Int32Array.from(e.ids.slice(L, L + 7)),
      mask: new Uint8Array(7).fill(1),
      shape: [1, 7],
      pooling: "mean",
      normalize: true,
    });
    expect(maxAbsDiff(alone.embeddings, e.meanNormalized.slice(32, 64))).toBeLessThan(1e-5);
    bert.dispose();
  });

  it("refuses a second encode while one runs, and a disposed encoder", async () => {
    const { config, expected: e, weights } = fixture("tiny-gelu");
    const bert = loadNative().loadBert(config, weights);
    const opts = {
      ids: Int32Array.from(e.ids),
      mask: Uint8Array.from(e.mask),
      shape: e.shape,
      pooling: "mean" as const,
      normalize: true,
    };
    const first = bert.encode(opts);
    expect(() => bert.encode(opts)).toThrow(/busy/);
    await first;
    expect(bert.busy()).toBe(false);
    bert.dispose();
    expect(() => bert.encode(opts)).toThrow(/disposed/);
  });

  it("rejects bad inputs with the value at fault", async () => {
    const { config, weights } = fixture("tiny-gelu");
    const bert = loadNative().loadBert(config, weights);
    const ok = { mask: new Uint8Array(4).fill(1), shape: [1, 4] as [number, number] };
    await expect(
      bert.encode({
        ...ok,
        ids: Int32Array.from([1, 2, 500, 3]),
        pooling: "mean",
        normalize: true,
      }),
    ).rejects.toThrow(/token id 500 is outside the vocabulary \(128\)/);
    await expect(
      bert.encode({ ...ok, ids: Int32Array.from([1, 2, 3]), pooling: "mean", normalize: true }),
    ).rejects.toThrow(/batch x length = 4/);
    await expect(
      bert.encode({
        ids: new Int32Array(41).fill(1),
        mask: new Uint8Array(41).fill(1),
        shape: [1, 41],
        pooling: "mean",
        normalize: true,
      }),
    ).rejects.toThrow(/41 tokens exceed max_position_embeddings 40/);
    expect(() =>
      bert.encode({
        ...ok,
        ids: Int32Array.from([1, 2, 3, 4]),
        pooling: "max" as "mean",
        normalize: true,
      }),
    ).toThrow(/pooling must be mean, cls or none/);
    bert.dispose();
  });

  it("names the file and tensor when weights and config disagree", () => {
    const { config, weights } = fixture("tiny-gelu");
    const mlx = loadNative();
    const deeper: NativeBertConfig = { ...config, numLayers: 3 };
    expect(() => mlx.loadBert(deeper, weights)).toThrow(
      /model\.safetensors: missing tensor 'encoder\.layer\.2\.attention\.self\.query\.weight'/,
    );
    const wider: NativeBertConfig = { ...config, intermediateSize: 48 };
    expect(() => mlx.loadBert(wider, weights)).toThrow(
      /tensor 'encoder\.layer\.0\.intermediate\.dense\.weight' has shape \[64, 32\], expected \[48, 32\]/,
    );
    expect(() => mlx.loadBert({ ...config, numHeads: 5 }, weights)).toThrow(
      /hidden_size 32 is not a multiple of num_attention_heads 5/,
    );
    // A truncated file is refused by its header check, naming the file.
    const dir = mkdtempSync(join(tmpdir(), "bert-bad-"));
    const cut = join(dir, "model.safetensors");
    writeFileSync(cut, readFileSync(weights).subarray(0, 4000));
    expect(() => mlx.loadBert(config, cut)).toThrow(new RegExp(`${cut}: .*truncated|corrupt`));
    copyFileSync(join(FIXTURES, "tiny-gelu", "config.json"), join(dir, "config.json"));
    expect(() => mlx.loadBert(config, join(dir, "nope.safetensors"))).toThrow(/no such file/);
  });
});
