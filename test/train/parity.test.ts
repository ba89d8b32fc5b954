/**
 * Parity with Hugging Face transformers: each fixture in test/fixtures/parity (llama, llama 3
 * scaled RoPE, mistral with sliding window 8 over 24 tokens, qwen2 with q/k/v biases and tied
 * embeddings; float32, written by scripts/make_parity_fixtures.py) loads through Model.load and
 * must reproduce transformers' logits to 1e-4, also with the PEFT adapter on the llama base and
 * from a sharded checkpoint. No torch needed: the reference logits are in the fixtures.
 *
 *   npx vitest run test/train/parity.test.ts
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { Model } from "../../src/train/model.js";
import { maxAbsDiff } from "./native-helpers.js";
import {
  PARITY_DIR as DIR,
  fixtureInputs,
  readSafetensors,
  referenceLogits,
  writeSafetensors,
  type Tensor,
} from "./weights-io.js";

const CASES = ["llama", "llama3_rope", "mistral", "qwen2"] as const;
const TOL = 1e-4;

const tmp = mkdtempSync(path.join(tmpdir(), "medtune-parity-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function logitsOf(dir: string, name: string): Promise<Float32Array> {
  const model = await Model.load(dir);
  try {
    const { ids, shape } = fixtureInputs(name);
    return model.forward(ids, shape);
  } finally {
    model.dispose();
  }
}

/** A copy of a fixture directory with config.json edited. */
function withConfig(name: string, edit: (c: Record<string, unknown>) => void): string {
  const dir = path.join(tmp, `${name}-edited`);
  cpSync(path.join(DIR, name), dir, { recursive: true });
  const cfg = JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8")) as Record<
    string,
    unknown
  >;
  edit(cfg);
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(cfg));
  return dir;
}

describe("logits match transformers", () => {
  for (const name of CASES) {
    it(`${name}: max |Δ| ≤ ${TOL}`, async () => {
      const got = await logitsOf(path.join(DIR, name), name);
      const diff = maxAbsDiff(got, referenceLogits(name));
      console.log(`parity ${name}: max |Δlogit| = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThanOrEqual(TOL);
    });
  }

  it("llama + PEFT adapter: max |Δ| ≤ 1e-4 against transformers + peft", async () => {
    const model = await Model.load(path.join(DIR, "llama"));
    try {
      const spec = model.loadAdapters(path.join(DIR, "llama", "adapter"));
      expect(spec).toMatchObject({ loraRank: 4, loraAlpha: 8, loraScale: 2 });
      const { ids, shape } = fixtureInputs("llama");
      const diff = maxAbsDiff(
        model.forward(ids, shape),
        referenceLogits("llama", "logits_with_adapter"),
      );
      console.log(`parity llama+adapter: max |Δlogit| = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThanOrEqual(TOL);
      // Disabled adapters give the base logits back.
      model.setAdaptersEnabled(false);
      expect(maxAbsDiff(model.forward(ids, shape), referenceLogits("llama"))).toBeLessThanOrEqual(
        TOL,
      );
    } finally {
      model.dispose();
    }
  });

  // The fixtures only test a feature if dropping it breaks the match.
  it("the sliding window and llama3 RoPE scaling are exercised by their fixtures", async () => {
    const full = await logitsOf(
      withConfig("mistral", (c) => (c.sliding_window = null)),
      "mistral",
    );
    expect(maxAbsDiff(full, referenceLogits("mistral"))).toBeGreaterThan(100 * TOL);
    const unscaled = await logitsOf(
      withConfig("llama3_rope", (c) => (c.rope_scaling = null)),
      "llama3_rope",
    );
    expect(maxAbsDiff(unscaled, referenceLogits("llama3_rope"))).toBeGreaterThan(100 * TOL);
  });

  it("a sharded checkpoint (index + 2 shards) gives the same logits", async () => {
    const dir = path.join(tmp, "llama-sharded");
    cpSync(path.join(DIR, "llama"), dir, { recursive: true });
    rmSync(path.join(dir, "model.safetensors"));
    const all = readSafetensors(path.join(DIR, "llama", "model.safetensors"));
    const names = [...all.keys()].sort();
    const shards: Map<string, Tensor>[] = [new Map(), new Map()];
    const weightMap: Record<string, string> = {};
    names.forEach((n, i) => {
      const s = i < names.length / 2 ? 0 : 1;
      shards[s]!.set(n, all.get(n)!);
      weightMap[n] = `model-0000${s + 1}-of-00002.safetensors`;
    });
    shards.forEach((m, s) =>
      writeSafetensors(path.join(dir, `model-0000${s + 1}-of-00002.safetensors`), m),
    );
    writeFileSync(
      path.join(dir, "model.safetensors.index.json"),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    const got = await logitsOf(dir, "llama");
    expect(maxAbsDiff(got, referenceLogits("llama"))).toBeLessThanOrEqual(TOL);

    // A shard missing from disk is an error that names the file.
    rmSync(path.join(dir, "model-00002-of-00002.safetensors"));
    await expect(Model.load(dir)).rejects.toThrow(/model-00002-of-00002\.safetensors/);
  });
});
