// The one atomic-write helper (src/fs-atomic.ts): temporaries named <file>.tmp-<pid>-<hex> beside
// the target, nothing visible until the rename, the previous file kept on failure, and the
// temporaries of dead processes (ours or the native trainer's) removed by the next write.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  AtomicFile,
  processAlive,
  removeStaleTemporaries,
  removeStaleTemporariesIn,
  replaceSync,
  tempPathFor,
  temporaryOwner,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../src/fs-atomic.js";

const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid!;
const dir = () => mkdtempSync(join(tmpdir(), "medtune-atomic-"));

describe("fs-atomic", () => {
  it("names temporaries after the target and the writing process", () => {
    const t = tempPathFor("/x/train.jsonl");
    expect(t).toMatch(new RegExp(`^/x/train\\.jsonl\\.tmp-${process.pid}-[0-9a-f]{8}$`));
    expect(temporaryOwner(t)).toBe(process.pid);
    expect(temporaryOwner("0000010_adapters.safetensors.tmp-4242.safetensors")).toBe(4242);
    expect(temporaryOwner("train.jsonl")).toBeUndefined();
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(deadPid())).toBe(false);
  });

  it("writes whole contents, lines, and streams; nothing shows before the rename", async () => {
    const d = dir();
    await writeFileAtomic(join(d, "a.txt"), "text");
    await writeFileAtomic(join(d, "b.bin"), new Uint8Array([1, 2, 3]));
    await writeFileAtomic(join(d, "c.jsonl"), ["{}", "[]"]);
    writeFileAtomicSync(join(d, "sub", "d.json"), "{}\n");
    const f = await AtomicFile.open(join(d, "e.txt"));
    await f.write("streamed");
    expect(readdirSync(d).sort()).toEqual(
      [
        "a.txt",
        "b.bin",
        "c.jsonl",
        "sub",
        `e.txt.tmp-${process.pid}-${f.tempPath.slice(-8)}`,
      ].sort(),
    );
    await f.commit();
    expect(readFileSync(join(d, "c.jsonl"), "utf8")).toBe("{}\n[]\n");
    expect(readFileSync(join(d, "b.bin"))).toEqual(Buffer.from([1, 2, 3]));
    expect(readFileSync(join(d, "e.txt"), "utf8")).toBe("streamed");
    expect(readdirSync(d).sort()).toEqual(["a.txt", "b.bin", "c.jsonl", "e.txt", "sub"]);
  });

  it("keeps the previous file when producing the content fails, and leaves no temporary", async () => {
    const d = dir();
    const target = join(d, "out.jsonl");
    writeFileSync(target, "previous\n");
    function* failing() {
      yield "one";
      throw new Error("the producer failed");
    }
    await expect(writeFileAtomic(target, failing())).rejects.toThrow(/producer failed/);
    expect(readFileSync(target, "utf8")).toBe("previous\n");
    expect(readdirSync(d)).toEqual(["out.jsonl"]);
  });

  it("removes dead processes' temporaries of the same output only", async () => {
    const d = dir();
    const dead = deadPid();
    const names = {
      staleOurs: `out.jsonl.tmp-${dead}-00aa11bb`,
      live: `out.jsonl.tmp-${process.pid}-00cc22dd`,
      otherTarget: `other.jsonl.tmp-${dead}-00ee33ff`,
      nativeStale: `0000002_adapters.safetensors.tmp-${dead}.safetensors`,
      unrelated: "notes.tmp-file",
    };
    for (const n of Object.values(names)) writeFileSync(join(d, n), "x");
    expect(await removeStaleTemporaries(join(d, "out.jsonl"))).toEqual([join(d, names.staleOurs)]);
    await writeFileAtomic(join(d, "other.jsonl"), "new"); // a write cleans its own target's
    expect(readdirSync(d)).not.toContain(names.otherTarget);
    expect(removeStaleTemporariesIn(d)).toEqual([join(d, names.nativeStale)]);
    expect(readdirSync(d).sort()).toEqual(["other.jsonl", names.live, names.unrelated].sort());
    expect(removeStaleTemporariesIn(join(d, "missing"))).toEqual([]);
  });

  it("replaces a folder whole, keeping the earlier one when the move fails", async () => {
    const d = dir();
    const target = join(d, "merged");
    mkdirSync(target);
    writeFileSync(join(target, "old.gguf"), "old");
    const temp = tempPathFor(target);
    mkdirSync(temp);
    writeFileSync(join(temp, "new.gguf"), "new");
    replaceSync(temp, target);
    expect(readdirSync(target)).toEqual(["new.gguf"]);
    expect(readdirSync(d)).toEqual(["merged"]);
    // A temp that is not there: the move fails and the current folder is put back.
    expect(() => replaceSync(join(d, "missing"), target)).toThrow(/ENOENT/);
    expect(readdirSync(target)).toEqual(["new.gguf"]);
    expect(readdirSync(d)).toEqual(["merged"]);
    // A dead process's temporary folder goes with the next write of that target.
    const stale = `merged.tmp-${deadPid()}-00aa11bb`;
    mkdirSync(join(d, stale));
    writeFileSync(join(d, stale, "half.gguf"), "x");
    expect(await removeStaleTemporaries(target)).toEqual([join(d, stale)]);
    expect(readdirSync(d)).toEqual(["merged"]);
  });
});
