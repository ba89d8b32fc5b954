/**
 * `npm run bench -- matmul`: the machine's float32 matrix-multiply limit, through our addon
 * (native `matmul`, MLX routed to its CPU BLAS) and through PyTorch's CPU BLAS
 * (scripts/bench/matmul_torch.py), A B A B. A product of (m, k) by (k, n) counts 2·m·k·n FLOPs.
 * The addon is timed over a chain of products (x·B·C·B·C…) read back once, so copying the result
 * to JS does not count against the BLAS. The train suite divides its achieved FLOP/s by this peak.
 *
 *   npx tsx src/bench/index.ts matmul --repeats 3
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { ROOT } from "../paths.js";
import type { BenchOptions, Log, SuiteOutcome } from "./options.js";
import { childEntry, ensureBenchVenv, runChild, runNodeChild, threadEnv } from "./peers.js";
import { alternate, numberField, type Comparison, type MetricSpec } from "./stats.js";

const SELF = fileURLToPath(import.meta.url);
export const MATMUL_SHAPES: [number, number, number][] = [
  [1024, 1024, 1024],
  [2048, 2048, 2048],
  // the training step's MLP products: batch 4 × seq 512 rows, SmolLM2's 576 → 1536
  [2048, 576, 1536],
];
const key = ([m, k, n]: [number, number, number]) => `gflops_${m}x${k}x${n}`;

interface ShapeResult {
  shape: [number, number, number];
  gflops: number;
}

function random(n: number, scale: number): Float32Array {
  let s = 2463534242;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (((s >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** The child: GFLOP/s of the addon's matmul per shape. */
async function child(a: {
  shapes: [number, number, number][];
  seconds: number;
}): Promise<Record<string, unknown>> {
  const { shapes, seconds } = a;
  const { loadNative } = await import("../native/loader.js");
  const mlx = loadNative();
  const out: ShapeResult[] = [];
  const CHAIN = 8;
  for (const [m, k, n] of shapes) {
    const a = mlx.fromFloat32(random(m * k, 1), [m, k]);
    // B (k, n) and C (n, k) alternate, scaled so values neither vanish nor overflow.
    const b = mlx.fromFloat32(random(k * n, Math.sqrt(3 / k)), [k, n]);
    const c = mlx.fromFloat32(random(n * k, Math.sqrt(3 / n)), [n, k]);
    const once = () => {
      let x = a;
      const made = [];
      for (let i = 0; i < CHAIN; i++) {
        x = mlx.matmul(x, i % 2 ? c : b);
        made.push(x);
      }
      x.toFloat32Array();
      for (const t of made) t.dispose();
    };
    once();
    let calls = 0;
    const t0 = performance.now();
    let el = 0;
    do {
      once();
      calls++;
      el = (performance.now() - t0) / 1000;
    } while (el < seconds);
    out.push({ shape: [m, k, n], gflops: (2 * m * k * n * CHAIN * calls) / el / 1e9 });
    a.dispose();
    b.dispose();
    c.dispose();
  }
  return { subject: "medtune", shapes: out, blas: mlx.blas() };
}

/** GFLOP/s per shape of medtune's matmul, in a child process with `threads` BLAS threads. */
export async function ourMatmul(
  shapes: [number, number, number][],
  threads: number,
  seconds = 1,
): Promise<{ shapes: ShapeResult[]; blas: string }> {
  const r = await runNodeChild(
    SELF,
    { shapes, seconds },
    { who: "medtune matmul", env: threadEnv(threads), timeoutSeconds: 600 },
  );
  return { shapes: r.result.shapes as ShapeResult[], blas: String(r.result.blas) };
}

async function torchMatmul(python: string, shapes: [number, number, number][], threads: number) {
  const r = await runChild(
    python,
    [
      join(ROOT, "scripts", "bench", "matmul_torch.py"),
      "--shapes",
      shapes.map((s) => s.join("x")).join(","),
      "--threads",
      String(threads),
    ],
    { who: "torch matmul", env: threadEnv(threads), timeoutSeconds: 600 },
  );
  return {
    shapes: (r.result.shapes as { shape: [number, number, number]; gflops: number }[]).map((s) => ({
      shape: s.shape,
      gflops: numberField("torch matmul", s as unknown as Record<string, unknown>, "gflops"),
    })),
    version: (r.result.versions as Record<string, string>).torch,
  };
}

export async function bench(o: BenchOptions, log: Log): Promise<SuiteOutcome> {
  const python = o.peers ? await ensureBenchVenv(log) : undefined;
  const metrics: MetricSpec[] = [
    ...MATMUL_SHAPES.map((s) => ({
      key: key(s),
      label: `float32 ${s.join("×")}`,
      unit: "GFLOP/s",
      higherIsBetter: true,
      chart: true,
    })),
    { key: "peak", label: "best of the shapes", unit: "GFLOP/s", higherIsBetter: true },
  ];
  const c: Comparison = {
    suite: "matmul",
    title: `float32 matrix multiply, ${o.threads} threads`,
    ours: "medtune",
    subjects: ["medtune", ...(python ? ["torch"] : [])],
    metrics,
    samples: [],
    notes: [],
  };
  await alternate(
    c,
    o.repeats ?? 3,
    async (subject) => {
      const r =
        subject === "medtune"
          ? await ourMatmul(MATMUL_SHAPES, o.threads)
          : await torchMatmul(python!, MATMUL_SHAPES, o.threads);
      const values: Record<string, number> = {};
      for (const s of r.shapes) values[key(s.shape)] = s.gflops;
      values.peak = Math.max(...r.shapes.map((s) => s.gflops));
      log(`matmul: ${subject} peak ${values.peak.toFixed(1)} GFLOP/s`);
      return { values, detail: "blas" in r ? { blas: r.blas } : { torch: r.version } };
    },
    log,
  );
  const blas = c.samples.find((s) => s.subject === "medtune")?.detail?.blas;
  if (blas) c.notes.push(`medtune's BLAS: ${String(blas)}`);
  return { comparisons: [c], goals: [] };
}

childEntry(SELF, child);
