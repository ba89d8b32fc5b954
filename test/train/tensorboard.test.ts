// TensorBoard event files from our own writer (src/train/tensorboard.ts), read back by the
// `tensorboard` package's EventAccumulator in .venv (configs/python/requirements-cpu.txt), which
// checks each record's masked CRC-32C; plus CRC-32C's published check value.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { crc32c, TensorBoardWriter } from "../../src/train/tensorboard.js";

const PYTHON = resolve(".venv/bin/python");
const hasTensorboard =
  existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import tensorboard"]).status === 0;

describe("TensorBoardWriter", () => {
  it("CRC-32C of '123456789' is 0xE3069283 (the Castagnoli check value)", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
  });

  it.skipIf(!hasTensorboard)(
    "writes files TensorBoard's EventAccumulator reads (skipped only without tensorboard in .venv)",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "medtune-tb-"));
      const tb = TensorBoardWriter.open(dir);
      tb.scalars(1, { "loss/train": 2.5, "memory/rss_mib": 812 });
      tb.scalars(2, { "loss/train": 2.25, "loss/valid": 2.4, skipped: NaN });
      expect(readdirSync(dir)[0]).toMatch(/^events\.out\.tfevents\.\d+\./);
      const script = join(dir, "read.py");
      writeFileSync(
        script,
        [
          "import json, sys",
          "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator",
          "ea = EventAccumulator(sys.argv[1]); ea.Reload()",
          "tags = ea.Tags()['scalars']",
          "print(json.dumps({t: [[s.step, s.value] for s in ea.Scalars(t)] for t in tags}))",
        ].join("\n"),
      );
      const r = spawnSync(PYTHON, [script, dir], { encoding: "utf8" });
      expect(r.stderr).not.toMatch(/corrupt|checksum|DataLossError/i);
      expect(r.status).toBe(0);
      const scalars = JSON.parse(r.stdout.trim().split("\n").at(-1) as string) as Record<
        string,
        number[][]
      >;
      expect(scalars["loss/train"]).toEqual([
        [1, 2.5],
        [2, 2.25],
      ]);
      expect(scalars["loss/valid"]?.[0]?.[0]).toBe(2);
      expect(scalars["loss/valid"]?.[0]?.[1]).toBeCloseTo(2.4, 5);
      expect(scalars["memory/rss_mib"]).toEqual([[1, 812]]);
      expect(scalars.skipped).toBeUndefined();
      // A flipped byte in a record is caught by the reader's CRC check.
      const file = join(
        dir,
        readdirSync(dir).find((f) => f.startsWith("events"))!,
      );
      const bytes = readFileSync(file);
      bytes[bytes.length - 6] ^= 0xff;
      writeFileSync(file, bytes);
      const bad = spawnSync(PYTHON, [script, dir], { encoding: "utf8" });
      const after = JSON.parse(bad.stdout.trim().split("\n").at(-1) as string) as Record<
        string,
        number[][]
      >;
      expect(after["loss/valid"]).toBeUndefined(); // the damaged step-2 record is refused
      expect(after["loss/train"]).toEqual([[1, 2.5]]);
    },
  );
});
