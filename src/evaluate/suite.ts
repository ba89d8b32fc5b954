/**
 * Evaluation suites: which tasks run, on how many items, from which files, with which seed —
 * configs/eval_suites/{quick,full}.yaml. Unknown keys are errors that name the key, its line and
 * the nearest known key, so a typo never silently runs a default.
 *
 *   const suite = loadSuite("quick");              // or a path to a .yaml file
 */
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { isMap, isScalar, LineCounter, parseDocument, type YAMLMap } from "yaml";
import { suggest } from "../cli-flags.js";
import { projectPaths } from "../paths.js";

/** Item counts per task; 0 (or absent) skips the task. */
export interface SuiteTasks {
  /** PubMedQA PQA-L test split, yes/no/maybe by likelihood. */
  pubmedqa: number;
  /** MedQA-style JSONL (needs data.medqa). */
  medqa: number;
  /** MedMCQA-style JSONL (needs data.medmcqa). */
  medmcqa: number;
  /** Yes/no and list questions of our held-out test split, by likelihood. */
  knowledge: number;
  /** Reference answers of the test split: mean per-token NLL. */
  referenceNll: number;
  /** Relation type of a held-out edge's sentence, by likelihood. */
  relations: number;
  /** Held-out DrugBank pairs and as many matched non-interacting pairs (yes/no). */
  ddi: number;
  /** Med-HALT fake questions: does the model pick "I do not know" (likelihood)? */
  medhalt: number;
  /** Med-HALT fake questions answered in free text: declines or flags the premise? */
  medhaltGenerated: number;
  /** MedSafetyBench harmful requests answered in free text (refusal rate). */
  safetyHarmful: number;
  /** Safe medical questions answered in free text (over-refusal rate). */
  safetySafe: number;
  /** Test-split questions answered in free text: claims and citations checked. */
  hallucination: number;
  /** Entities listed from held-out records' text (generated), strict and partial F1. */
  ner: number;
}

export interface SuiteData {
  pubmedqa: string;
  pubmedqaSplit: string;
  medqa: string | null;
  medmcqa: string | null;
  medsafetybench: string;
  medhalt: string;
  testSplit: string;
  validSplit: string;
  processed: string;
  augmentConfig: string;
  validatorLabels: string;
  /** Labelled answers written after the rules were fixed, never used to tune them. */
  validatorHeldOut: string;
}

export interface Suite {
  name: string;
  file: string;
  seed: number;
  /** Cap on generated tokens per answer. */
  maxNewTokens: number;
  /** Paired bootstrap resamples for base vs fine-tuned deltas. */
  bootstrapResamples: number;
  tasks: SuiteTasks;
  /** Paths, resolved against the project root unless absolute. */
  data: SuiteData;
}

const TASK_KEYS: (keyof SuiteTasks)[] = [
  "pubmedqa",
  "medqa",
  "medmcqa",
  "knowledge",
  "referenceNll",
  "relations",
  "ddi",
  "medhalt",
  "medhaltGenerated",
  "safetyHarmful",
  "safetySafe",
  "hallucination",
  "ner",
];

const DEFAULT_DATA: SuiteData = {
  pubmedqa: "../shared/datasets/eval/pubmedqa/ori_pqal.json",
  pubmedqaSplit: "../shared/datasets/eval/pubmedqa/test_ground_truth.json",
  medqa: null,
  medmcqa: null,
  medsafetybench: "../shared/datasets/eval/medsafetybench/test",
  medhalt: "../shared/datasets/eval/medhalt/reasoning_fake.csv",
  testSplit: "data/processed/test.jsonl",
  validSplit: "data/processed/valid.jsonl",
  processed: "data/processed",
  augmentConfig: "configs/augment.yaml",
  validatorLabels: "configs/eval_suites/validator_labels.jsonl",
  validatorHeldOut: "configs/eval_suites/validator_heldout.jsonl",
};

const TOP_KEYS = ["name", "seed", "maxNewTokens", "bootstrapResamples", "tasks", "data"];

export class SuiteConfigError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "SuiteConfigError";
  }
}

function checkKeys(
  map: YAMLMap,
  known: readonly string[],
  where: string,
  file: string,
  lc: LineCounter,
): void {
  for (const pair of map.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (known.includes(key)) continue;
    const line = isScalar(pair.key) && pair.key.range ? lc.linePos(pair.key.range[0]).line : "?";
    const near = suggest(key, known);
    throw new SuiteConfigError(
      file,
      `line ${line}: unknown key "${where}${key}"${near ? `; did you mean "${where}${near}"?` : ""} (known: ${known.join(", ")})`,
    );
  }
}

const resolvePath = (p: string) => (isAbsolute(p) ? p : resolve(projectPaths.root, p));

/** Parse a suite from YAML text; `file` names it in errors. */
export function parseSuite(text: string, file: string): Suite {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  if (doc.errors.length > 0)
    throw new SuiteConfigError(file, doc.errors[0]!.message.split("\n")[0]!);
  const root = doc.contents;
  if (!isMap(root)) throw new SuiteConfigError(file, "expected a mapping at the top level");
  checkKeys(root, TOP_KEYS, "", file, lc);
  const tasksNode = root.get("tasks", true);
  if (!isMap(tasksNode))
    throw new SuiteConfigError(file, '"tasks" must be a mapping of task: items');
  checkKeys(tasksNode, TASK_KEYS, "tasks.", file, lc);
  const dataNode = root.get("data", true);
  if (dataNode !== undefined && !isMap(dataNode))
    throw new SuiteConfigError(file, '"data" must be a mapping of name: path');
  if (isMap(dataNode)) checkKeys(dataNode, Object.keys(DEFAULT_DATA), "data.", file, lc);

  const js = doc.toJS() as Record<string, unknown>;
  const int = (v: unknown, key: string, min: number, dflt: number): number => {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min)
      throw new SuiteConfigError(
        file,
        `"${key}" must be an integer ≥ ${min}, got ${JSON.stringify(v)}`,
      );
    return v;
  };
  const rawTasks = (js.tasks ?? {}) as Record<string, unknown>;
  const tasks = Object.fromEntries(
    TASK_KEYS.map((k) => [k, int(rawTasks[k], `tasks.${k}`, 0, 0)]),
  ) as unknown as SuiteTasks;
  const rawData = (js.data ?? {}) as Record<string, unknown>;
  const data = { ...DEFAULT_DATA };
  for (const [k, v] of Object.entries(rawData)) {
    if (v !== null && typeof v !== "string")
      throw new SuiteConfigError(file, `"data.${k}" must be a path or null`);
    (data as Record<string, string | null>)[k] = v as string | null;
  }
  for (const k of Object.keys(data) as (keyof SuiteData)[]) {
    const v = data[k];
    if (typeof v === "string") (data as Record<string, string | null>)[k] = resolvePath(v);
  }
  if (tasks.medqa > 0 && !data.medqa)
    throw new SuiteConfigError(file, '"tasks.medqa" needs "data.medqa" (a MedQA-style JSONL file)');
  if (tasks.medmcqa > 0 && !data.medmcqa)
    throw new SuiteConfigError(
      file,
      '"tasks.medmcqa" needs "data.medmcqa" (a MedMCQA-style JSONL file)',
    );
  return {
    name:
      typeof js.name === "string" ? js.name : file.replace(/^.*[\\/]/, "").replace(/\.ya?ml$/, ""),
    file,
    seed: int(js.seed, "seed", 0, 0),
    maxNewTokens: int(js.maxNewTokens, "maxNewTokens", 1, 64),
    bootstrapResamples: int(js.bootstrapResamples, "bootstrapResamples", 100, 2000),
    tasks,
    data,
  };
}

/** A suite by name (configs/eval_suites/<name>.yaml) or by path. */
export function loadSuite(nameOrPath: string): Suite {
  const file = /\.ya?ml$/.test(nameOrPath)
    ? resolvePath(nameOrPath)
    : join(projectPaths.configs, "eval_suites", `${nameOrPath}.yaml`);
  if (!existsSync(file)) throw new SuiteConfigError(file, "no such suite file");
  return parseSuite(readFileSync(file, "utf8"), file);
}
