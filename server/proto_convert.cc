#include "server/proto_convert.h"

#include "absl/strings/str_cat.h"
#include "core/serving/request_id.h"

namespace bnserve {
namespace {

void TensorSpecToProto(const ValueInfo& value, v1::TensorSpec* out) {
  out->set_name(value.name);
  for (const Dim& dim : value.dims) {
    out->add_shape(dim.symbolic() ? -1 : dim.size);
    out->add_dim_names(dim.symbolic() ? dim.param : "");
  }
}

void BnLayerToProto(const BnLayerInfo& layer, v1::BnLayer* out) {
  out->set_name(layer.name);
  out->set_channels(layer.channels);
  out->set_epsilon(layer.epsilon);
  out->set_momentum(layer.torch_momentum.value_or(0.0));
  out->set_cumulative(!layer.torch_momentum.has_value());
  out->set_has_affine(layer.has_affine);
  out->set_input(layer.input_name);
}

}  // namespace

absl::StatusOr<VersionRequest> VersionRequestFromProto(int64_t version, absl::string_view field) {
  if (version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected 0 (the served version) or a version >= 1, got ", version));
  }
  return version == 0 ? VersionRequest::Current() : VersionRequest::Specific(version);
}

absl::StatusOr<ForwardMode> ForwardModeFromProto(v1::ForwardMode mode, absl::string_view field) {
  switch (mode) {
    case v1::FORWARD_MODE_UNSPECIFIED:
    case v1::FORWARD_MODE_TRAIN:
      return ForwardMode::kTrain;
    case v1::FORWARD_MODE_EVAL:
      return ForwardMode::kEval;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": expected FORWARD_MODE_TRAIN or FORWARD_MODE_EVAL, got ", static_cast<int>(mode)));
  }
}

namespace {

absl::StatusOr<RecalibrationMode> RecalibrationModeFromProto(v1::RecalibrationMode mode) {
  switch (mode) {
    case v1::RECALIBRATION_MODE_UNSPECIFIED:
    case v1::RECALIBRATION_MODE_EMA:
      return RecalibrationMode::kEma;
    case v1::RECALIBRATION_MODE_CUMULATIVE:
      return RecalibrationMode::kCumulative;
    case v1::RECALIBRATION_MODE_POPULATION:
      return RecalibrationMode::kPopulation;
    case v1::RECALIBRATION_MODE_EXACT:
      return RecalibrationMode::kExact;
    case v1::RECALIBRATION_MODE_PRIOR:
      return RecalibrationMode::kPrior;
    case v1::RECALIBRATION_MODE_ALPHA:
      return RecalibrationMode::kAlpha;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "config.mode: expected one of RECALIBRATION_MODE_EMA, _CUMULATIVE, _POPULATION, _EXACT, _PRIOR, _ALPHA, got ",
          static_cast<int>(mode)));
  }
}

}  // namespace

absl::StatusOr<RecalibrationRequest> RecalibrationRequestFromProto(const v1::RecalibrationConfig& config) {
  RecalibrationRequest request;
  BN_ASSIGN_OR_RETURN(request.options.mode, RecalibrationModeFromProto(config.mode()));
  if (config.momentum_override_case() == v1::RecalibrationConfig::kMomentum) {
    request.options.momentum = config.momentum();
  }
  if (config.prior_strength_override_case() == v1::RecalibrationConfig::kPriorStrength) {
    request.options.prior_strength = config.prior_strength();
  }
  if (config.alpha_override_case() == v1::RecalibrationConfig::kAlpha) request.options.alpha = config.alpha();
  request.options.reset = config.reset();
  request.options.layers.assign(config.layers().begin(), config.layers().end());
  BN_ASSIGN_OR_RETURN(request.options.forward, ForwardModeFromProto(config.forward_mode(), "config.forward_mode"));
  BN_RETURN_IF_ERROR(ValidateRecalibrationOptions(request.options, "config."));
  if (config.expected_version() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config.expected_version: expected 0 (don't check) or a version >= 1, got ", config.expected_version()));
  }
  request.expected_version = config.expected_version();
  request.dry_run = config.dry_run();
  request.note = config.note();
  BN_RETURN_IF_ERROR(ValidateRequestId(config.request_id(), "config.request_id"));
  request.request_id = config.request_id();
  if (config.stage() && (config.dry_run() || !config.request_id().empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config.stage: a staged candidate commits nothing, so it takes neither dry_run nor request_id; got dry_run=",
        config.dry_run() ? "true" : "false", ", request_id=\"", config.request_id(), "\""));
  }
  request.stage = config.stage();
  return request;
}

v1::ModelState ModelStateToProto(ModelState state) {
  switch (state) {
    case ModelState::kLoading:
      return v1::MODEL_STATE_LOADING;
    case ModelState::kAvailable:
      return v1::MODEL_STATE_AVAILABLE;
    case ModelState::kUnloading:
      return v1::MODEL_STATE_UNLOADING;
    case ModelState::kUnloaded:
      return v1::MODEL_STATE_UNLOADED;
    case ModelState::kError:
      return v1::MODEL_STATE_ERROR;
  }
  return v1::MODEL_STATE_UNSPECIFIED;
}

void ModelStatusToProto(const ModelStatus& status, v1::ModelStatus* out) {
  out->set_name(status.name);
  out->set_state(ModelStateToProto(status.state));
  out->set_error(status.error);
  out->set_statistics_version(status.version);
  out->set_active_recalibrations(status.active_recalibrations);
}

void VersionInfoToProto(const VersionInfo& info, v1::VersionInfo* out) {
  out->set_version(info.version);
  out->set_parent(info.parent);
  out->set_created_unix_ms(info.created_unix_ms);
  out->set_origin(info.origin);
  out->set_mode(info.mode);
  out->set_batches(info.batches);
  out->set_samples(info.samples);
  out->set_note(info.note);
  out->set_request_id(info.request_id);
}

void DescriptionToProto(const ModelDescription& description, v1::DescribeModelResponse* out) {
  ModelStatusToProto(description.status, out->mutable_status());
  if (description.bundle == nullptr) return;
  const Model& model = *description.bundle->model;
  for (const ValueInfo& input : model.graph().inputs) TensorSpecToProto(input, out->add_inputs());
  for (const ValueInfo& output : model.graph().outputs) TensorSpecToProto(output, out->add_outputs());
  for (const BnLayerInfo& layer : model.bn_layers()) BnLayerToProto(layer, out->add_bn_layers());
  out->set_opset(model.graph().opset);
  out->set_producer(model.graph().producer);
  VersionInfoToProto(description.bundle->info, out->mutable_current_version());
}

void RunningStatsToProto(const RunningStatsView& view, bool include_affine, v1::GetRunningStatsResponse* out) {
  const ServingBundle& bundle = *view.bundle;
  VersionInfoToProto(bundle.info, out->mutable_version());
  for (int l : view.layers) {
    const BnLayerInfo& info = bundle.model->bn_layers()[l];
    const LayerStats& stats = bundle.stats->layers[l];
    v1::LayerRunningStats* layer = out->add_layers();
    layer->set_name(info.name);
    layer->set_channels(info.channels);
    layer->set_epsilon(info.epsilon);
    layer->mutable_mean()->Add(stats.mean.begin(), stats.mean.end());
    layer->mutable_var()->Add(stats.var.begin(), stats.var.end());
    layer->set_num_batches_tracked(stats.num_batches_tracked);
    layer->set_sample_count(stats.sample_count);
    if (include_affine) {
      layer->mutable_gamma()->Add(info.gamma.begin(), info.gamma.end());
      layer->mutable_beta()->Add(info.beta.begin(), info.beta.end());
    }
  }
}

void BatchStatsToProto(const std::string& model, const BatchStatsReport& report, v1::GetBatchStatsResponse* out) {
  out->set_model(model);
  out->set_statistics_version(report.version);
  out->set_forward_mode(report.mode == ForwardMode::kEval ? v1::FORWARD_MODE_EVAL : v1::FORWARD_MODE_TRAIN);
  out->set_samples(report.samples);
  for (const LayerBatchReport& layer : report.layers) {
    v1::LayerBatchStats* proto = out->add_layers();
    proto->set_name(layer.drift.name);
    proto->set_count(layer.drift.count);
    for (size_t c = 0; c < layer.drift.channels.size(); ++c) {
      const ChannelDrift& channel = layer.drift.channels[c];
      proto->add_mean(channel.batch_mean);
      proto->add_var_biased(channel.batch_var);
      proto->add_var_unbiased(channel.batch_var_unbiased);
      proto->add_m2(layer.moments[c].m2);
      proto->add_running_mean(channel.running_mean);
      proto->add_running_var(channel.running_var);
      proto->add_mean_shift(channel.mean_shift);
      proto->add_kl(channel.kl);
    }
    proto->set_mean_abs_shift(layer.drift.mean_abs_shift);
    proto->set_mean_kl(layer.drift.mean_kl);
    proto->set_worst_channel(layer.drift.worst_channel);
  }
}

void RecalibrationOutcomeToProto(const RecalibrationOutcome& outcome, v1::RecalibrateResponse* out) {
  out->set_model(outcome.model);
  out->set_base_version(outcome.base_version);
  out->set_dry_run(outcome.dry_run);
  out->set_batches(outcome.summary.batches);
  out->set_samples(outcome.summary.samples);
  for (const LayerChange& change : outcome.summary.layers) {
    v1::LayerChange* proto = out->add_layers();
    proto->set_name(change.name);
    proto->set_updated(change.updated);
    proto->set_mean_shift_rms(change.mean_shift_rms);
    proto->set_log_var_ratio_rms(change.log_var_ratio_rms);
  }
  if (!outcome.dry_run && outcome.staged == nullptr) VersionInfoToProto(outcome.new_version, out->mutable_new_version());
  out->set_deduplicated(outcome.deduplicated);
}

}  // namespace bnserve
