// Generation with a KV cache (greedy / temperature / top-k / top-p / repetition penalty) and
// log-probability scoring of completions.
#pragma once

#include <atomic>
#include <vector>

#include "job.h"
#include "model.h"

namespace medtune {

struct GenerateOptions {
  std::vector<int32_t> prompt;
  int maxTokens = 256;
  float temperature = 0.0f;  // 0 = greedy
  float topP = 1.0f;
  int topK = 0;  // 0 = off
  float repetitionPenalty = 1.0f;
  int repetitionContextSize = 64;
  std::vector<int32_t> stopTokens;
  uint64_t seed = 0;
};

Event generate(const Model& m, const GenerateOptions& o, const Emit& emit,
               const std::atomic<bool>& cancel);

struct ScoreItem {
  std::vector<int32_t> prompt;
  std::vector<int32_t> completion;
};

struct ScoreResult {
  std::vector<float> tokenLogprobs;
  double sum = 0;
};

std::vector<ScoreResult> score(const Model& m, const std::vector<ScoreItem>& items);

}  // namespace medtune
