// Child process of checkpoints.test.ts: trains a tiny random model with a checkpoint every step
// (step-named pairs, latest/ through CheckpointBook, keep 2), resuming from what the folder has;
// prints "checkpoint N" after each and writes the final adapters to argv[3].
//   npx tsx test/train/kill-child.ts <checkpointDir> <out.safetensors>
import { CheckpointBook } from "../../src/train/checkpoints.js";
import { listCheckpoints, Trainer } from "../../src/train/trainer.js";
import { examples, tinyModel } from "./native-helpers.js";

async function main(): Promise<void> {
  const [dir, out] = process.argv.slice(2) as [string, string];
  const model = tinyModel(5);
  model.addAdapters({ loraRank: 4, loraAlpha: 8, seed: 2, loraDropout: 0.1 });
  const data = examples(12, 4);
  const batches = Array.from({ length: 24 }, (_, i) => [(2 * i) % 12, (2 * i + 1) % 12]);
  const book = new CheckpointBook(dir, { keep: 2 });
  const resume = listCheckpoints(dir).length > 0;
  const trainer = new Trainer(model, {
    train: data,
    batches,
    iters: 12,
    gradAccumulationSteps: 2,
    maxSeqLength: 32,
    learningRate: 1e-2,
    warmupSteps: 2,
    seed: 3,
    saveEvery: 1,
    checkpointDir: dir,
    resumeFrom: resume ? dir : undefined,
  });
  const state = (step: number) => ({
    step,
    microBatch: step * 2,
    batchSize: 2,
    gradAccumulationSteps: 2,
    seed: 3,
    validLoss: null,
    bestValidLoss: null,
    evaluationsSinceBest: 0,
    config: {},
  });
  const behind = book.behind();
  if (behind) book.publish("latest", behind, state(behind.step));
  await trainer.run((e) => {
    if (e.type !== "checkpoint") return;
    book.publish("latest", e, state(e.iteration));
    book.prune(e.iteration);
    process.stdout.write(`checkpoint ${e.iteration}\n`);
  });
  model.native.saveAdapters(out, "mlx");
  process.stdout.write("done\n");
}
void main();
