// How one BN layer's running statistics absorb the batch statistics of a
// recalibration stream (docs/bn-semantics.md sections 4, 6, 9 and 12). Pure
// arithmetic in float64 over the ChannelMoments of successive batches; what
// the batches are and where the result goes is the caller's business.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/stats/channel_moments.h"
#include "core/stats/stats_snapshot.h"
#include "core/util/status.h"

namespace bnserve {

enum class RecalibrationMode {
  // Exponential moving average with a fixed PyTorch momentum m:
  // r = (1-m)*r + m*stat, stat = batch mean / UNBIASED batch variance.
  kEma,
  // PyTorch momentum=None (what torch.optim.swa_utils.update_bn runs):
  // num_batches_tracked += 1, then the same blend with m = 1/num_batches_tracked,
  // i.e. an equal-weight average over batches that continues the starting
  // counter (start from ResetLayerStats to average the new batches only).
  kCumulative,
  // Ioffe & Szegedy's Algorithm 2: mean of the batch means, and
  // m/(m-1) * mean of the biased batch variances. For unequal batch sizes it
  // applies each batch's own n_b/(n_b-1) (the generalisation
  // tests/fixtures/bn-vectors/pooled_vs_alg2.json uses), which makes it the
  // same estimator as kCumulative: both run the same update.
  kPopulation,
  // Exact pooled statistics over every sample seen (Chan's merge); running
  // var = M2/(count-1), PyTorch's unbiased storage convention.
  kExact,
  // Label-free adaptation (bn-semantics §12): the source statistics (the
  // start) mixed with the target statistics (the exact pooled mean and
  // unbiased variance of the streamed samples, pooled from empty as kExact
  // pools them). Schneider et al. 2020's prior:
  // r = (N*source + n*target)/(N+n), N = prior strength, n = samples
  // (first-dim rows) streamed.
  kPrior,
  // You et al. 2021's alpha-BN: r = alpha*source + (1-alpha)*target, with
  // kPrior's source and target.
  kAlpha,
};

// The name the version history records ("ema", "cumulative", "population",
// "exact", "prior", "alpha").
absl::string_view RecalibrationModeName(RecalibrationMode mode);

// The parameters of the modes that take one when a request leaves them
// unset (bn-semantics §12).
inline constexpr double kDefaultPriorStrength = 16.0;
inline constexpr double kDefaultAlpha = 0.9;

// The numbers the modes read besides the batches; each mode reads only its
// own. Callers validate them (ValidateRecalibrationOptions in
// core/serving/recalibrator.h).
struct ModeParameters {
  // kEma: PyTorch's momentum, the weight of the new batch, in [0, 1].
  double momentum = 0.1;
  // kPrior: N, the source statistics' weight counted in samples; finite, >= 0.
  double prior_strength = kDefaultPriorStrength;
  // kAlpha: the source statistics' weight, in [0, 1].
  double alpha = kDefaultAlpha;
};

// What PyTorch's reset_running_stats() leaves: mean 0, var 1, counters 0.
LayerStats ResetLayerStats(int64_t channels);

// Accumulates one layer's running statistics over a stream of batches.
// Created from the statistics to continue (a snapshot's LayerStats, or
// ResetLayerStats to start afresh):
//  - kEma, kCumulative, kPopulation continue start.mean/var and its
//    num_batches_tracked (for kCumulative/kPopulation a count of k > 0 means
//    "as if k batches had been averaged"; with k == 0 the first batch
//    replaces the start);
//  - kExact seeds its pool with (sample_count, mean, var*(sample_count-1))
//    when start.sample_count > 0, and starts empty otherwise;
//  - kPrior and kAlpha keep start.mean/var as the source and pool the
//    batches from empty, whatever start.sample_count says.
// Every mode adds 1 to num_batches_tracked per batch; kExact adds the batch's
// per-channel count to sample_count, every other mode resets it to 0 (its
// result is not a pooled state). Not thread-safe; one per layer per stream.
class RunningStatsAccumulator {
 public:
  // REQUIRES: start.mean.size() == start.var.size(); `parameters` valid for
  // `mode` (momentum and alpha in [0, 1], prior_strength finite and >= 0).
  RunningStatsAccumulator(RecalibrationMode mode, const LayerStats& start, const ModeParameters& parameters = {});

  // Folds in one batch: batch[c] = moments of channel c; `samples` = the
  // batch's first-dim rows (images), which kPrior's n counts (a channel's
  // count is rows times spatial size). Callers validate the data first; this
  // re-checks only what would corrupt the state and then leaves it
  // unchanged: INVALID_ARGUMENT unless batch.size() == channels(), every
  // count is >= 2 and equal across channels, 1 <= samples <= that count, and
  // every mean and M2 is finite.
  absl::Status AddBatch(const std::vector<ChannelMoments>& batch, int64_t samples);

  // The statistics after the batches added so far (the start if none).
  LayerStats Result() const;

  int64_t channels() const { return static_cast<int64_t>(stats_.mean.size()); }
  int64_t batches_added() const { return batches_added_; }

 private:
  struct MixWeights {
    double source;
    double target;
  };

  bool Pools() const;
  void BlendBatch(const std::vector<ChannelMoments>& batch, double weight);
  // kPrior, kAlpha: how the source and the target are mixed.
  MixWeights Weights() const;

  RecalibrationMode mode_;
  ModeParameters parameters_;
  // Running values for the blending modes, the source for kPrior/kAlpha;
  // counters for every mode.
  LayerStats stats_;
  // kExact, kPrior, kAlpha: the pooled (count, mean, M2) per channel.
  std::vector<ChannelMoments> pool_;
  int64_t batches_added_ = 0;
  int64_t samples_added_ = 0;  // first-dim rows over the batches added
};

}  // namespace bnserve
