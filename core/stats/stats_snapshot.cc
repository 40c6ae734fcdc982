#include "core/stats/stats_snapshot.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace bnserve {

absl::Status ValidateSnapshot(const std::vector<BnLayerInfo>& layers, const StatsSnapshot& snapshot) {
  if (snapshot.layers.size() != layers.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("statistics snapshot: expected ", layers.size(), " BN layers, got ", snapshot.layers.size()));
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    const BnLayerInfo& info = layers[l];
    const LayerStats& stats = snapshot.layers[l];
    if (stats.mean.size() != static_cast<size_t>(info.channels) ||
        stats.var.size() != static_cast<size_t>(info.channels)) {
      return absl::FailedPreconditionError(absl::StrCat("BN layer '", info.name, "': expected ", info.channels,
                                                        " channels, got mean of ", stats.mean.size(),
                                                        " and variance of ", stats.var.size()));
    }
    for (int64_t c = 0; c < info.channels; ++c) {
      if (!std::isfinite(stats.mean[c])) {
        return absl::FailedPreconditionError(absl::StrCat("BN layer '", info.name, "' channel ", c,
                                                          ": running mean is not finite (", stats.mean[c], ")"));
      }
      const double denom = stats.var[c] + info.epsilon;
      if (!std::isfinite(denom) || !(denom > 0.0)) {
        return absl::FailedPreconditionError(absl::StrCat("BN layer '", info.name, "' channel ", c,
                                                          ": expected running variance + epsilon > 0 and finite, got ",
                                                          stats.var[c], " + ", info.epsilon));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace bnserve
