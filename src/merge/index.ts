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
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { projectPaths } from "../paths.js";
import { readTrainingRecords } from "../train/run.js";
import { tokenizeDataset } from "../train/batches.js";
import { ChatTemplate } from "../train/chat-template.js";
import { Model, type AdapterSpec } from "../train/model.js";
import { loadTokenizer, type Tokenizer } from "../train/tokenizer.js";
import { writeLoraGguf } from "./adapters.js";
import {
  planGgufTypes,
  writeGgufExport,
  writeHfExport,
  type QuantizeType,
  type TensorPlan,
} from "./export.js";
import { adapterDeltas, fuseInto } from "./fuse.js";
import { ggmlBytes } from "./gguf.js";
import { openModelSource, type ModelSource, type SourceTensor } from "./source.js";
import {
  compareLogits,
  llamaCppCheck,
  perplexity,
  promptLogits,
  type LlamaCppCheck,
  type LogitAgreement,
  type Prompts,
} from "./verify.js";

export { QUANTIZE_TYPES, type QuantizeType } from "./export.js";
export { convertAdapters, writeLoraGguf } from "./adapters.js";
export { readGguf } from "./gguf.js";
export { dequantize, quantize } from "./quants.js";

export type MergeFormat = "hf" | "gguf";

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

export interface ExportCheck {
  file: string;
  format: MergeFormat;
  quantize: QuantizeType | "hf";
  /** How it was reloaded: our native loader, or why not. */
  reloadedBy: "medtune" | string;
  logits?: LogitAgreement;
  perplexity?: number;
  /** perplexity − reference perplexity (base + adapter in float32). */
  perplexityDelta?: number;
}

export interface Verification {
  prompts: number;
  positions: number;
  /** Sequences and tokens scored for perplexity, and where they came from. */
  perplexityData: { source: string; sequences: number; tokens: number };
  reference: { what: string; perplexity: number };
  /** The base without the adapter (its original quantization). */
  base: { perplexity: number; logitsVsReference: LogitAgreement };
  exports: ExportCheck[];
  llamaCpp?:
    | (LlamaCppCheck & {
        what: string;
        perplexityDelta?: number;
        /** llama.cpp's perplexity on an F16 export of the same merge (quantized exports only). */
        f16Perplexity?: number;
        /** perplexity − f16Perplexity, both in llama.cpp: the cost of this quantization alone. */
        perplexityDeltaVsF16?: number;
      })
    | { skipped: string };
  llamaCppLora?: LlamaCppCheck | { skipped: string };
  notes: string[];
}

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

/** Fixed prompts: biomedical sentences through the tokenizer, or fixed ids without one. */
function fixedPrompts(tok: Tokenizer | undefined, vocab: number): Prompts {
  if (tok) {
    return [
      "Metformin lowers hepatic glucose production and is first-line therapy for type 2 diabetes.",
      "Warfarin interacts with many antibiotics because both are metabolised by cytochrome P450 enzymes.",
      "Question: What is the mechanism of action of atorvastatin?\nAnswer:",
      "The patient presented with chest pain radiating to the left arm and elevated troponin.",
    ].map((s) => tok.encode(s).slice(0, 32));
  }
  let s = 12345;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % vocab;
  return Array.from({ length: 3 }, () => Array.from({ length: 16 }, next));
}

/** Sequences of the valid split (chat-rendered) up to `tokens` tokens in all. */
function perplexityData(
  tok: Tokenizer | undefined,
  file: string,
  tokens: number,
  fallback: Prompts,
): { sequences: Prompts; source: string } {
  if (!tok || !existsSync(file)) return { sequences: fallback, source: "the fixed prompts" };
  const template = ChatTemplate.fromTokenizer(tok);
  const { examples } = tokenizeDataset(readTrainingRecords(file), tok, template, {
    maxSeqLength: Math.min(256, tokens),
  });
  const sequences: Prompts = [];
  let n = 0;
  for (const e of examples) {
    if (n >= tokens) break;
    const s = Array.from(e.tokens.slice(0, tokens - n));
    if (s.length < 2) continue;
    sequences.push(s);
    n += s.length;
  }
  return sequences.length
    ? { sequences, source: file }
    : { sequences: fallback, source: "the fixed prompts" };
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

const MODEL_LOADABLE = new Set(["F32", "F16", "Q4_0", "Q4_1", "Q8_0"]);

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
  const tmp = `${outDir}.tmp-${process.pid}-${Date.now()}`;
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
      verification = await verify({
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
    const old = `${outDir}.old-${process.pid}-${Date.now()}`;
    const hadEarlier = existsSync(outDir);
    if (hadEarlier) renameSync(outDir, old);
    try {
      renameSync(tmp, outDir);
    } catch (e) {
      if (hadEarlier) renameSync(old, outDir); // the earlier export stays in place
      throw e;
    }
    tmpCreated = false;
    rmSync(old, { recursive: true, force: true });
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
  const tmp = `${out}.tmp-${process.pid}-${Date.now()}`;
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
    rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const size = (p: string): number =>
    statSync(p).isDirectory()
      ? readdirSync(p).reduce((a, f) => a + size(join(p, f)), 0)
      : statSync(p).size;
  return { out, bytes: size(out) };
}

interface VerifyInputs {
  model: Model;
  prompts: Prompts;
  refLogits: Float32Array[];
  tok: Tokenizer | undefined;
  tmp: string;
  outDir: string;
  stem: string;
  q: QuantizeType;
  formats: MergeFormat[];
  plan: TensorPlan[];
  loraFile?: string;
  validData: string;
  perplexityTokens: number;
  llamaCpp: boolean;
  check: () => void;
  src: ModelSource;
  fused: (t: SourceTensor) => Float32Array | undefined;
  touched: ReadonlySet<string>;
  f16Reference: boolean;
}

async function verify(v: VerifyInputs): Promise<Verification> {
  const V = v.model.config.vocabSize;
  const notes: string[] = [];
  const { sequences, source } = perplexityData(v.tok, v.validData, v.perplexityTokens, v.prompts);
  const refPpl = perplexity(v.model, sequences);
  v.model.setAdaptersEnabled(false);
  const basePpl = perplexity(v.model, sequences);
  const baseLogits = compareLogits(v.refLogits, promptLogits(v.model, v.prompts), V);
  v.model.setAdaptersEnabled(true);
  const exports: ExportCheck[] = [];
  const reload = async (file: string, format: MergeFormat, quantize: QuantizeType | "hf") => {
    v.check();
    const m = await Model.load(file);
    try {
      const ppl = perplexity(m, sequences);
      exports.push({
        file: file.replace(v.tmp, v.outDir),
        format,
        quantize,
        reloadedBy: "medtune",
        logits: compareLogits(v.refLogits, promptLogits(m, v.prompts), V),
        perplexity: ppl,
        perplexityDelta: ppl - refPpl,
      });
    } finally {
      m.dispose();
    }
  };
  const ggufFile = join(v.tmp, `${v.stem}.gguf`);
  if (v.formats.includes("gguf")) {
    const unloadable = [...new Set(v.plan.map((p) => p.type))].filter(
      (t) => !MODEL_LOADABLE.has(t),
    );
    if (unloadable.length === 0) await reload(ggufFile, "gguf", v.q);
    else {
      const why = `not reloaded: our native loader cannot read ${unloadable.join(", ")} yet${v.llamaCpp && v.tok ? " (checked through llama.cpp)" : ""}`;
      exports.push({
        file: ggufFile.replace(v.tmp, v.outDir),
        format: "gguf",
        quantize: v.q,
        reloadedBy: why,
      });
      notes.push(`${v.stem}.gguf ${why}`);
    }
  }
  if (v.formats.includes("hf")) await reload(join(v.tmp, "hf"), "hf", "hf");

  let llamaCpp: Verification["llamaCpp"];
  let llamaCppLora: Verification["llamaCppLora"];
  if (!v.formats.includes("gguf")) llamaCpp = { skipped: "no GGUF export" };
  else if (!v.llamaCpp) llamaCpp = { skipped: "llama.cpp check turned off" };
  else if (!v.tok)
    llamaCpp = { skipped: "the base has no tokenizer metadata (llama.cpp needs one)" };
  else {
    v.check();
    const r = await llamaCppCheck(ggufFile, v.prompts, v.refLogits, V, {
      sequences,
      generateTokens: 8,
    });
    let f16Perplexity: number | undefined;
    if (v.q !== "none" && v.f16Reference) {
      // The same merge as F16, scored by llama.cpp too, so the quantization's own cost is
      // measured in one engine (llama.cpp and our forward differ slightly on the same weights).
      v.check();
      const f16 = join(v.tmp, ".f16-reference.gguf");
      await writeGgufExport(f16, v.src, v.fused, v.touched, { quantize: "none" });
      try {
        f16Perplexity = (
          await llamaCppCheck(f16, v.prompts.slice(0, 1), v.refLogits.slice(0, 1), V, { sequences })
        ).perplexity;
      } finally {
        rmSync(f16, { force: true });
      }
    }
    llamaCpp = {
      ...r,
      file: ggufFile.replace(v.tmp, v.outDir),
      what: "exported GGUF in llama.cpp vs our base + adapter logits",
      perplexityDelta: r.perplexity !== undefined ? r.perplexity - refPpl : undefined,
      f16Perplexity,
      perplexityDeltaVsF16:
        r.perplexity !== undefined && f16Perplexity !== undefined
          ? r.perplexity - f16Perplexity
          : undefined,
    };
    if (v.loraFile && v.model.source.endsWith(".gguf")) {
      v.check();
      const l = await llamaCppCheck(v.model.source, v.prompts, v.refLogits, V, {
        lora: v.loraFile,
      });
      llamaCppLora = { ...l, lora: v.loraFile.replace(v.tmp, v.outDir) };
    }
  }
  return {
    prompts: v.prompts.length,
    positions: v.prompts.reduce((a, p) => a + p.length, 0),
    perplexityData: {
      source,
      sequences: sequences.length,
      tokens: sequences.reduce((a, s) => a + s.length, 0),
    },
    reference: { what: "base + adapter in the native model (float32 compute)", perplexity: refPpl },
    base: { perplexity: basePpl, logitsVsReference: baseLogits },
    exports,
    llamaCpp,
    llamaCppLora,
    notes,
  };
}
