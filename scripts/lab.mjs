#!/usr/bin/env node
/**
 * `npm run lab`: JupyterLab from the project's venv, opened on notebooks/, with the tslab
 * TypeScript kernel that `npm run setup` registered (it runs this project's node_modules/tslab).
 * Extra arguments go to `jupyter lab`, e.g. `npm run lab -- --no-browser --port 8899`.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const venv = resolve(process.env.MEDTUNE_VENV ?? join(root, ".venv"));
const jupyter = join(venv, "bin", "jupyter");
if (!existsSync(jupyter)) {
  process.stderr.write(
    `lab: ${jupyter} is missing\n  remedy: run \`npm run setup\` (step python-venv)\n`,
  );
  process.exit(1);
}
// Containers and CI run as root, which jupyter refuses without --allow-root.
const asRoot = process.getuid?.() === 0 ? ["--allow-root"] : [];
const child = spawn(
  jupyter,
  ["lab", `--notebook-dir=${join(root, "notebooks")}`, ...asRoot, ...process.argv.slice(2)],
  {
    stdio: "inherit",
    env: {
      ...process.env,
      PATH: `${join(venv, "bin")}:${process.env.PATH}`,
      JUPYTER_PATH: join(venv, "share", "jupyter"),
    },
  },
);
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 0)));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
