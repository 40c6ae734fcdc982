#include "core/stats/running_stats_update.h"

#include <cassert>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace bnserve {
namespace {

absl::Status CheckBatch(const std::vector<ChannelMoments>& batch, int64_t channels) {
  if (static_cast<int64_t>(batch.size()) != channels) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch moments: expected ", channels, " channels, got ", batch.size()));
  }
  for (size_t c = 0; c < batch.size(); ++c) {
    const ChannelMoments& m = batch[c];
    if (m.count < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch moments, channel ", c, ": expected at least 2 values per channel, got ", m.count));
    }
    if (m.count != batch[0].count) {
      return absl::InvalidArgumentError(absl::StrCat("batch moments, channel ", c, ": expected ", batch[0].count,
                                                     " values like channel 0, got ", m.count));
    }
    if (!std::isfinite(m.mean) || !std::isfinite(m.m2)) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch moments, channel ", c, ": expected finite mean and M2, got ", m.mean, " and ", m.m2));
    }
  }
  return absl::OkStatus();
}

}  // namespace

LayerStats ResetLayerStats(int64_t channels) {
  LayerStats stats;
  stats.mean.assign(static_cast<size_t>(channels), 0.0);
  stats.var.assign(static_cast<size_t>(channels), 1.0);
  return stats;
}

RunningStatsAccumulator::RunningStatsAccumulator(RecalibrationMode mode, const LayerStats& start, double momentum)
    : mode_(mode), momentum_(momentum), stats_(start) {
  assert(start.mean.size() == start.var.size());
  if (mode_ == RecalibrationMode::kExact) {
    pool_.resize(start.mean.size());
    if (start.sample_count > 0) {
      const double dof = static_cast<double>(start.sample_count - 1);
      for (size_t c = 0; c < pool_.size(); ++c) {
        pool_[c] = ChannelMoments{start.sample_count, start.mean[c], start.var[c] * dof};
      }
    }
  }
}

absl::Status RunningStatsAccumulator::AddBatch(const std::vector<ChannelMoments>& batch) {
  BN_RETURN_IF_ERROR(CheckBatch(batch, channels()));
  ++batches_added_;
  ++stats_.num_batches_tracked;
  // Only a pooled result is an exact (count, mean, M2) state; the averaging
  // modes' statistics are not, so they must not claim a sample count that a
  // later exact recalibration would seed its pool with.
  if (mode_ == RecalibrationMode::kExact) {
    if (!batch.empty()) stats_.sample_count += batch[0].count;
  } else {
    stats_.sample_count = 0;
  }
  switch (mode_) {
    case RecalibrationMode::kEma:
      BlendBatch(batch, momentum_);
      break;
    case RecalibrationMode::kCumulative:
    case RecalibrationMode::kPopulation:
      // PyTorch's momentum=None: the weight uses the counter AFTER the
      // increment, so the first batch after a reset fully replaces (0, 1).
      BlendBatch(batch, 1.0 / static_cast<double>(stats_.num_batches_tracked));
      break;
    case RecalibrationMode::kExact:
      for (size_t c = 0; c < batch.size(); ++c) pool_[c].Merge(batch[c]);
      break;
  }
  return absl::OkStatus();
}

void RunningStatsAccumulator::BlendBatch(const std::vector<ChannelMoments>& batch, double weight) {
  const double keep = 1.0 - weight;
  for (size_t c = 0; c < batch.size(); ++c) {
    stats_.mean[c] = keep * stats_.mean[c] + weight * batch[c].mean;
    stats_.var[c] = keep * stats_.var[c] + weight * batch[c].VarUnbiased();
  }
}

LayerStats RunningStatsAccumulator::Result() const {
  if (mode_ != RecalibrationMode::kExact || batches_added_ == 0) return stats_;
  // stats_ carries the counters; sample_count equals every pool count.
  LayerStats result = stats_;
  for (size_t c = 0; c < pool_.size(); ++c) {
    result.mean[c] = pool_[c].mean;
    result.var[c] = pool_[c].VarUnbiased();
  }
  return result;
}

}  // namespace bnserve
