// How one BN layer's running statistics absorb the batch statistics of a
// recalibration stream (docs/bn-semantics.md sections 4, 6 and 9). Pure
// arithmetic in float64 over the ChannelMoments of successive batches; what
// the batches are and where the result goes is the caller's business.
#pragma once

#include <cstdint>
#include <vector>

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
//    when start.sample_count > 0, and starts empty otherwise.
// Every mode adds 1 to num_batches_tracked per batch; kExact adds the batch's
// per-channel count to sample_count, the averaging modes reset it to 0 (their
// result is not a pooled state). Not thread-safe; one per layer per stream.
class RunningStatsAccumulator {
 public:
  // `momentum` is PyTorch's (weight of the new batch); only kEma reads it.
  // REQUIRES: start.mean.size() == start.var.size().
  RunningStatsAccumulator(RecalibrationMode mode, const LayerStats& start, double momentum = 0.1);

  // Folds in one batch: batch[c] = moments of channel c. Callers validate
  // the data first; this re-checks only what would corrupt the state and
  // then leaves it unchanged: INVALID_ARGUMENT unless batch.size() ==
  // channels(), every count is >= 2 and equal across channels, and every
  // mean and M2 is finite.
  absl::Status AddBatch(const std::vector<ChannelMoments>& batch);

  // The statistics after the batches added so far (the start if none).
  LayerStats Result() const;

  int64_t channels() const { return static_cast<int64_t>(stats_.mean.size()); }
  int64_t batches_added() const { return batches_added_; }

 private:
  void BlendBatch(const std::vector<ChannelMoments>& batch, double weight);

  RecalibrationMode mode_;
  double momentum_;
  // Running values for the blending modes; counters for every mode.
  LayerStats stats_;
  // kExact only: the pooled (count, mean, M2) per channel.
  std::vector<ChannelMoments> pool_;
  int64_t batches_added_ = 0;
};

}  // namespace bnserve
