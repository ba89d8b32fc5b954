/**
 * What is in models/: GGUF files (architecture, file type such as Q4_K_M, the tensor-type mix,
 * parameters, size, SHA-256), Hugging Face directories (architecture from config.json, dtypes from
 * the safetensors headers, parameters, size, checksum) and embedding models under
 * models/embeddings/. Only headers are parsed; checksums are the one full read of each file, cached
 * by (path, size, mtime) in data/cache/model-checksums.json so a second listing reads nothing.
 *
 *   const r = await listModels({});            // medtune models [--json]
 *   for (const m of r.models) console.log(m.path, m.quantization, m.sha256);
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { basename, join, relative, sep } from "node:path";

import { writeFileAtomicSync } from "../fs-atomic.js";
import { ggmlTypeName, readGguf } from "../merge/gguf.js";
import { readSafetensorsFile } from "../merge/safetensors.js";
import { fromRoot, projectPaths } from "../paths.js";

export type ModelKind = "gguf" | "hf" | "embedding";

export interface ModelEntry {
  kind: ModelKind;
  /** Relative to the listed directory (forward slashes). */
  path: string;
  /** general.name (GGUF), else the file or directory name. */
  name: string;
  /** general.architecture (GGUF) or config.json model_type (HF). */
  architecture: string;
  /** GGUF: the file type (general.file_type, e.g. Q4_K_M); HF: the weights' dtypes (F32, BF16…). */
  quantization: string;
  /** Tensors per storage type: ggml types (GGUF) or safetensors dtypes (HF). */
  tensorTypes: Record<string, number>;
  parameters: number;
  /** All bytes of the file, or of every file in the directory. */
  bytes: number;
  /**
   * SHA-256 of the GGUF file; for a directory, of its manifest (one "<sha256>  <file>" line per
   * file, sorted), as `sha256sum` would list it. Null with checksums: false.
   */
  sha256: string | null;
}

export type ModelsEvent =
  | { type: "progress"; path: string; done: number; total: number }
  | { type: "warning"; path: string; message: string }
  | { type: "done"; models: number; hashedBytes: number };

export interface ListModelsOptions {
  /** Directory to list (default models/, or MEDTUNE_MODELS_DIR). */
  dir?: string;
  /** Compute SHA-256 checksums (default true). */
  checksums?: boolean;
  /** Checksum cache file (default data/cache/model-checksums.json). */
  cacheFile?: string;
  onEvent?: (e: ModelsEvent) => void;
  signal?: AbortSignal;
}

export interface ListModelsResult {
  dir: string;
  models: ModelEntry[];
  /** Bytes read to compute checksums this time (0 when every checksum came from the cache). */
  hashedBytes: number;
  /** Entries that could not be read, with why (also sent as warning events). */
  skipped: { path: string; message: string }[];
}

/** llama.cpp's LLAMA_FTYPE values (general.file_type) by name. */
const FILE_TYPES: Record<number, string> = {
  0: "F32",
  1: "F16",
  2: "Q4_0",
  3: "Q4_1",
  7: "Q8_0",
  8: "Q5_0",
  9: "Q5_1",
  10: "Q2_K",
  11: "Q3_K_S",
  12: "Q3_K_M",
  13: "Q3_K_L",
  14: "Q4_K_S",
  15: "Q4_K_M",
  16: "Q5_K_S",
  17: "Q5_K_M",
  18: "Q6_K",
  32: "BF16",
};

interface CacheEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
}

class ChecksumCache {
  private entries: Record<string, CacheEntry> = {};
  private dirty = false;
  hashedBytes = 0;

  constructor(private readonly file: string) {
    try {
      this.entries = JSON.parse(readFileSync(file, "utf8")) as Record<string, CacheEntry>;
    } catch {
      this.entries = {}; // absent or unreadable: start over
    }
  }

  async sha256(path: string, signal?: AbortSignal): Promise<string> {
    const st = statSync(path);
    const hit = this.entries[path];
    if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.sha256;
    const hash = createHash("sha256");
    await new Promise<void>((ok, fail) => {
      const s = createReadStream(path, { signal });
      s.on("data", (c) => hash.update(c));
      s.on("error", fail);
      s.on("end", ok);
    });
    const sha256 = hash.digest("hex");
    this.entries[path] = { size: st.size, mtimeMs: st.mtimeMs, sha256 };
    this.hashedBytes += st.size;
    this.dirty = true;
    return sha256;
  }

  save(): void {
    if (this.dirty) writeFileAtomicSync(this.file, `${JSON.stringify(this.entries, null, 1)}\n`);
  }
}

const count = (acc: Record<string, number>, key: string, n = 1) => {
  acc[key] = (acc[key] ?? 0) + n;
};

function describeGguf(file: string): Omit<ModelEntry, "kind" | "path" | "bytes" | "sha256"> {
  const g = readGguf(file);
  const str = (k: string) => {
    const e = g.metadata.get(k);
    return e && e.type === 8 ? String(e.value) : undefined;
  };
  const tensorTypes: Record<string, number> = {};
  let parameters = 0;
  for (const t of g.tensors) {
    let type: string;
    try {
      type = ggmlTypeName(t.type);
    } catch {
      type = `type ${t.type}`;
    }
    count(tensorTypes, type);
    parameters += t.dims.reduce((a, b) => a * b, 1);
  }
  const ft = g.metadata.get("general.file_type");
  const fileType = ft && ft.type !== 9 ? FILE_TYPES[Number(ft.value)] : undefined;
  // Without general.file_type, the most common type among the matrices names the file.
  const dominant = Object.entries(tensorTypes)
    .filter(([t]) => t !== "F32")
    .sort((a, b) => b[1] - a[1])[0]?.[0];
  return {
    name: str("general.name") ?? basename(file),
    architecture: str("general.architecture") ?? "unknown",
    quantization: fileType ?? dominant ?? "F32",
    tensorTypes,
    parameters,
  };
}

function isHfDir(dir: string): boolean {
  return (
    existsSync(join(dir, "config.json")) &&
    readdirSync(dir).some((f) => f.endsWith(".safetensors"))
  );
}

function describeHf(dir: string): Omit<ModelEntry, "kind" | "path" | "bytes" | "sha256"> {
  const cfgFile = join(dir, "config.json");
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(cfgFile, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${cfgFile}: not valid JSON (${(e as Error).message})`);
  }
  const tensorTypes: Record<string, number> = {};
  const dtypeParams: Record<string, number> = {};
  let parameters = 0;
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".safetensors"))) {
    for (const t of readSafetensorsFile(join(dir, f)).tensors.values()) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      count(tensorTypes, t.dtype);
      count(dtypeParams, t.dtype, n);
      parameters += n;
    }
  }
  const arch =
    (typeof cfg.model_type === "string" && cfg.model_type) ||
    (Array.isArray(cfg.architectures) && String(cfg.architectures[0])) ||
    "unknown";
  return {
    name: basename(dir),
    architecture: arch,
    // By share of parameters, largest first: "F32" or "BF16 + F32".
    quantization: Object.entries(dtypeParams)
      .sort((a, b) => b[1] - a[1])
      .map(([d]) => d)
      .join(" + "),
    tensorTypes,
    parameters,
  };
}

/** Files under dir, recursively, relative to it and sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.isFile()) out.push(relative(dir, join(d, e.name)));
    }
  };
  walk(dir);
  return out.sort();
}

/** GGUF files and HF directories under `root`, in path order; HF directories are not descended. */
function findModels(root: string): { path: string; kind: "gguf" | "dir" }[] {
  const found: { path: string; kind: "gguf" | "dir" }[] = [];
  const walk = (d: string, depth: number) => {
    const entries = readdirSync(d, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const p = join(d, e.name);
      const isDir = e.isDirectory() || (e.isSymbolicLink() && statSync(p).isDirectory());
      const isFile = e.isFile() || (e.isSymbolicLink() && statSync(p).isFile());
      if (isFile && e.name.endsWith(".gguf")) found.push({ path: p, kind: "gguf" });
      else if (isDir && isHfDir(p)) found.push({ path: p, kind: "dir" });
      else if (isDir && depth < 4) walk(p, depth + 1);
    }
  };
  walk(root, 0);
  return found;
}

export async function listModels(o: ListModelsOptions = {}): Promise<ListModelsResult> {
  const dir = o.dir ? fromRoot(o.dir) : projectPaths.models();
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new Error(`${dir}: no such directory (the models folder; set-up creates models/base)`);
  const cache = new ChecksumCache(
    o.cacheFile ? fromRoot(o.cacheFile) : join(projectPaths.cache, "model-checksums.json"),
  );
  const found = findModels(dir);
  const models: ModelEntry[] = [];
  const skipped: { path: string; message: string }[] = [];
  try {
    for (const [i, f] of found.entries()) {
      o.signal?.throwIfAborted();
      const rel = relative(dir, f.path).split(sep).join("/");
      o.onEvent?.({ type: "progress", path: rel, done: i, total: found.length });
      try {
        if (f.kind === "gguf") {
          const d = describeGguf(f.path);
          models.push({
            kind: "gguf",
            path: rel,
            ...d,
            bytes: statSync(f.path).size,
            sha256: o.checksums === false ? null : await cache.sha256(f.path, o.signal),
          });
        } else {
          const d = describeHf(f.path);
          const files = filesUnder(f.path);
          let manifest = "";
          if (o.checksums !== false)
            for (const x of files)
              manifest += `${await cache.sha256(join(f.path, x), o.signal)}  ${x}\n`;
          models.push({
            kind: rel === "embeddings" || rel.startsWith("embeddings/") ? "embedding" : "hf",
            path: rel,
            ...d,
            bytes: files.reduce((a, x) => a + statSync(join(f.path, x)).size, 0),
            sha256:
              o.checksums === false ? null : createHash("sha256").update(manifest).digest("hex"),
          });
        }
      } catch (e) {
        if ((e as Error).name === "AbortError") throw e;
        const message = (e as Error).message;
        skipped.push({ path: rel, message });
        o.onEvent?.({ type: "warning", path: rel, message });
      }
    }
  } finally {
    cache.save();
  }
  o.onEvent?.({ type: "done", models: models.length, hashedBytes: cache.hashedBytes });
  return { dir, models, hashedBytes: cache.hashedBytes, skipped };
}
