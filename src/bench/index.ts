/**
 * `npm run bench -- <suite> [options]`: speed and memory benchmarks, each run beside its peer
 * (gzip -dc, mlx-lm, llama.cpp …) in the same command so that ratios, not absolute numbers, are
 * what we compare across machines.
 */
import { pathToFileURL } from "node:url";

type Suite = (argv: string[]) => Promise<number>;

const SUITES: Record<string, () => Promise<Suite>> = {
  ingest: async () => (await import("./ingest.js")).main,
  augment: async () => (await import("./augment.js")).main,
  train: async () => (await import("./train.js")).main,
};

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const names = name ? [name] : Object.keys(SUITES);
  for (const n of names) {
    const load = SUITES[n];
    if (!load) {
      process.stderr.write(
        `bench: unknown suite "${n}"; suites: ${Object.keys(SUITES).join(", ")}\n`,
      );
      return 2;
    }
    const code = await (await load())(rest);
    if (code !== 0) return code;
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).then((c) => (process.exitCode = c));
}
