// Recalibrator: recomputes BN running statistics from a stream of batches
// without touching the statistics anyone is serving. It runs each batch
// through a StatisticsPlan (train or eval forward), validates the batch as a
// whole, then folds each selected layer's batch moments into a per-layer
// RunningStatsAccumulator (EMA, cumulative, population, exact, prior or alpha;
// see core/stats/running_stats_update.h). Finish() produces a NEW StatsSnapshot; the
// base snapshot is never modified. Memory is O(layers x channels) whatever
// the number of batches.
//
// Not thread-safe (one stream = one Recalibrator); the plans it uses are.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/engine/statistics_plan.h"
#include "core/model/model.h"
#include "core/stats/running_stats_update.h"

namespace bnserve {

struct RecalibrationOptions {
  RecalibrationMode mode = RecalibrationMode::kEma;
  // EMA only: PyTorch-convention momentum (weight of the new batch) used for
  // every selected layer instead of the layer's own. A layer exported with
  // momentum=None (ONNX momentum 1.0) and no override averages cumulatively,
  // as PyTorch would.
  std::optional<double> momentum;
  // kPrior only: the prior strength N (finite, >= 0), the served statistics'
  // weight counted in samples (bn-semantics §12); unset =
  // kDefaultPriorStrength.
  std::optional<double> prior_strength;
  // kAlpha only: the served statistics' weight, in [0, 1] (bn-semantics §12);
  // unset = kDefaultAlpha.
  std::optional<double> alpha;
  // Start from PyTorch's reset values (mean 0, var 1, no batches) instead of
  // the base snapshot's statistics. Not with kPrior or kAlpha, which mix the
  // base statistics with the new ones.
  bool reset = false;
  // BN layer names to recalibrate; empty = all. Other layers keep the base
  // statistics (but still run, in the chosen forward mode).
  std::vector<std::string> layers;
  ForwardMode forward = ForwardMode::kTrain;
};

// OK, or INVALID_ARGUMENT naming the first offending field (as
// `field_prefix` + its name, e.g. "config.alpha"), the expected and the
// received value: momentum outside [0, 1]; prior_strength not finite or < 0;
// alpha not finite or outside [0, 1]; prior_strength or alpha set for
// another mode; momentum or reset with kPrior or kAlpha. Recalibrator::Create
// checks this too; front ends call it first to word errors in their terms.
absl::Status ValidateRecalibrationOptions(const RecalibrationOptions& options, absl::string_view field_prefix);

// How much one layer's statistics moved, in units that compare across layers.
struct LayerChange {
  std::string name;
  bool updated = false;
  // Root mean square over channels of (new mean - old mean) / sqrt(old var + eps).
  double mean_shift_rms = 0.0;
  // Root mean square over channels of ln((new var + eps) / (old var + eps)):
  // the log ratio of what BN divides by, finite for a constant channel
  // (docs/bn-semantics.md).
  double log_var_ratio_rms = 0.0;
};

struct RecalibrationSummary {
  int64_t batches = 0;
  int64_t samples = 0;
  std::vector<LayerChange> layers;  // every BN layer, model order
};

class Recalibrator {
 public:
  // `plan`, when given, is the StatisticsPlan of (model, base,
  // options.forward) to run batches through (e.g. the serving bundle's
  // cached one); null builds one for this Recalibrator. `options` must pass
  // ValidateRecalibrationOptions (else its INVALID_ARGUMENT). Each batch's
  // statistics pass splits its loops over `thread_pool` when non-null (not
  // owned; must outlive the Recalibrator).
  static absl::StatusOr<std::unique_ptr<Recalibrator>> Create(std::shared_ptr<const Model> model,
                                                              std::shared_ptr<const StatsSnapshot> base,
                                                              RecalibrationOptions options,
                                                              std::shared_ptr<const StatisticsPlan> plan = nullptr,
                                                              ThreadPool* thread_pool = nullptr);

  // All or nothing: on error (bad shape, NaN/Inf, one value per channel,
  // non-finite moments) no accumulator has changed and the stream may go on
  // or be abandoned. An empty batch (N = 0) is skipped (PyTorch would count
  // it; bn-semantics §8).
  absl::Status AddBatch(absl::Span<const TensorView> inputs);

  int64_t batches() const { return batches_; }
  int64_t samples() const { return samples_; }

  // The new statistics (version = base version; the store assigns the new
  // number) and, if `summary` is non-null, what changed. FAILED_PRECONDITION
  // when no batch was added.
  absl::StatusOr<StatsSnapshot> Finish(RecalibrationSummary* summary) const;

 private:
  Recalibrator() = default;
  std::shared_ptr<const Model> model_;
  std::shared_ptr<const StatsSnapshot> base_;
  RecalibrationOptions options_;
  std::shared_ptr<const StatisticsPlan> plan_;
  ThreadPool* thread_pool_ = nullptr;
  std::vector<int> selected_;                          // layer indices being recalibrated
  std::vector<RunningStatsAccumulator> accumulators_;  // parallel to selected_
  BatchStatsSink sink_;
  int64_t batches_ = 0;
  int64_t samples_ = 0;
};

}  // namespace bnserve
