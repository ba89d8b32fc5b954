// The model flavours the CPU decode and prompt paths serve (native/src/decode_cpu.cc), shared by
// decode-cpu.test.ts and prefill-cpu.test.ts: [name, config over TINY, load options, LoRA?].
import type { NativeModelConfig } from "../../src/native/binding.js";
import type { LoadOptions, Model } from "../../src/train/model.js";

export const CPU_PATH_FLAVOURS: [string, Partial<NativeModelConfig>, LoadOptions, boolean][] = [
  ["llama, GQA, tied, float32", {}, {}, false],
  ["llama + LoRA", {}, {}, true],
  ["qwen2 (q/k/v biases) + LoRA", { architecture: "qwen2", attentionBias: true }, {}, true],
  ["mistral, sliding window 5", { architecture: "mistral", slidingWindow: 5 }, {}, false],
  ["linear RoPE scaling", { ropeScaling: { type: "linear", factor: 2 } }, {}, false],
  [
    "llama3 RoPE scaling",
    {
      ropeScaling: {
        type: "llama3",
        factor: 8,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 16,
      },
    },
    {},
    false,
  ],
  ["4-bit packed, group 32, + LoRA", {}, { quantize: { bits: 4, groupSize: 32 } }, true],
  [
    "4-bit packed, group 64, untied head",
    { tieWordEmbeddings: false },
    { quantize: { bits: 4, groupSize: 64 } },
    false,
  ],
  ["8-bit packed, group 32", {}, { quantize: { bits: 8, groupSize: 32 } }, false],
];

/** LoRA adapters with non-zero B, so that they change every projection's output. */
export function withLora(m: Model): Model {
  m.addAdapters({ loraRank: 4, loraAlpha: 8, seed: 5 });
  const set: Record<string, { b: Float32Array }> = {};
  for (const [name, v] of Object.entries(m.native.getAdapterWeights()))
    set[name] = { b: v.b.map((_, i) => Math.sin(i * 0.7) * 0.2) };
  m.native.setAdapterWeights(set);
  return m;
}
