/**
 * logs/training_logs/<run>/run.json: what makes a run directory self-describing — the resolved
 * config, the git commit of the code, the MLX build, and SHA-256 checksums of the model files and
 * the data files it trained on (the same bytes give the same checksums on any machine).
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomicSync } from "../fs-atomic.js";
import { gitHead } from "../git-head.js";
import { loadNative } from "../native/loader.js";
import { projectPaths } from "../paths.js";
import type { TrainingConfig } from "./config.js";

/** SHA-256 of a file, read in 4 MiB pieces (a 7B model never sits in memory whole). */
export function sha256File(file: string): string {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(4 << 20);
  const fd = openSync(file, "r");
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/** Checksums of a model: the file, or each weight/config/tokenizer file of an HF directory. */
function modelChecksums(path: string): Record<string, string> {
  if (!statSync(path).isDirectory()) return { [path]: sha256File(path) };
  const out: Record<string, string> = {};
  for (const f of readdirSync(path).sort())
    if (/\.(safetensors|json|model)$/.test(f)) out[f] = sha256File(join(path, f));
  return out;
}

export interface RunInfo {
  runName: string;
  startedAt: string;
  gitCommit: string;
  mlx: string;
  config: TrainingConfig;
  model: { path: string; sha256: Record<string, string> };
  data: { file: string; sha256: string; examples: number }[];
}

export function writeRunInfo(
  dir: string,
  o: {
    config: TrainingConfig;
    modelPath: string;
    data: { file: string; examples: number }[];
  },
): RunInfo {
  const mlx = loadNative();
  const info: RunInfo = {
    runName: o.config.runName,
    startedAt: new Date().toISOString(),
    gitCommit: gitHead(projectPaths.root) ?? "unknown (not a git checkout)",
    mlx: `${mlx.version()} ${mlx.backend()}`,
    config: o.config,
    model: { path: o.modelPath, sha256: modelChecksums(o.modelPath) },
    data: o.data.map((d) => ({ ...d, sha256: sha256File(d.file) })),
  };
  writeFileAtomicSync(join(dir, "run.json"), `${JSON.stringify(info, null, 2)}\n`);
  return info;
}
