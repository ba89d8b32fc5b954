/**
 * The augment stage as a library: each step alone (for a notebook cell) and the pipeline.
 *
 *   import { dedup, runAugment } from "medtune/augment";
 *   const { records, report } = await dedup(records, { threshold: 0.8 });   // one step
 *   const r = await runAugment({ inDir: "data/processed", outDir: "data/processed" });   // the stage
 */
export * from "./step.js";
export * from "./text.js";
export * from "./lexicon.js";
export * from "./facts.js";
export * from "./phi.js";
export * from "./harmful.js";
export * from "./dedup.js";
export * from "./decontam.js";
export * from "./paraphrase.js";
export * from "./model-paraphraser.js";
export * from "./negatives.js";
export * from "./cot.js";
export * from "./validate.js";
export * from "./split.js";
export * from "./report.js";
export * from "./config.js";
export * from "./pipeline.js";
export { syntheticRecords, type SyntheticOptions } from "./synthetic.js";
export {
  runAugment,
  resolveConfig,
  type RunAugmentOptions,
  type AugmentRunResult,
  type AugmentEvent,
} from "./files.js";
