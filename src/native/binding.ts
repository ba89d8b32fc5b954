/**
 * The whole native surface of medtune_native.node, declared in one place. The C++ side registers
 * these in native/src/addon.cc; keep the two in step (test/native/binding.test.ts checks that every
 * declared function exists on the loaded module).
 */

export interface MemoryStats {
  /** Bytes held by live MLX arrays. */
  activeBytes: number;
  /** High-water mark of activeBytes since start or the last resetPeakMemory(). */
  peakBytes: number;
  /** Freed buffers MLX keeps for reuse (not returned to the OS). */
  cacheBytes: number;
}

export interface DeviceInfo {
  type: "cpu" | "gpu";
  index: number;
}

/** A handle on an MLX array owned by JS until dispose() (or garbage collection). */
export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: string;
  readonly nbytes: number;
  toFloat32Array(): Float32Array;
  dispose(): void;
}

export interface NativeBinding {
  version(): string;
  backend(): "cpu" | "metal" | "cuda";
  defaultDevice(): DeviceInfo;
  memory(): MemoryStats;
  resetPeakMemory(): void;
  clearCache(): void;
  /** Returns the previous limit in bytes. */
  setMemoryLimit(bytes: number): number;
  fromFloat32(data: Float32Array, shape: number[]): NativeTensor;
  matmul(a: NativeTensor, b: NativeTensor): NativeTensor;
}

/** Names every NativeBinding member, so tests can check the loaded module against the declaration. */
export const NATIVE_FUNCTIONS = [
  "version",
  "backend",
  "defaultDevice",
  "memory",
  "resetPeakMemory",
  "clearCache",
  "setMemoryLimit",
  "fromFloat32",
  "matmul",
] as const satisfies readonly (keyof NativeBinding)[];
