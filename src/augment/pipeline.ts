/**
 * The augment pipeline: the steps chained in order over one record list, each step's report kept.
 *
 *   phi → dedup → decontaminate → chain_of_thought → paraphrase → negatives → validate → harmful
 *       → dedup_final (exact) → split
 *
 * Privacy first (nothing downstream sees identifiers); dedup and decontamination before anything
 * is generated from the records; validation and the harmful filter after generation, so generated
 * records are checked like ingested ones. `augmentRecords` is the stage on records in memory; the
 * stage over files (`runAugment`, files.ts) is what the CLI and notebooks call.
 */
import type { InstructionRecord } from "../data/record.js";
import type { AugmentConfig } from "./config.js";
import { defaultConfig } from "./config.js";
import { chainOfThought } from "./cot.js";
import { decontaminate } from "./decontam.js";
import { dedup } from "./dedup.js";
import { deriveFacts, FactIndex } from "./facts.js";
import { filterHarmful } from "./harmful.js";
import {
  drugBankVocabulary,
  EntityLexicon,
  factEntities,
  loadHetionetNodes,
  meshTerms,
  type SynonymSource,
} from "./lexicon.js";
import { generateNegatives } from "./negatives.js";
import { paraphrase, type Generate } from "./paraphrase.js";
import { phiGuard } from "./phi.js";
import { findLeaks, splitRecords, type Splits } from "./split.js";
import type { RecordEvent, StepReport, StepResult } from "./step.js";
import { validateFacts } from "./validate.js";

export interface AugmentHooks {
  /** Model paraphraser (the trainer's generate API), optional. */
  generate?: Generate;
  /** Extra vocabularies beyond the config's files and the records' own facts. */
  synonymSources?: SynonymSource[];
  /** Called after each step (progress for notebooks and the CLI). */
  onStep?: (report: StepReport) => void;
}

export interface AugmentRecordsResult {
  splits: Splits;
  steps: StepReport[];
  events: RecordEvent[];
  leaks: { key: string; splits: string[] }[];
  lexicon: EntityLexicon;
  index: FactIndex;
}

export async function augmentRecords(
  input: readonly InstructionRecord[],
  config: AugmentConfig = defaultConfig(),
  hooks: AugmentHooks = {},
): Promise<AugmentRecordsResult> {
  const c = config;
  const steps: StepReport[] = [];
  const events: RecordEvent[] = [];
  let records: InstructionRecord[] = [...input];
  const done = (r: StepResult) => {
    steps.push(r.report);
    events.push(...r.events);
    records = r.records;
    hooks.onStep?.(r.report);
  };

  const lexicon = EntityLexicon.from([
    factEntities(input),
    meshTerms(input),
    ...c.vocabulary.drugbank.map((f) => drugBankVocabulary(f)),
    ...(await Promise.all(c.vocabulary.hetionetNodes.map((f) => loadHetionetNodes(f)))),
    ...(hooks.synonymSources ?? []),
  ]);
  // Records without structured facts get them from their citations where the source allows.
  let derived = 0;
  records = records.map((r) => {
    const facts = deriveFacts(r, lexicon);
    if (!facts) return r;
    derived++;
    return { ...r, metadata: { ...r.metadata, facts } };
  });
  lexicon.addSource(factEntities(records));
  const index = FactIndex.fromRecords(records, lexicon);

  done(await phiGuard(records, c.phi));
  steps[0]!.extra.factsDerived = derived;
  if (c.dedup.enabled) done(await dedup(records, { ...c.dedup, seed: c.seed }));
  done(await decontaminate(records, { evalPaths: c.decontaminate }));
  if (c.cot.enabled)
    done(
      await chainOfThought(records, {
        index,
        seed: c.seed,
        perStart: c.cot.perStart,
        abstracts: c.cot.abstracts,
        ...(c.cot.maxPaths !== undefined ? { maxPaths: c.cot.maxPaths } : {}),
      }),
    );
  if (c.paraphrase.enabled) {
    done(
      await paraphrase(records, {
        lexicon,
        seed: c.seed,
        rate: c.paraphrase.rate,
        perRecord: c.paraphrase.perRecord,
        maxRougeL: c.paraphrase.maxRougeL,
        ...(hooks.generate ? { generate: hooks.generate } : {}),
      }),
    );
  }
  if (c.negatives.enabled) {
    const { enabled: _e, ...n } = c.negatives;
    done(await generateNegatives(records, { index, seed: c.seed, ...n }));
  }
  done(await validateFacts(records, { index, mode: c.validate.mode }));
  done(await filterHarmful(records, { categories: c.harmful.categories }));
  const final = await dedup(records, { exactOnly: true });
  final.report.step = "dedup_final";
  for (const e of final.events) e.step = "dedup_final";
  done(final);
  const split = await splitRecords(records, { seed: c.seed, ratios: c.splits });
  done(split);
  return { splits: split.splits, steps, events, leaks: findLeaks(split.splits), lexicon, index };
}
