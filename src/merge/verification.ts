/**
 * The verification stage of runMerge: each export reloaded (our native loader where it reads the
 * types; llama.cpp for the GGUF and for base + LoRA GGUF) and compared with base + adapter on fixed
 * prompts and on a slice of the valid split. What comes back is written to verification.json.
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tokenizeDataset } from "../train/batches.js";
import { ChatTemplate } from "../train/chat-template.js";
import { Model } from "../train/model.js";
import { readTrainingRecords } from "../train/run.js";
import type { Tokenizer } from "../train/tokenizer.js";
import { writeGgufExport, type MergeFormat, type QuantizeType, type TensorPlan } from "./export.js";
import type { ModelSource, SourceTensor } from "./source.js";
import {
  compareLogits,
  llamaCppCheck,
  perplexity,
  promptLogits,
  type LlamaCppCheck,
  type LogitAgreement,
  type Prompts,
} from "./verify.js";

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

/** Fixed prompts: biomedical sentences through the tokenizer, or fixed ids without one. */
export function fixedPrompts(tok: Tokenizer | undefined, vocab: number): Prompts {
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
export function perplexityData(
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

// Every type the native GGUF loader reads (mx::load_gguf plus native/src/kquants.cc).
const MODEL_LOADABLE = new Set([
  "F32",
  "F16",
  "Q4_0",
  "Q4_1",
  "Q5_0",
  "Q5_1",
  "Q8_0",
  "Q2_K",
  "Q3_K",
  "Q4_K",
  "Q5_K",
  "Q6_K",
]);

export interface VerifyInputs {
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

export async function verifyExports(v: VerifyInputs): Promise<Verification> {
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
