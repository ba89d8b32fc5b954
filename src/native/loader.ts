/**
 * Loading the native addon with errors a researcher can act on.
 *
 * A bare `dlopen` failure ("libmlx.so: cannot open shared object file") says nothing about what to
 * do; here every failure mode maps to the set-up step that fixes it.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { NativeBinding } from "./binding.js";

const require = createRequire(import.meta.url);

/** The repository (or installed package) root: dist/native/ and src/native/ are both two below it. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export type NativeLoadErrorCode =
  "ADDON_MISSING" | "VENV_MISSING" | "BACKEND_MISSING" | "ADDON_LOAD_FAILED";

export class NativeLoadError extends Error {
  constructor(
    readonly code: NativeLoadErrorCode,
    message: string,
    readonly remedy: string,
    override readonly cause?: unknown,
  ) {
    super(`${message}\n  remedy: ${remedy}`);
    this.name = "NativeLoadError";
  }
}

export interface NativePaths {
  addon: string;
  venv: string;
}

export function nativePaths(): NativePaths {
  return {
    addon:
      process.env.MEDTUNE_NATIVE_ADDON ??
      join(PACKAGE_ROOT, "native", "build", "Release", "medtune_native.node"),
    venv: resolve(process.env.MEDTUNE_VENV ?? join(PACKAGE_ROOT, ".venv")),
  };
}

function backendWheel(): string {
  const b = process.env.MEDTUNE_MLX_BACKEND;
  if (b === "cuda") return "mlx-cuda-12";
  if (b === "metal" || (!b && process.platform === "darwin")) return "mlx-metal";
  return "mlx-cpu";
}

let cached: NativeBinding | undefined;

/** Load (once per process) and return the addon; throws NativeLoadError naming the fix. */
export function loadNative(): NativeBinding {
  cached ??= loadNativeFrom(nativePaths());
  return cached;
}

/** Load the addon at the given paths, uncached (the classification of failures lives here). */
export function loadNativeFrom({ addon, venv }: NativePaths): NativeBinding {
  if (!existsSync(addon)) {
    throw new NativeLoadError(
      "ADDON_MISSING",
      `the native addon is not built (${addon} does not exist)`,
      "run `npm run setup` (step native-addon builds it; needs cmake and a C++20 compiler)",
    );
  }
  try {
    return require(addon) as NativeBinding;
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (!existsSync(venv)) {
      throw new NativeLoadError(
        "VENV_MISSING",
        `the native addon cannot load because the Python venv holding libmlx is missing (${venv})`,
        "run `npm run setup` (step python-venv installs the MLX backend wheel, then rebuilds the addon)",
        e,
      );
    }
    if (/libmlx|mlx\.(so|dylib)|cannot open shared object|Library not loaded/i.test(msg)) {
      throw new NativeLoadError(
        "BACKEND_MISSING",
        `the MLX backend library could not be loaded: ${msg}`,
        `install the backend wheel (${backendWheel()}==0.32.4) with \`npm run setup -- --only python-venv --force\`, then \`npm run build:native\``,
        e,
      );
    }
    throw new NativeLoadError(
      "ADDON_LOAD_FAILED",
      `the native addon failed to load: ${msg}`,
      "rebuild it for this Node and platform with `npm run build:native`",
      e,
    );
  }
}
