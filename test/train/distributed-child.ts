// Child process of distributed.test.ts: trains a tiny random model (4 steps of 4 micro-batches,
// dropout, clipping, validation, a checkpoint every 2 steps), alone or as one rank of a ring, and
// writes its final adapters, losses and throughput to <outDir>/result-<rank|single>.json.
//   npx tsx test/train/distributed-child.ts <outDir> [--hosts hostfile.json --rank R]
// MEDTUNE_TEST_FAIL_RANK=R makes rank R die (SIGKILL) after its first step;
// MEDTUNE_TEST_STOP_AT=S cancels after step S (a checkpoint); --resume continues from the last one.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { joinGroup } from "../../src/train/distributed.js";
import { listCheckpoints, Trainer } from "../../src/train/trainer.js";
import { examples, tinyModel } from "./native-helpers.js";

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const outDir = argv[0] as string;
  const at = argv.indexOf("--hosts");
  const rankAt = argv.indexOf("--rank");
  const group =
    at >= 0
      ? joinGroup({ hostfile: argv[at + 1] as string, rank: Number(argv[rankAt + 1]) })
      : null;
  const model = tinyModel(5);
  model.addAdapters({ loraRank: 4, loraAlpha: 8, seed: 2, loraDropout: 0.1 });
  const data = examples(16, 4);
  const batches = Array.from({ length: 8 }, (_, i) => [2 * i, 2 * i + 1]);
  const losses: number[] = [];
  const validLosses: number[] = [];
  const tokensPerSecond: number[] = [];
  const failRank = process.env.MEDTUNE_TEST_FAIL_RANK;
  const stopAt = Number(process.env.MEDTUNE_TEST_STOP_AT ?? NaN);
  const checkpointDir = join(outDir, "checkpoints");
  const resume = argv.includes("--resume") && listCheckpoints(checkpointDir).length > 0;
  const t0 = performance.now();
  const trainer = new Trainer(model, {
    train: data,
    valid: examples(6, 9),
    batches,
    validBatches: [
      [0, 1],
      [2, 3],
      [4, 5],
    ],
    iters: 4,
    gradAccumulationSteps: 4,
    maxSeqLength: 32,
    learningRate: 1e-2,
    warmupSteps: 1,
    gradClip: 1,
    seed: 3,
    reportEvery: 1,
    evalEvery: 2,
    saveEvery: 2,
    checkpointDir,
    resumeFrom: resume ? checkpointDir : undefined,
    distributed: group !== null,
  });
  const done = await trainer.run((e) => {
    if (e.type === "progress") {
      losses.push(e.trainLoss);
      tokensPerSecond.push(e.tokensPerSecond);
      if (group && failRank === String(group.rank)) {
        process.stderr.write(`rank ${group.rank}: simulated failure after step ${e.iteration}\n`);
        process.kill(process.pid, "SIGKILL"); // as the OOM killer would
      }
    }
    if (e.type === "progress" && e.iteration === stopAt) trainer.cancel();
    if (e.type === "eval") validLosses.push(e.validLoss);
  });
  const seconds = (performance.now() - t0) / 1000;
  const w = model.native.getAdapterWeights();
  const weights = Object.keys(w)
    .sort()
    .flatMap((k) => [...w[k]!.a, ...w[k]!.b]);
  const name = group ? `result-${group.rank}.json` : "result-single.json";
  writeFileSync(
    join(outDir, name),
    JSON.stringify({ weights, losses, validLosses, tokensPerSecond, seconds, done }),
  );
  process.stdout.write(`done rank ${group?.rank ?? "single"}\n`);
}
void main();
