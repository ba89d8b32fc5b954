// Where the time of one training step and one decoded token goes. Each phase is timed around an
// mx::eval barrier (ForwardOptions::profile evaluates after every op of the forward), so the
// figures attribute wall time truly at the cost of MLX's cross-op fusion; the unbarriered totals
// are reported beside them. Run through `npm run bench -- profile` (src/bench/profile.ts).
#include "profile.h"

#include <chrono>
#include <numeric>

#include "decode_cpu.h"
#include "packed_matmul.h"
#include "train.h"

namespace medtune {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Adds `secs` to phase `name`, averaged over `repeats` later.
void book(PhaseTimes& t, const std::string& name, double secs) { t[name] += secs; }

Event toEvent(const PhaseTimes& t, int repeats, const std::string& type) {
  Event e{type};
  std::vector<Event> rows;
  for (const auto& kv : t) {
    Event r;
    r.str("phase", kv.first).num("seconds", kv.second / repeats);
    rows.push_back(std::move(r));
  }
  e.lists.emplace_back("phases", std::move(rows));
  return e;
}

}  // namespace

Event profileTrainingStep(const Model& m, const Batch& b, int repeats) {
  if (m.adapters.empty()) throw std::invalid_argument("profile: add adapters first");
  repeats = std::max(1, repeats);
  PhaseTimes t;
  std::vector<mx::array> params = m.adapterParams();
  TrainOptions hyper;  // the presets' AdamW settings (TrainOptions has no defaults of its own)
  hyper.adamBeta1 = 0.9;
  hyper.adamBeta2 = 0.999;
  hyper.adamEps = 1e-8;
  AdamState st;
  for (const auto& p : params) {
    st.m.push_back(mx::zeros_like(p));
    st.v.push_back(mx::zeros_like(p));
  }
  mx::eval(st.m);
  mx::eval(st.v);
  const TrainingProducts training;  // every phase below with training's products (packed_matmul.h)
  for (int r = 0; r < repeats + 1; ++r) {
    PhaseTimes one;  // the first round warms caches and is not counted
    // Forward with a barrier after each op: forward.<op>.
    {
      PhaseTimes fwd;
      ForwardOptions fo;
      fo.profile = &fwd;
      mx::array h = m.hidden(b.inputs, nullptr, fo);
      auto t0 = Clock::now();
      mx::array logits = m.logits(h);
      mx::eval(logits);
      fwd["lm_head(full logits, reference)"] += since(t0);
      t0 = Clock::now();
      mx::array loss = maskedCe(logits, b.targets, b.mask);
      mx::eval(loss);
      fwd["cross_entropy(full logits, reference)"] += since(t0);
      for (const auto& kv : fwd) book(one, "forward." + kv.first, kv.second);
    }
    // The same forward + loss without barriers, and the whole step as training runs it.
    {
      auto t0 = Clock::now();
      mx::array loss = maskedCe(m.forward(b.inputs, nullptr, ForwardOptions{}), b.targets, b.mask);
      mx::eval(loss);
      book(one, "total.forward_and_loss", since(t0));
    }
    Gradients g;
    {
      auto t0 = Clock::now();
      ForwardOptions fo;
      fo.training = true;
      g = lossAndGrad(m, b, fo);
      book(one, "total.value_and_grad", since(t0));
    }
    // The LM head and cross-entropy as training runs them (row chunks, their gradient formed in
    // the forward): loss and dLoss/dh from fixed hidden states.
    {
      mx::array h = m.hidden(b.inputs, nullptr, ForwardOptions{});
      mx::eval(h);
      auto fn = [&](const std::vector<mx::array>& in) {
        return std::vector<mx::array>{
            chunkedCrossEntropy(m, in[0], b.targets, b.mask, kCrossEntropyChunkRows)};
      };
      auto t0 = Clock::now();
      auto [v, grads] = mx::vjp(fn, {h}, {mx::array(1.0f)});
      std::vector<mx::array> outs = grads;
      outs.insert(outs.end(), v.begin(), v.end());
      mx::eval(outs);
      book(one, "lm_head_and_cross_entropy.chunked_with_grad", since(t0));
    }
    // Optimizer: AdamW over every adapter tensor.
    {
      auto t0 = Clock::now();
      std::vector<mx::array> p = params;
      adamwUpdate(p, st, g.grads, hyper, 1e-4, 1);
      std::vector<mx::array> all = p;
      all.insert(all.end(), st.m.begin(), st.m.end());
      all.insert(all.end(), st.v.begin(), st.v.end());
      mx::eval(all);
      book(one, "optimizer.adamw", since(t0));
    }
    // Host round-trip: the loss scalar and one gradient copied out.
    {
      auto t0 = Clock::now();
      volatile float l = mx::array(g.lossSum).item<float>();
      (void)l;
      mx::array c = mx::contiguous(g.grads.front());
      mx::eval(c);
      book(one, "host.readback", since(t0));
    }
    if (r > 0) {
      for (const auto& kv : one) t[kv.first] += kv.second;
    }
  }
  Event e = toEvent(t, repeats, "training");
  e.num("batch", b.inputs.shape(0)).num("sequenceLength", b.inputs.shape(1));
  return e;
}

Event profileDecodeStep(const Model& m, const std::vector<int32_t>& prompt, int tokens, int batch) {
  if (prompt.empty()) throw std::invalid_argument("profile: the decode prompt is empty");
  tokens = std::max(1, tokens);
  PhaseTimes t;
  KvCache cache = KvCache::empty(m.layers.size());
  ForwardOptions fo;
  fo.cache = &cache;
  auto t0 = Clock::now();
  mx::array logits = m.lastLogits(m.hidden(
      mx::array(prompt.data(), {1, static_cast<int>(prompt.size())}, mx::int32), nullptr, fo));
  mx::eval(logits);
  const double prefill = since(t0);
  int32_t tok = 0;
  // Unbarriered tokens first (the figure a user sees), then barriered ones for the breakdown.
  t0 = Clock::now();
  for (int i = 0; i < tokens; ++i) {
    mx::array a = mx::astype(mx::argmax(logits, -1), mx::int32);
    mx::eval(a);
    tok = a.item<int32_t>();
    logits = m.lastLogits(m.hidden(mx::array(&tok, {1, 1}, mx::int32), nullptr, fo));
    mx::eval(logits);
  }
  t["total.decode_step"] = since(t0);  // per token once toEvent divides
  for (int i = 0; i < tokens; ++i) {
    t0 = Clock::now();
    mx::array a = mx::astype(mx::argmax(logits, -1), mx::int32);
    mx::eval(a);
    tok = a.item<int32_t>();
    t["sample.argmax_and_host"] += since(t0);
    PhaseTimes step;
    ForwardOptions pf = fo;
    pf.profile = &step;
    mx::array h = m.hidden(mx::array(&tok, {1, 1}, mx::int32), nullptr, pf);
    t0 = Clock::now();
    logits = m.lastLogits(h);
    mx::eval(logits);
    step["lm_head"] += since(t0);
    for (const auto& kv : step) t["forward." + kv.first] += kv.second;
  }
  // The CPU decode path (decode_cpu.cc) over the same cache: its own phases and total.
  if (std::optional<CpuDecoder> cpu = CpuDecoder::create(m)) {
    for (int i = 0; i < tokens; ++i) {
      mx::array a = mx::astype(mx::argmax(logits, -1), mx::int32);
      mx::eval(a);
      tok = a.item<int32_t>();
      t0 = Clock::now();
      PhaseTimes step;
      std::optional<mx::array> l = cpu->step({tok}, cache, &step);
      if (!l) break;
      logits = *l;
      t["total.cpu_path.decode_step"] += since(t0);
      for (const auto& kv : step) t["cpu_path." + kv.first] += kv.second;
    }
  }
  // The CPU path's prefill of the same prompt into a fresh cache (one call, phases scaled by
  // `tokens` so that they read per prompt once toEvent divides).
  double cpuPrefill = 0;
  if (std::optional<CpuDecoder> cpu = CpuDecoder::create(m)) {
    KvCache fresh = KvCache::empty(m.layers.size());
    PhaseTimes phases;
    t0 = Clock::now();
    if (cpu->prefill(prompt, static_cast<int>(prompt.size()), fresh, true, &phases)) {
      cpuPrefill = since(t0);
      for (const auto& kv : phases) t["cpu_prefill." + kv.first] += kv.second * tokens;
    }
  }
  // A batched decode step of the CPU path: `batch` rows, each the same prompt, prefilled together
  // (rows `cpu_batch.*`, per step; a step decodes `batch` tokens).
  if (batch > 1) {
    if (std::optional<CpuDecoder> cpu = CpuDecoder::create(m)) {
      KvCache rows = KvCache::empty(m.layers.size());
      std::vector<int32_t> all;
      for (int b = 0; b < batch; ++b) all.insert(all.end(), prompt.begin(), prompt.end());
      std::optional<mx::array> l = cpu->prefill(all, static_cast<int>(prompt.size()), rows, true);
      for (int i = 0; l && i < tokens; ++i) {
        mx::array a = mx::astype(mx::argmax(*l, -1), mx::int32);
        mx::eval(a);
        std::vector<int32_t> next(a.data<int32_t>(), a.data<int32_t>() + batch);
        t0 = Clock::now();
        PhaseTimes step;
        l = cpu->step(next, rows, &step);
        if (!l) break;
        t["total.cpu_batch.decode_step"] += since(t0);
        for (const auto& kv : step) t["cpu_batch." + kv.first] += kv.second;
      }
    }
  }
  Event e = toEvent(t, tokens, "decode");
  e.num("batch", batch);
  e.num("promptTokens", static_cast<double>(prompt.size()))
      .num("prefillSeconds", prefill)
      .num("cpuPathPrefillSeconds", cpuPrefill)
      .num("decodedTokens", 2.0 * tokens);
  return e;
}

}  // namespace medtune
