/**
 * `npm run bench -- generate [--prompt-tokens 64] [--max-tokens 128] [--threads N]`: greedy
 * generation on the same GGUF and the same prompt ids, medtune vs llama.cpp (node-llama-cpp's
 * CPU build), each in its own process with the same thread count, A B A B. Both sides are timed
 * the same way from outside: prompt tokens/s = prompt length / time to the first new token,
 * decode tokens/s = (new tokens − 1) / time from the first to the last. Each process warms up
 * with one short generation first. Batched generation (many prompts at once) runs where medtune's
 * native binding has it.
 *
 *   npx tsx src/bench/index.ts generate --repeats 3
 */
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchOptions, Log, SuiteOutcome } from "./options.js";
import { childEntry, runNodeChild, threadEnv } from "./peers.js";
import { alternate, goal, numberField, ratioOf, type Comparison } from "./stats.js";

const SELF = fileURLToPath(import.meta.url);

// Real biomedical prose; its first `promptTokens` ids are the prompt.
const TEXT = [
  "Metformin is a biguanide that lowers hepatic glucose production and improves insulin",
  "sensitivity in patients with type 2 diabetes mellitus. It is usually started at a low dose to",
  "limit gastrointestinal adverse effects such as nausea and diarrhea. Because metformin is cleared",
  "by the kidneys, the dose should be reduced when the estimated glomerular filtration rate falls",
  "below 45 mL/min, and the drug should be stopped below 30 mL/min because of the risk of lactic",
  "acidosis. Warfarin inhibits vitamin K epoxide reductase, which reduces the synthesis of clotting",
  "factors II, VII, IX and X. Its effect is monitored with the international normalized ratio.",
].join(" ");

interface ChildArgs {
  subject: "medtune" | "llama.cpp";
  model: string;
  promptTokens: number;
  maxTokens: number;
  threads: number;
}

/** Timing of one generation from outside: start, first token, last token. */
class Clock {
  private t0 = performance.now();
  private first = 0;
  private last = 0;
  readonly tokens: number[] = [];
  token(id: number): void {
    const now = performance.now();
    if (this.tokens.length === 0) this.first = now;
    this.last = now;
    this.tokens.push(id);
  }
  result(promptTokens: number) {
    const n = this.tokens.length;
    return {
      promptTokensPerSecond: promptTokens / ((this.first - this.t0) / 1000),
      decodeTokensPerSecond: (n - 1) / ((this.last - this.first) / 1000),
      newTokens: n,
      tokens: this.tokens,
    };
  }
}

async function medtune(a: ChildArgs, prompt: number[]) {
  const { Model } = await import("../train/model.js");
  const model = await Model.load(a.model);
  try {
    await model.generate(prompt, { maxTokens: 8, temperature: 0, stopTokens: [] });
    const clock = new Clock();
    await model.generate(prompt, {
      maxTokens: a.maxTokens,
      temperature: 0,
      stopTokens: [],
      onToken: (t) => clock.token(t),
    });
    return clock.result(prompt.length);
  } finally {
    model.dispose();
  }
}

async function llamaCpp(a: ChildArgs, prompt: number[]) {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  try {
    const lm = await llama.loadModel({ modelPath: a.model });
    const ctx = await lm.createContext({
      contextSize: a.promptTokens + a.maxTokens + 16,
      batchSize: Math.max(a.promptTokens, 64),
      threads: a.threads,
    });
    const seq = ctx.getSequence();
    type Token = Parameters<typeof seq.evaluate>[0][number];
    const ids = prompt as unknown as Token[]; // our ids are llama.cpp's (test/train/tokenizer.test.ts)
    const run = async (n: number, clock?: Clock) => {
      let k = 0;
      // sequence.evaluate generates without stopping at end-of-text, like stopTokens: [] above
      for await (const t of seq.evaluate(ids, { temperature: 0 })) {
        clock?.token(t as unknown as number);
        if (++k >= n) break;
      }
      await seq.clearHistory();
    };
    await run(8);
    const clock = new Clock();
    await run(a.maxTokens, clock);
    await ctx.dispose();
    await lm.dispose();
    return clock.result(prompt.length);
  } finally {
    await llama.dispose();
  }
}

async function child(a: ChildArgs): Promise<Record<string, unknown>> {
  const { loadTokenizer } = await import("../train/tokenizer.js");
  const tok = await loadTokenizer(a.model);
  const prompt = tok.encode(TEXT).slice(0, a.promptTokens);
  if (prompt.length < a.promptTokens)
    throw new Error(
      `the bench text has only ${prompt.length} tokens; --prompt-tokens ≤ ${prompt.length}`,
    );
  const r = a.subject === "medtune" ? await medtune(a, prompt) : await llamaCpp(a, prompt);
  return { subject: a.subject, ...r };
}

export async function bench(o: BenchOptions, log: Log): Promise<SuiteOutcome> {
  const c: Comparison = {
    suite: "generate",
    title: `greedy generation, batch 1, ${o.promptTokens}-token prompt, ${o.maxTokens} new tokens; ${basename(o.model)}; ${o.threads} threads`,
    ours: "medtune",
    subjects: ["medtune", ...(o.peers ? ["llama.cpp"] : [])],
    metrics: [
      {
        key: "decodeTokensPerSecond",
        label: "decode",
        unit: "tok/s",
        higherIsBetter: true,
        chart: true,
      },
      {
        key: "promptTokensPerSecond",
        label: "prompt processing",
        unit: "tok/s",
        higherIsBetter: true,
        chart: true,
      },
      { key: "peakRssMiB", label: "peak RSS, process tree", unit: "MiB", higherIsBetter: false },
    ],
    samples: [],
    notes: [],
  };
  const tokens: Record<string, number[]> = {};
  await alternate(
    c,
    o.repeats ?? 3,
    async (subject) => {
      const args: ChildArgs = {
        subject: subject as ChildArgs["subject"],
        model: o.model,
        promptTokens: o.promptTokens,
        maxTokens: o.maxTokens,
        threads: o.threads,
      };
      const run = await runNodeChild(SELF, args as unknown as Record<string, unknown>, {
        who: `${subject} generate`,
        env: threadEnv(o.threads),
        timeoutSeconds: 600,
      });
      const r = run.result;
      const who = `${subject} generate`;
      tokens[subject] = r.tokens as number[];
      const values = {
        decodeTokensPerSecond: numberField(who, r, "decodeTokensPerSecond"),
        promptTokensPerSecond: numberField(who, r, "promptTokensPerSecond"),
        peakRssMiB: Math.max(run.treePeakRssBytes, numberField(who, r, "peakRssBytes")) / 2 ** 20,
      };
      log(
        `generate: ${subject} decode ${values.decodeTokensPerSecond.toFixed(1)} tok/s, prompt ${values.promptTokensPerSecond.toFixed(0)} tok/s`,
      );
      return { values };
    },
    log,
  );
  const [a, b] = [tokens.medtune, tokens["llama.cpp"]];
  if (a && b) {
    let same = 0;
    while (same < Math.min(a.length, b.length) && a[same] === b[same]) same++;
    c.notes.push(
      `greedy outputs agree on the first ${same} of ${Math.min(a.length, b.length)} new tokens (llama.cpp quantizes activations to 8 bits for Q4 products, so near-ties can flip)`,
    );
  }
  c.notes.push(
    "batched generation: medtune's native binding has no batched generate yet, so only batch 1 is compared",
  );
  const goals = o.peers
    ? [
        goal(
          "decode tokens/s vs llama.cpp",
          ratioOf(c, "llama.cpp", "decodeTokensPerSecond"),
          "≥",
          1,
        ),
        goal(
          "prompt tokens/s vs llama.cpp",
          ratioOf(c, "llama.cpp", "promptTokensPerSecond"),
          "≥",
          1,
        ),
      ]
    : [];
  return { comparisons: [c], goals };
}

childEntry(SELF, child as (a: never) => Promise<Record<string, unknown>>);
