/**
 * `medtune smoke`: proves the native stack works end to end on this machine — the addon loads,
 * MLX reports its version and device, a float32 matmul of arrays passed from JS matches a JS
 * reference, and the memory counters move when an array is allocated.
 *
 *   medtune smoke [--json]
 */
import { parseFlags, type CommandSpec } from "../cli-flags.js";
import type { MemoryStats } from "./binding.js";
import { loadNative } from "./loader.js";

export interface SmokeResult {
  mlxVersion: string;
  backend: string;
  blas: string;
  device: string;
  matmulMaxAbsError: number;
  memoryBefore: MemoryStats;
  memoryHeld: MemoryStats;
  memoryAfterFree: MemoryStats;
}

/** Plain row-major float32 reference: (M, K) @ (K, N) → (M, N), accumulated in float64. */
export function referenceMatmul(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
      out[i * n + j] = s;
    }
  }
  return out;
}

/** Deterministic values in [-1, 1) so runs are comparable. */
export function seededFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x / 0x100000000) * 2 - 1;
  }
  return out;
}

export function runSmoke(): SmokeResult {
  const mlx = loadNative();
  const [m, k, n] = [64, 96, 48];
  const a = seededFloats(m * k, 1);
  const b = seededFloats(k * n, 2);
  const ta = mlx.fromFloat32(a, [m, k]);
  const tb = mlx.fromFloat32(b, [k, n]);
  const tc = mlx.matmul(ta, tb);
  const got = tc.toFloat32Array();
  const want = referenceMatmul(a, b, m, k, n);
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i]! - want[i]!));
  for (const t of [ta, tb, tc]) t.dispose();

  mlx.clearCache();
  const memoryBefore = mlx.memory();
  const big = mlx.fromFloat32(new Float32Array(1 << 20), [1024, 1024]);
  const memoryHeld = mlx.memory();
  big.dispose();
  const memoryAfterFree = mlx.memory();
  const dev = mlx.defaultDevice();
  return {
    mlxVersion: mlx.version(),
    backend: mlx.backend(),
    blas: mlx.blas(),
    device: `${dev.type}:${dev.index}`,
    matmulMaxAbsError: maxErr,
    memoryBefore,
    memoryHeld,
    memoryAfterFree,
  };
}

const mib = (bytes: number) => `${(bytes / (1 << 20)).toFixed(2)} MiB`;

export function formatSmoke(r: SmokeResult): string {
  return [
    `MLX ${r.mlxVersion} · backend ${r.backend} · default device ${r.device}`,
    `CPU GEMM: ${r.blas}`,
    `matmul (64×96 @ 96×48, float32): max |MLX − JS reference| = ${r.matmulMaxAbsError.toExponential(2)}`,
    `memory: active ${mib(r.memoryBefore.activeBytes)} → ${mib(r.memoryHeld.activeBytes)} holding a 4 MiB array → ${mib(r.memoryAfterFree.activeBytes)} after dispose; peak ${mib(r.memoryHeld.peakBytes)}, cache ${mib(r.memoryAfterFree.cacheBytes)}`,
  ].join("\n");
}

export const SPEC: CommandSpec = {
  command: "smoke",
  summary:
    "Load the MLX addon; print its version, device, a matmul checked against JS and memory counters.",
  flags: { json: { type: "boolean", description: "print the result as one JSON line" } },
  epilog: "Exit status: 0 the addon works; 1 the matmul check failed.",
};

export async function main(argv: string[]): Promise<number> {
  const p = parseFlags(argv, SPEC);
  if (p.kind !== "ok") return p.exit;
  const r = runSmoke();
  if (p.values.json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else process.stdout.write(`${formatSmoke(r)}\n`);
  return r.matmulMaxAbsError < 1e-3 ? 0 : 1;
}
