/**
 * medtune: the one import for notebooks, the CLI and tests.
 *
 *   import * as medtune from "medtune";   // or "../dist/index.js" from a notebook
 *
 * Groups are re-exported as namespaces so a notebook cell reads `medtune.ingest.runIngest(...)`.
 */
export * as record from "./data/record.js";
export * as paths from "./paths.js";
export * as native from "./native/loader.js";
export { runSmoke, formatSmoke } from "./native/smoke.js";
