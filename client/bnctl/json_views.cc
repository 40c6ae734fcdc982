#include "client/bnctl/json_views.h"

#include <cmath>

#include "client/bnctl/format.h"

namespace bnserve::client {
namespace {

using json = nlohmann::ordered_json;

// NaN and infinities become null (JSON has no such numbers).
json Number(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

template <typename Repeated>
json Numbers(const Repeated& values) {
  json out = json::array();
  for (double v : values) out.push_back(Number(v));
  return out;
}

json SpecJson(const v1::TensorSpec& spec) {
  return {{"name", spec.name()},
          {"shape", std::vector<int64_t>(spec.shape().begin(), spec.shape().end())},
          {"dim_names", std::vector<std::string>(spec.dim_names().begin(), spec.dim_names().end())}};
}

json BnLayerJson(const v1::BnLayer& layer) {
  return {{"name", layer.name()},
          {"channels", layer.channels()},
          {"epsilon", layer.epsilon()},
          {"momentum", layer.cumulative() ? json(nullptr) : json(layer.momentum())},
          {"cumulative", layer.cumulative()},
          {"has_affine", layer.has_affine()},
          {"input", layer.input()}};
}

const v1::BnLayer* FindLayer(const v1::DescribeModelResponse& description, const std::string& name) {
  for (const auto& layer : description.bn_layers()) {
    if (layer.name() == name) return &layer;
  }
  return nullptr;
}

}  // namespace

json VersionJson(const v1::VersionInfo& version) {
  return {{"version", version.version()}, {"parent", version.parent()}, {"created_unix_ms", version.created_unix_ms()},
          {"origin", version.origin()},   {"mode", version.mode()},     {"batches", version.batches()},
          {"samples", version.samples()}, {"note", version.note()},     {"request_id", version.request_id()}};
}

json CandidateIdJson(int64_t candidate_id) { return candidate_id > 0 ? json(candidate_id) : json(nullptr); }

json ModelStatusJson(const v1::ModelStatus& status) {
  return {{"name", status.name()},
          {"state", ModelStateName(status.state())},
          {"statistics_version", status.statistics_version()},
          {"error", status.error()}};
}

json ListModelsJson(const v1::ListModelsResponse& response) {
  json models = json::array();
  for (const auto& status : response.models()) models.push_back(ModelStatusJson(status));
  return {{"max_message_bytes", response.max_message_bytes()}, {"models", models}};
}

json DescribeModelJson(const v1::DescribeModelResponse& response) {
  json out = ModelStatusJson(response.status());
  out["opset"] = response.opset();
  out["producer"] = response.producer();
  out["inputs"] = json::array();
  for (const auto& spec : response.inputs()) out["inputs"].push_back(SpecJson(spec));
  out["outputs"] = json::array();
  for (const auto& spec : response.outputs()) out["outputs"].push_back(SpecJson(spec));
  out["bn_layers"] = json::array();
  for (const auto& layer : response.bn_layers()) out["bn_layers"].push_back(BnLayerJson(layer));
  out["current_version"] = VersionJson(response.current_version());
  return out;
}

json RunningStatsJson(const v1::GetRunningStatsResponse& response, const v1::DescribeModelResponse& description) {
  json layers = json::array();
  for (const auto& layer : response.layers()) {
    const v1::BnLayer* info = FindLayer(description, layer.name());
    json entry = {{"name", layer.name()},
                  {"channels", layer.channels()},
                  {"epsilon", layer.epsilon()},
                  {"momentum", info && !info->cumulative() ? json(info->momentum()) : json(nullptr)},
                  {"cumulative", info ? info->cumulative() : false},
                  {"num_batches_tracked", layer.num_batches_tracked()},
                  {"sample_count", layer.sample_count()},
                  {"mean", Numbers(layer.mean())},
                  {"var", Numbers(layer.var())}};
    if (layer.gamma_size() > 0) entry["gamma"] = Numbers(layer.gamma());
    if (layer.beta_size() > 0) entry["beta"] = Numbers(layer.beta());
    layers.push_back(std::move(entry));
  }
  return {{"model", response.model()}, {"version", VersionJson(response.version())}, {"layers", layers}};
}

json BatchStatsJson(const v1::GetBatchStatsResponse& response) {
  json layers = json::array();
  for (const auto& layer : response.layers()) {
    layers.push_back({{"name", layer.name()},
                      {"count", layer.count()},
                      {"mean_abs_shift", Number(layer.mean_abs_shift())},
                      {"mean_kl", Number(layer.mean_kl())},
                      {"worst_channel", layer.worst_channel()},
                      {"mean", Numbers(layer.mean())},
                      {"var_biased", Numbers(layer.var_biased())},
                      {"var_unbiased", Numbers(layer.var_unbiased())},
                      {"running_mean", Numbers(layer.running_mean())},
                      {"running_var", Numbers(layer.running_var())},
                      {"mean_shift", Numbers(layer.mean_shift())},
                      {"kl", Numbers(layer.kl())}});
  }
  return {{"model", response.model()},
          {"statistics_version", response.statistics_version()},
          {"forward_mode", ForwardModeName(response.forward_mode())},
          {"samples", response.samples()},
          {"layers", layers}};
}

json MomentsJson(const v1::MomentsResponse& response) {
  return {{"shape", std::vector<int64_t>(response.shape().begin(), response.shape().end())},
          {"mean", Numbers(response.mean())},
          {"variance", Numbers(response.variance())}};
}

json RecalibrateJson(const v1::RecalibrateResponse& response) {
  json layers = json::array();
  for (const auto& layer : response.layers()) {
    layers.push_back({{"name", layer.name()},
                      {"updated", layer.updated()},
                      {"mean_shift_rms", Number(layer.mean_shift_rms())},
                      {"log_var_ratio_rms", Number(layer.log_var_ratio_rms())}});
  }
  return {{"model", response.model()},
          {"base_version", response.base_version()},
          {"dry_run", response.dry_run()},
          {"deduplicated", response.deduplicated()},
          {"batches", response.batches()},
          {"samples", response.samples()},
          {"layers", layers},
          {"new_version", response.has_new_version() ? VersionJson(response.new_version()) : json(nullptr)},
          {"candidate_id", CandidateIdJson(response.candidate_id())}};
}

json VersionsJson(const v1::ListVersionsResponse& response) {
  json versions = json::array();
  for (const auto& version : response.versions()) versions.push_back(VersionJson(version));
  return {{"model", response.model()}, {"current_version", response.current_version()}, {"versions", versions}};
}

json RollbackJson(const v1::RollbackResponse& response) {
  return {{"model", response.model()}, {"new_version", VersionJson(response.new_version())}};
}

json DriftJson(const v1::GetDriftResponse& response) {
  const v1::DriftConfig& config = response.config();
  const v1::DriftCalibration& calibration = response.calibration();
  json windows = json::array();
  for (const v1::DriftWindow& window : response.windows()) {
    json layers = json::array();
    for (const v1::LayerDriftScore& layer : window.layers()) {
      layers.push_back({{"name", layer.name()},
                        {"score", Number(layer.score())},
                        {"mean_abs_shift", Number(layer.mean_abs_shift())},
                        {"mean_kl", Number(layer.mean_kl())}});
    }
    windows.push_back({{"index", window.index()},
                       {"samples", window.samples()},
                       {"closed_unix_ms", window.closed_unix_ms()},
                       {"statistics_version", window.statistics_version()},
                       {"score", Number(window.score())},
                       {"above_threshold", window.above_threshold()},
                       {"reference", window.reference()},
                       {"layers", layers}});
  }
  json candidates = json::array();
  for (const v1::Candidate& candidate : response.candidates()) {
    const v1::ShadowEvaluation& shadow = candidate.shadow();
    candidates.push_back({{"candidate_id", candidate.candidate_id()},
                          {"base_version", candidate.base_version()},
                          {"source", candidate.source()},
                          {"mode", candidate.mode()},
                          {"samples", candidate.samples()},
                          {"created_unix_ms", candidate.created_unix_ms()},
                          {"shadow",
                           {{"samples", shadow.samples()},
                            {"top1_agreement", Number(shadow.top1_agreement())},
                            {"served_entropy", Number(shadow.served_entropy())},
                            {"candidate_entropy", Number(shadow.candidate_entropy())},
                            {"served_top1_probability", Number(shadow.served_top1_probability())},
                            {"candidate_top1_probability", Number(shadow.candidate_top1_probability())},
                            {"candidate_max_class_share", Number(shadow.candidate_max_class_share())}}}});
  }
  json events = json::array();
  for (const v1::DriftEvent& event : response.events()) {
    events.push_back({{"unix_ms", event.unix_ms()},
                      {"kind", event.kind()},
                      {"statistics_version", event.statistics_version()},
                      {"candidate_id", event.candidate_id()},
                      {"reason", event.reason()}});
  }
  return {{"model", response.model()},
          {"statistics_version", response.statistics_version()},
          {"config",
           {{"enabled", config.enabled()},
            {"sample_rate", config.sample_rate()},
            {"window_samples", config.window_samples()},
            {"window_seconds", config.window_seconds()},
            {"auto_adapt", config.auto_adapt()}}},
          {"calibration",
           {{"reference_windows", calibration.reference_windows()},
            {"reference_windows_needed", calibration.reference_windows_needed()},
            {"threshold", Number(calibration.threshold())},
            {"false_alarm_rate", calibration.false_alarm_rate()},
            {"alarm_windows", calibration.alarm_windows()}}},
          {"alarm", response.alarm()},
          {"alarm_reason", response.alarm_reason()},
          {"policy_state", response.policy_state()},
          {"samples_offered", response.samples_offered()},
          {"samples_sampled", response.samples_sampled()},
          {"samples_dropped", response.samples_dropped()},
          {"samples_processed", response.samples_processed()},
          {"windows", windows},
          {"candidates", candidates},
          {"events", events}};
}

}  // namespace bnserve::client
