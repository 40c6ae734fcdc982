#include "core/engine/statistics_plan_cache.h"

namespace bnserve {

absl::StatusOr<std::shared_ptr<const StatisticsPlan>> StatisticsPlanCache::Get(
    const std::shared_ptr<const Model>& model, const std::shared_ptr<const StatsSnapshot>& stats,
    ForwardMode mode) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<const StatisticsPlan>& plan = plans_[mode == ForwardMode::kTrain ? 0 : 1];
  if (plan == nullptr) {
    BN_ASSIGN_OR_RETURN(plan, StatisticsPlan::Build(model, stats, mode));
  }
  return plan;
}

}  // namespace bnserve
