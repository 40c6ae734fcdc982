// ServingBundle: everything one request needs to serve one statistics
// version of one model - the model, the statistics snapshot, the folded
// plan built from both, and the version's history entry. Immutable and held
// by std::shared_ptr<const ServingBundle>: a request copies the pointer once
// and computes without any lock; a commit builds a whole new bundle and
// swaps the pointer, so in-flight requests finish on the version they
// started with and the old bundle is freed when its last reader lets go.
#pragma once

#include <memory>

#include "core/inference_plan.h"
#include "core/model.h"
#include "core/stats_snapshot.h"
#include "core/version_info.h"

namespace bnserve {

struct ServingBundle {
  std::shared_ptr<const Model> model;
  std::shared_ptr<const StatsSnapshot> stats;  // stats->version == info.version
  std::shared_ptr<const InferencePlan> plan;   // built from (model, stats)
  VersionInfo info;
};

}  // namespace bnserve
