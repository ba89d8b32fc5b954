// See distributed.h. Collectives are grouped into one all_sum per call: the ring backend's cost is
// dominated by round trips, not bytes, at adapter sizes.
#include "distributed.h"

#include <cstdlib>
#include <mutex>
#include <optional>
#include <stdexcept>

namespace medtune {

namespace {

std::mutex gMutex;
std::optional<mx::distributed::Group> gGroup;
std::string gBackend = "none";

std::optional<mx::distributed::Group> joined() {
  std::lock_guard<std::mutex> lock(gMutex);
  return gGroup;
}

}  // namespace

DistributedInfo initDistributed(const std::string& backend) {
  std::lock_guard<std::mutex> lock(gMutex);
  if (gGroup) return {gGroup->rank(), gGroup->size(), gBackend};
  if (backend != "ring" && backend != "mpi" && backend != "any") {
    throw std::invalid_argument("distributed backend must be ring, mpi or any, got '" + backend +
                                "'");
  }
  if (!mx::distributed::is_available(backend)) {
    throw std::runtime_error("the MLX distributed backend '" + backend +
                             "' is not available in this MLX build");
  }
  const char* rank = std::getenv("MLX_RANK");
  const char* hostfile = std::getenv("MLX_HOSTFILE");
  if (backend == "ring" && (!rank || !hostfile)) {
    throw std::runtime_error(
        std::string("ring backend: set MLX_RANK (this process's 0-based rank) and MLX_HOSTFILE (a "
                    "JSON list of [\"ip:port\"] per rank); got MLX_RANK=") +
        (rank ? rank : "(unset)") + " MLX_HOSTFILE=" + (hostfile ? hostfile : "(unset)"));
  }
  try {
    gGroup = mx::distributed::init(/*strict=*/true, backend);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("cannot join the distributed group (backend ") + backend +
                             ", MLX_RANK=" + (rank ? rank : "(unset)") + ", MLX_HOSTFILE=" +
                             (hostfile ? hostfile : "(unset)") + "): " + e.what());
  }
  gBackend = backend;
  return {gGroup->rank(), gGroup->size(), gBackend};
}

DistributedInfo distributedInfo() {
  std::lock_guard<std::mutex> lock(gMutex);
  if (!gGroup) return {};
  return {gGroup->rank(), gGroup->size(), gBackend};
}

std::vector<mx::array> allSum(const std::vector<mx::array>& xs) {
  auto g = joined();
  if (!g || g->size() == 1 || xs.empty()) return xs;
  std::vector<mx::array> flat;
  flat.reserve(xs.size());
  for (const auto& x : xs) flat.push_back(mx::reshape(mx::astype(x, mx::float32), {-1}));
  mx::array summed = mx::distributed::all_sum(mx::concatenate(flat, 0), *g);
  std::vector<mx::array> out;
  out.reserve(xs.size());
  int at = 0;
  for (const auto& x : xs) {
    const int n = static_cast<int>(x.size());
    out.push_back(mx::astype(mx::reshape(mx::slice(summed, {at}, {at + n}), x.shape()), x.dtype()));
    at += n;
  }
  mx::eval(out);
  return out;
}

std::vector<double> allSum(const std::vector<double>& xs) {
  auto g = joined();
  if (!g || g->size() == 1 || xs.empty()) return xs;
  mx::array a(xs.data(), {static_cast<int>(xs.size())}, mx::float64);
  // float64 is a CPU type in MLX: the sum runs on the CPU stream.
  mx::array s = mx::distributed::all_sum(a, *g, mx::Device::cpu);
  mx::eval(s);
  const double* p = s.data<double>();
  return std::vector<double>(p, p + xs.size());
}

std::vector<mx::array> broadcastFromRankZero(const std::vector<mx::array>& xs) {
  auto g = joined();
  if (!g || g->size() == 1 || xs.empty()) return xs;
  std::vector<mx::array> mine;
  mine.reserve(xs.size());
  for (const auto& x : xs) mine.push_back(g->rank() == 0 ? x : mx::zeros_like(x));
  return allSum(mine);
}

void requireSameOnAllRanks(const std::vector<std::pair<const char*, double>>& values) {
  auto g = joined();
  if (!g || g->size() == 1) return;
  std::vector<double> local;
  for (const auto& kv : values) local.push_back(kv.second);
  std::vector<double> sum = allSum(local);
  const double n = g->size();
  for (size_t i = 0; i < values.size(); ++i) {
    // Equal on every rank <=> each rank's value times the size is the sum (exact for integers).
    if (sum[i] != n * local[i]) {
      throw std::runtime_error(std::string("distributed training: the ranks disagree on ") +
                               values[i].first + " (this rank: " + std::to_string(local[i]) +
                               ", mean over " + std::to_string(g->size()) +
                               " ranks: " + std::to_string(sum[i] / n) +
                               "); every rank must run the same command on the same data");
    }
  }
}

}  // namespace medtune
