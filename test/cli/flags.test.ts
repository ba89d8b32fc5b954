// The one flag parser (src/cli-flags.ts): typed values, ranges, choices, lists, switches,
// required flags and positionals, --help before anything else, and typo suggestions.
import { describe, expect, it } from "vitest";
import {
  helpText,
  parseFlags,
  parseFlagsOrThrow,
  suggest,
  UsageError,
  type CommandSpec,
} from "../../src/cli-flags.js";

const SPEC: CommandSpec = {
  command: "demo",
  summary: "A command for the parser's tests.",
  positionals: [{ name: "source", description: "what to read", required: true }],
  flags: {
    config: { type: "string", value: "FILE", description: "settings", required: true },
    iters: { type: "int", min: 1, value: "N", description: "steps", defaultText: "10" },
    ratio: { type: "number", min: 0, max: 1, description: "share" },
    format: { type: "string", choices: ["json", "tsv"], description: "layout" },
    sources: { type: "list", choices: ["pubmed", "drugbank"], description: "sources" },
    progress: { type: "boolean", description: "show progress" },
  },
};

const ok = (argv: string[]) => {
  const r = parseFlagsOrThrow(argv, SPEC);
  if (r.help) throw new Error("unexpected help");
  return r;
};
const usage = (argv: string[]) => {
  try {
    parseFlagsOrThrow(argv, SPEC);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`no usage error for ${argv.join(" ")}`);
};

describe("parseFlags", () => {
  it("parses typed values, both spellings, lists and switches", () => {
    const r = ok([
      "in",
      "--config=a.yaml",
      "--iters",
      "5",
      "--ratio",
      "0.25",
      "--sources",
      "pubmed,drugbank",
      "--no-progress",
    ]);
    expect(r.positionals).toEqual(["in"]);
    expect(r.values).toEqual({
      config: "a.yaml",
      iters: 5,
      ratio: 0.25,
      sources: ["pubmed", "drugbank"],
      progress: false,
    });
    expect(ok(["in", "--config", "a", "--sources", "pubmed", "drugbank"]).values.sources).toEqual([
      "pubmed",
      "drugbank",
    ]);
  });

  it("rejects what it did not declare, with a suggestion for a typo", () => {
    expect(usage(["in", "--config", "a", "--iter", "3"])).toBe(
      'unknown option "--iter" (did you mean "--iters"?)',
    );
    expect(usage(["in", "--config", "a", "--zzzzzz"])).toBe('unknown option "--zzzzzz"');
    expect(usage(["in", "--config", "a", "-x"])).toMatch(/unknown option "-x"/);
    expect(usage(["in", "--config", "a", "extra"])).toMatch(/unexpected extra argument "extra"/);
  });

  it("checks values: integers, ranges, choices (with a suggestion), switch values, repeats", () => {
    expect(usage(["in", "--config", "a", "--iters", "1.5"])).toMatch(/--iters expects an integer/);
    expect(usage(["in", "--config", "a", "--iters", "0"])).toMatch(/a value in 1\.\.∞, got "0"/);
    expect(usage(["in", "--config", "a", "--ratio", "2"])).toMatch(/a value in 0\.\.1/);
    expect(usage(["in", "--config", "a", "--format", "jsn"])).toMatch(
      /one of json, tsv, got "jsn" \(did you mean "json"\?\)/,
    );
    expect(usage(["in", "--config", "a", "--sources", "pubmd"])).toMatch(/did you mean "pubmed"/);
    expect(usage(["in", "--config", "a", "--progress=maybe"])).toMatch(/is a switch/);
    expect(usage(["in", "--config", "a", "--config", "b"])).toMatch(/--config is given twice/);
    expect(usage(["in", "--config"])).toMatch(/--config expects a value \(FILE\)/);
  });

  it("names a missing required flag or positional", () => {
    expect(usage(["in"])).toBe("missing --config FILE");
    expect(usage(["--config", "a"])).toBe("missing argument source");
  });

  it("--help wins over everything else and prints every flag", () => {
    expect(parseFlagsOrThrow(["--bogus", "-h"], SPEC)).toEqual({ help: true });
    const out: string[] = [];
    const err: string[] = [];
    const sink = { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) };
    expect(parseFlags(["--help", "--iters", "nope"], SPEC, sink)).toEqual({
      kind: "exit",
      exit: 0,
    });
    expect(out.join("")).toBe(helpText(SPEC));
    for (const f of [
      "--config FILE",
      "--iters N",
      "--format",
      "--sources",
      "--progress",
      "-h, --help",
    ])
      expect(out.join("")).toContain(f);
    expect(out.join("")).toMatch(/usage: medtune demo source \[options\]/);
    expect(out.join("")).toMatch(/required/);
    expect(out.join("")).toMatch(/default 10/);
    expect(parseFlags(["in", "--nope"], SPEC, sink)).toEqual({ kind: "exit", exit: 2 });
    expect(err.join("")).toMatch(
      /^medtune demo: unknown option "--nope"\n {2}\(see `medtune demo --help`\)/,
    );
  });

  it("suggests only plausible typos", () => {
    expect(suggest("smaples", ["samples", "seed"])).toBe("samples");
    expect(suggest("xyz", ["samples", "seed"])).toBeUndefined();
  });
});
