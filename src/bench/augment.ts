/**
 * `npm run bench -- augment [--count 10000] [--repeats 3]`: records/s, MB/s and peak RSS of every
 * augment step on generated records (src/augment/synthetic.ts), each step alone in its own child
 * process on the same input (so its peak RSS is its own, input included), plus the whole pipeline;
 * `gzip -dc` of the same records as gzipped JSONL is the floor. Also checks that dedup finds the
 * planted near-duplicates.
 *
 *   npx tsx src/bench/index.ts augment --count 2000 --repeats 1
 */
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createGzip } from "node:zlib";
import type { StepResult } from "../augment/step.js";
import { gzipFloorSeconds } from "./ingest.js";
import type { BenchOptions, Log, SuiteOutcome } from "./options.js";
import { childEntry, runNodeChild } from "./peers.js";
import { alternate, numberField, type Comparison, type MetricSpec } from "./stats.js";

const SELF = fileURLToPath(import.meta.url);
const STEPS = [
  "phi",
  "dedup",
  "decontaminate",
  "chain_of_thought",
  "paraphrase",
  "negatives",
  "validate",
  "harmful",
  "split",
  "pipeline",
] as const;
type StepName = (typeof STEPS)[number];

interface ChildArgs {
  step: StepName;
  count: number;
  seed: number;
}

async function records(count: number, seed: number) {
  const { syntheticRecords } = await import("../augment/synthetic.js");
  return syntheticRecords({ count, seed });
}

/** The child: one step on freshly generated records, timed without the generation. */
async function child(a: ChildArgs): Promise<Record<string, unknown>> {
  const { records: recs, duplicates } = await records(a.count, a.seed);
  const { EntityLexicon, factEntities } = await import("../augment/lexicon.js");
  const { FactIndex } = await import("../augment/facts.js");
  const lexicon = EntityLexicon.from([factEntities(recs)]);
  const index = FactIndex.fromRecords(recs, lexicon);
  const seed = a.seed;
  const run: Record<StepName, () => Promise<StepResult | { records: unknown[] }>> = {
    phi: async () => (await import("../augment/phi.js")).phiGuard(recs),
    dedup: async () => (await import("../augment/dedup.js")).dedup(recs),
    decontaminate: async () =>
      (await import("../augment/decontam.js")).decontaminate(recs, {
        // an eval set made of some of the generated abstracts: decontamination has work to do
        evalSets: [
          {
            name: "bench-eval",
            file: "(generated)",
            items: recs
              .filter((_, i) => i % 97 === 0)
              .map((r) => ({ id: r.id, texts: [r.input, r.output], pmids: [] })),
          },
        ],
      }),
    chain_of_thought: async () =>
      (await import("../augment/cot.js")).chainOfThought(recs, { index, seed }),
    paraphrase: async () =>
      (await import("../augment/paraphrase.js")).paraphrase(recs, { lexicon, seed }),
    negatives: async () =>
      (await import("../augment/negatives.js")).generateNegatives(recs, { index, seed }),
    validate: async () => (await import("../augment/validate.js")).validateFacts(recs, { index }),
    harmful: async () => (await import("../augment/harmful.js")).filterHarmful(recs),
    split: async () => (await import("../augment/split.js")).splitRecords(recs, { seed }),
    pipeline: async () => {
      const { augmentRecords } = await import("../augment/pipeline.js");
      const { defaultConfig } = await import("../augment/config.js");
      const r = await augmentRecords(recs, { ...defaultConfig(), seed });
      return { records: [...r.splits.train, ...r.splits.valid, ...r.splits.test] };
    },
  };
  const t0 = performance.now();
  const res = await run[a.step]();
  const seconds = (performance.now() - t0) / 1000;
  const out: Record<string, unknown> = { records: recs.length, out: res.records.length, seconds };
  if (a.step === "dedup" && "events" in res) {
    const dropped = new Set(res.events.filter((e) => e.disposition === "dropped").map((e) => e.id));
    out.plantedDuplicates = duplicates.size;
    out.droppedDuplicates = dropped.size;
  }
  return out;
}

/** The generated records as gzipped JSONL; returns the file and its uncompressed MB. */
async function recordsFile(
  dir: string,
  count: number,
  seed: number,
): Promise<{ file: string; mb: number }> {
  const { records: recs } = await records(count, seed);
  const file = path.join(dir, "records.jsonl.gz");
  const gz = createGzip({ level: 6 });
  const out = createWriteStream(file);
  gz.pipe(out);
  let bytes = 0;
  for (const r of recs) {
    const line = JSON.stringify(r) + "\n";
    bytes += Buffer.byteLength(line);
    if (!gz.write(line)) await new Promise<void>((res) => gz.once("drain", () => res()));
  }
  gz.end();
  await new Promise<void>((res, rej) => out.once("finish", () => res()).once("error", rej));
  return { file, mb: bytes / 2 ** 20 };
}

export async function bench(o: BenchOptions, log: Log): Promise<SuiteOutcome> {
  const seed = 7;
  const dir = await mkdtemp(path.join(tmpdir(), "medtune-bench-augment-"));
  try {
    const { file, mb } = await recordsFile(dir, o.count, seed);
    const metrics: MetricSpec[] = STEPS.flatMap((s) => [
      { key: `${s}.mbPerSecond`, label: `${s} MB/s`, unit: "MB/s", higherIsBetter: true },
      {
        key: `${s}.recordsPerSecond`,
        label: `${s} records/s`,
        unit: "records/s",
        higherIsBetter: true,
        chart: true,
      },
      { key: `${s}.peakRssMiB`, label: `${s} peak RSS`, unit: "MiB", higherIsBetter: false },
    ]);
    const c: Comparison = {
      suite: "augment",
      title: `each step alone on ${o.count} generated records (${mb.toFixed(1)} MB as JSONL), in its own process`,
      ours: "medtune",
      subjects: ["medtune", "gzip -dc"],
      metrics,
      samples: [],
      notes: [
        "gzip -dc's figure is decompressing the same records as gzipped JSONL, the same for every step; peak RSS includes the records and the step's indexes",
      ],
    };
    await alternate(
      c,
      o.repeats ?? 3,
      async (subject) => {
        const values: Record<string, number> = {};
        if (subject === "gzip -dc") {
          const seconds = gzipFloorSeconds([file]);
          for (const s of STEPS) values[`${s}.mbPerSecond`] = mb / seconds;
          return { values };
        }
        for (const step of STEPS) {
          const run = await runNodeChild(SELF, { step, count: o.count, seed } satisfies ChildArgs, {
            who: `augment ${step}`,
            timeoutSeconds: 1800,
          });
          const seconds = numberField(`augment ${step}`, run.result, "seconds");
          values[`${step}.mbPerSecond`] = mb / seconds;
          values[`${step}.recordsPerSecond`] = o.count / seconds;
          values[`${step}.peakRssMiB`] =
            Math.max(
              run.treePeakRssBytes,
              numberField(`augment ${step}`, run.result, "peakRssBytes"),
            ) /
            2 ** 20;
          if (step === "dedup" && c.notes.length < 2)
            c.notes.push(
              `dedup dropped ${String(run.result.droppedDuplicates)} records; ${String(run.result.plantedDuplicates)} near-copies were planted`,
            );
        }
        return { values };
      },
      log,
    );
    return { comparisons: [c], goals: [] };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

childEntry(SELF, child as (a: never) => Promise<Record<string, unknown>>);
