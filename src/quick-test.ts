/**
 * `npm start` → `medtune quick-test`: the main job on bundled data and the bundled model.
 *
 * Runs every stage that exists, in pipeline order, and says plainly which stages do not exist yet
 * rather than pretending. Stages: native smoke check → bundled model check → ingest (data/raw →
 * data/processed) → augment (→ train/valid/test splits) → train → evaluate → merge → report.
 */
import { formatSmoke, runSmoke } from "./native/smoke.js";
import { bundledModelInfo, bundledModelPath, projectPaths } from "./paths.js";

interface StageOutcome {
  stage: string;
  status: "ok" | "not implemented yet" | "failed";
  detail: string;
}

type Stage = { name: string; run: () => Promise<string> } | { name: string; missing: string };

export async function main(_argv: string[]): Promise<number> {
  const stages: Stage[] = [
    {
      name: "native",
      run: async () => formatSmoke(runSmoke()),
    },
    {
      name: "model",
      run: async () => {
        const info = bundledModelInfo();
        const file = await bundledModelPath({ verify: true });
        return `${info.name} (${info.quantization} GGUF, ${info.license}) at ${file}, sha256 verified`;
      },
    },
    {
      name: "ingest",
      run: async () => {
        const { runIngest } = await import("./ingest/index.js");
        const summary = await runIngest({
          sources: ["hetionet", "chembl_sqlite", "pubmed", "clinicaltrials", "drugbank"],
          inDir: projectPaths.rawData,
          outDir: projectPaths.processedData,
        });
        return JSON.stringify(summary);
      },
    },
    { name: "augment", missing: "issue 5" },
    { name: "train", missing: "issue 3 (the native trainer)" },
    { name: "evaluate", missing: "not yet filed" },
    { name: "merge", missing: "not yet filed" },
    { name: "report", missing: "not yet filed" },
  ];

  const outcomes: StageOutcome[] = [];
  for (const s of stages) {
    if ("missing" in s) {
      outcomes.push({ stage: s.name, status: "not implemented yet", detail: s.missing });
      continue;
    }
    process.stdout.write(`\n== ${s.name}\n`);
    try {
      const detail = await s.run();
      process.stdout.write(`${detail}\n`);
      outcomes.push({ stage: s.name, status: "ok", detail: "" });
    } catch (e) {
      process.stdout.write(`FAILED: ${(e as Error).message}\n`);
      outcomes.push({ stage: s.name, status: "failed", detail: (e as Error).message });
      break;
    }
  }
  process.stdout.write("\n== quick-test summary\n");
  for (const o of outcomes) {
    process.stdout.write(
      `  ${o.stage.padEnd(9)} ${o.status}${o.status === "not implemented yet" ? ` (${o.detail})` : ""}\n`,
    );
  }
  return outcomes.some((o) => o.status === "failed") ? 1 : 0;
}
