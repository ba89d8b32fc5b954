/**
 * `npm run bench -- generate [--prompt-tokens 64] [--max-tokens 128] [--threads N]`: greedy
 * generation on the same GGUF and the same prompt ids, medtune vs llama.cpp (node-llama-cpp's
 * CPU build), each in its own process with the same thread count, A B A B. Both sides are timed
 * the same way from outside: prompt tokens/s = prompt length / time to the first new token,
 * decode tokens/s = (new tokens − 1) / time from the first to the last. Each process warms up
 * with one short generation first, then runs batch 1, then `--parallel` prompts at once (llama.cpp:
 * that many context sequences decoded together; medtune: Model.generateBatch where the addon has it).
 *
 *   npx tsx src/bench/index.ts generate --repeats 3
 */
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchOptions, Log, SuiteOutcome } from "./options.js";
import { childEntry, runNodeChild, threadEnv } from "./peers.js";
import {
  alternate,
  goal,
  numberField,
  ratioOf,
  summaryOf,
  type Comparison,
  type MetricSpec,
} from "./stats.js";

const SELF = fileURLToPath(import.meta.url);

// Real biomedical prose; its first `promptTokens` ids are the prompt.
const TEXT = [
  "Heparin-induced thrombocytopenia is an immune reaction in which antibodies against complexes of",
  "platelet factor 4 and heparin activate platelets, so that the platelet count falls while the risk",
  "of venous and arterial thrombosis rises. It typically begins five to ten days after heparin is",
  "started. When it is suspected, all heparin, including flushes of intravenous lines, is stopped and",
  "a non-heparin anticoagulant such as argatroban, bivalirudin or fondaparinux is given; warfarin is",
  "not started until the platelet count has recovered, because it can cause venous limb gangrene.",
  "Low-molecular-weight heparins carry a lower risk than unfractionated heparin but cross-react.",
].join(" ");

interface ChildArgs {
  subject: "medtune" | "llama.cpp";
  model: string;
  promptTokens: number;
  maxTokens: number;
  threads: number;
  /** Prompts in the batched run after the batch-1 run; 0 = none. */
  parallel: number;
}

/** Model.generateBatch, looked up at run time: it is newer than this suite and the addon. */
type GenerateBatch = (
  prompts: { prompt: ArrayLike<number> }[],
  opts: {
    maxTokens: number;
    temperature: number;
    stopTokens: number[];
    onToken: (sequence: number, token: number, index: number) => void;
  },
) => Promise<unknown>;

/**
 * Timing of a generation from outside: start, the first token of any sequence, the last token.
 * With S sequences, the first S tokens (one per sequence) close prompt processing.
 */
class Clock {
  private t0 = performance.now();
  private first = 0;
  private last = 0;
  private count = 0;
  readonly tokens: number[] = [];
  token(id: number, sequence = 0): void {
    const now = performance.now();
    if (this.count === 0) this.first = now;
    this.last = now;
    this.count++;
    if (sequence === 0) this.tokens.push(id);
  }
  result(promptTokens: number, sequences = 1) {
    return {
      promptTokensPerSecond: promptTokens / ((this.first - this.t0) / 1000),
      decodeTokensPerSecond: (this.count - sequences) / ((this.last - this.first) / 1000),
      newTokens: this.count,
      tokens: this.tokens,
    };
  }
}

/** How medtune's CPU decode path multiplied by the packed weights in this run (the same env). */
async function medtuneProducts(): Promise<string> {
  const { loadNative } = await import("../native/loader.js");
  const { kernel, byDefault } = loadNative().decodeInt8();
  const asked = process.env.MEDTUNE_DECODE_INT8;
  const int8 = asked === "1" ? kernel !== "none" : asked === "0" ? false : byDefault;
  const how =
    kernel === "amx"
      ? "AMX tiles for prompts and batches, VNNI rows for batch 1"
      : "VNNI rows for batch 1, float32 for prompts and batches";
  return int8
    ? `medtune's products over the packed weights: x quantized to int8 per 32 values (${how})`
    : "medtune's products over the packed weights: float32 (MEDTUNE_DECODE_INT8=1 asks for int8)";
}

async function medtune(a: ChildArgs, prompts: number[][]) {
  const { Model } = await import("../train/model.js");
  const model = await Model.load(a.model);
  const prompt = prompts[0]!;
  try {
    await model.generate(prompt, { maxTokens: 8, temperature: 0, stopTokens: [] });
    const clock = new Clock();
    await model.generate(prompt, {
      maxTokens: a.maxTokens,
      temperature: 0,
      stopTokens: [],
      onToken: (t) => clock.token(t),
    });
    const single = clock.result(prompt.length);
    const batch = (model as unknown as { generateBatch?: GenerateBatch }).generateBatch;
    const native = model.native as unknown as { generateBatch?: unknown };
    if (a.parallel < 2 || !batch || typeof native.generateBatch !== "function")
      return { single, batched: null };
    const bc = new Clock();
    await batch.call(
      model,
      prompts.map((p) => ({ prompt: p })),
      {
        maxTokens: a.maxTokens,
        temperature: 0,
        stopTokens: [],
        onToken: (s, t) => bc.token(t, s),
      },
    );
    return { single, batched: bc.result(prompt.length * prompts.length, prompts.length) };
  } finally {
    model.dispose();
  }
}

async function llamaCpp(a: ChildArgs, prompts: number[][]) {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  try {
    const lm = await llama.loadModel({ modelPath: a.model });
    const perSequence = a.promptTokens + a.maxTokens + 16;
    const sequences = Math.max(1, a.parallel);
    const ctx = await lm.createContext({
      contextSize: perSequence * sequences,
      sequences,
      batchSize: Math.max(512, a.promptTokens),
      threads: a.threads,
    });
    const seqs = Array.from({ length: sequences }, () => ctx.getSequence());
    type Token = Parameters<(typeof seqs)[0]["evaluate"]>[0][number];
    // sequence.evaluate generates without stopping at end-of-text, like stopTokens: [] above;
    // sequences evaluated at once are decoded together in one llama.cpp batch per step.
    const run = async (s: number, n: number, clock?: Clock) => {
      const seq = seqs[s]!;
      let k = 0;
      const ids = prompts[s]! as unknown as Token[]; // our ids are llama.cpp's
      for await (const t of seq.evaluate(ids, { temperature: 0 })) {
        clock?.token(t as unknown as number, s);
        if (++k >= n) break;
      }
      await seq.clearHistory();
    };
    await run(0, 8);
    const clock = new Clock();
    await run(0, a.maxTokens, clock);
    const single = clock.result(a.promptTokens);
    let batched = null;
    if (a.parallel >= 2) {
      const bc = new Clock();
      await Promise.all(prompts.map((_, s) => run(s, a.maxTokens, bc)));
      batched = bc.result(a.promptTokens * prompts.length, prompts.length);
    }
    await ctx.dispose();
    await lm.dispose();
    return { single, batched };
  } finally {
    await llama.dispose();
  }
}

async function child(a: ChildArgs): Promise<Record<string, unknown>> {
  const { loadTokenizer } = await import("../train/tokenizer.js");
  const tok = await loadTokenizer(a.model);
  const ids = tok.encode(TEXT);
  const count = Math.max(1, a.parallel);
  // prompt i starts i tokens into the text: same length, different contexts
  if (ids.length < a.promptTokens + count - 1)
    throw new Error(
      `the bench text has ${ids.length} tokens; --prompt-tokens + --parallel must stay ≤ ${ids.length + 1}`,
    );
  const prompts = Array.from({ length: count }, (_, i) => ids.slice(i, i + a.promptTokens));
  const r = a.subject === "medtune" ? await medtune(a, prompts) : await llamaCpp(a, prompts);
  return { subject: a.subject, ...r };
}

const METRICS: MetricSpec[] = [
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
];
const RSS: MetricSpec = {
  key: "peakRssMiB",
  label: "peak RSS, process tree (whole run)",
  unit: "MiB",
  higherIsBetter: false,
};

interface Timing {
  promptTokensPerSecond: number;
  decodeTokensPerSecond: number;
  tokens: number[];
}

export async function bench(o: BenchOptions, log: Log): Promise<SuiteOutcome> {
  const subjects = ["medtune", ...(o.peers ? ["llama.cpp"] : [])];
  const what = `${o.promptTokens}-token prompt, ${o.maxTokens} new tokens, greedy; ${basename(o.model)}; ${o.threads} threads`;
  const single: Comparison = {
    suite: "generate",
    title: `batch 1, ${what}`,
    ours: "medtune",
    subjects,
    metrics: [...METRICS, RSS],
    samples: [],
    notes: [],
  };
  const batched: Comparison = {
    suite: "generate",
    title: `${o.parallel} prompts at once (tokens/s of all sequences), ${what}`,
    ours: "medtune",
    subjects,
    metrics: METRICS,
    samples: [],
    notes: [],
  };
  const tokens: Record<string, number[]> = {};
  await alternate(
    single,
    o.repeats ?? 3,
    async (subject, round) => {
      const args: ChildArgs = {
        subject: subject as ChildArgs["subject"],
        model: o.model,
        promptTokens: o.promptTokens,
        maxTokens: o.maxTokens,
        threads: o.threads,
        parallel: o.parallel,
      };
      const who = `${subject} generate`;
      const run = await runNodeChild(SELF, args as unknown as Record<string, unknown>, {
        who,
        env: threadEnv(o.threads),
        timeoutSeconds: 900,
      });
      const one = run.result.single as Timing;
      const many = run.result.batched as Timing | null;
      tokens[subject] = one.tokens;
      const pick = (t: Timing) => ({
        decodeTokensPerSecond: numberField(
          who,
          t as unknown as Record<string, unknown>,
          "decodeTokensPerSecond",
        ),
        promptTokensPerSecond: numberField(
          who,
          t as unknown as Record<string, unknown>,
          "promptTokensPerSecond",
        ),
      });
      if (many) batched.samples.push({ subject, round, values: pick(many) });
      const values = {
        ...pick(one),
        peakRssMiB:
          Math.max(run.treePeakRssBytes, numberField(who, run.result, "peakRssBytes")) / 2 ** 20,
      };
      log(
        `generate: ${subject} decode ${values.decodeTokensPerSecond.toFixed(1)} tok/s, prompt ${values.promptTokensPerSecond.toFixed(0)} tok/s` +
          (many
            ? `; ${o.parallel} at once: decode ${many.decodeTokensPerSecond.toFixed(1)} tok/s`
            : ""),
      );
      return { values };
    },
    log,
  );
  const [a, b] = [tokens.medtune, tokens["llama.cpp"]];
  if (a && b) {
    let same = 0;
    while (same < Math.min(a.length, b.length) && a[same] === b[same]) same++;
    single.notes.push(
      `greedy outputs agree on the first ${same} of ${Math.min(a.length, b.length)} new tokens (llama.cpp quantizes activations to 8 bits for its Q4 products, so near-ties can flip)`,
    );
  }
  single.notes.push(
    "timed from outside alike: prompt tok/s = prompt tokens / time to the first new token; decode tok/s = (new tokens − 1) / time from the first to the last",
    await medtuneProducts(),
  );
  if (!batched.samples.some((s) => s.subject === "medtune"))
    batched.notes.push(
      "medtune: this build's native addon has no batched generate (generateBatch)",
    );
  const comparisons = batched.samples.length ? [single, batched] : [single];
  const goals = o.peers
    ? [
        goal(
          "decode tokens/s vs llama.cpp",
          ratioOf(single, "llama.cpp", "decodeTokensPerSecond"),
          "≥",
          1,
        ),
        goal(
          "prompt tokens/s vs llama.cpp",
          ratioOf(single, "llama.cpp", "promptTokensPerSecond"),
          "≥",
          1,
        ),
      ]
    : [];
  const mine = summaryOf(batched, "medtune", "decodeTokensPerSecond");
  const one = summaryOf(single, "medtune", "decodeTokensPerSecond");
  if (mine && one)
    goals.push(
      goal(
        `batched decode (${o.parallel} prompts) vs batch 1, medtune`,
        mine.median / one.median,
        "≥",
        4,
      ),
    );
  return { comparisons, goals };
}

childEntry(SELF, child as (a: never) => Promise<Record<string, unknown>>);
