// Child process of fork-guard.test.ts: trains LoRA on the bundled model (products big enough for
// OpenBLAS to run threaded) while the JS thread forks a child process (execFileSync) over and over,
// as a notebook cell that shells out during training does. Prints {"steps","forks"} when done.
//   node --import tsx test/native/fork-child.ts <iters> [<ms between forks>]
import { execFileSync } from "node:child_process";
import { bundledModelPath } from "../../src/paths.js";
import { Model } from "../../src/train/model.js";
import { train } from "../../src/train/trainer.js";

async function main(): Promise<void> {
  const iters = Number(process.argv[2] ?? 6);
  const pauseMs = Number(process.argv[3] ?? 10);
  const model = await Model.load(await bundledModelPath());
  model.addAdapters({ loraRank: 8, loraAlpha: 16, seed: 0 });
  const [B, S, V] = [2, 64, model.config.vocabSize];
  const tokens = Int32Array.from({ length: B * (S + 1) }, (_, i) => 20 + ((i * 7919) % (V - 20)));
  let steps = 0;
  let forks = 0;
  let done = false;
  const job = train(
    model,
    {
      train: {
        tokens,
        offsets: Int32Array.from({ length: B + 1 }, (_, i) => i * (S + 1)),
        lossMask: new Uint8Array(tokens.length).fill(1),
      },
      batches: { indices: Int32Array.from([0, 1]), offsets: Int32Array.from([0, B]) },
      iters,
      learningRate: 1e-4,
      maxSeqLength: S,
      reportEvery: 1,
    },
    (e) => {
      if (e.type === "progress") {
        steps = e.iteration;
        process.stderr.write(`step ${steps}, ${forks} forks\n`);
      }
    },
  ).finally(() => (done = true));
  while (!done) {
    execFileSync("true");
    forks++;
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  await job;
  process.stdout.write(`${JSON.stringify({ steps, forks })}\n`);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
