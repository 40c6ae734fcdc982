// Candidate statistics from monitored samples: the same Recalibrator a
// client stream runs (train-mode passes), over the samples shuffled and cut
// into batches, so that a window sorted in some order does not make
// single-class batches. The result is a complete bundle, planned and ready
// to serve, that nothing serves yet.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/graph/tensor.h"
#include "core/model/drift_config.h"
#include "core/serving/serving_bundle.h"

namespace bnserve {

// One monitored sample: one tensor per model input, batch dim 1.
using MonitoredInputs = std::vector<Tensor>;

// Batch size of the candidate's recalibration: what the bundled example's
// update_bn used, and large enough for train-mode batch statistics.
inline constexpr int64_t kCandidateBatchSamples = 32;

struct BuiltCandidate {
  std::shared_ptr<const ServingBundle> bundle;  // info.version = the base version
  std::string mode;                             // "cumulative" or "prior"
  int64_t samples = 0;
};

// `config.adapt_mode`: "cumulative" starts from PyTorch's reset values (what
// `bnctl recalibrate --mode cumulative --reset` and update_bn do); "prior"
// mixes the base statistics with the samples' (config.prior_strength).
absl::StatusOr<BuiltCandidate> BuildCandidate(const std::shared_ptr<const ServingBundle>& base,
                                              const std::vector<MonitoredInputs>& samples, const DriftConfig& config,
                                              uint64_t seed);

// A bundle serving `stats` (computed from `base`), planned.
absl::StatusOr<std::shared_ptr<const ServingBundle>> BundleWithStats(const ServingBundle& base, StatsSnapshot stats);

// Rows [begin, end) of the samples stacked into one tensor per input.
std::vector<Tensor> StackSamples(const std::vector<const MonitoredInputs*>& samples);

}  // namespace bnserve
