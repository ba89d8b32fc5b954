/**
 * `medtune train` with a BioGPT Hugging Face directory as the model: a tiny random BioGPT
 * (written through the native saveBaseWeights) beside the BioGPT tokenizer fixture
 * (vocab.json + merges.txt, no tokenizer.json), trained for two steps from a preset that names
 * all seven llama-family projections — BioGPT has six, so gate_proj is skipped — and the PEFT
 * adapters come out under BioGPT's module names.
 *
 *   npx vitest run test/train/biogpt-train-cli.test.ts
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { projectPaths } from "../../src/paths.js";
import { Model } from "../../src/train/model.js";
import { readSafetensors } from "./weights-io.js";

const TOKENIZER = join(projectPaths.root, "test", "fixtures", "biogpt-tokenizer");
const RUN = `test-biogpt-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "medtune-biogpt-cli-"));
const outputs = ["checkpoints", "logs/training_logs", "logs/tensorboard", "models/lora_adapters"];
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  for (const d of outputs)
    rmSync(join(projectPaths.root, d, RUN), { recursive: true, force: true });
});

const record = (id: string, q: string, a: string) =>
  JSON.stringify({
    id,
    instruction: q,
    input: "",
    output: a,
    metadata: {
      source: "pubmed",
      task: "pubmed.qa",
      confidence: 1,
      citations: ["PMID:1"],
      license: "CC0-1.0",
      provenance: {},
    },
  });

/** A BioGPT directory: random weights sized to the tokenizer fixture's 493-token vocabulary. */
function bioGptDir(): string {
  const model = join(dir, "biogpt-tiny");
  cpSync(TOKENIZER, model, { recursive: true });
  rmSync(join(model, "cases.json"));
  const config = {
    model_type: "biogpt",
    architectures: ["BioGptForCausalLM"],
    vocab_size: 493,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    max_position_embeddings: 128,
    hidden_act: "gelu",
    scale_embedding: true,
    tie_word_embeddings: true,
    pad_token_id: 1,
    bos_token_id: 0,
    eos_token_id: 2,
  };
  writeFileSync(join(model, "config.json"), JSON.stringify(config, null, 2));
  const random = Model.random(
    {
      architecture: "biogpt",
      vocabSize: 493,
      hiddenSize: 32,
      intermediateSize: 64,
      numLayers: 2,
      numHeads: 4,
      maxPositionEmbeddings: 128,
    },
    7,
  );
  random.native.saveBaseWeights(join(model, "model.safetensors"));
  random.dispose();
  return model;
}

describe("medtune train on a BioGPT directory", () => {
  it("trains two steps and writes PEFT adapters in BioGPT's names", () => {
    const model = bioGptDir();
    mkdirSync(join(dir, "data"));
    writeFileSync(
      join(dir, "data", "train.jsonl"),
      [
        record("a", "What does metformin treat?", "Metformin treats type 2 diabetes mellitus."),
        record("b", "What does aspirin inhibit?", "Aspirin inhibits cyclooxygenase."),
        record("c", "Which genes raise breast cancer risk?", "BRCA1 and BRCA2 mutations."),
      ].join("\n") + "\n",
    );
    writeFileSync(
      join(dir, "data", "valid.jsonl"),
      record("v", "What do statins lower?", "Statins lower LDL cholesterol.") + "\n",
    );
    const preset = join(dir, "biogpt.yaml");
    writeFileSync(
      preset,
      `model: ${model}
modelConfig: biogpt
trainData: ${join(dir, "data", "train.jsonl")}
validData: ${join(dir, "data", "valid.jsonl")}
runName: ${RUN}
loraRank: 4
loraAlpha: 8
loraDropout: 0.0
loraKeys: [self_attn.q_proj, self_attn.k_proj, self_attn.v_proj, self_attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj]
loraLayers: 2
quantizeBits: null
learningRate: 1.0e-2
minLearningRate: 1.0e-3
warmupSteps: 1
schedule: cosine
cycles: 1
weightDecay: 0.0
gradClip: 1.0
batchSize: 2
gradAccumulationSteps: 1
maxSeqLength: 64
iters: 2
evalEvery: 2
evalBatches: 1
saveEvery: 1
reportEvery: 1
seed: 0
gradCheckpointing: false
memoryLimitBytes: null
`,
    );
    const cli = ["--import", "tsx", join(projectPaths.root, "src", "cli.ts"), "train"];
    const res = spawnSync(process.execPath, [...cli, "--config", preset, "--fresh"], {
      cwd: projectPaths.root,
      encoding: "utf8",
      timeout: 240_000,
    });
    console.log(res.stdout);
    expect(res.status, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(res.stdout).toMatch(/step +2 +loss/);
    const peft = join(projectPaths.root, "models", "lora_adapters", RUN, "peft");
    const cfg = JSON.parse(readFileSync(join(peft, "adapter_config.json"), "utf8")) as {
      target_modules: string[];
    };
    expect([...cfg.target_modules].sort()).toEqual(
      ["fc1", "fc2", "k_proj", "out_proj", "q_proj", "v_proj"].sort(),
    );
    const names = [...readSafetensors(join(peft, "adapter_model.safetensors")).keys()];
    expect(names).toContain("base_model.model.biogpt.layers.1.fc2.lora_B.weight");
    expect(names.some((n) => n.includes("gate_proj"))).toBe(false);
  });
});
