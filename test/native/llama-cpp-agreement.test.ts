/**
 * Agreement with llama.cpp on the bundled SmolLM2-135M-Instruct Q4_1 GGUF: teacher-forced over
 * 200 positions of biomedical prose, our forward's next-token argmax must equal llama.cpp's at
 * ≥ 95% of positions. They cannot agree everywhere: llama.cpp quantizes activations to 8 bits for
 * its Q4_1 dot products, so near-ties between the top two tokens can flip. The figure is printed.
 *
 *   npx vitest run test/native/llama-cpp-agreement.test.ts
 *
 * llama.cpp is node-llama-cpp's prebuilt CPU binary (devDependency); MEDTUNE_SKIP_LLAMA_CPP=1
 * skips this test where that binary cannot load.
 */
import path from "node:path";

import type { ControlledEvaluateInputItem, Token } from "node-llama-cpp";
import { describe, expect, it } from "vitest";

import { loadTokenizer } from "../../src/train/tokenizer.js";
import { Model } from "../../src/train/model.js";

const MODEL = path.resolve("models/base/SmolLM2-135M-Instruct.Q4_1.gguf");
const POSITIONS = 200;

const TEXT = [
  "Metformin is a biguanide that lowers hepatic glucose production and improves insulin",
  "sensitivity in patients with type 2 diabetes mellitus. It is usually started at a low dose to",
  "limit gastrointestinal adverse effects such as nausea and diarrhea. Because metformin is cleared",
  "by the kidneys, the dose should be reduced when the estimated glomerular filtration rate falls",
  "below 45 mL/min, and the drug should be stopped below 30 mL/min because of the risk of lactic",
  "acidosis. Warfarin inhibits vitamin K epoxide reductase, which reduces the synthesis of clotting",
  "factors II, VII, IX and X. Its effect is monitored with the international normalized ratio, and",
  "many antibiotics, antifungal agents and amiodarone increase its anticoagulant effect through",
  "interactions with cytochrome P450 enzymes. Patients with atrial fibrillation who cannot take",
  "warfarin may receive a direct oral anticoagulant such as apixaban or rivaroxaban. Statins",
  "inhibit HMG-CoA reductase and lower low-density lipoprotein cholesterol, which reduces the risk",
  "of myocardial infarction and ischemic stroke in adults with established cardiovascular disease.",
].join(" ");

function argmax(x: Float32Array, from: number, n: number): number {
  let best = 0;
  for (let v = 1; v < n; v++) if (x[from + v]! > x[from + best]!) best = v;
  return best;
}

describe.skipIf(process.env.MEDTUNE_SKIP_LLAMA_CPP === "1")("agreement with llama.cpp", () => {
  it(`teacher-forced top-1 agrees at ≥ 95% of ${POSITIONS} positions`, async () => {
    const tok = await loadTokenizer(MODEL);
    const ids = tok.encode(TEXT).slice(0, POSITIONS + 1);
    expect(ids.length).toBe(POSITIONS + 1);

    // llama.cpp: one batch, with the top logit after every input token.
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    const theirs: number[] = [];
    try {
      const lm = await llama.loadModel({ modelPath: MODEL });
      const ctx = await lm.createContext({ contextSize: 256, batchSize: 256, threads: 2 });
      // Our ids are llama.cpp's (test/train/tokenizer.test.ts), so they pass as its Token type.
      const input = ids
        .slice(0, POSITIONS)
        .map((id): ControlledEvaluateInputItem => [
          id as Token,
          { generateNext: { logits: { filter: { tokens: [], includeTop: 1 } } } },
        ]);
      const out = await ctx.getSequence().controlledEvaluate(input);
      for (let i = 0; i < POSITIONS; i++) {
        const top = out[i]?.next.logits?.keys().next().value;
        if (top === undefined) throw new Error(`llama.cpp returned no logits at position ${i}`);
        theirs.push(top);
      }
      await ctx.dispose();
      await lm.dispose();
    } finally {
      await llama.dispose();
    }

    const model = await Model.load(MODEL);
    const V = model.config.vocabSize;
    const logits = model.forward(Int32Array.from(ids.slice(0, POSITIONS)), [1, POSITIONS]);
    model.dispose();
    let agree = 0;
    for (let i = 0; i < POSITIONS; i++) if (argmax(logits, i * V, V) === theirs[i]) agree++;
    // How often each picks the actual next token: a sanity check that both read the text.
    const hits = (pick: (i: number) => number) =>
      ids.slice(1).filter((t, i) => pick(i) === t).length;
    console.log(
      `llama.cpp agreement: ${agree}/${POSITIONS} = ${((100 * agree) / POSITIONS).toFixed(1)}% ` +
        `(next-token accuracy: ours ${hits((i) => argmax(logits, i * V, V))}, ` +
        `llama.cpp ${hits((i) => theirs[i]!)})`,
    );
    expect(agree / POSITIONS).toBeGreaterThanOrEqual(0.95);
  });
});
