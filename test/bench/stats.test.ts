/**
 * The bench's arithmetic and parsing without running a benchmark: medians, min–max, ratios of
 * medtune to each peer, the printed table, goals, a peer's JSON result line (and its failures),
 * the training FLOP count, and the packing of training rows.
 *
 *   npx vitest run test/bench
 */
import { describe, expect, it } from "vitest";
import { trainingFlopsPerToken } from "../../src/bench/flops.js";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { comparisonFigure, reportBlocks, writeBenchRun } from "../../src/bench/results.js";
import {
  alternate,
  BenchChildError,
  comparisonTable,
  formatComparison,
  formatGoals,
  goal,
  median,
  numbers,
  parseResultLine,
  ratioOf,
  summarize,
  type Comparison,
} from "../../src/bench/stats.js";
import { packRows } from "../../src/bench/train-data.js";

function comparison(): Comparison {
  return {
    suite: "train",
    title: "test",
    ours: "medtune",
    subjects: ["medtune", "peft", "mlx-lm"],
    metrics: [
      { key: "tps", label: "tokens/s", unit: "tok/s", higherIsBetter: true, chart: true },
      { key: "rss", label: "peak RSS", unit: "MiB", higherIsBetter: false },
    ],
    samples: [
      { subject: "medtune", round: 0, values: { tps: 100, rss: 1000 } },
      { subject: "peft", round: 0, values: { tps: 40, rss: 2000 } },
      { subject: "mlx-lm", round: 0, values: { tps: 90, rss: 1500 } },
      { subject: "medtune", round: 1, values: { tps: 120, rss: 1100 } },
      { subject: "peft", round: 1, values: { tps: 60, rss: 2100 } },
      { subject: "mlx-lm", round: 1, values: { tps: 70, rss: 1400 } },
      { subject: "medtune", round: 2, values: { tps: 110, rss: 1050 } },
      { subject: "peft", round: 2, values: { tps: 50, rss: 1900 } },
    ],
    notes: ["a note"],
  };
}

describe("median and summaries", () => {
  it("takes the middle value, or the mean of the two middle ones", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });

  it("summarizes finite values only, with min and max", () => {
    expect(summarize([5, NaN, 1, 3])).toEqual({ median: 3, min: 1, max: 5, n: 3 });
    expect(summarize([NaN])).toBeUndefined();
  });
});

describe("ratios and the table", () => {
  it("divides medtune's median by each peer's median", () => {
    const c = comparison();
    expect(ratioOf(c, "peft", "tps")).toBeCloseTo(110 / 50);
    // mlx-lm ran two rounds: median of 90 and 70
    expect(ratioOf(c, "mlx-lm", "tps")).toBeCloseTo(110 / 80);
    expect(ratioOf(c, "peft", "rss")).toBeCloseTo(1050 / 2000);
    expect(ratioOf(c, "nobody", "tps")).toBeNull();
  });

  it("prints median [min–max] per subject and the ratio columns", () => {
    const { columns, rows } = comparisonTable(comparison());
    expect(columns).toEqual([
      "metric",
      "medtune",
      "peft",
      "mlx-lm",
      "medtune/peft",
      "medtune/mlx-lm",
    ]);
    expect(rows[0]).toEqual([
      "tokens/s (tok/s, higher better)",
      "110 [100–120]",
      "50.0 [40.0–60.0]",
      "80.0 [70.0–90.0]",
      "2.20×",
      "1.38×",
    ]);
    expect(rows[1]![0]).toContain("lower better");
    const text = formatComparison(comparison());
    expect(text).toContain("medians [min–max] of 3 interleaved rounds");
    expect(text).toContain("note: a note");
    // every table line has its columns at the same offsets
    const lines = text.split("\n").slice(1, 5);
    const at = lines[0]!.indexOf("medtune/peft");
    expect(lines[2]!.slice(at, at + 5)).toBe("2.20×");
  });

  it("marks a failed subject and shows no ratio for it", () => {
    const c = comparison();
    c.samples = c.samples.filter((s) => s.subject !== "mlx-lm");
    c.failures = { "mlx-lm": "boom" };
    const { rows } = comparisonTable(c);
    expect(rows[0]![3]).toBe("failed");
    expect(rows[0]![5]).toBe("–");
    expect(formatComparison(c)).toContain("mlx-lm failed: boom");
  });

  it("checks goals in both directions and leaves unmeasured ones open", () => {
    expect(goal("speed", 2.2, "≥", 2).met).toBe(true);
    expect(goal("speed", 1.9, "≥", 2).met).toBe(false);
    expect(goal("memory", 0.5, "≤", 0.8).met).toBe(true);
    expect(goal("memory", 0.9, "≤", 0.8).met).toBe(false);
    expect(goal("x", null, "≥", 1).met).toBeNull();
    expect(formatGoals([goal("x", null, "≥", 1)])).toContain("not measured");
  });

  it("draws the charted metrics as bars with min–max error bars, and reports them", () => {
    const fig = comparisonFigure(comparison())!;
    expect(fig.data).toHaveLength(3);
    const peft = fig.data[1] as { y: number[]; error_y: { array: number[]; arrayminus: number[] } };
    expect(peft.y).toEqual([50]);
    expect(peft.error_y.array).toEqual([10]);
    expect(peft.error_y.arrayminus).toEqual([10]);
    const blocks = reportBlocks({
      startedAt: "",
      finishedAt: "",
      command: [],
      machine: { cpuModel: "", cpus: 2, memoryBytes: 0, node: "", platform: "" },
      comparisons: [comparison()],
      goals: [goal("speed", 2.2, "≥", 2)],
    });
    expect(blocks.map((b) => b.kind)).toEqual([
      "heading",
      "table",
      "heading",
      "table",
      "figure",
      "text",
    ]);
  });
});

describe("the written results", () => {
  it("are a JSON file with samples, summaries and ratios, and an HTML report beside it", () => {
    const dir = mkdtempSync(join(tmpdir(), "medtune-bench-test-"));
    try {
      const files = writeBenchRun(dir, {
        startedAt: "2026-12-02T05:50:00.123Z",
        finishedAt: "2026-12-02T06:10:00.000Z",
        command: ["train"],
        machine: {
          cpuModel: "cpu",
          cpus: 2,
          memoryBytes: 2 ** 34,
          node: "v20",
          platform: "linux-x64",
        },
        comparisons: [comparison()],
        goals: [goal("speed", 2.2, "≥", 2)],
      });
      expect(files.json).toBe(join(dir, "2026-12-02T055000Z.json"));
      const body = JSON.parse(readFileSync(files.json, "utf8")) as {
        comparisons: { samples: unknown[]; summaries: Record<string, Record<string, unknown>> }[];
      };
      expect(body.comparisons[0]!.samples).toHaveLength(8);
      expect(body.comparisons[0]!.summaries.tps!.peft).toEqual({
        median: 50,
        min: 40,
        max: 60,
        n: 3,
      });
      expect(body.comparisons[0]!.summaries.tps!.ratios).toEqual({
        "medtune/peft": 2.2,
        "medtune/mlx-lm": 1.375,
      });
      const html = readFileSync(files.html, "utf8");
      expect(html).toContain("Plotly.newPlot");
      expect(html).toContain("110 [100–120]");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("alternate", () => {
  it("runs subjects A B A B and stops running one that failed", async () => {
    const c = comparison();
    c.samples = [];
    const order: string[] = [];
    await alternate(c, 3, async (s, r) => {
      order.push(`${s}${r}`);
      if (s === "peft" && r === 1) throw new Error("out of memory");
      return { values: { tps: r } };
    });
    expect(order).toEqual([
      "medtune0",
      "peft0",
      "mlx-lm0",
      "medtune1",
      "peft1",
      "mlx-lm1",
      "medtune2",
      "mlx-lm2",
    ]);
    expect(c.failures).toEqual({ peft: "out of memory" });
    expect(c.samples.filter((s) => s.subject === "medtune").map((s) => s.round)).toEqual([0, 1, 2]);
  });
});

describe("a peer's result line", () => {
  it("is the last non-empty stdout line, a JSON object", () => {
    const out = 'loading…\n{"subject":"peft","stepSeconds":[1.5,2]}\n\n';
    const r = parseResultLine("peft", out);
    expect(numbers("peft", r, "stepSeconds")).toEqual([1.5, 2]);
  });

  it("names the peer and shows its stderr when the line is missing or not JSON", () => {
    expect(() => parseResultLine("peft", "", "Traceback\nValueError: bad")).toThrow(
      /peft: printed no result line[\s\S]*ValueError: bad/,
    );
    expect(() => parseResultLine("mlx-lm", "step 1\n")).toThrow(/mlx-lm: last line is not JSON/);
    expect(() => parseResultLine("x", "[1,2]")).toThrow(/not a JSON object/);
  });

  it("turns a failure line into an error with its message", () => {
    const err = (() => {
      try {
        parseResultLine("peft", '{"ok": false, "error": "OSError: no such file"}');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(BenchChildError);
    expect((err as Error).message).toBe("peft: OSError: no such file");
  });

  it("rejects a field of the wrong type, naming it", () => {
    expect(() => numbers("peft", { losses: [1, "x"] }, "losses")).toThrow(
      /peft: result field "losses"/,
    );
  });
});

describe("training FLOPs", () => {
  it("counts 4·N_base + 6·N_lora + attention for SmolLM2-135M", () => {
    const f = trainingFlopsPerToken(
      {
        hiddenSize: 576,
        intermediateSize: 1536,
        numLayers: 30,
        numHeads: 9,
        numKvHeads: 3,
        headDim: 64,
        vocabSize: 49152,
      },
      512,
      16,
    );
    // per layer: q 576², k,v 576·192, o 576², gate/up/down 3·576·1536; plus the 49152×576 lm_head
    expect(f.baseWeights).toBe(30 * (2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536) + 49152 * 576);
    expect(f.loraWeights).toBe(30 * 16 * (2 * 1152 + 2 * 768 + 3 * 2112));
    expect(f.attentionPerToken).toBe(12 * 30 * 512 * 576);
    expect(f.perToken).toBe(4 * f.baseWeights + 6 * f.loraWeights + f.attentionPerToken);
  });
});

describe("training rows", () => {
  it("packs examples into rows of seq+1 tokens, keeping each token's supervision, wrapping", () => {
    const ex = [
      { tokens: [1, 2, 3], supervised: [0, 1, 1] },
      { tokens: [4, 5], supervised: [0, 1] },
    ];
    const rows = packRows(ex, 3, 3);
    expect(rows).toEqual([
      { tokens: [1, 2, 3, 4], mask: [0, 1, 1, 0] },
      { tokens: [5, 1, 2, 3], mask: [1, 0, 1, 1] },
      { tokens: [4, 5, 1, 2], mask: [0, 1, 0, 1] },
    ]);
    expect(() => packRows([{ tokens: [], supervised: [] }], 3, 1)).toThrow(/no tokens/);
  });
});

describe("the peers' venv", () => {
  it("fails before installing anything, with a remedy, when there is no usable Python", async () => {
    const { ensureBenchVenv } = await import("../../src/bench/peers.js");
    const dir = mkdtempSync(join(tmpdir(), "medtune-bench-venv-"));
    const saved = { venv: process.env.MEDTUNE_BENCH_VENV, py: process.env.MEDTUNE_BENCH_PYTHON };
    process.env.MEDTUNE_BENCH_VENV = join(dir, "venv");
    process.env.MEDTUNE_BENCH_PYTHON = join(dir, "no-such-python");
    try {
      await expect(ensureBenchVenv(() => {})).rejects.toThrow(
        /need Python ≥ 3\.10[\s\S]*not runnable[\s\S]*remedy: .*MEDTUNE_BENCH_PYTHON.*--no-peers/,
      );
    } finally {
      process.env.MEDTUNE_BENCH_VENV = saved.venv;
      process.env.MEDTUNE_BENCH_PYTHON = saved.py;
      if (saved.venv === undefined) delete process.env.MEDTUNE_BENCH_VENV;
      if (saved.py === undefined) delete process.env.MEDTUNE_BENCH_PYTHON;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
