// See generate.h. Sampling runs on the host over one row of logits: a vocabulary-sized sort per
// token is cheap next to the forward pass, and std::mt19937_64 makes seeded runs reproducible.
#include "generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <unordered_set>

namespace medtune {

namespace {

int32_t sample(std::vector<float>& logits, const GenerateOptions& o,
               const std::vector<int32_t>& history, std::mt19937_64& rng) {
  if (o.repetitionPenalty != 1.0f && o.repetitionContextSize > 0) {
    std::unordered_set<int32_t> seen;
    const size_t from = history.size() > static_cast<size_t>(o.repetitionContextSize)
                            ? history.size() - o.repetitionContextSize
                            : 0;
    for (size_t i = from; i < history.size(); ++i) seen.insert(history[i]);
    for (int32_t t : seen) {
      if (t < 0 || static_cast<size_t>(t) >= logits.size()) continue;
      float& l = logits[t];
      l = l > 0 ? l / o.repetitionPenalty : l * o.repetitionPenalty;
    }
  }
  if (o.temperature <= 0.0f) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  size_t keep = logits.size();
  if (o.topK > 0 && static_cast<size_t>(o.topK) < keep) keep = o.topK;
  std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  order.resize(keep);
  const float maxl = logits[order[0]];
  std::vector<double> p(keep);
  double total = 0;
  for (size_t i = 0; i < keep; ++i)
    total += p[i] = std::exp((logits[order[i]] - maxl) / o.temperature);
  if (o.topP < 1.0f) {
    // Smallest prefix of the sorted distribution whose mass reaches topP.
    double cum = 0;
    size_t n = 0;
    while (n < keep) {
      cum += p[n++] / total;
      if (cum >= o.topP) break;
    }
    p.resize(n);
    order.resize(n);
  }
  std::discrete_distribution<size_t> dist(p.begin(), p.end());
  return order[dist(rng)];
}

std::vector<float> lastRow(const mx::array& logits) {
  // logits (1, L, V) -> the last position's row on the host.
  const int L = logits.shape(1), V = logits.shape(2);
  mx::array row = mx::contiguous(mx::reshape(mx::slice(logits, {0, L - 1, 0}, {1, L, V}), {V}));
  mx::eval(row);
  return std::vector<float>(row.data<float>(), row.data<float>() + V);
}

}  // namespace

Event generate(const Model& m, const GenerateOptions& o, const Emit& emit,
               const std::atomic<bool>& cancel) {
  using Clock = std::chrono::steady_clock;
  if (o.prompt.empty()) throw std::invalid_argument("generate: the prompt is empty");
  for (int32_t t : o.prompt) {
    if (t < 0 || t >= m.config.vocabSize) {
      throw std::invalid_argument("generate: prompt token " + std::to_string(t) +
                                  " is outside the vocabulary (" +
                                  std::to_string(m.config.vocabSize) + ")");
    }
  }
  KvCache cache;
  for (size_t l = 0; l < m.layers.size(); ++l) {
    cache.keys.push_back(mx::zeros({0}));
    cache.values.push_back(mx::zeros({0}));
  }
  ForwardOptions fo;
  fo.cache = &cache;
  std::mt19937_64 rng(o.seed);
  std::vector<int32_t> history = o.prompt, out;
  const std::unordered_set<int32_t> stops(o.stopTokens.begin(), o.stopTokens.end());
  std::string reason = "length";

  auto t0 = Clock::now();
  mx::array ids(o.prompt.data(), {1, static_cast<int>(o.prompt.size())}, mx::int32);
  std::vector<float> row = lastRow(m.forward(ids, nullptr, fo));
  const double prefillSecs = std::chrono::duration<double>(Clock::now() - t0).count();
  auto t1 = Clock::now();
  while (static_cast<int>(out.size()) < o.maxTokens) {
    if (cancel.load()) {
      reason = "cancelled";
      break;
    }
    int32_t tok = sample(row, o, history, rng);
    if (stops.count(tok)) {
      reason = "stop";
      break;
    }
    out.push_back(tok);
    history.push_back(tok);
    emit(Event{"token"}.num("token", tok).num("index", static_cast<double>(out.size() - 1)));
    if (static_cast<int>(out.size()) >= o.maxTokens) break;
    mx::array next(&tok, {1, 1}, mx::int32);
    row = lastRow(m.forward(next, nullptr, fo));
  }
  const double genSecs = std::chrono::duration<double>(Clock::now() - t1).count();
  Event r{"done"};
  r.ints.emplace_back("tokens", out);
  r.str("stopReason", reason)
      .num("promptTokens", static_cast<double>(o.prompt.size()))
      .num("promptTokensPerSecond", prefillSecs > 0 ? o.prompt.size() / prefillSecs : 0.0)
      .num("tokensPerSecond", genSecs > 0 ? out.size() / genSecs : 0.0)
      .num("peakMemoryBytes", static_cast<double>(mx::get_peak_memory()));
  return r;
}

std::vector<ScoreResult> score(const Model& m, const std::vector<ScoreItem>& items) {
  if (items.empty()) return {};
  // One right-padded batch: row i is prompt+completion minus its last token. (B, L)
  int L = 1;
  for (const auto& it : items) {
    if (it.prompt.empty()) throw std::invalid_argument("score: every prompt needs a token");
    L = std::max<int>(L, static_cast<int>(it.prompt.size() + it.completion.size()) - 1);
  }
  const int B = static_cast<int>(items.size());
  std::vector<int32_t> in(static_cast<size_t>(B) * L, 0), tg(static_cast<size_t>(B) * L, 0);
  for (int r = 0; r < B; ++r) {
    std::vector<int32_t> seq = items[r].prompt;
    seq.insert(seq.end(), items[r].completion.begin(), items[r].completion.end());
    for (size_t j = 0; j + 1 < seq.size(); ++j) {
      for (int32_t t : {seq[j], seq[j + 1]}) {
        if (t < 0 || t >= m.config.vocabSize) {
          throw std::invalid_argument("score: item " + std::to_string(r) + " has token " +
                                      std::to_string(t) + " outside the vocabulary");
        }
      }
      in[r * L + j] = seq[j];
      tg[r * L + j] = seq[j + 1];
    }
  }
  mx::array logits =
      m.forward(mx::array(in.data(), {B, L}, mx::int32), nullptr, ForwardOptions{});  // (B, L, V)
  mx::array targets(tg.data(), {B, L}, mx::int32);
  mx::array lp =
      mx::subtract(mx::squeeze(mx::take_along_axis(logits, mx::expand_dims(targets, -1), -1), -1),
                   mx::logsumexp(logits, -1));  // (B, L)
  lp = mx::contiguous(lp);
  mx::eval(lp);
  const float* d = lp.data<float>();
  std::vector<ScoreResult> out(B);
  for (int r = 0; r < B; ++r) {
    const size_t P = items[r].prompt.size(), C = items[r].completion.size();
    // Completion token c is predicted at input position P - 1 + c.
    for (size_t c = 0; c < C; ++c) {
      float v = d[r * L + P - 1 + c];
      out[r].tokenLogprobs.push_back(v);
      out[r].sum += v;
    }
  }
  return out;
}

}  // namespace medtune
