/**
 * `npm run bench -- augment [--count N] [--seed S]`: records/s of every augment step on generated
 * records (src/augment/synthetic.ts), each step timed alone on the same input, plus the whole
 * pipeline. Also checks that dedup finds the planted near-duplicates it should.
 *
 *   npx tsx src/bench/index.ts augment --count 100000
 */
import { chainOfThought } from "../augment/cot.js";
import { defaultConfig } from "../augment/config.js";
import { decontaminate, type EvalSet } from "../augment/decontam.js";
import { dedup } from "../augment/dedup.js";
import { FactIndex } from "../augment/facts.js";
import { filterHarmful } from "../augment/harmful.js";
import { EntityLexicon, factEntities } from "../augment/lexicon.js";
import { generateNegatives } from "../augment/negatives.js";
import { paraphrase } from "../augment/paraphrase.js";
import { phiGuard } from "../augment/phi.js";
import { runAugment } from "../augment/pipeline.js";
import { splitRecords } from "../augment/split.js";
import type { StepResult } from "../augment/step.js";
import { syntheticRecords } from "../augment/synthetic.js";
import { validateFacts } from "../augment/validate.js";

function arg(argv: string[], name: string, def: number): number {
  const i = argv.indexOf(name);
  if (i < 0) return def;
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} expects a positive number`);
  return v;
}

export async function main(argv: string[]): Promise<number> {
  const count = arg(argv, "--count", 100_000);
  const seed = arg(argv, "--seed", 7);
  const t0 = performance.now();
  const { records, duplicates } = syntheticRecords({ count, seed });
  process.stdout.write(
    `augment bench: ${records.length} generated records (${duplicates.size} planted near-copies) in ${Math.round(performance.now() - t0)} ms\n`,
  );
  const lexicon = EntityLexicon.from([factEntities(records)]);
  const index = FactIndex.fromRecords(records, lexicon);
  // An eval set made of some of the generated abstracts: decontamination has work to do.
  const evalSet: EvalSet = {
    name: "bench-eval",
    file: "(generated)",
    items: records
      .filter((_, i) => i % 97 === 0)
      .map((r) => ({ id: r.id, texts: [r.input, r.output], pmids: [] })),
  };
  const steps: [string, () => Promise<StepResult>][] = [
    ["phi", () => phiGuard(records)],
    ["dedup", () => dedup(records)],
    ["decontaminate", () => decontaminate(records, { evalSets: [evalSet] })],
    ["chain_of_thought", () => chainOfThought(records, { index, seed })],
    ["paraphrase", () => paraphrase(records, { lexicon, seed })],
    ["negatives", () => generateNegatives(records, { index, seed })],
    ["validate", () => validateFacts(records, { index })],
    ["harmful", () => filterHarmful(records)],
    ["split", () => splitRecords(records, { seed })],
  ];
  process.stdout.write(
    `${"step".padEnd(18)} ${"records/s".padStart(12)} ${"ms".padStart(9)} ${"out".padStart(9)}\n`,
  );
  for (const [name, run] of steps) {
    const start = performance.now();
    const res = await run();
    const ms = performance.now() - start;
    process.stdout.write(
      `${name.padEnd(18)} ${Math.round(records.length / (ms / 1000))
        .toString()
        .padStart(12)} ${ms.toFixed(0).padStart(9)} ${String(res.records.length).padStart(9)}\n`,
    );
    if (name === "dedup") {
      const dropped = new Set(
        res.events.filter((e) => e.disposition === "dropped").map((e) => e.id),
      );
      process.stdout.write(
        `${"".padEnd(18)} dropped ${dropped.size}; extra ${JSON.stringify(res.report.extra)}\n`,
      );
    }
  }
  const start = performance.now();
  const result = await runAugment(records, { ...defaultConfig(), seed });
  const ms = performance.now() - start;
  const out = result.splits.train.length + result.splits.valid.length + result.splits.test.length;
  process.stdout.write(
    `${"pipeline".padEnd(18)} ${Math.round(records.length / (ms / 1000))
      .toString()
      .padStart(
        12,
      )} ${ms.toFixed(0).padStart(9)} ${String(out).padStart(9)}  (leaks: ${result.leaks.length})\n`,
  );
  return 0;
}
