/**
 * The evaluate stage: `runEvaluation` (suites, base vs fine-tuned), the scoring helpers it is built
 * on, the safety validator, hallucination and citation checks, and the safe-answer path.
 */
export * from "./likelihood.js";
export * from "./stats.js";
export * from "./readers.js";
export * from "./safety.js";
export * from "./corpus.js";
export * from "./hallucination.js";
export * from "./suite.js";
export * from "./tasks.js";
export * from "./metrics.js";
export * from "./figures.js";
export * from "./answer.js";
export {
  runEvaluation,
  resolveAdapterDir,
  type RunEvaluationOptions,
  type EvaluationEvent,
  type EvaluationResult,
  type SideBySide,
} from "./run.js";
export * from "./report-blocks.js";
