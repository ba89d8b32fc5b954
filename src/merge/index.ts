/**
 * The merge stage: fuse a run's LoRA/DoRA adapters into its base model and export what other tools
 * load — a GGUF (F16/Q8_0/Q4_0/Q4_1/Q4_K_M), a Hugging Face directory, and a llama.cpp LoRA GGUF —
 * then check the export against base + adapter and write the figures beside it.
 *
 *   const r = await runMerge({ run: "quick_test", formats: ["gguf", "hf"], quantize: "q4_k_m" });
 *   medtune merge --run quick_test --format both --quantize q4_k_m
 *
 * Writes models/merged/<run>/ atomically: everything goes into a temp directory next to it, which
 * is renamed into place only when every file and the verification are done; a failure or an abort
 * removes it and leaves an earlier export untouched.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { removeStaleTemporaries, replaceSync, tempPathFor } from "../fs-atomic.js";
import { projectPaths } from "../paths.js";
import { Model, type AdapterSpec } from "../train/model.js";
import { loadTokenizer, type Tokenizer } from "../train/tokenizer.js";
import { writeLoraGguf } from "./adapters.js";
import {
  planGgufTypes,
  writeGgufExport,
  writeHfExport,
  type MergeFormat,
  type QuantizeType,
  type TensorPlan,
} from "./export.js";
import { adapterDeltas, fuseInto } from "./fuse.js";
import { ggmlBytes } from "./gguf.js";
import { openModelSource, type SourceTensor } from "./source.js";
import { fixedPrompts, verifyExports, type Verification } from "./verification.js";
import { promptLogits } from "./verify.js";

export { QUANTIZE_TYPES, type MergeFormat, type QuantizeType } from "./export.js";
export type { ExportCheck, Verification } from "./verification.js";
export { convertAdapters, writeLoraGguf } from "./adapters.js";
export { readGguf } from "./gguf.js";
export { dequantize, quantize } from "./quants.js";

export interface MergeOptions {
  /** A training run: adapters from models/lora_adapters/<run>/{mlx,peft}. */
  run?: string;
  /** An adapter directory (mlx-lm or PEFT layout) instead of a run's. */
  adapters?: string;
  /** The base model (GGUF file or HF directory); default: the one the adapter config names. */
  base?: string;
  formats?: MergeFormat[];
  quantize?: QuantizeType;
  /** Requantize untouched tensors too (default: keep their source bytes where GGUF can hold them). */
  requantizeAll?: boolean;
  /** Dtype of the HF export's weights (default float16). */
  hfDtype?: "float16" | "bfloat16" | "float32";
  /** Also write the adapters as a llama.cpp LoRA GGUF (default: with gguf, unless DoRA). */
  loraGguf?: boolean;
  /** Default models/merged/<run>. */
  outDir?: string;
  /** Run the checks (default true). */
  verify?: boolean;
  /** Tokens of the valid split for perplexity (default 256). */
  perplexityTokens?: number;
  /** Default data/processed/valid.jsonl. */
  validData?: string;
  /** Check the GGUF through llama.cpp (default true; MEDTUNE_SKIP_LLAMA_CPP=1 turns it off). */
  llamaCpp?: boolean;
  /** Also score an F16 export in llama.cpp, the baseline of a quantized export (default true). */
  llamaCppF16Reference?: boolean;
  /** Safetensors shard size (default 5 GB). */
  shardBytes?: number;
  onEvent?: (e: MergeEvent) => void;
  signal?: AbortSignal;
}

export type MergeStage = "load" | "fuse" | "gguf" | "hf" | "lora-gguf" | "verify" | "commit";

export type MergeEvent =
  | { type: "stage"; stage: MergeStage; message: string }
  | { type: "progress"; stage: MergeStage; done: number; total: number; name: string }
  | { type: "warning"; message: string }
  | { type: "done"; outDir: string; bytesWritten: number; seconds: number };

export interface MergeResult {
  runName: string;
  outDir: string;
  base: string;
  adapters: string;
  adapter: AdapterSpec;
  quantize: QuantizeType;
  files: { path: string; bytes: number }[];
  gguf?: {
    path: string;
    tensorTypes: Record<string, number>;
    copiedTensors: number;
    fusedTensors: number;
    requantizedTensors: number;
  };
  hf?: { dir: string; files: string[] };
  loraGguf?: string;
  verification?: Verification;
  seconds: number;
}

const resolveFromRoot = (p: string) => (isAbsolute(p) ? p : resolve(projectPaths.root, p));

function abortError(): Error {
  const e = new Error("merge cancelled");
  e.name = "AbortError";
  return e;
}

/** Finds the adapter directory and base model of a run or an adapter directory. */
export function resolveMergeInputs(o: Pick<MergeOptions, "run" | "adapters" | "base">): {
  runName: string;
  adapters: string;
  base: string;
} {
  let adapters: string;
  if (o.adapters) adapters = resolveFromRoot(o.adapters);
  else if (o.run) {
    const root = join(projectPaths.root, "models", "lora_adapters", o.run);
    adapters = [join(root, "mlx"), join(root, "peft"), root].find((d) =>
      existsSync(join(d, "adapter_config.json")),
    )!;
    if (!adapters)
      throw new Error(
        `${root}: no adapters of run "${o.run}" (train it first: medtune train --config …)`,
      );
  } else throw new Error("merge needs a run name (--run) or an adapter directory (--adapters)");
  const runName = o.run ?? basename(adapters.replace(/\/(mlx|peft)\/?$/, ""));
  if (o.base) return { runName, adapters, base: resolveFromRoot(o.base) };
  const cfgFile = join(adapters, "adapter_config.json");
  const cfg = JSON.parse(readFileSync(cfgFile, "utf8")) as Record<string, unknown>;
  const named = [
    cfg.base_model_name_or_path,
    (cfg.medtune as Record<string, unknown> | undefined)?.base_model,
  ].filter((x): x is string => typeof x === "string");
  for (const n of named) {
    for (const p of [resolveFromRoot(n), join(projectPaths.root, "models", "base", basename(n))])
      if (existsSync(p)) return { runName, adapters, base: p };
  }
  // A PEFT config written beside an mlx one names the full path; look there too.
  const sibling = join(dirname(adapters), "peft", "adapter_config.json");
  if (existsSync(sibling)) {
    const p = (JSON.parse(readFileSync(sibling, "utf8")) as Record<string, unknown>)
      .base_model_name_or_path;
    if (typeof p === "string" && existsSync(p)) return { runName, adapters, base: p };
  }
  throw new Error(
    `${cfgFile}: cannot find the base model it names (${named.join(", ") || "none"}); pass --base`,
  );
}

function dirBytesNeeded(
  plan: TensorPlan[],
  hf: boolean,
  hfBytesPerValue: number,
  gguf: boolean,
): number {
  let total = 16 << 20;
  for (const p of plan) {
    const n = p.tensor.shape.reduce((a, b) => a * b, 1);
    if (gguf) total += ggmlBytes(p.type, [...p.tensor.shape].reverse()) + 64;
    if (hf) total += n * hfBytesPerValue;
  }
  return total;
}

/** Checks free space on the file system that will hold `dir`. */
export function checkDiskSpace(dir: string, bytesNeeded: number): void {
  let probe = dir;
  while (!existsSync(probe)) probe = dirname(probe);
  const s = statfsSync(probe);
  const free = Number(s.bavail) * Number(s.bsize);
  if (free < bytesNeeded) {
    const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
    throw new Error(
      `${dir}: not enough disk space for the export: needs about ${gib(bytesNeeded)}, ${gib(free)} free on ${probe}`,
    );
  }
}

export async function runMerge(o: MergeOptions): Promise<MergeResult> {
  const t0 = Date.now();
  const emit = (e: MergeEvent) => o.onEvent?.(e);
  const check = () => {
    if (o.signal?.aborted) throw abortError();
  };
  const formats = o.formats?.length ? [...new Set(o.formats)] : (["gguf", "hf"] as MergeFormat[]);
  const q = o.quantize ?? "none";
  const { runName, adapters, base } = resolveMergeInputs(o);
  const outDir = resolveFromRoot(o.outDir ?? join("models", "merged", runName));
  const tmp = tempPathFor(outDir);
  const hfDtype = { float16: "F16", bfloat16: "BF16", float32: "F32" }[o.hfDtype ?? "float16"] as
    "F16" | "BF16" | "F32";

  check();
  emit({ type: "stage", stage: "load", message: `base ${base}, adapters ${adapters}` });
  const src = openModelSource(base);
  const model = await Model.load(base);
  let tmpCreated = false;
  try {
    const adapter = model.loadAdapters(adapters);
    const deltas = adapterDeltas(model.native, adapter.scale);
    const touched = new Set(deltas.keys());
    for (const name of touched)
      if (!src.tensors.some((t) => t.hfName === name))
        throw new Error(`${adapters}: adapter for ${name}, which the base ${base} does not have`);
    const fused = (t: SourceTensor) => {
      const d = deltas.get(t.hfName);
      return d ? fuseInto(t.float32(), d) : undefined;
    };
    const wantLora = (o.loraGguf ?? formats.includes("gguf")) && !adapter.dora;
    if (o.loraGguf && adapter.dora)
      emit({ type: "warning", message: "DoRA adapters have no llama.cpp LoRA GGUF form; skipped" });

    const plan = planGgufTypes(src, touched, q, o.requantizeAll);
    const need = dirBytesNeeded(
      plan,
      formats.includes("hf"),
      hfDtype === "F32" ? 4 : 2,
      formats.includes("gguf"),
    );
    checkDiskSpace(dirname(outDir), need);
    await removeStaleTemporaries(outDir);
    mkdirSync(tmp, { recursive: true });
    tmpCreated = true;
    check();

    // Reference logits before any file is written: base + adapter as trained.
    let tok: Tokenizer | undefined;
    try {
      tok = await loadTokenizer(base);
    } catch {
      tok = undefined; // weights-only fixtures: fixed ids stand in for text
    }
    const V = model.config.vocabSize;
    const prompts = fixedPrompts(tok, V);
    const refLogits = promptLogits(model, prompts);

    const files: { path: string; bytes: number }[] = [];
    const stem = `${runName}-${q === "none" ? "f16" : q}`;
    let ggufInfo: MergeResult["gguf"];
    if (formats.includes("gguf")) {
      emit({ type: "stage", stage: "gguf", message: `writing ${stem}.gguf` });
      const path = join(tmp, `${stem}.gguf`);
      const written = await writeGgufExport(path, src, fused, touched, {
        quantize: q,
        requantizeAll: o.requantizeAll,
        name: `${runName} (merged)`,
        onTensor: (done, total, name) => {
          emit({ type: "progress", stage: "gguf", done, total, name });
          check();
        },
      });
      const tensorTypes: Record<string, number> = {};
      for (const p of written) tensorTypes[p.type] = (tensorTypes[p.type] ?? 0) + 1;
      ggufInfo = {
        path: join(outDir, `${stem}.gguf`),
        tensorTypes,
        copiedTensors: written.filter((p) => p.copied).length,
        fusedTensors: written.filter((p) => p.fused).length,
        requantizedTensors: written.filter((p) => !p.copied && !p.fused).length,
      };
    }
    check();
    let hfInfo: MergeResult["hf"];
    if (formats.includes("hf")) {
      emit({
        type: "stage",
        stage: "hf",
        message: `writing the Hugging Face directory (${o.hfDtype ?? "float16"})`,
      });
      const dir = join(tmp, "hf");
      mkdirSync(dir);
      const written = await writeHfExport(dir, src, fused, touched, {
        dtype: hfDtype,
        shardBytes: o.shardBytes,
        onTensor: (done, total, name) => {
          emit({ type: "progress", stage: "hf", done, total, name });
          check();
        },
      });
      hfInfo = { dir: join(outDir, "hf"), files: written };
    }
    check();
    let loraPath: string | undefined;
    if (wantLora) {
      emit({ type: "stage", stage: "lora-gguf", message: "writing the llama.cpp LoRA adapter" });
      await writeLoraGguf(join(tmp, `${runName}-lora.gguf`), model, src);
      loraPath = join(outDir, `${runName}-lora.gguf`);
    }
    check();

    let verification: Verification | undefined;
    if (o.verify ?? true) {
      emit({
        type: "stage",
        stage: "verify",
        message: "reloading the exports and comparing logits",
      });
      verification = await verifyExports({
        model,
        prompts,
        refLogits,
        tok,
        tmp,
        outDir,
        stem,
        q,
        formats,
        plan,
        loraFile: wantLora ? join(tmp, `${runName}-lora.gguf`) : undefined,
        validData: resolveFromRoot(o.validData ?? "data/processed/valid.jsonl"),
        perplexityTokens: o.perplexityTokens ?? 256,
        llamaCpp: (o.llamaCpp ?? true) && process.env.MEDTUNE_SKIP_LLAMA_CPP !== "1",
        check,
        src,
        fused,
        touched,
        f16Reference: o.llamaCppF16Reference ?? true,
      });
      writeFileSync(join(tmp, "verification.json"), JSON.stringify(verification, null, 2) + "\n");
    }
    check();

    emit({ type: "stage", stage: "commit", message: `moving into ${outDir}` });
    replaceSync(tmp, outDir); // an earlier export stays in place if this fails
    tmpCreated = false;
    const list = (d: string): void => {
      for (const f of readdirSync(d).sort()) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) list(p);
        else files.push({ path: p, bytes: statSync(p).size });
      }
    };
    list(outDir);
    const bytesWritten = files.reduce((a, f) => a + f.bytes, 0);
    const seconds = (Date.now() - t0) / 1000;
    emit({ type: "done", outDir, bytesWritten, seconds });
    return {
      runName,
      outDir,
      base,
      adapters,
      adapter,
      quantize: q,
      files,
      gguf: ggufInfo,
      hf: hfInfo,
      loraGguf: loraPath,
      verification,
      seconds,
    };
  } finally {
    model.dispose();
    if (tmpCreated) rmSync(tmp, { recursive: true, force: true });
  }
}

export interface ConvertOptions {
  /** A GGUF file or a Hugging Face directory. */
  source: string;
  to: MergeFormat;
  /** A .gguf path (to: "gguf") or a directory (to: "hf"). */
  out: string;
  /** GGUF type for float tensors (quantized source tensors keep their bytes unless requantizeAll). */
  quantize?: QuantizeType;
  requantizeAll?: boolean;
  hfDtype?: "float16" | "bfloat16" | "float32";
  onEvent?: (e: MergeEvent) => void;
  signal?: AbortSignal;
}

/**
 * GGUF → Hugging Face directory (dequantized) or HF → GGUF (with tokenizer metadata), without
 * adapters. Written into a temp path beside `out` and renamed at the end, like runMerge.
 */
export async function runConvert(o: ConvertOptions): Promise<{ out: string; bytes: number }> {
  const out = resolveFromRoot(o.out);
  const src = openModelSource(resolveFromRoot(o.source));
  const none = new Set<string>();
  const q = o.quantize ?? "none";
  const plan = planGgufTypes(src, none, q, o.requantizeAll);
  const dtype = ({ float16: "F16", bfloat16: "BF16", float32: "F32" } as const)[
    o.hfDtype ?? "float16"
  ];
  checkDiskSpace(
    dirname(out),
    dirBytesNeeded(plan, o.to === "hf", dtype === "F32" ? 4 : 2, o.to === "gguf"),
  );
  await removeStaleTemporaries(out);
  const tmp = tempPathFor(out);
  const onTensor = (done: number, total: number, name: string) => {
    o.onEvent?.({ type: "progress", stage: o.to, done, total, name });
    if (o.signal?.aborted) throw abortError();
  };
  try {
    if (o.to === "gguf") {
      await writeGgufExport(tmp, src, () => undefined, none, {
        quantize: q,
        requantizeAll: o.requantizeAll,
        onTensor,
      });
    } else {
      mkdirSync(tmp, { recursive: true });
      await writeHfExport(tmp, src, () => undefined, none, { dtype, onTensor });
    }
    replaceSync(tmp, out);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const size = (p: string): number =>
    statSync(p).isDirectory()
      ? readdirSync(p).reduce((a, f) => a + size(join(p, f)), 0)
      : statSync(p).size;
  return { out, bytes: size(out) };
}
