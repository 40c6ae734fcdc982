// ServingBundle: everything one request needs to serve one statistics
// version of one model - the model, the statistics snapshot, the folded
// plan built from both, the version's history entry, and the statistics
// plans of the version, built on first use. Immutable and held
// by std::shared_ptr<const ServingBundle>: a request copies the pointer once
// and computes without any lock; a commit builds a whole new bundle and
// swaps the pointer, so in-flight requests finish on the version they
// started with and the old bundle is freed when its last reader lets go.
#pragma once

#include <memory>

#include "core/engine/inference_plan.h"
#include "core/engine/statistics_plan_cache.h"
#include "core/model/model.h"
#include "core/stats/stats_snapshot.h"
#include "core/store/version_info.h"

namespace bnserve {

struct ServingBundle {
  std::shared_ptr<const Model> model;
  std::shared_ptr<const StatsSnapshot> stats;  // stats->version == info.version
  std::shared_ptr<const InferencePlan> plan;   // built from (model, stats)
  VersionInfo info;
  // For GetBatchStats and recalibration streams: statistics_plans.Get(model,
  // stats, mode). Not part of the bundle's value (a copy starts empty).
  StatisticsPlanCache statistics_plans{};

  absl::StatusOr<std::shared_ptr<const StatisticsPlan>> StatisticsPlanFor(ForwardMode mode) const {
    return statistics_plans.Get(model, stats, mode);
  }
};

}  // namespace bnserve
