// See generate.h. Greedy decoding picks the argmax on the device; sampling runs on the host over
// one row of logits per sequence (std::mt19937_64 makes seeded runs reproducible). The prompt goes
// through the pre-allocated cache in chunks and only the last position reaches the LM head.
#include "generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <stdexcept>
#include <unordered_set>

#include "cpu_gemm.h"
#include "decode_cpu.h"

namespace medtune {

namespace {

int32_t sample(std::vector<float>& logits, const SamplingOptions& o,
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

void checkTokens(const std::vector<int32_t>& ids, int vocab, const std::string& what) {
  for (int32_t t : ids) {
    if (t < 0 || t >= vocab) {
      throw std::invalid_argument(what + " token " + std::to_string(t) +
                                  " is outside the vocabulary (" + std::to_string(vocab) + ")");
    }
  }
}

// Runs the (B, P) prompt through the cache in chunks of o.prefillChunk positions and returns the
// last position's logits (B, V). Only the last chunk pays for the LM head, and only one row. With
// `cpu`, each chunk goes through the CPU path (decode_cpu.h) when the cache allows, else MLX;
// `cpuPositions` counts the positions (pad included) the CPU path computed.
mx::array prefill(const Model& m, const std::vector<int32_t>& ids, int B, int P, KvCache& cache,
                  int chunk, CpuDecoder* cpu = nullptr, int64_t* cpuPositions = nullptr) {
  ForwardOptions fo;
  fo.cache = &cache;
  chunk = std::max(1, chunk);
  mx::array all(ids.data(), {B, P}, mx::int32);
  for (int s = 0;; s += chunk) {
    const int e = std::min(P, s + chunk);
    if (cpu) {
      std::vector<int32_t> part;  // (B, e - s)
      part.reserve(static_cast<size_t>(B) * (e - s));
      for (int b = 0; b < B; ++b)
        part.insert(part.end(), ids.begin() + static_cast<size_t>(b) * P + s,
                    ids.begin() + static_cast<size_t>(b) * P + e);
      if (std::optional<mx::array> r = cpu->prefill(part, e - s, cache, e == P)) {
        if (cpuPositions) *cpuPositions += static_cast<int64_t>(B) * (e - s);
        if (e == P) return *r;
        continue;
      }
    }
    mx::array h = m.hidden(mx::slice(all, {0, s}, {B, e}), nullptr, fo);
    if (e == P) return m.lastLogits(h);
    mx::eval(h);
  }
}

struct SequenceState {
  const SequenceRequest* req = nullptr;
  std::vector<int32_t> history, out;
  std::unordered_set<int32_t> stops;
  std::mt19937_64 rng;
  std::string reason = "length";
  bool done = false;
};

struct BatchStats {
  double prefillSecs = 0, decodeSecs = 0;
  int64_t promptTokens = 0, generated = 0;
  int64_t cpuDecodeSteps = 0;       // steps the CPU decode path computed (the rest: MLX)
  int64_t cpuPrefillPositions = 0;  // prompt positions (pad included) the CPU path computed
};

// The one decoding loop behind generate() and generateBatch(). `onToken(seq, token, index)`.
BatchStats decode(const Model& m, std::vector<SequenceState>& st, const SamplingOptions& o,
                  const std::function<void(int, int32_t, size_t)>& onToken,
                  const std::atomic<bool>& cancel) {
  using Clock = std::chrono::steady_clock;
  const int B = static_cast<int>(st.size());
  int P = 0;
  for (const auto& s : st) P = std::max<int>(P, static_cast<int>(s.req->prompt.size()));
  // Left padding (token 0, masked): every row's last prompt token sits at position P - 1.
  KvCache cache = KvCache::empty(m.layers.size());
  std::vector<int32_t> ids(static_cast<size_t>(B) * P, 0);
  bool padded = false;
  for (int b = 0; b < B; ++b) {
    const auto& p = st[b].req->prompt;
    const int pad = P - static_cast<int>(p.size());
    padded = padded || pad > 0;
    cache.padding.push_back(pad);
    std::copy(p.begin(), p.end(), ids.begin() + static_cast<size_t>(b) * P + pad);
  }
  if (!padded) cache.padding.clear();

  BatchStats stats;
  for (const auto& s : st) stats.promptTokens += s.req->prompt.size();
  const bool deviceArgmax = o.temperature <= 0.0f && o.repetitionPenalty == 1.0f;
  auto t0 = Clock::now();
  // The prompt and the decoded tokens go through the CPU path when the model's layout allows it
  // (its set-up is booked as prompt time).
  std::optional<CpuDecoder> cpuDecoder = CpuDecoder::create(m);
  mx::array logits =
      prefill(m, ids, B, P, cache, o.prefillChunk, cpuDecoder ? &*cpuDecoder : nullptr,
              &stats.cpuPrefillPositions);  // (B, V)
  std::vector<int> active(B);               // batch row -> sequence
  std::iota(active.begin(), active.end(), 0);
  bool first = true;
  auto t1 = t0;
  while (!active.empty()) {
    // Next token per active row: argmax on the device (greedy: no vocabulary copy, no sort), or
    // the rows on the host for sampling and repetition penalties.
    std::vector<int32_t> next(active.size());
    if (deviceArgmax && logits.is_available() && logits.flags().row_contiguous) {
      // Logits from the CPU decode path are already on the host: no MLX round trip.
      const int V = logits.shape(1);
      const float* d = logits.data<float>();
      for (size_t r = 0; r < active.size(); ++r) next[r] = argmaxFirst(d + r * V, V);
    } else if (deviceArgmax) {
      mx::array a = mx::astype(mx::argmax(logits, -1), mx::int32);
      mx::eval(a);
      std::copy(a.data<int32_t>(), a.data<int32_t>() + active.size(), next.begin());
    } else {
      mx::array rows = mx::contiguous(logits);
      mx::eval(rows);
      const int V = rows.shape(1);
      for (size_t r = 0; r < active.size(); ++r) {
        std::vector<float> row(rows.data<float>() + r * V, rows.data<float>() + (r + 1) * V);
        SequenceState& s = st[active[r]];
        next[r] = sample(row, o, s.history, s.rng);
      }
    }
    if (first) {
      t1 = Clock::now();
      stats.prefillSecs = std::chrono::duration<double>(t1 - t0).count();
      first = false;
    }
    const bool cancelled = cancel.load();
    std::vector<int> keep;  // batch rows that continue
    std::vector<int32_t> feed;
    for (size_t r = 0; r < active.size(); ++r) {
      SequenceState& s = st[active[r]];
      if (cancelled) {
        s.reason = "cancelled";
      } else if (static_cast<int>(s.out.size()) >= s.req->maxTokens) {
        s.reason = "length";
      } else if (s.stops.count(next[r])) {
        s.reason = "stop";
      } else {
        s.out.push_back(next[r]);
        s.history.push_back(next[r]);
        ++stats.generated;
        onToken(active[r], next[r], s.out.size() - 1);
        if (static_cast<int>(s.out.size()) < s.req->maxTokens) {
          keep.push_back(static_cast<int>(r));
          feed.push_back(next[r]);
          continue;
        }
        s.reason = "length";
      }
      s.done = true;
    }
    if (keep.empty()) break;
    if (keep.size() != active.size()) {
      cache.keepRows(keep);
      std::vector<int> still;
      for (int r : keep) still.push_back(active[r]);
      active = std::move(still);
    }
    std::optional<mx::array> fast = cpuDecoder ? cpuDecoder->step(feed, cache) : std::nullopt;
    if (fast) {
      logits = *fast;
      ++stats.cpuDecodeSteps;
      continue;
    }
    ForwardOptions fo;
    fo.cache = &cache;
    mx::array step(feed.data(), {static_cast<int>(feed.size()), 1}, mx::int32);
    logits = m.lastLogits(m.hidden(step, nullptr, fo));
  }
  stats.decodeSecs = std::chrono::duration<double>(Clock::now() - t1).count();
  return stats;
}

std::vector<SequenceState> states(const Model& m, const std::vector<SequenceRequest>& seqs,
                                  uint64_t seed) {
  std::vector<SequenceState> st(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (seqs[i].prompt.empty()) {
      throw std::invalid_argument("generate: prompt " + std::to_string(i) + " is empty");
    }
    checkTokens(seqs[i].prompt, m.config.vocabSize,
                seqs.size() > 1 ? "generate: prompt " + std::to_string(i) : "generate: prompt");
    st[i].req = &seqs[i];
    st[i].history = seqs[i].prompt;
    st[i].stops = std::unordered_set<int32_t>(seqs[i].stopTokens.begin(), seqs[i].stopTokens.end());
    st[i].rng.seed(seed);
  }
  return st;
}

}  // namespace

Event generate(const Model& m, const GenerateOptions& o, const Emit& emit,
               const std::atomic<bool>& cancel) {
  if (o.prompt.empty()) throw std::invalid_argument("generate: the prompt is empty");
  std::vector<SequenceRequest> seqs{{o.prompt, o.maxTokens, o.stopTokens}};
  std::vector<SequenceState> st = states(m, seqs, o.seed);
  BatchStats s = decode(
      m, st, o,
      [&](int, int32_t tok, size_t i) {
        emit(Event{"token"}.num("token", tok).num("index", static_cast<double>(i)));
      },
      cancel);
  Event r{"done"};
  r.ints.emplace_back("tokens", st[0].out);
  r.str("stopReason", st[0].reason)
      .num("promptTokens", static_cast<double>(o.prompt.size()))
      .num("promptTokensPerSecond", s.prefillSecs > 0 ? s.promptTokens / s.prefillSecs : 0.0)
      .num("tokensPerSecond", s.decodeSecs > 0 ? s.generated / s.decodeSecs : 0.0)
      .num("cpuDecodeSteps", static_cast<double>(s.cpuDecodeSteps))
      .num("cpuPrefillPositions", static_cast<double>(s.cpuPrefillPositions))
      .num("peakMemoryBytes", static_cast<double>(mx::get_peak_memory()));
  return r;
}

Event generateBatch(const Model& m, const std::vector<SequenceRequest>& seqs,
                    const SamplingOptions& o, const Emit& emit, const std::atomic<bool>& cancel) {
  if (seqs.empty()) throw std::invalid_argument("generateBatch: no prompts");
  std::vector<SequenceState> st = states(m, seqs, o.seed);
  BatchStats s = decode(
      m, st, o,
      [&](int seq, int32_t tok, size_t i) {
        emit(Event{"token"}
                 .num("sequence", seq)
                 .num("token", tok)
                 .num("index", static_cast<double>(i)));
      },
      cancel);
  Event r{"done"};
  std::vector<Event> out;
  for (size_t i = 0; i < st.size(); ++i) {
    Event e;
    e.ints.emplace_back("tokens", st[i].out);
    e.str("stopReason", st[i].reason)
        .num("promptTokens", static_cast<double>(seqs[i].prompt.size()));
    out.push_back(std::move(e));
  }
  r.lists.emplace_back("sequences", std::move(out));
  r.num("promptTokens", static_cast<double>(s.promptTokens))
      .num("generatedTokens", static_cast<double>(s.generated))
      .num("promptTokensPerSecond", s.prefillSecs > 0 ? s.promptTokens / s.prefillSecs : 0.0)
      .num("tokensPerSecond", s.decodeSecs > 0 ? s.generated / s.decodeSecs : 0.0)
      .num("cpuDecodeSteps", static_cast<double>(s.cpuDecodeSteps))
      .num("cpuPrefillPositions", static_cast<double>(s.cpuPrefillPositions))
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

Event scoreOptions(const Model& m, const std::vector<int32_t>& prompt,
                   const std::vector<std::vector<int32_t>>& options, int batchSize,
                   const Emit& emit, const std::atomic<bool>& cancel) {
  if (prompt.empty()) throw std::invalid_argument("scoreOptions: the prompt is empty");
  checkTokens(prompt, m.config.vocabSize, "scoreOptions: prompt");
  for (size_t i = 0; i < options.size(); ++i) {
    checkTokens(options[i], m.config.vocabSize, "scoreOptions: option " + std::to_string(i));
  }
  batchSize = std::max(1, batchSize);
  const int P = static_cast<int>(prompt.size());
  // The shared prefix once: its cache, and log p(first option token | prompt). (1, V)
  KvCache prefix = KvCache::empty(m.layers.size());
  std::optional<CpuDecoder> cpu = CpuDecoder::create(m, /*exact=*/true);
  mx::array first =
      prefill(m, prompt, 1, P, prefix, SamplingOptions{}.prefillChunk, cpu ? &*cpu : nullptr);
  first = mx::subtract(first, mx::logsumexp(first, -1, true));
  mx::eval(first);
  const float* firstLp = first.data<float>();

  std::vector<ScoreResult> results(options.size());
  bool cancelled = false;
  for (size_t g = 0; g < options.size(); g += batchSize) {
    if (cancel.load()) {
      cancelled = true;
      break;
    }
    const size_t n = std::min(options.size() - g, static_cast<size_t>(batchSize));
    // Option tokens except the last are inputs at positions P, P+1, ...; right padding is never
    // seen by a real token under the causal mask. (n, L)
    int L = 0;
    for (size_t i = 0; i < n; ++i)
      L = std::max<int>(L, static_cast<int>(options[g + i].size()) - 1);
    std::vector<float> lp;
    if (L > 0) {
      std::vector<int32_t> in(n * L, 0), tg(n * L, 0);
      for (size_t i = 0; i < n; ++i) {
        const auto& c = options[g + i];
        for (size_t j = 0; j + 1 < c.size(); ++j) {
          in[i * L + j] = c[j];
          tg[i * L + j] = c[j + 1];
        }
      }
      KvCache cache = prefix.repeated(static_cast<int>(n));
      ForwardOptions fo;
      fo.cache = &cache;
      mx::array logits =
          m.forward(mx::array(in.data(), {static_cast<int>(n), L}, mx::int32), nullptr, fo);
      mx::array targets(tg.data(), {static_cast<int>(n), L}, mx::int32);
      mx::array tokLp = mx::contiguous(mx::subtract(
          mx::squeeze(mx::take_along_axis(logits, mx::expand_dims(targets, -1), -1), -1),
          mx::logsumexp(logits, -1)));  // (n, L)
      mx::eval(tokLp);
      lp.assign(tokLp.data<float>(), tokLp.data<float>() + n * L);
    }
    for (size_t i = 0; i < n; ++i) {
      const auto& c = options[g + i];
      ScoreResult& r = results[g + i];
      for (size_t j = 0; j < c.size(); ++j) {
        const float v = j == 0 ? firstLp[c[0]] : lp[i * L + j - 1];
        r.tokenLogprobs.push_back(v);
        r.sum += v;
      }
    }
    emit(Event{"progress"}
             .num("scored", static_cast<double>(g + n))
             .num("total", static_cast<double>(options.size())));
  }
  Event done{"done"};
  std::vector<Event> out;
  for (auto& r : results) {
    Event e;
    e.floats.emplace_back("tokenLogprobs", r.tokenLogprobs);
    e.num("sum", r.sum);
    out.push_back(std::move(e));
  }
  done.lists.emplace_back("results", std::move(out));
  done.str("stopReason", cancelled ? "cancelled" : "completed")
      .num("peakMemoryBytes", static_cast<double>(mx::get_peak_memory()));
  return done;
}

}  // namespace medtune
