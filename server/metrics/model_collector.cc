#include "server/metrics/model_collector.h"

#include "server/metrics/metric_family_util.h"

namespace bnserve {

std::vector<prometheus::MetricFamily> ModelCollector::Collect() const {
  constexpr ModelState kStates[] = {ModelState::kLoading, ModelState::kAvailable, ModelState::kUnloading,
                                    ModelState::kUnloaded, ModelState::kError};
  prometheus::MetricFamily state =
      GaugeFamily("bnserve_model_state", "1 for the state the model is in, 0 for the others (loading, available, ...)");
  prometheus::MetricFamily version =
      GaugeFamily("bnserve_model_statistics_version", "Statistics version served; 0 unless the model is available");
  prometheus::MetricFamily commit_time =
      GaugeFamily("bnserve_model_statistics_commit_time_seconds",
                  "Unix time the served statistics version was committed; 0 for version 1 (the ONNX file's)");
  prometheus::MetricFamily streams =
      GaugeFamily("bnserve_recalibration_streams_open", "Recalibrate streams open on the model");
  for (const ModelStatus& status : manager_->List()) {
    for (ModelState s : kStates) {
      AddSample(state, {{"model", status.name}, {"state", ModelStateName(s)}}, status.state == s ? 1.0 : 0.0);
    }
    AddSample(version, {{"model", status.name}}, static_cast<double>(status.version));
    AddSample(streams, {{"model", status.name}}, status.active_recalibrations);
    double committed = 0;
    if (status.state == ModelState::kAvailable) {
      absl::StatusOr<ModelDescription> description = manager_->Describe(status.name);
      if (description.ok() && description->bundle != nullptr) {
        committed = static_cast<double>(description->bundle->info.created_unix_ms) / 1000.0;
      }
    }
    AddSample(commit_time, {{"model", status.name}}, committed);
  }
  return {std::move(state), std::move(version), std::move(commit_time), std::move(streams)};
}

}  // namespace bnserve
