#!/usr/bin/env node
/**
 * clang-format over native/src (the venv's pinned clang-format wheel, so every machine formats
 * alike).   node scripts/clang-format.mjs --check | --write
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(resolve(process.env.MEDTUNE_VENV ?? join(root, ".venv")), "bin", "clang-format");
if (!existsSync(bin)) {
  process.stderr.write(
    `clang-format: ${bin} is missing\n  remedy: run \`npm run setup\` (step python-venv)\n`,
  );
  process.exit(1);
}
const files = [];
const walk = (d) => {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(cc|h|cpp|hpp)$/.test(e.name)) files.push(p);
  }
};
walk(join(root, "native", "src"));
const mode = process.argv.includes("--write") ? ["-i"] : ["--dry-run", "--Werror"];
const res = spawnSync(bin, [...mode, ...files], { stdio: "inherit" });
process.exit(res.status ?? 1);
