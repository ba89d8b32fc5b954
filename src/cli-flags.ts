/**
 * The one flag parser of every `medtune <command>`: a command declares its flags once, and gets
 * `--help` text, typed values, and an error for anything it did not declare — with a suggestion
 * for a typo — before it does any work (a misspelled flag must never run a stage with defaults).
 *
 *   const flags = parseFlags(argv, { command: "ingest", summary: "…", flags: { limit: { type: "int", … } } });
 *   if (flags.kind !== "ok") return flags.exit;   // help printed (0) or usage error printed (2)
 *
 * Flags are `--name value`, `--name=value`, or bare for booleans (`--no-name` sets one false).
 * A "list" flag takes one or more values up to the next `--flag`, and may repeat; commas inside a
 * value also separate items (`--sources a,b` and `--sources a b` are the same).
 */

export type FlagType = "string" | "int" | "number" | "boolean" | "list";

export interface FlagSpec {
  type: FlagType;
  /** One line for --help; the value's name goes in `value` (e.g. "DIR"). */
  description: string;
  value?: string;
  /** Allowed values for string and list flags. */
  choices?: readonly string[];
  /** Inclusive bounds for int and number flags. */
  min?: number;
  max?: number;
  /** Shown in --help only; the command applies its own default. */
  defaultText?: string;
  /** The command cannot run without it (a usage error names it). */
  required?: boolean;
}

export interface CommandSpec {
  /** The name after `medtune` (e.g. "train"). */
  command: string;
  /** What the command does, first line of --help. */
  summary: string;
  flags: Record<string, FlagSpec>;
  /** Positional arguments: their names for --help; none accepted when absent. */
  positionals?: { name: string; description: string; required?: boolean; variadic?: boolean }[];
  /** Extra --help text after the flags (examples, exit status). */
  epilog?: string;
}

export type FlagValue = string | number | boolean | string[];

export type ParsedFlags =
  | { kind: "ok"; values: Record<string, FlagValue>; positionals: string[] }
  | { kind: "exit"; exit: number };

/** A usage error: what was wrong, with the command's usage line. */
export class UsageError extends Error {
  constructor(
    readonly command: string,
    message: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest of `known` to `name` when it is a plausible typo, else undefined. */
export function suggest(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  const limit = Math.max(2, Math.floor(name.length / 3));
  return best !== undefined && bestD <= limit ? best : undefined;
}

/** The --help text of a command. */
export function helpText(spec: CommandSpec): string {
  const pos = (spec.positionals ?? [])
    .map((p) => {
      const n = p.variadic ? `${p.name}...` : p.name;
      return p.required ? n : `[${n}]`;
    })
    .join(" ");
  const rows = Object.entries(spec.flags).map(([name, f]) => {
    const value = f.type === "boolean" ? "" : ` ${f.value ?? (f.type === "list" ? "A,B" : "X")}`;
    const extras: string[] = [];
    if (f.choices) extras.push(`one of ${f.choices.join(", ")}`);
    if (f.min !== undefined || f.max !== undefined)
      extras.push(`${f.min ?? "-∞"}..${f.max ?? "∞"}`);
    if (f.defaultText) extras.push(`default ${f.defaultText}`);
    if (f.required) extras.push("required");
    return [
      `--${name}${value}`,
      `${f.description}${extras.length ? ` (${extras.join("; ")})` : ""}`,
    ];
  });
  rows.push(["-h, --help", "print this help and exit"]);
  const width = Math.min(28, Math.max(...rows.map((r) => r[0]!.length)));
  const flagLines = rows.map(([l, d]) =>
    l!.length > width ? `  ${l}\n  ${"".padEnd(width)}  ${d}` : `  ${l!.padEnd(width)}  ${d}`,
  );
  const posLines = (spec.positionals ?? []).map(
    (p) => `  ${p.name.padEnd(width)}  ${p.description}`,
  );
  return [
    `usage: medtune ${spec.command}${pos ? ` ${pos}` : ""} [options]`,
    "",
    spec.summary,
    "",
    ...(posLines.length ? ["arguments:", ...posLines, ""] : []),
    "options:",
    ...flagLines,
    ...(spec.epilog ? ["", spec.epilog.trimEnd()] : []),
    "",
  ].join("\n");
}

function convert(spec: CommandSpec, name: string, f: FlagSpec, raw: string): FlagValue {
  const fail = (what: string, hint = "") =>
    new UsageError(spec.command, `--${name} expects ${what}, got ${JSON.stringify(raw)}${hint}`);
  if (f.type === "int" || f.type === "number") {
    const n = raw.trim() === "" ? NaN : Number(raw);
    if (!Number.isFinite(n) || (f.type === "int" && !Number.isInteger(n)))
      throw fail(f.type === "int" ? "an integer" : "a number");
    if ((f.min !== undefined && n < f.min) || (f.max !== undefined && n > f.max))
      throw fail(`a value in ${f.min ?? "-∞"}..${f.max ?? "∞"}`);
    return n;
  }
  if (f.choices && !f.choices.includes(raw)) {
    const hint = suggest(raw, f.choices);
    throw fail(`one of ${f.choices.join(", ")}`, hint ? ` (did you mean "${hint}"?)` : "");
  }
  return raw;
}

/**
 * Parse argv against a command's flags. Throws UsageError for anything undeclared or malformed;
 * returns `{ help: true }` when --help/-h is anywhere in argv (checked first, so `--help` never
 * runs the command, whatever else is given).
 */
export function parseFlagsOrThrow(
  argv: readonly string[],
  spec: CommandSpec,
): { help: true } | { help: false; values: Record<string, FlagValue>; positionals: string[] } {
  if (argv.some((a) => a === "--help" || a === "-h")) return { help: true };
  const values: Record<string, FlagValue> = {};
  const positionals: string[] = [];
  const known = Object.keys(spec.flags);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    let name = (eq >= 0 ? arg.slice(0, eq) : arg).replace(/^--?/, "");
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let negated = false;
    if (
      !spec.flags[name] &&
      name.startsWith("no-") &&
      spec.flags[name.slice(3)]?.type === "boolean"
    ) {
      name = name.slice(3);
      negated = true;
    }
    const f = spec.flags[name];
    if (!f || !arg.startsWith("--")) {
      const hint = suggest(name, known);
      throw new UsageError(
        spec.command,
        `unknown option "${arg.split("=")[0]}"${hint ? ` (did you mean "--${hint}"?)` : ""}`,
      );
    }
    if (f.type === "boolean") {
      if (inline !== undefined && !["true", "false", "1", "0"].includes(inline))
        throw new UsageError(
          spec.command,
          `--${name} is a switch; got a value ${JSON.stringify(inline)}`,
        );
      values[name] = negated ? false : inline === undefined || inline === "true" || inline === "1";
      continue;
    }
    if (f.type === "list") {
      const items: string[] = inline !== undefined ? [inline] : [];
      while (inline === undefined && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("--"))
        items.push(argv[++i]!);
      const split = items
        .flatMap((s) => s.split(","))
        .map((s) => s.trim())
        .filter(Boolean);
      if (split.length === 0)
        throw new UsageError(spec.command, `--${name} expects one or more values`);
      for (const s of split) convert(spec, name, f, s);
      values[name] = [...((values[name] as string[] | undefined) ?? []), ...split];
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined || (inline === undefined && raw.startsWith("--")))
      throw new UsageError(
        spec.command,
        `--${name} expects a value${f.value ? ` (${f.value})` : ""}`,
      );
    if (values[name] !== undefined) throw new UsageError(spec.command, `--${name} is given twice`);
    values[name] = convert(spec, name, f, raw);
  }
  const absent = Object.entries(spec.flags).filter(([n, f]) => f.required && !(n in values));
  if (absent.length > 0)
    throw new UsageError(
      spec.command,
      `missing ${absent.map(([n, f]) => `--${n}${f.value ? ` ${f.value}` : ""}`).join(", ")}`,
    );
  const allowed = spec.positionals ?? [];
  const variadic = allowed.some((p) => p.variadic);
  if (!variadic && positionals.length > allowed.length) {
    const extra = positionals[allowed.length]!;
    throw new UsageError(
      spec.command,
      allowed.length === 0
        ? `unexpected argument ${JSON.stringify(extra)} (this command takes only --options)`
        : `unexpected extra argument ${JSON.stringify(extra)}`,
    );
  }
  const missing = allowed.filter((p, i) => p.required && positionals[i] === undefined);
  if (missing.length > 0)
    throw new UsageError(spec.command, `missing argument ${missing.map((p) => p.name).join(", ")}`);
  return { help: false, values, positionals };
}

/**
 * parseFlagsOrThrow for a CLI `main`: prints help to stdout (exit 0) or the error and a pointer
 * to --help to stderr (exit 2), so a command's main stays `if (p.kind !== "ok") return p.exit;`.
 */
export function parseFlags(
  argv: readonly string[],
  spec: CommandSpec,
  out: { stdout: (s: string) => void; stderr: (s: string) => void } = {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
  },
): ParsedFlags {
  try {
    const r = parseFlagsOrThrow(argv, spec);
    if (r.help) {
      out.stdout(helpText(spec));
      return { kind: "exit", exit: 0 };
    }
    return { kind: "ok", values: r.values, positionals: r.positionals };
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    out.stderr(
      `medtune ${spec.command}: ${e.message}\n  (see \`medtune ${spec.command} --help\`)\n`,
    );
    return { kind: "exit", exit: 2 };
  }
}
