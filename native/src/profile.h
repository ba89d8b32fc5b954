// Per-phase timing of one training step and one decode step (see profile.cc).
#pragma once

#include <vector>

#include "job.h"
#include "model.h"
#include "train.h"

namespace medtune {

// {type: "training", phases: [{phase, seconds}], batch, sequenceLength}: seconds per step,
// averaged over `repeats` steps after one warm-up.
Event profileTrainingStep(const Model& m, const Batch& b, int repeats);
// {type: "decode", phases: [{phase, seconds}], ...}: seconds per decoded token after `prompt`.
// `batch` > 1 adds a batched decode step of the CPU path (rows cpu_batch.*).
Event profileDecodeStep(const Model& m, const std::vector<int32_t>& prompt, int tokens,
                        int batch = 1);

}  // namespace medtune
