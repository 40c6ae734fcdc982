#include "core/serving/recalibrator.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace bnserve {
namespace {

LayerChange MeasureChange(const BnLayerInfo& info, const LayerStats& before, const LayerStats& after) {
  LayerChange change;
  change.name = info.name;
  double shift = 0.0, ratio = 0.0;
  for (int64_t c = 0; c < info.channels; ++c) {
    const double z = (after.mean[c] - before.mean[c]) / std::sqrt(before.var[c] + info.epsilon);
    const double r = std::log((after.var[c] + info.epsilon) / (before.var[c] + info.epsilon));
    shift += z * z;
    ratio += r * r;
  }
  const double n = static_cast<double>(std::max<int64_t>(info.channels, 1));
  change.mean_shift_rms = std::sqrt(shift / n);
  change.log_var_ratio_rms = std::sqrt(ratio / n);
  return change;
}

bool MixesWithTheBase(RecalibrationMode mode) {
  return mode == RecalibrationMode::kPrior || mode == RecalibrationMode::kAlpha;
}

// What the accumulator of layer `info` runs: the options' mode and
// parameters, the layer's own momentum unless overridden.
ModeParameters ParametersFor(const RecalibrationOptions& options, const BnLayerInfo& info) {
  ModeParameters parameters;
  parameters.momentum = options.momentum.value_or(info.torch_momentum.value_or(0.0));
  parameters.prior_strength = options.prior_strength.value_or(kDefaultPriorStrength);
  parameters.alpha = options.alpha.value_or(kDefaultAlpha);
  return parameters;
}

}  // namespace

absl::Status ValidateRecalibrationOptions(const RecalibrationOptions& options, absl::string_view field_prefix) {
  const absl::string_view mode = RecalibrationModeName(options.mode);
  // Written so that NaN fails every range check.
  if (options.momentum.has_value() && !(*options.momentum >= 0.0 && *options.momentum <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field_prefix, "momentum: expected a value in [0, 1] (PyTorch convention), got ", *options.momentum));
  }
  if (options.prior_strength.has_value() &&
      !(std::isfinite(*options.prior_strength) && *options.prior_strength >= 0.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field_prefix, "prior_strength: expected a finite value >= 0, got ", *options.prior_strength));
  }
  if (options.alpha.has_value() && !(*options.alpha >= 0.0 && *options.alpha <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field_prefix, "alpha: expected a value in [0, 1], got ", *options.alpha));
  }
  if (options.prior_strength.has_value() && options.mode != RecalibrationMode::kPrior) {
    return absl::InvalidArgumentError(
        absl::StrCat(field_prefix, "prior_strength: expected only with mode prior, got ", "it with mode ", mode));
  }
  if (options.alpha.has_value() && options.mode != RecalibrationMode::kAlpha) {
    return absl::InvalidArgumentError(
        absl::StrCat(field_prefix, "alpha: expected only with mode alpha, got it with mode ", mode));
  }
  if (MixesWithTheBase(options.mode) && options.reset) {
    return absl::InvalidArgumentError(absl::StrCat(field_prefix, "reset: expected false with mode ", mode,
                                                   ", which mixes the served statistics with the new ones, got true"));
  }
  if (MixesWithTheBase(options.mode) && options.momentum.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(field_prefix, "momentum: expected unset with mode ", mode,
                                                   " (only mode ema reads it), got ", *options.momentum));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Recalibrator>> Recalibrator::Create(std::shared_ptr<const Model> model,
                                                                   std::shared_ptr<const StatsSnapshot> base,
                                                                   RecalibrationOptions options,
                                                                   std::shared_ptr<const StatisticsPlan> plan,
                                                                   ThreadPool* thread_pool) {
  const std::vector<BnLayerInfo>& layers = model->bn_layers();
  if (layers.empty()) {
    return absl::FailedPreconditionError("model has no BatchNormalization layers: nothing to recalibrate");
  }
  BN_RETURN_IF_ERROR(ValidateRecalibrationOptions(options, ""));
  std::unique_ptr<Recalibrator> r(new Recalibrator());
  if (options.layers.empty()) {
    for (size_t l = 0; l < layers.size(); ++l) r->selected_.push_back(static_cast<int>(l));
  } else {
    for (size_t i = 0; i < options.layers.size(); ++i) {
      const int l = model->FindBnLayer(options.layers[i]);
      if (l < 0) {
        return absl::NotFoundError(absl::StrCat("layers[", i, "]: no BN layer named '", options.layers[i], "'"));
      }
      r->selected_.push_back(l);
    }
  }
  for (int l : r->selected_) {
    const BnLayerInfo& info = layers[l];
    const LayerStats start = options.reset ? ResetLayerStats(info.channels) : base->layers[l];
    RecalibrationMode mode = options.mode;
    if (mode == RecalibrationMode::kEma && !options.momentum && !info.torch_momentum) {
      mode = RecalibrationMode::kCumulative;  // PyTorch momentum=None
    }
    r->accumulators_.emplace_back(mode, start, ParametersFor(options, info));
  }
  if (plan != nullptr && (&plan->model() != model.get() || plan->stats() != base || plan->mode() != options.forward)) {
    return absl::InternalError(
        "Recalibrator: the statistics plan given is not of this model, base snapshot and forward mode");
  }
  if (plan == nullptr) {
    BN_ASSIGN_OR_RETURN(plan, StatisticsPlan::Build(model, base, options.forward));
  }
  r->plan_ = std::move(plan);
  r->thread_pool_ = thread_pool;
  r->model_ = std::move(model);
  r->base_ = std::move(base);
  r->options_ = std::move(options);
  return r;
}

absl::Status Recalibrator::AddBatch(absl::Span<const TensorView> inputs) {
  if (!inputs.empty() && inputs[0].shape.rank() > 0 && inputs[0].shape[0] == 0) return absl::OkStatus();
  // The pass validates everything (finite inputs, n >= 2, finite moments)
  // before any accumulator sees the batch: all or nothing.
  BN_RETURN_IF_ERROR(plan_->Run(inputs, &sink_, thread_pool_));
  // An eval-mode pass accepts one value per channel, which no running
  // variance can be estimated from: the same FAILED_PRECONDITION as the
  // train-mode pass gives.
  for (int l : selected_) {
    const int64_t count = sink_.layers[l].empty() ? 0 : sink_.layers[l][0].count;
    if (count < 2) {
      return absl::FailedPreconditionError(absl::StrCat("BN layer '", model_->bn_layers()[l].name,
                                                        "': expected more than 1 value per channel to ",
                                                        "recalibrate, got ", count));
    }
  }
  const int64_t samples = inputs.empty() || inputs[0].shape.rank() == 0 ? 0 : inputs[0].shape[0];
  // Accumulate into copies so that a layer rejecting the batch leaves every
  // accumulator as it was (the copies are O(layers x channels)).
  std::vector<RunningStatsAccumulator> next = accumulators_;
  for (size_t i = 0; i < selected_.size(); ++i) {
    absl::Status st = next[i].AddBatch(sink_.layers[selected_[i]], samples);
    if (!st.ok()) {
      return absl::Status(st.code(),
                          absl::StrCat("BN layer '", model_->bn_layers()[selected_[i]].name, "': ", st.message()));
    }
  }
  accumulators_ = std::move(next);
  ++batches_;
  samples_ += samples;
  return absl::OkStatus();
}

absl::StatusOr<StatsSnapshot> Recalibrator::Finish(RecalibrationSummary* summary) const {
  if (batches_ == 0) {
    return absl::FailedPreconditionError("recalibration received no batch: nothing to commit");
  }
  StatsSnapshot result = *base_;
  for (size_t i = 0; i < selected_.size(); ++i) result.layers[selected_[i]] = accumulators_[i].Result();
  BN_RETURN_IF_ERROR(ValidateSnapshot(model_->bn_layers(), result));
  if (summary != nullptr) {
    summary->batches = batches_;
    summary->samples = samples_;
    summary->layers.clear();
    for (size_t l = 0; l < model_->bn_layers().size(); ++l) {
      LayerChange change = MeasureChange(model_->bn_layers()[l], base_->layers[l], result.layers[l]);
      change.updated = std::find(selected_.begin(), selected_.end(), static_cast<int>(l)) != selected_.end();
      summary->layers.push_back(change);
    }
  }
  return result;
}

}  // namespace bnserve
