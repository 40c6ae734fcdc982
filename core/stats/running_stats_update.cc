#include "core/stats/running_stats_update.h"

#include <cassert>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace bnserve {
namespace {

absl::Status CheckBatch(const std::vector<ChannelMoments>& batch, int64_t samples, int64_t channels) {
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
  if (!batch.empty() && (samples < 1 || samples > batch[0].count)) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch samples: expected 1 to ", batch[0].count, " (the values per channel), got ", samples));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view RecalibrationModeName(RecalibrationMode mode) {
  switch (mode) {
    case RecalibrationMode::kEma:
      return "ema";
    case RecalibrationMode::kCumulative:
      return "cumulative";
    case RecalibrationMode::kPopulation:
      return "population";
    case RecalibrationMode::kExact:
      return "exact";
    case RecalibrationMode::kPrior:
      return "prior";
    case RecalibrationMode::kAlpha:
      return "alpha";
  }
  return "unknown";
}

LayerStats ResetLayerStats(int64_t channels) {
  LayerStats stats;
  stats.mean.assign(static_cast<size_t>(channels), 0.0);
  stats.var.assign(static_cast<size_t>(channels), 1.0);
  return stats;
}

RunningStatsAccumulator::RunningStatsAccumulator(RecalibrationMode mode, const LayerStats& start,
                                                 const ModeParameters& parameters)
    : mode_(mode), parameters_(parameters), stats_(start) {
  assert(start.mean.size() == start.var.size());
  if (Pools()) pool_.resize(start.mean.size());
  if (mode_ == RecalibrationMode::kExact) {
    if (start.sample_count > 0) {
      const double dof = static_cast<double>(start.sample_count - 1);
      for (size_t c = 0; c < pool_.size(); ++c) {
        pool_[c] = ChannelMoments{start.sample_count, start.mean[c], start.var[c] * dof};
      }
    }
  }
}

bool RunningStatsAccumulator::Pools() const {
  return mode_ == RecalibrationMode::kExact || mode_ == RecalibrationMode::kPrior || mode_ == RecalibrationMode::kAlpha;
}

absl::Status RunningStatsAccumulator::AddBatch(const std::vector<ChannelMoments>& batch, int64_t samples) {
  BN_RETURN_IF_ERROR(CheckBatch(batch, samples, channels()));
  ++batches_added_;
  samples_added_ += samples;
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
      BlendBatch(batch, parameters_.momentum);
      break;
    case RecalibrationMode::kCumulative:
    case RecalibrationMode::kPopulation:
      // PyTorch's momentum=None: the weight uses the counter AFTER the
      // increment, so the first batch after a reset fully replaces (0, 1).
      BlendBatch(batch, 1.0 / static_cast<double>(stats_.num_batches_tracked));
      break;
    case RecalibrationMode::kExact:
    case RecalibrationMode::kPrior:
    case RecalibrationMode::kAlpha:
      // The target of kPrior/kAlpha is pooled like kExact's; the mix with
      // the source waits for Result(), since kPrior's weights depend on n.
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

RunningStatsAccumulator::MixWeights RunningStatsAccumulator::Weights() const {
  if (mode_ == RecalibrationMode::kAlpha) return {parameters_.alpha, 1.0 - parameters_.alpha};
  // N/(N+n) and n/(N+n) rather than (N*source + n*target)/(N+n): a huge
  // finite N cannot overflow, and N = 0 gives the target exactly.
  const double prior = parameters_.prior_strength;
  const double n = static_cast<double>(samples_added_);
  return {prior / (prior + n), n / (prior + n)};
}

LayerStats RunningStatsAccumulator::Result() const {
  if (!Pools() || batches_added_ == 0) return stats_;
  // stats_ carries the counters (for kExact sample_count equals every pool
  // count) and, for kPrior/kAlpha, the source statistics.
  LayerStats result = stats_;
  if (mode_ == RecalibrationMode::kExact) {
    for (size_t c = 0; c < pool_.size(); ++c) {
      result.mean[c] = pool_[c].mean;
      result.var[c] = pool_[c].VarUnbiased();
    }
    return result;
  }
  const MixWeights w = Weights();
  for (size_t c = 0; c < pool_.size(); ++c) {
    result.mean[c] = w.source * stats_.mean[c] + w.target * pool_[c].mean;
    result.var[c] = w.source * stats_.var[c] + w.target * pool_[c].VarUnbiased();
  }
  return result;
}

}  // namespace bnserve
