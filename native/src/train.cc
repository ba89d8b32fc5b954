// See train.h. Loss = sum(masked CE) / supervised tokens of the whole optimizer step, so N
// micro-batches of B give exactly the update of one batch of N*B (mlx-lm averages micro-batch means
// instead). The schedule, data position and dropout keys are functions of the step index, so a run
// resumed from (adapters, optimizer state) replays the uninterrupted run bit for bit.
#include "train.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>

#include "distributed.h"
#include "fused_cpu.h"
#include "lora.h"
#include "packed_matmul.h"

namespace medtune {

Batch makeBatch(const Dataset& d, const int32_t* idx, size_t n, int maxSeqLength) {
  // Right-padded: causal attention never lets a real token see the padding after it.
  int L = 1;
  for (size_t i = 0; i < n; ++i) {
    if (idx[i] < 0 || static_cast<size_t>(idx[i]) >= d.size()) {
      throw std::invalid_argument("batch refers to example " + std::to_string(idx[i]) +
                                  " but the dataset has " + std::to_string(d.size()));
    }
    int64_t len = d.offsets[idx[i] + 1] - d.offsets[idx[i]] - 1;
    L = std::max<int64_t>(L, std::min<int64_t>(len, maxSeqLength));
  }
  const int B = static_cast<int>(n);
  std::vector<int32_t> in(static_cast<size_t>(B) * L, 0), tg(static_cast<size_t>(B) * L, 0);
  std::vector<float> mk(static_cast<size_t>(B) * L, 0.0f);
  Batch out;
  for (int r = 0; r < B; ++r) {
    const int64_t start = d.offsets[idx[r]];
    const int64_t len = std::min<int64_t>(d.offsets[idx[r] + 1] - start - 1, L);
    for (int64_t j = 0; j < len; ++j) {
      in[r * L + j] = d.tokens[start + j];
      tg[r * L + j] = d.tokens[start + j + 1];
      mk[r * L + j] = d.lossMask[start + j + 1];
      out.supervisedTokens += d.lossMask[start + j + 1] != 0.0f;
    }
    out.inputTokens += std::max<int64_t>(len, 0);
  }
  out.inputs = mx::array(in.data(), {B, L}, mx::int32);
  out.targets = mx::array(tg.data(), {B, L}, mx::int32);
  out.mask = mx::array(mk.data(), {B, L}, mx::float32);
  return out;
}

// logits (B, L, V), targets (B, L), mask (B, L) -> scalar sum of masked CE.
mx::array maskedCe(const mx::array& logits, const mx::array& targets, const mx::array& mask) {
  mx::array lse = mx::logsumexp(logits, -1);
  mx::array tgt = mx::squeeze(mx::take_along_axis(logits, mx::expand_dims(targets, -1), -1), -1);
  return mx::sum(mx::multiply(mx::subtract(lse, tgt), mask));
}

namespace {

// One chunk's summed masked CE and, when wanted, dLoss/dh for its rows. h (n, D), t (n), mk (n).
std::pair<mx::array, std::optional<mx::array>> ceChunk(const Linear& head, const mx::array& h,
                                                       const mx::array& t, const mx::array& mk,
                                                       bool withGrad) {
  mx::array logits = mx::astype(head.apply(h), mx::float32);  // (n, V)
  mx::array mkc = mx::expand_dims(mk, -1);
  if (fusedCpuOpsApply(logits)) {  // one exp per logit (fused_cpu.h)
    auto [rowLoss, p] = cpuSoftmaxCrossEntropy(logits, t, mk);
    mx::array loss = mx::sum(rowLoss);
    if (!withGrad) return {loss, std::nullopt};
    mx::array grad =
        mx::subtract(head.matmulTransposed(mx::astype(p, h.dtype())),
                     mx::multiply(mx::astype(head.rows(t), h.dtype()), mx::astype(mkc, h.dtype())));
    return {loss, grad};
  }
  mx::array lse = mx::logsumexp(logits, -1, true);                          // (n, 1)
  mx::array tgt = mx::take_along_axis(logits, mx::expand_dims(t, -1), -1);  // (n, 1)
  mx::array loss = mx::sum(mx::multiply(mx::squeeze(mx::subtract(lse, tgt), -1), mk));
  if (!withGrad) return {loss, std::nullopt};
  // d/dh of mk * (lse - logit[t]) = mk * (softmax W - W[t]). (n, D)
  mx::array p = mx::multiply(mx::exp(mx::subtract(logits, lse)), mkc);
  mx::array grad =
      mx::subtract(head.matmulTransposed(mx::astype(p, h.dtype())),
                   mx::multiply(mx::astype(head.rows(t), h.dtype()), mx::astype(mkc, h.dtype())));
  return {loss, grad};
}

}  // namespace

mx::array chunkedCrossEntropy(const Model& m, const mx::array& h, const mx::array& targets,
                              const mx::array& mask, int rows) {
  const int D = h.shape(-1);
  const int N = static_cast<int>(h.size() / D);
  rows = std::max(1, rows);
  const Linear* head = &m.head();
  auto fn = [head, N, D, rows](const std::vector<mx::array>& in) -> std::vector<mx::array> {
    mx::array h2 = mx::reshape(in[0], {N, D});
    mx::array t = mx::reshape(in[1], {N});
    mx::array mk = mx::reshape(in[2], {N});
    mx::array loss = mx::array(0.0f);
    std::vector<mx::array> grads;
    for (int s = 0; s < N; s += rows) {
      const int e = std::min(N, s + rows);
      auto [l, g] = ceChunk(*head, mx::slice(h2, {s, 0}, {e, D}), mx::slice(t, {s}, {e}),
                            mx::slice(mk, {s}, {e}), true);
      loss = mx::add(loss, l);
      grads.push_back(*g);
    }
    mx::array gradH = grads.size() == 1 ? grads[0] : mx::concatenate(grads, 0);
    return {loss, mx::reshape(gradH, in[0].shape())};
  };
  auto vjp = [](const std::vector<mx::array>& primals, const std::vector<mx::array>& cotangents,
                const std::vector<mx::array>& outputs) -> std::vector<mx::array> {
    return {mx::multiply(outputs[1], mx::astype(cotangents[0], outputs[1].dtype())),
            mx::zeros_like(primals[1]), mx::zeros_like(primals[2])};
  };
  return mx::custom_vjp(fn, vjp)({h, targets, mask})[0];
}

Gradients lossAndGrad(const Model& m, const Batch& b, const ForwardOptions& fo, int ceChunkRows) {
  const TrainingProducts training;  // bfloat16 packed products where the CPU has them
  std::vector<mx::array> params = m.adapterParams();
  if (params.empty()) throw std::invalid_argument("the model has no adapters to train");
  auto fn = [&](const std::vector<mx::array>& p) -> mx::array {
    if (ceChunkRows <= 0) return maskedCe(m.forward(b.inputs, &p, fo), b.targets, b.mask);
    return chunkedCrossEntropy(m, m.hidden(b.inputs, &p, fo), b.targets, b.mask, ceChunkRows);
  };
  std::vector<int> argnums(params.size());
  std::iota(argnums.begin(), argnums.end(), 0);
  auto [loss, grads] = mx::value_and_grad(fn, argnums)(params);
  std::vector<mx::array> outs = grads;
  outs.push_back(loss);
  mx::eval(outs);
  Gradients g;
  g.lossSum = loss.item<float>();
  g.supervisedTokens = b.supervisedTokens;
  g.grads = std::move(grads);
  return g;
}

double lossSum(const Model& m, const Batch& b) {
  const TrainingProducts training;  // validation measures the model training computes
  // Chunked as in training, without the gradient: no (B, L, V) logits in validation either.
  mx::array h = m.hidden(b.inputs, nullptr, ForwardOptions{});
  const int D = h.shape(-1);
  const int N = static_cast<int>(h.size() / D);
  mx::array h2 = mx::reshape(h, {N, D});
  mx::array t = mx::reshape(b.targets, {N});
  mx::array mk = mx::reshape(b.mask, {N});
  mx::eval(h2);
  double sum = 0;
  for (int s = 0; s < N; s += kCrossEntropyChunkRows) {
    const int e = std::min(N, s + kCrossEntropyChunkRows);
    mx::array l = ceChunk(m.head(), mx::slice(h2, {s, 0}, {e, D}), mx::slice(t, {s}, {e}),
                          mx::slice(mk, {s}, {e}), false)
                      .first;
    mx::eval(l);
    sum += l.item<float>();
  }
  return sum;
}

double learningRateAt(const TrainOptions& o, int step) {
  // Linear warmup to the peak, then cosine decay to minLearningRate, restarting `cycles` times.
  if (step < o.warmupSteps) return o.learningRate * (step + 1) / o.warmupSteps;
  const int decay = std::max(1, o.iters - o.warmupSteps);
  const int cycles = std::max(1, o.cycles);
  const int cycleLen = std::max(1, (decay + cycles - 1) / cycles);
  const int pos = (step - o.warmupSteps) % cycleLen;
  return o.minLearningRate +
         0.5 * (o.learningRate - o.minLearningRate) * (1.0 + std::cos(M_PI * pos / cycleLen));
}

namespace {

std::string stepName(int step) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%07d", step);
  return buf;
}

void saveOptimizer(const Model& model, const AdamState& s, const TrainOptions& o,
                   const std::string& path) {
  // "m.<param>" / "v.<param>" for every trainable tensor: <name>.lora_a, .lora_b and DoRA's .m.
  std::unordered_map<std::string, mx::array> t;
  auto names = model.adapterParamNames();
  for (size_t i = 0; i < names.size(); ++i) {
    t.insert_or_assign("m." + names[i], s.m[i]);
    t.insert_or_assign("v." + names[i], s.v[i]);
  }
  const int64_t micro = static_cast<int64_t>(s.step) * o.gradAccumulationSteps;
  std::unordered_map<std::string, std::string> meta{
      {"format", "medtune-adamw-1"},
      {"step", std::to_string(s.step)},
      {"microBatchPosition", std::to_string(micro)},
      {"learningRate", std::to_string(learningRateAt(o, std::max(0, s.step - 1)))},
      {"seed", std::to_string(o.seed)},
      {"iters", std::to_string(o.iters)},
      // Recorded, not enforced: rank r's share of a step is a function of (step, rank, size) and
      // the ranks sum to the same global batch, so a run may resume with another world size.
      {"worldSize", std::to_string(distributedInfo().size)},
  };
  saveSafetensorsAtomic(path, t, meta);
}

AdamState loadOptimizer(const Model& model, const std::string& path) {
  validateSafetensors(path);
  mx::SafetensorsLoad l = [&]() {
    try {
      return mx::load_safetensors(path);
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ": " + e.what());
    }
  }();
  auto fmt = l.second.find("format");
  if (fmt == l.second.end() || fmt->second != "medtune-adamw-1") {
    throw std::runtime_error(
        path + ": not a medtune optimizer state (metadata format != medtune-adamw-1)");
  }
  AdamState s;
  s.step = std::stoi(l.second.at("step"));
  auto params = model.adapterParams();
  auto names = model.adapterParamNames();
  for (size_t i = 0; i < params.size(); ++i) {
    for (const char* which : {"m.", "v."}) {
      const std::string key = which + names[i];
      auto it = l.first.find(key);
      if (it == l.first.end()) {
        throw std::runtime_error(
            path + ": missing tensor '" + key + "'" +
            (names[i].ends_with(".m") ? " (saved from a LoRA run, not DoRA?)" : ""));
      }
      if (it->second.shape() != params[i].shape()) {
        throw std::runtime_error(path + ": tensor '" + key +
                                 "' does not match the adapter's shape (another config?)");
      }
      (which[0] == 'm' ? s.m : s.v).push_back(mx::astype(it->second, mx::float32));
    }
  }
  if (l.first.size() != params.size() * 2) {
    throw std::runtime_error(path +
                             ": holds tensors for adapters this model does not have (a DoRA "
                             "state resumed as LoRA, or another config?)");
  }
  mx::eval(s.m);
  mx::eval(s.v);
  return s;
}

void checkMemory(const TrainOptions& o) {
  if (o.memoryLimitBytes > 0 && static_cast<double>(mx::get_peak_memory()) > o.memoryLimitBytes) {
    throw std::runtime_error("out of memory: peak " + std::to_string(mx::get_peak_memory()) +
                             " bytes exceeded the memory limit of " +
                             std::to_string(static_cast<int64_t>(o.memoryLimitBytes)) + " bytes");
  }
}

double validLoss(const Model& m, const TrainOptions& o, int rank, int size) {
  double sum = 0;
  int64_t toks = 0;
  // Rank r scores validation batches r, r+N, ...; the sums are added over ranks below.
  for (size_t j = rank; j < o.validBatches.size(); j += size) {
    const int64_t a = o.validBatches.offsets[j], e = o.validBatches.offsets[j + 1];
    Batch b = makeBatch(o.valid, o.validBatches.indices.data() + a, e - a, o.maxSeqLength);
    sum += lossSum(m, b);
    toks += b.supervisedTokens;
    checkMemory(o);
  }
  if (size > 1) {
    auto total = allSum(std::vector<double>{sum, static_cast<double>(toks)});
    sum = total[0];
    toks = static_cast<int64_t>(total[1]);
  }
  return toks ? sum / toks : 0.0;
}

}  // namespace

void clipGradNorm(std::vector<mx::array>& grads, double maxNorm) {
  mx::array sq = mx::array(0.0f);
  for (const auto& g : grads) sq = mx::add(sq, mx::sum(mx::square(g)));
  mx::array factor = mx::minimum(
      mx::array(1.0f),
      mx::divide(mx::array(static_cast<float>(maxNorm)), mx::add(mx::sqrt(sq), mx::array(1e-6f))));
  for (auto& g : grads) g = mx::multiply(g, factor);
}

namespace {

// One tensor's AdamW update as a single compiled kernel (shapeless, so one compilation serves
// every adapter shape): eager MLX would make ~12 passes over each tensor. in = {p, m, v, g, b1,
// b2, bc1, bc2, eps, lr, decayFactor} -> {p', m', v'}.
std::vector<mx::array> adamwFn(const std::vector<mx::array>& in) {
  const auto &p = in[0], &m = in[1], &v = in[2], &g = in[3];
  const auto &b1 = in[4], &b2 = in[5], &bc1 = in[6], &bc2 = in[7], &eps = in[8], &lr = in[9];
  const auto& decay = in[10];
  const mx::array one(1.0f);
  mx::array m2 = mx::add(mx::multiply(b1, m), mx::multiply(mx::subtract(one, b1), g));
  mx::array v2 = mx::add(mx::multiply(b2, v), mx::multiply(mx::subtract(one, b2), mx::square(g)));
  mx::array update = mx::divide(mx::divide(m2, bc1), mx::add(mx::sqrt(mx::divide(v2, bc2)), eps));
  return {mx::subtract(mx::multiply(p, decay), mx::multiply(lr, update)), m2, v2};
}

}  // namespace

void adamwUpdate(std::vector<mx::array>& params, AdamState& st, const std::vector<mx::array>& grads,
                 const TrainOptions& o, double lr, int t) {
  // As mlx-lm's and Hugging Face's AdamW: decay applies to every trainable tensor, DoRA's m too.
  static const auto step = mx::compile(adamwFn, /*shapeless=*/true);
  const mx::array b1(static_cast<float>(o.adamBeta1)), b2(static_cast<float>(o.adamBeta2));
  const mx::array bc1(static_cast<float>(1.0 - std::pow(o.adamBeta1, t)));
  const mx::array bc2(static_cast<float>(1.0 - std::pow(o.adamBeta2, t)));
  const mx::array eps(static_cast<float>(o.adamEps)), rate(static_cast<float>(lr));
  const mx::array decay(static_cast<float>(1.0 - lr * o.weightDecay));
  for (size_t i = 0; i < params.size(); ++i) {
    auto out = step({params[i], st.m[i], st.v[i], grads[i], b1, b2, bc1, bc2, eps, rate, decay});
    params[i] = out[0];
    st.m[i] = out[1];
    st.v[i] = out[2];
  }
}

StepGradients accumulateGradients(const Model& m, const TrainOptions& o, int step,
                                  const std::function<void()>& afterMicroBatch, int rank,
                                  int size) {
  const int accum = std::max(1, o.gradAccumulationSteps);
  StepGradients out;
  for (int k = rank; k < accum; k += size) {
    const int64_t micro = static_cast<int64_t>(step) * accum + k;
    const size_t j = static_cast<size_t>(micro % static_cast<int64_t>(o.batches.size()));
    const int64_t a = o.batches.offsets[j], e = o.batches.offsets[j + 1];
    Batch b = makeBatch(o.train, o.batches.indices.data() + a, e - a, o.maxSeqLength);
    ForwardOptions fo;
    fo.training = true;
    fo.dropoutSeed = mixSeed(o.seed, static_cast<uint64_t>(micro));
    fo.gradientCheckpointing = o.gradCheckpointing;
    Gradients g = lossAndGrad(m, b, fo);
    if (afterMicroBatch) afterMicroBatch();
    out.lossSum += g.lossSum;
    out.supervisedTokens += g.supervisedTokens;
    out.inputTokens += b.inputTokens;
    if (out.grads.empty()) {
      out.grads = std::move(g.grads);
    } else {
      for (size_t i = 0; i < out.grads.size(); ++i)
        out.grads[i] = mx::add(out.grads[i], g.grads[i]);
      mx::eval(out.grads);
    }
  }
  if (out.grads.empty()) {
    // More ranks than micro-batches in a step: this rank adds nothing to the sum.
    for (const auto& p : m.adapterParams()) out.grads.push_back(mx::zeros_like(p));
  }
  return out;
}

Event train(Model& model, const TrainOptions& o, const Emit& emit,
            const std::atomic<bool>& cancel) {
  using Clock = std::chrono::steady_clock;
  if (model.adapters.empty()) throw std::invalid_argument("train: add adapters before training");
  if (o.batches.size() == 0) throw std::invalid_argument("train: no batches");
  if (o.train.lossMask.size() != o.train.tokens.size()) {
    throw std::invalid_argument("train: lossMask and tokens differ in length");
  }
  const size_t prevLimit =
      o.memoryLimitBytes > 0 ? mx::set_memory_limit(static_cast<size_t>(o.memoryLimitBytes)) : 0;
  struct RestoreLimit {
    size_t prev;
    bool set;
    ~RestoreLimit() {
      if (set) mx::set_memory_limit(prev);
    }
  } restore{prevLimit, o.memoryLimitBytes > 0};
  mx::reset_peak_memory();

  std::vector<mx::array> params = model.adapterParams();
  AdamState st;
  if (!o.resumeOptimizerFile.empty()) {
    st = loadOptimizer(model, o.resumeOptimizerFile);
  } else {
    for (const auto& p : params) {
      st.m.push_back(mx::zeros_like(p));
      st.v.push_back(mx::zeros_like(p));
    }
    st.step = o.startIteration;
  }
  const DistributedInfo dist = o.distributed ? distributedInfo() : DistributedInfo{};
  if (o.distributed && dist.backend == "none") {
    throw std::invalid_argument("train: distributed is set but this process joined no group");
  }
  if (dist.size > 1) {
    requireSameOnAllRanks(
        {{"iters", o.iters},
         {"the step to start from", st.step},
         {"gradAccumulationSteps", o.gradAccumulationSteps},
         {"the number of micro-batches", static_cast<double>(o.batches.size())},
         {"the number of training examples", static_cast<double>(o.train.size())},
         {"the number of training tokens", static_cast<double>(o.train.tokens.size())},
         {"seed", static_cast<double>(o.seed)},
         {"learningRate", o.learningRate},
         {"maxSeqLength", o.maxSeqLength}});
    // One starting point for all ranks: rank 0's adapters and moments (equal anyway when every
    // rank seeded its adapters alike; this makes it so by construction).
    std::vector<mx::array> all = params;
    all.insert(all.end(), st.m.begin(), st.m.end());
    all.insert(all.end(), st.v.begin(), st.v.end());
    all = broadcastFromRankZero(all);
    const size_t n = params.size();
    for (size_t i = 0; i < n; ++i) {
      params[i] = all[i];
      st.m[i] = all[n + i];
      st.v[i] = all[2 * n + i];
    }
    model.setAdapterParams(params);
  }
  const bool checkpointing = !o.checkpointDir.empty();
  auto saveCheckpoint = [&](int step) {
    const std::string stem = o.checkpointDir + "/" + stepName(step);
    if (dist.rank == 0) {  // the ranks hold the same weights: one writer
      saveAdapters(model, stem + "_adapters.safetensors", AdapterFormat::kMlx);
      saveAdapters(model, o.checkpointDir + "/adapters.safetensors", AdapterFormat::kMlx);
      saveOptimizer(model, st, o, stem + "_optimizer.safetensors");
    }
    // A barrier: no rank goes on (or returns, and maybe resumes) before the files exist.
    if (dist.size > 1) allSum(std::vector<double>{0.0});
    emit(Event{"checkpoint"}
             .num("iteration", step)
             .str("adapterFile", stem + "_adapters.safetensors")
             .str("optimizerFile", stem + "_optimizer.safetensors"));
  };

  double windowLoss = 0;
  int64_t windowSup = 0, windowTokens = 0, trainedTokens = 0;
  auto windowStart = Clock::now();
  double lastLoss = NAN, lastValid = NAN;
  bool cancelled = false;
  int lastSaved = -1;
  const int startStep = st.step;

  for (int step = st.step; step < o.iters; ++step) {
    bool stop = cancel.load();
    // Any rank's cancel stops every rank at the same step boundary.
    if (dist.size > 1) stop = allSum(std::vector<double>{stop ? 1.0 : 0.0})[0] > 0;
    if (stop) {
      cancelled = true;
      break;
    }
    // Summed loss and gradients over the step's micro-batches, divided once by its token count.
    StepGradients sg =
        accumulateGradients(model, o, step, [&]() { checkMemory(o); }, dist.rank, dist.size);
    if (dist.size > 1) {
      // One message: every gradient plus (loss sum, supervised tokens, input tokens). float32
      // holds token counts exactly below 2^24 per step.
      std::vector<mx::array> msg = std::move(sg.grads);
      msg.push_back(
          mx::array({static_cast<float>(sg.lossSum), static_cast<float>(sg.supervisedTokens),
                     static_cast<float>(sg.inputTokens)}));
      msg = allSum(msg);
      mx::array totals = msg.back();
      msg.pop_back();
      sg.grads = std::move(msg);
      const float* t = totals.data<float>();
      sg.lossSum = t[0];
      sg.supervisedTokens = static_cast<int64_t>(t[1]);
      sg.inputTokens = static_cast<int64_t>(t[2]);
    }
    const double stepLoss = sg.lossSum;
    const int64_t stepSup = sg.supervisedTokens;
    windowTokens += sg.inputTokens;
    trainedTokens += sg.inputTokens;
    const float inv = 1.0f / static_cast<float>(std::max<int64_t>(1, stepSup));
    for (auto& g : sg.grads) g = mx::multiply(g, mx::array(inv));
    if (o.gradClip > 0) clipGradNorm(sg.grads, o.gradClip);
    const double lr = learningRateAt(o, step);
    adamwUpdate(params, st, sg.grads, o, lr, step + 1);
    {
      // One evaluation for parameters and moments: a single pass over the update graph.
      std::vector<mx::array> all = params;
      all.insert(all.end(), st.m.begin(), st.m.end());
      all.insert(all.end(), st.v.begin(), st.v.end());
      mx::eval(all);
    }
    model.setAdapterParams(params);
    st.step = step + 1;
    checkMemory(o);

    lastLoss = stepLoss * inv;
    windowLoss += stepLoss;
    windowSup += stepSup;
    const int it = step + 1;
    const bool last = it == o.iters;
    if (it % std::max(1, o.reportEvery) == 0 || last) {
      const double secs = std::chrono::duration<double>(Clock::now() - windowStart).count();
      emit(Event{"progress"}
               .num("iteration", it)
               .num("trainLoss", windowSup ? windowLoss / windowSup : 0.0)
               .num("learningRate", lr)
               .num("tokensPerSecond", secs > 0 ? windowTokens / secs : 0.0)
               .num("trainedTokens", static_cast<double>(trainedTokens))
               .num("supervisedTokens", static_cast<double>(windowSup))
               .num("peakMemoryBytes", static_cast<double>(mx::get_peak_memory()))
               .num("activeMemoryBytes", static_cast<double>(mx::get_active_memory()))
               .num("cacheBytes", static_cast<double>(mx::get_cache_memory()))
               .num("worldSize", dist.size));
      windowLoss = 0;
      windowSup = windowTokens = 0;
      windowStart = Clock::now();
    }
    if (o.validBatches.size() > 0 && ((o.evalEvery > 0 && it % o.evalEvery == 0) || last)) {
      auto t0 = Clock::now();
      lastValid = validLoss(model, o, dist.rank, dist.size);
      emit(Event{"eval"}
               .num("iteration", it)
               .num("validLoss", lastValid)
               .num("seconds", std::chrono::duration<double>(Clock::now() - t0).count()));
      windowStart = Clock::now();  // eval time is not training throughput
    }
    if (checkpointing && ((o.saveEvery > 0 && it % o.saveEvery == 0) || last)) {
      saveCheckpoint(it);
      lastSaved = it;
    }
  }
  if (checkpointing && cancelled && st.step > startStep && lastSaved != st.step) {
    saveCheckpoint(st.step);
  }
  Event done{"done"};
  done.num("iteration", st.step)
      .num("trainLoss", lastLoss)
      .num("validLoss", lastValid)
      .num("trainedTokens", static_cast<double>(trainedTokens))
      .num("peakMemoryBytes", static_cast<double>(mx::get_peak_memory()))
      .num("worldSize", dist.size)
      .num("rank", dist.rank)
      .str("stopReason", cancelled ? "cancelled" : "completed");
  emit(done);
  return done;
}

}  // namespace medtune
