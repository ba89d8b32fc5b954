/**
 * `medtune models [--dir DIR] [--json] [--no-checksums]`: lists the models in models/ (GGUF files,
 * Hugging Face directories, embedding models) with architecture, quantization, parameters, size
 * and checksum — a table, or JSON for scripts. Parses flags and calls listModels (./list.ts).
 */
import { parseFlags } from "../cli-flags.js";
import { listModels, type ListModelsResult } from "./list.js";

const SPEC = {
  command: "models",
  summary: "list the models in models/: architecture, quantization, parameters, size, sha256",
  flags: {
    dir: {
      type: "string",
      value: "DIR",
      description: "directory to list",
      defaultText: "models/ (or MEDTUNE_MODELS_DIR)",
    },
    json: { type: "boolean", description: "print the result as JSON" },
    checksums: {
      type: "boolean",
      description: "SHA-256 of every file, cached by path, size and mtime (--no-checksums skips)",
      defaultText: "on",
    },
  },
} as const;

const human = (n: number, units: string[], step: number) => {
  let i = 0;
  while (n >= step && i < units.length - 1) {
    n /= step;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)}${units[i]}`;
};

/** The listing as an aligned text table, one row per model, then any skipped entries. */
export function formatModels(r: ListModelsResult): string {
  const rows = [
    ["KIND", "PATH", "ARCH", "QUANT", "TENSOR TYPES", "PARAMS", "SIZE", "SHA256"],
    ...r.models.map((m) => [
      m.kind,
      m.path,
      m.architecture,
      m.quantization,
      Object.entries(m.tensorTypes)
        .map(([t, n]) => `${t}:${n}`)
        .join(" "),
      human(m.parameters, ["", "K", "M", "B"], 1000),
      human(m.bytes, [" B", " KiB", " MiB", " GiB"], 1024),
      m.sha256 ? m.sha256.slice(0, 16) : "-",
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const lines = rows.map((row) => row.map((v, c) => v.padEnd(widths[c]!)).join("  ").trimEnd());
  if (r.models.length === 0) lines.push(`(no GGUF files or Hugging Face directories in ${r.dir})`);
  for (const s of r.skipped) lines.push(`skipped ${s.path}: ${s.message}`);
  return lines.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const p = parseFlags(argv, SPEC);
  if (p.kind !== "ok") return p.exit;
  const f = p.values;
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  try {
    const r = await listModels({
      dir: f.dir as string | undefined,
      checksums: f.checksums !== false,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === "progress" && !f.json) process.stderr.write(`  reading ${e.path}\n`);
      },
    });
    process.stdout.write(f.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatModels(r)}\n`);
    return 0;
  } catch (e) {
    if ((e as Error).name === "AbortError") {
      process.stderr.write("medtune models: cancelled\n");
      return 130;
    }
    throw e;
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}
