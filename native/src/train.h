// The LoRA trainer: masked cross-entropy, token-weighted gradient accumulation, AdamW with
// global-norm clipping, warmup + cosine-with-restarts schedule, checkpoints and exact resume.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "job.h"
#include "model.h"

namespace medtune {

// A tokenized dataset: example i is tokens[offsets[i] .. offsets[i+1]); lossMask is aligned with
// tokens and is 1 where that token is a supervised *target* (assistant output), 0 for prompt,
// template and padding. Inputs are tokens[:-1], targets tokens[1:].
struct Dataset {
  std::vector<int32_t> tokens;
  std::vector<int64_t> offsets;
  std::vector<float> lossMask;
  size_t size() const { return offsets.empty() ? 0 : offsets.size() - 1; }
};

// Micro-batches as example-index lists: batch j is indices[offsets[j] .. offsets[j+1]).
struct BatchList {
  std::vector<int32_t> indices;
  std::vector<int64_t> offsets;
  size_t size() const { return offsets.empty() ? 0 : offsets.size() - 1; }
};

// One padded micro-batch. (B, L) each.
struct Batch {
  mx::array inputs = mx::array(0);
  mx::array targets = mx::array(0);
  mx::array mask = mx::array(0.0f);
  int64_t inputTokens = 0;       // non-padding positions
  int64_t supervisedTokens = 0;  // sum(mask)
};

Batch makeBatch(const Dataset& d, const int32_t* idx, size_t n, int maxSeqLength);

// Named as the preset keys (src/train/config.ts, configs/training_configs/*.yaml); no defaults
// here: the reader in model_wrap.cc requires every field and TypeScript owns the defaults.
struct TrainOptions {
  Dataset train;
  Dataset valid;
  BatchList batches;       // the order JS chose; step s uses micro-batches s*accum ... (wrapping)
  BatchList validBatches;  // every eval runs all of them
  int iters{};             // total optimizer steps of the run (the schedule's length)
  int startIteration{};    // resume point: steps already done
  int gradAccumulationSteps{};
  int maxSeqLength{};
  double learningRate{};
  double minLearningRate{};
  int warmupSteps{};
  int cycles{};
  double weightDecay{};
  double adamBeta1{}, adamBeta2{}, adamEps{};
  double gradClip{};  // global-norm clipping; 0 = off
  bool gradCheckpointing{};
  uint64_t seed{};
  int reportEvery{};
  int evalEvery{};  // 0 = only at the end when validBatches is non-empty
  int saveEvery{};  // 0 = only at the end when checkpointDir is set
  std::string checkpointDir;
  std::string resumeOptimizerFile;
  double memoryLimitBytes{};  // 0 = no limit
  // Data-parallel over the group of distributed.h (joined before train()): rank r computes the
  // step's micro-batches r, r+N, ...; gradients, losses and token counts are summed over ranks.
  bool distributed{};
};

struct Gradients {
  double lossSum = 0;
  int64_t supervisedTokens = 0;
  std::vector<mx::array> grads;  // same order as Model::adapterParams()
};

// logits (B, L, V), targets (B, L), mask (B, L) -> scalar sum of masked CE.
mx::array maskedCe(const mx::array& logits, const mx::array& targets, const mx::array& mask);
// Token positions per cross-entropy chunk: the (rows, V) float32 logits of one chunk are the
// largest transient of a step, instead of (B*L, V) logits plus their gradient.
constexpr int kCrossEntropyChunkRows = 256;

// Summed masked CE from hidden states h (B, L, D) through the LM head, `rows` positions at a
// time. Its VJP is exact and needs no recomputation: since the loss is the graph's last op, the
// forward already computes dLoss/dh = mask * (softmax - onehot) W per chunk; the VJP scales it.
mx::array chunkedCrossEntropy(const Model& m, const mx::array& h, const mx::array& targets,
                              const mx::array& mask, int rows);

// Summed masked CE over one micro-batch and its gradient w.r.t. the adapter weights.
// ceChunkRows = 0 computes the CE over full (B, L, V) logits (the reference the tests compare to).
Gradients lossAndGrad(const Model& m, const Batch& b, const ForwardOptions& fo,
                      int ceChunkRows = kCrossEntropyChunkRows);
// Summed masked CE (no gradient).
double lossSum(const Model& m, const Batch& b);

double learningRateAt(const TrainOptions& o, int step);

// AdamW moments per trainable tensor (same order as Model::adapterParams()).
struct AdamState {
  std::vector<mx::array> m, v;
  int step = 0;  // optimizer steps applied
};

// Scales `grads` in place so that their global L2 norm is at most maxNorm (lazy; no eval).
void clipGradNorm(std::vector<mx::array>& grads, double maxNorm);
// One AdamW update of `params` (lazy) for optimizer step t (1-based) at learning rate lr: bias-
// corrected moments, weight decay decoupled from the gradient and applied to every tensor.
void adamwUpdate(std::vector<mx::array>& params, AdamState& st, const std::vector<mx::array>& grads,
                 const TrainOptions& o, double lr, int t);
// Summed loss and summed gradients over optimizer step `step`'s micro-batches, evaluated.
struct StepGradients {
  double lossSum = 0;
  int64_t supervisedTokens = 0, inputTokens = 0;
  std::vector<mx::array> grads;
};
// In a distributed run, this rank's share (micro-batches k with k % size == rank) only.
StepGradients accumulateGradients(const Model& m, const TrainOptions& o, int step,
                                  const std::function<void()>& afterMicroBatch, int rank = 0,
                                  int size = 1);

Event train(Model& m, const TrainOptions& o, const Emit& emit, const std::atomic<bool>& cancel);

}  // namespace medtune
