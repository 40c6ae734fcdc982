// StatisticsPlanCache: the statistics plans (core/engine/statistics_plan.h) of one
// serving bundle, built on first use - by GetBatchStats or a recalibration
// stream - once per forward mode, then shared by every later request on the
// same version. Lazy because most deployments only predict: a plan holds
// its own packed convolution weights (about one more copy of the conv
// weights, plus Winograd's), while Gemm/MatMul weights and everything else
// are shared with the model (Graph initializers are immutable shared_ptrs).
// Thread-safe; a build runs under the cache's mutex, so concurrent first
// requests build once. A copy of the cache starts empty (it is a cache).
#pragma once

#include <memory>
#include <mutex>

#include "core/engine/statistics_plan.h"
#include "core/stats/stats_snapshot.h"

namespace bnserve {

class StatisticsPlanCache {
 public:
  StatisticsPlanCache() = default;
  StatisticsPlanCache(const StatisticsPlanCache&) {}
  StatisticsPlanCache& operator=(const StatisticsPlanCache&) { return *this; }

  // The plan of (model, stats, mode), built on the first call for `mode`.
  // Every call on one cache must pass the same model and stats (the
  // bundle's). Errors are returned, not cached.
  absl::StatusOr<std::shared_ptr<const StatisticsPlan>> Get(const std::shared_ptr<const Model>& model,
                                                            const std::shared_ptr<const StatsSnapshot>& stats,
                                                            ForwardMode mode) const;

 private:
  mutable std::mutex mu_;
  mutable std::shared_ptr<const StatisticsPlan> plans_[2];  // by ForwardMode: train, eval
};

}  // namespace bnserve
