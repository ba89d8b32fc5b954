/**
 * BioGPT on the native trainer: the tiny random BioGptForCausalLM in test/fixtures/parity/biogpt
 * (written by scripts/make_parity_fixtures.py: learned positions, LayerNorm with bias, GELU,
 * biases on every projection, scaled and tied embeddings) must reproduce transformers' logits,
 * also with its PEFT adapter (q/k/v/out_proj, fc1, fc2); KV-cache decoding must equal full
 * forwards; LoRA training lowers the loss and its adapters save and load in PEFT's BioGPT names.
 *
 *   npx vitest run test/native/biogpt.test.ts
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { Model, hfConfigToNative } from "../../src/train/model.js";
import { train } from "../../src/train/trainer.js";
import { maxAbsDiff } from "../train/native-helpers.js";
import {
  PARITY_DIR,
  fixtureInputs,
  readSafetensors,
  referenceLogits,
  writeSafetensors,
} from "../train/weights-io.js";

const DIR = path.join(PARITY_DIR, "biogpt");
const TOL = 1e-4;
const V = 256;

const tmp = mkdtempSync(path.join(tmpdir(), "medtune-biogpt-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function argmaxRows(logits: Float32Array, rows: number): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[r * V + v]! > logits[r * V + best]!) best = v;
    return best;
  });
}

/** Greedy continuation by full forwards over the growing sequence (no KV cache). */
function greedyWithoutCache(model: Model, prompt: number[], n: number): number[] {
  const seq = [...prompt];
  for (let i = 0; i < n; i++) {
    const logits = model.forward(Int32Array.from(seq), [1, seq.length]);
    seq.push(argmaxRows(logits.subarray((seq.length - 1) * V), 1)[0]!);
  }
  return seq.slice(prompt.length);
}

describe("BioGPT logits match transformers", () => {
  it("config.json maps to the GPT-2-style native config", () => {
    const cfg = hfConfigToNative(
      JSON.parse(readFileSync(path.join(DIR, "config.json"), "utf8")) as Record<string, unknown>,
    );
    expect(cfg).toMatchObject({
      architecture: "biogpt",
      hiddenAct: "gelu",
      scaleEmbedding: true,
      tieWordEmbeddings: true,
      numKvHeads: 4,
      maxPositionEmbeddings: 64,
      rmsNormEps: 1e-5, // HF's LayerNorms ignore layer_norm_eps (1e-12 in the config)
    });
  });

  it(`base model: max |Δ| ≤ ${TOL}`, async () => {
    const model = await Model.load(DIR);
    try {
      const { ids, shape } = fixtureInputs("biogpt");
      const diff = maxAbsDiff(model.forward(ids, shape), referenceLogits("biogpt"));
      console.log(`parity biogpt: max |Δlogit| = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThanOrEqual(TOL);
    } finally {
      model.dispose();
    }
  });

  it(`with the PEFT adapter on q/k/v/out_proj, fc1, fc2: max |Δ| ≤ ${TOL}`, async () => {
    const model = await Model.load(DIR);
    try {
      const spec = model.loadAdapters(path.join(DIR, "adapter"));
      expect(spec).toMatchObject({ rank: 4, alpha: 8, scale: 2 });
      expect([...spec.targets].sort()).toEqual(
        [
          "mlp.down_proj",
          "mlp.up_proj",
          "self_attn.k_proj",
          "self_attn.o_proj",
          "self_attn.q_proj",
          "self_attn.v_proj",
        ].sort(),
      );
      const { ids, shape } = fixtureInputs("biogpt");
      const diff = maxAbsDiff(
        model.forward(ids, shape),
        referenceLogits("biogpt", "logits_with_adapter"),
      );
      console.log(`parity biogpt+adapter: max |Δlogit| = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThanOrEqual(TOL);
      model.setAdaptersEnabled(false);
      expect(maxAbsDiff(model.forward(ids, shape), referenceLogits("biogpt"))).toBeLessThanOrEqual(
        TOL,
      );
    } finally {
      model.dispose();
    }
  });

  it("a file without a tensor names the file and the tensor", async () => {
    const dir = path.join(tmp, "missing-tensor");
    cpSync(DIR, dir, { recursive: true });
    const t = readSafetensors(path.join(dir, "model.safetensors"));
    t.delete("biogpt.layers.1.fc2.bias");
    writeSafetensors(path.join(dir, "model.safetensors"), t);
    await expect(Model.load(dir)).rejects.toThrow(
      /model\.safetensors|missing-tensor.*missing tensor 'biogpt\.layers\.1\.fc2\.bias'/,
    );
  });

  it("a sequence longer than the learned positions is refused with the limit", async () => {
    const model = await Model.load(DIR);
    try {
      expect(() => model.forward(new Int32Array(65), [1, 65])).toThrow(
        /65 tokens exceeds biogpt's 64 learned positions/,
      );
    } finally {
      model.dispose();
    }
  });
});

describe("BioGPT generation with a KV cache", () => {
  it("greedy decoding equals full forwards without a cache", async () => {
    const model = await Model.load(DIR);
    try {
      const prompt = [2, 17, 93, 140, 5, 77];
      const { tokens } = await model.generate(prompt, { maxTokens: 12, temperature: 0 });
      expect(tokens).toEqual(greedyWithoutCache(model, prompt, 12));
    } finally {
      model.dispose();
    }
  });

  it("a left-padded batch decodes each prompt as it decodes alone", async () => {
    const model = await Model.load(DIR);
    try {
      model.loadAdapters(path.join(DIR, "adapter"));
      const prompts = [[2, 17, 93], [2, 40, 41, 42, 43, 44, 45], [2]];
      const batch = await model.generateBatch(
        prompts.map((p) => ({ prompt: p })),
        { maxTokens: 8, temperature: 0 },
      );
      for (let i = 0; i < prompts.length; i++) {
        expect(Array.from(batch.sequences[i]!.tokens)).toEqual(
          greedyWithoutCache(model, prompts[i]!, 8),
        );
      }
    } finally {
      model.dispose();
    }
  });
});

describe("BioGPT scoring through a shared prompt cache", () => {
  it("option log-probs equal log-softmax of full forwards", async () => {
    const model = await Model.load(DIR);
    try {
      model.loadAdapters(path.join(DIR, "adapter"));
      const prompt = [2, 17, 93, 140, 5];
      const options = [[7, 8, 9], [200], [31, 32, 33, 34, 35]];
      const got = await model.scoreOptions(prompt, options, { batchSize: 2 });
      options.forEach((opt, i) => {
        const seq = [...prompt, ...opt];
        const logits = model.forward(Int32Array.from(seq), [1, seq.length]);
        const want = opt.map((tok, j) => {
          const row = logits.subarray((prompt.length - 1 + j) * V, (prompt.length + j) * V);
          const max = Math.max(...row);
          const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
          return row[tok]! - lse;
        });
        expect(maxAbsDiff(got[i]!.tokenLogprobs, want)).toBeLessThanOrEqual(1e-4);
      });
    } finally {
      model.dispose();
    }
  });
});

describe("BioGPT LoRA training", () => {
  it("a few steps lower the loss; adapters save and load in PEFT's BioGPT names", async () => {
    const model = await Model.load(DIR);
    try {
      // Defaults (all seven targets) become BioGPT's six: there is no gate_proj.
      const spec = model.addAdapters({ rank: 4, alpha: 8, seed: 3 });
      expect(spec.targets).not.toContain("mlp.gate_proj");
      expect(spec.targets).toHaveLength(6);
      const { ids } = fixtureInputs("biogpt");
      const examples = [0, 1].map((r) => ({
        tokens: ids.slice(r * 24, r * 24 + 24),
        supervised: new Uint8Array(24).fill(1, 4),
      }));
      const losses: number[] = [];
      await train(
        model,
        {
          train: examples,
          batches: [[0, 1]],
          iterations: 20,
          learningRate: 3e-2,
          warmupSteps: 2,
          stepsPerReport: 1,
        },
        (e) => e.type === "progress" && losses.push(e.trainLoss),
      );
      console.log(`biogpt LoRA loss: ${losses.map((l) => l.toFixed(3)).join(" → ")}`);
      expect(losses).toHaveLength(20);
      expect(losses[19]!).toBeLessThan(0.8 * losses[0]!);

      const { ids: x, shape } = fixtureInputs("biogpt");
      const trained = model.forward(x, shape);
      for (const format of ["peft", "mlx"] as const) {
        const dir = path.join(tmp, `adapters-${format}`);
        mkdirSync(dir);
        model.saveAdapters(dir, format);
        const cfg = JSON.parse(readFileSync(path.join(dir, "adapter_config.json"), "utf8")) as {
          target_modules?: string[];
          lora_parameters?: { keys: string[] };
        };
        const file = format === "peft" ? "adapter_model.safetensors" : "adapters.safetensors";
        const names = [...readSafetensors(path.join(dir, file)).keys()];
        if (format === "peft") {
          expect([...cfg.target_modules!].sort()).toEqual(
            ["fc1", "fc2", "k_proj", "out_proj", "q_proj", "v_proj"].sort(),
          );
          expect(names).toContain(
            "base_model.model.biogpt.layers.1.self_attn.out_proj.lora_A.weight",
          );
          expect(names).toContain("base_model.model.biogpt.layers.0.fc1.lora_B.weight");
        } else {
          expect(cfg.lora_parameters!.keys).toContain("fc2");
          expect(names).toContain("biogpt.layers.0.fc2.lora_a");
        }
        const again = await Model.load(DIR);
        try {
          again.loadAdapters(dir);
          expect(maxAbsDiff(again.forward(x, shape), trained)).toBeLessThanOrEqual(1e-5);
        } finally {
          again.dispose();
        }
      }
    } finally {
      model.dispose();
    }
  });

  it("gradient checkpointing gives the same losses; DoRA starts at the base and trains", async () => {
    const { ids } = fixtureInputs("biogpt");
    const data = [{ tokens: ids.slice(0, 24), supervised: new Uint8Array(24).fill(1, 2) }];
    const run = async (opts: { gradientCheckpointing?: boolean; dora?: boolean }) => {
      const model = await Model.load(DIR);
      try {
        model.addAdapters({ rank: 4, alpha: 8, seed: 9, dropout: 0.1, dora: opts.dora });
        const base = referenceLogits("biogpt").subarray(0, 24 * V);
        const start = maxAbsDiff(model.forward(ids.slice(0, 24), [1, 24]), base);
        const losses: number[] = [];
        await train(
          model,
          {
            train: data,
            batches: [[0]],
            iterations: 6,
            learningRate: 2e-2,
            gradientCheckpointing: opts.gradientCheckpointing,
            stepsPerReport: 1,
          },
          (e) => e.type === "progress" && losses.push(e.trainLoss),
        );
        return { start, losses };
      } finally {
        model.dispose();
      }
    };
    const plain = await run({});
    const checkpointed = await run({ gradientCheckpointing: true });
    expect(maxAbsDiff(checkpointed.losses, plain.losses)).toBeLessThanOrEqual(1e-5);
    const dora = await run({ dora: true });
    expect(dora.start).toBeLessThanOrEqual(1e-4);
    expect(dora.losses[5]!).toBeLessThan(dora.losses[0]!);
  });

  it("gate_proj alone is refused: BioGPT's MLP is fc1 → GELU → fc2", async () => {
    const model = await Model.load(DIR);
    try {
      expect(() => model.addAdapters({ rank: 4, targets: ["gate"] })).toThrow(
        /none of the LoRA targets mlp\.gate_proj exists in this biogpt model/,
      );
    } finally {
      model.dispose();
    }
  });

  it("QLoRA: a 4-bit base still trains through gradient checkpointing", async () => {
    const model = Model.random(
      {
        architecture: "biogpt",
        vocabSize: V,
        hiddenSize: 64,
        intermediateSize: 128,
        numLayers: 2,
        numHeads: 4,
        maxPositionEmbeddings: 64,
      },
      5,
      { quantize: { bits: 4, groupSize: 32 } },
    );
    try {
      model.addAdapters({ rank: 4, alpha: 8, seed: 1, targets: ["q", "v", "fc1", "fc2"] });
      const tokens = Int32Array.from({ length: 20 }, (_, i) => (i * 37 + 11) % V);
      const losses: number[] = [];
      await train(
        model,
        {
          train: [{ tokens, supervised: new Uint8Array(20).fill(1) }],
          batches: [[0]],
          iterations: 8,
          learningRate: 2e-2,
          gradientCheckpointing: true,
          stepsPerReport: 1,
        },
        (e) => e.type === "progress" && losses.push(e.trainLoss),
      );
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses[7]!).toBeLessThan(losses[0]!);
    } finally {
      model.dispose();
    }
  });
});
