/** Shared helpers for the ingest tests: fixture paths, collecting reader events, child-process RSS runs. */
import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { InstructionRecord } from "../../src/data/record.js";
import type { IngestEvent, SkipEvent } from "../../src/ingest/types.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const fixtures = path.resolve(repoRoot, "..", "shared", "datasets");

export async function collect(
  gen: AsyncGenerator<IngestEvent>,
): Promise<{ records: InstructionRecord[]; skips: SkipEvent[]; progress: number }> {
  const records: InstructionRecord[] = [];
  const skips: SkipEvent[] = [];
  let progress = 0;
  for await (const ev of gen) {
    if (ev.type === "record") records.push(ev.record);
    else if (ev.type === "skip") skips.push(ev);
    else progress++;
  }
  return { records, skips, progress };
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `medtune-test-${prefix}-`));
}

/** Run a TypeScript snippet file in a fresh Node process (through tsx) and parse its last stdout line as JSON. */
export function runChild<T>(
  script: string,
  args: string[] = [],
  timeoutMs = 120_000,
  nodeFlags: string[] = [],
): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...nodeFlags, "--import", "tsx", script, ...args],
      { cwd: repoRoot, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${err.message}\n${stderr}`));
        const last = stdout.trim().split("\n").pop() ?? "";
        try {
          resolve(JSON.parse(last) as T);
        } catch {
          reject(new Error(`child printed no JSON: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}
