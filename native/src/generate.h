// Generation with a pre-allocated KV cache (greedy / temperature / top-k / top-p / repetition
// penalty), one prompt or many at once, and log-probability scoring of completions.
#pragma once

#include <atomic>
#include <vector>

#include "job.h"
#include "model.h"

namespace medtune {

struct SamplingOptions {
  float temperature = 0.0f;  // 0 = greedy
  float topP = 1.0f;
  int topK = 0;  // 0 = off
  float repetitionPenalty = 1.0f;
  int repetitionContextSize = 64;
  uint64_t seed = 0;
  int prefillChunk = 512;  // prompt positions per forward call (bounds attention memory)
};

struct GenerateOptions : SamplingOptions {
  std::vector<int32_t> prompt;
  int maxTokens = 256;
  std::vector<int32_t> stopTokens;
};

// One sequence of a batched generation: its prompt and its own stop conditions.
struct SequenceRequest {
  std::vector<int32_t> prompt;
  int maxTokens = 256;
  std::vector<int32_t> stopTokens;
};

// Emits {type: "token", token, index}; returns {type: "done", tokens, stopReason, ...}.
Event generate(const Model& m, const GenerateOptions& o, const Emit& emit,
               const std::atomic<bool>& cancel);

// All prompts decoded together, left-padded into one batch; a finished sequence leaves the batch.
// Emits {type: "token", sequence, token, index}; returns {type: "done", sequences: [{tokens,
// stopReason, promptTokens}], tokensPerSecond (all sequences), promptTokensPerSecond, ...}.
Event generateBatch(const Model& m, const std::vector<SequenceRequest>& seqs,
                    const SamplingOptions& o, const Emit& emit, const std::atomic<bool>& cancel);

struct ScoreItem {
  std::vector<int32_t> prompt;
  std::vector<int32_t> completion;
};

struct ScoreResult {
  std::vector<float> tokenLogprobs;
  double sum = 0;
};

std::vector<ScoreResult> score(const Model& m, const std::vector<ScoreItem>& items);

// Log-probabilities of each option after one shared prompt: the prompt runs once and its KV cache
// is reused by every option, `batchSize` options per forward. Emits {type: "progress", scored,
// total}; returns {type: "done", results: [{tokenLogprobs, sum}], stopReason}.
Event scoreOptions(const Model& m, const std::vector<int32_t>& prompt,
                   const std::vector<std::vector<int32_t>>& options, int batchSize,
                   const Emit& emit, const std::atomic<bool>& cancel);

}  // namespace medtune
