/**
 * medtune: the one import for notebooks, the CLI and tests.
 *
 *   import * as medtune from "../dist/index.js";      // in a notebook (notebooks/ is beside dist/)
 *   const r = await medtune.ingest.runIngest({ sources: ["pubmed"] });
 *
 * Groups are namespaces, one per stage, so a cell reads as the pipeline does.
 */
export * as record from "./data/record.js";
export * as paths from "./paths.js";
export * as native from "./native/loader.js";
export { runSmoke, formatSmoke } from "./native/smoke.js";
export * as ingest from "./ingest/index.js";
export * as augment from "./augment/index.js";
export * as formats from "./data/formats.js";
export * as jsonl from "./data/jsonl.js";
export { Model } from "./train/model.js";
export { Trainer } from "./train/trainer.js";
export { runTraining, readTrainingRecords } from "./train/run.js";
export type { RunTrainingOptions, RunEvent, TrainingRunResult } from "./train/run.js";
export type { AccuracyEvent } from "./train/accuracy.js";
export { startTraining } from "./train/session.js";
export type { TrainingSession, SessionEvent, StartTrainingOptions } from "./train/session.js";
export { LORA_MODULES } from "./train/modules.js";
export { loadTokenizer } from "./train/tokenizer.js";
export { loadEmbedder, cosineSimilarity, type Embedder } from "./models/embedder.js";
export { ChatTemplate } from "./train/chat-template.js";
export { loadTrainingConfig } from "./train/config.js";
export * as merge from "./merge/index.js";
export { listModels, type ModelEntry, type ListModelsResult } from "./models/list.js";
export * as evaluate from "./evaluate/index.js";
export * as figures from "./notebook/figures.js";
export * as report from "./notebook/report.js";
export * as blocks from "./notebook/blocks.js";
export {
  show,
  showBlocks,
  showFigure,
  showTable,
  liveTraining,
  toFrame,
} from "./notebook/display.js";
export { sampleRecords, tokenLengthFigure } from "./notebook/records.js";
export { trainInNotebook, withInterruptAs, type NotebookTraining } from "./notebook/training.js";
export { compareAnswers, type AnswerComparison } from "./workbench/answers.js";
export * as workbench from "./workbench/presets.js";
