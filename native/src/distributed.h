// Data-parallel training over MLX's distributed layer: the process group (ring backend over TCP,
// MPI where installed) and the few collectives the trainer needs. A process that never calls
// initDistributed() is a group of one, and every collective is the identity.
//
// Ring: MLX_RANK (0-based) and MLX_HOSTFILE (a JSON list with one ["ip:port", ...] per rank) must
// be set before initDistributed(); src/train/distributed.ts sets both.
#pragma once

#include <mlx/distributed/distributed.h>
#include <mlx/mlx.h>

#include <string>
#include <vector>

namespace medtune {

namespace mx = mlx::core;

struct DistributedInfo {
  int rank = 0;
  int size = 1;
  std::string backend;  // "ring", "mpi", or "none" for a group of one
};

// Joins the group (once per process; later calls return the same group). backend: "ring", "mpi" or
// "any". Throws, naming the environment it read, when the group cannot be formed.
DistributedInfo initDistributed(const std::string& backend);
// The group joined so far: {0, 1, "none"} before initDistributed().
DistributedInfo distributedInfo();

// Elementwise sum over ranks of each tensor, as one message (flattened and concatenated in
// float32), evaluated. Shapes come back as given.
std::vector<mx::array> allSum(const std::vector<mx::array>& xs);
// Sum over ranks of a few numbers (float64: exact for token counts and step indices).
std::vector<double> allSum(const std::vector<double>& xs);
// Rank 0's tensors on every rank (others contribute zeros to a sum), evaluated.
std::vector<mx::array> broadcastFromRankZero(const std::vector<mx::array>& xs);
// Every rank's value of each named number must be equal; throws naming the first that differs.
void requireSameOnAllRanks(const std::vector<std::pair<const char*, double>>& values);

}  // namespace medtune
