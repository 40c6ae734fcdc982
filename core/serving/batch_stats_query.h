// ComputeBatchStats: what every BN layer of a model sees for one batch, and
// how far that is from the running statistics of a version (the drift
// measures of core/stats/drift.h). Read-only: never changes any statistics.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "core/engine/statistics_plan.h"
#include "core/serving/serving_bundle.h"
#include "core/stats/channel_moments.h"
#include "core/stats/drift.h"

namespace bnserve {

struct LayerBatchReport {
  LayerDrift drift;                     // per channel: batch and running moments, z, KL
  std::vector<ChannelMoments> moments;  // per channel: count, mean, M2 (exactly mergeable)
};

struct BatchStatsReport {
  int64_t version = 0;  // the statistics version compared with
  ForwardMode mode = ForwardMode::kTrain;
  int64_t samples = 0;                   // batch size N
  std::vector<LayerBatchReport> layers;  // model order, or by drift (largest first)
};

// Runs `inputs` (a batch, batch dim first; validated against the model)
// through a statistics pass of `bundle` in `mode`. INVALID_ARGUMENT for bad
// shapes, an empty batch or non-finite values; FAILED_PRECONDITION when a
// train-mode BN would see one value per channel. The pass splits its loops
// over `thread_pool` when non-null.
absl::StatusOr<BatchStatsReport> ComputeBatchStats(const ServingBundle& bundle, absl::Span<const TensorView> inputs,
                                                   ForwardMode mode, bool sort_by_drift,
                                                   ThreadPool* thread_pool = nullptr);

}  // namespace bnserve
