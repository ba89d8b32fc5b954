/**
 * Instruction templates from YAML (configs/templates/*.yaml): how a record becomes a prompt and a
 * completion for tools that train on plain text. A template names its placeholders — {instruction},
 * {input}, {output}, {task}, {source}, {citations} — and has a variant for records without input.
 * Rendering is reversible: `parseRendered` turns a rendered prompt back into instruction and input.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { InstructionRecord } from "./record.js";
import { RecordFormatError } from "./record.js";

export interface InstructionTemplate {
  name: string;
  description: string;
  /** Prompt for records with an input. */
  prompt: string;
  /** Prompt for records without one (defaults to `prompt`). */
  promptNoInput: string;
  /** Completion; usually "{output}". */
  completion: string;
  /** Optional system prompt for chat formats. */
  system?: string;
  file?: string;
}

const PLACEHOLDERS = ["instruction", "input", "output", "task", "source", "citations"] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

function checkPlaceholders(text: string, file: string, key: string): void {
  for (const m of text.matchAll(/\{([^{}]*)\}/g)) {
    if (!PLACEHOLDERS.includes(m[1] as Placeholder)) {
      throw new RecordFormatError(
        `${key}: unknown placeholder {${m[1]}}; expected one of ${PLACEHOLDERS.map((p) => `{${p}}`).join(", ")}`,
        file,
      );
    }
  }
}

/** Parse and check one template (a YAML mapping). */
export function parseTemplate(yamlText: string, file = "<template>"): InstructionTemplate {
  let doc: unknown;
  try {
    doc = parseYaml(yamlText);
  } catch (e) {
    throw new RecordFormatError(`expected YAML: ${(e as Error).message}`, file);
  }
  if (typeof doc !== "object" || doc === null)
    throw new RecordFormatError("expected a YAML mapping with name, prompt, completion", file);
  const d = doc as Record<string, unknown>;
  const str = (k: string, required: boolean): string | undefined => {
    const v = d[k];
    if (v === undefined && !required) return undefined;
    if (typeof v !== "string") throw new RecordFormatError(`expected "${k}" to be a string`, file);
    return v;
  };
  const t: InstructionTemplate = {
    name: str("name", true)!,
    description: str("description", false) ?? "",
    prompt: str("prompt", true)!,
    promptNoInput: str("prompt_no_input", false) ?? str("prompt", true)!,
    completion: str("completion", false) ?? "{output}",
    file,
  };
  const system = str("system", false);
  if (system !== undefined) t.system = system;
  for (const k of ["prompt", "promptNoInput", "completion"] as const)
    checkPlaceholders(t[k], file, k);
  if (!t.prompt.includes("{instruction}") || !t.promptNoInput.includes("{instruction}")) {
    throw new RecordFormatError("expected the prompts to contain {instruction}", file);
  }
  if (!t.prompt.includes("{input}"))
    throw new RecordFormatError('expected "prompt" to contain {input}', file);
  return t;
}

export function loadTemplate(file: string): InstructionTemplate {
  return parseTemplate(readFileSync(file, "utf8"), file);
}

/** All templates in a directory, by name. */
export function loadTemplates(dir: string): Map<string, InstructionTemplate> {
  const out = new Map<string, InstructionTemplate>();
  for (const f of readdirSync(dir).sort()) {
    if (!/\.ya?ml$/.test(f)) continue;
    const t = loadTemplate(join(dir, f));
    if (out.has(t.name))
      throw new RecordFormatError(
        `template name "${t.name}" is also used by ${out.get(t.name)!.file}`,
        join(dir, f),
      );
    out.set(t.name, t);
  }
  return out;
}

function fill(text: string, r: InstructionRecord): string {
  const values: Record<Placeholder, string> = {
    instruction: r.instruction,
    input: r.input,
    output: r.output,
    task: r.metadata.task,
    source: r.metadata.source,
    citations: r.metadata.citations.join(", "),
  };
  // One pass, so braces inside the record's text are never re-expanded.
  return text.replace(
    /\{(instruction|input|output|task|source|citations)\}/g,
    (_m, k: Placeholder) => values[k],
  );
}

export interface RenderedRow {
  id: string;
  prompt: string;
  completion: string;
  template: string;
  metadata: InstructionRecord["metadata"];
}

export function renderTemplate(t: InstructionTemplate, r: InstructionRecord): RenderedRow {
  return {
    id: r.id,
    prompt: fill(r.input ? t.prompt : t.promptNoInput, r),
    completion: fill(t.completion, r),
    template: t.name,
    metadata: r.metadata,
  };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Recover instruction, input and output from a rendered row (throws if it does not fit). */
export function parseRendered(
  t: InstructionTemplate,
  row: { prompt: string; completion: string },
  where = t.name,
): { instruction: string; input: string; output: string } {
  const match = (tpl: string, text: string): Record<string, string> | undefined => {
    const names: string[] = [];
    const re = tpl.split(/(\{[a-z]+\})/).map((part) => {
      const m = /^\{([a-z]+)\}$/.exec(part);
      if (!m) return escape(part);
      names.push(m[1]!);
      return "([\\s\\S]*?)";
    });
    const mm = new RegExp(`^${re.join("")}$`).exec(text);
    if (!mm) return undefined;
    return Object.fromEntries(names.map((n, i) => [n, mm[i + 1]!]));
  };
  const withInput = t.prompt.includes("{input}") ? match(t.prompt, row.prompt) : undefined;
  const p =
    withInput && withInput.input !== ""
      ? withInput
      : (match(t.promptNoInput, row.prompt) ?? withInput);
  const c = match(t.completion, row.completion);
  if (!p || !c) throw new RecordFormatError(`row does not match template "${t.name}"`, where);
  return { instruction: p.instruction ?? "", input: p.input ?? "", output: c.output ?? "" };
}
