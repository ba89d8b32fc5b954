// withInterruptAs (src/notebook/training.ts), the piece of trainInNotebook that turns the kernel's
// SIGINT into a pause: SIGINT is emitted here in-process (no real signal), so the listeners it
// reaches can be counted. test/notebook/pause.test.ts drives the real kernel.
import { afterEach, describe, expect, it } from "vitest";
import { withInterruptAs } from "../../src/notebook/training.js";

const sigint = () => process.emit("SIGINT", "SIGINT");
let extra: (() => void)[] = [];
afterEach(() => {
  for (const l of extra) process.removeListener("SIGINT", l);
  extra = [];
});

describe("withInterruptAs", () => {
  it("first SIGINT → onInterrupt only; listeners added meanwhile held off; earlier ones restored", async () => {
    const calls: string[] = [];
    const tslab = () => calls.push("tslab");
    const lateOnce = () => calls.push("runTraining");
    extra.push(tslab, lateOnce);
    process.on("SIGINT", tslab);
    const before = process.listenerCount("SIGINT");
    const value = await withInterruptAs(
      async () => {
        process.once("SIGINT", lateOnce); // what runTraining adds for Ctrl-C
        await Promise.resolve();
        sigint();
        return 42;
      },
      () => calls.push("pause"),
      () => calls.push("stop"),
    );
    expect(value).toBe(42);
    expect(calls).toEqual(["pause"]);
    expect(process.listeners("SIGINT")).toContain(tslab);
    expect(process.listeners("SIGINT")).not.toContain(lateOnce);
    expect(process.listenerCount("SIGINT")).toBe(before);
    sigint();
    expect(calls).toEqual(["pause", "tslab"]);
  });

  it("a second SIGINT stops and hands the interrupt back; a failure still restores", async () => {
    const calls: string[] = [];
    const tslab = () => calls.push("tslab");
    extra.push(tslab);
    process.on("SIGINT", tslab);
    await expect(
      withInterruptAs(
        async () => {
          sigint();
          sigint();
          throw new Error("the run failed");
        },
        () => calls.push("pause"),
        () => calls.push("stop"),
      ),
    ).rejects.toThrow(/the run failed/);
    expect(calls).toEqual(["pause", "stop", "tslab"]);
    expect(process.listeners("SIGINT")).toContain(tslab);
  });
});
