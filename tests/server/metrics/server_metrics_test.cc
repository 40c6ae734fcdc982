// ServerMetrics without a server: what each recording call does to the
// collected families, and that client-chosen names never become labels.
#include "server/metrics/server_metrics.h"

#include <chrono>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "prometheus/metric_family.h"

namespace bnserve {
namespace {

// The value of the series of `name` whose labels are exactly `labels`; -1
// when there is none (every value recorded here is >= 0).
double Value(const ServerMetrics& metrics, const std::string& name, const std::map<std::string, std::string>& labels) {
  for (const prometheus::MetricFamily& family : metrics.registry()->Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> got;
      for (const auto& label : metric.label) got[label.name] = label.value;
      if (got != labels) continue;
      if (family.type == prometheus::MetricType::Histogram) return static_cast<double>(metric.histogram.sample_count);
      return family.type == prometheus::MetricType::Counter ? metric.counter.value : metric.gauge.value;
    }
  }
  return -1;
}

TEST(ServerMetricsTest, CountsCallsByMethodModelAndCode) {
  ServerMetrics metrics;
  metrics.OnModelState("mlp", ModelState::kAvailable);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) metrics.RecordCall("Predict", "mlp", absl::StatusCode::kOk, start);
  metrics.RecordCall("Predict", "mlp", absl::StatusCode::kInvalidArgument, start);
  metrics.RecordCall("ListModels", "", absl::StatusCode::kOk, start);
  EXPECT_EQ(Value(metrics, "bnserve_requests_total", {{"method", "Predict"}, {"model", "mlp"}, {"code", "OK"}}), 3);
  EXPECT_EQ(
      Value(metrics, "bnserve_requests_total", {{"method", "Predict"}, {"model", "mlp"}, {"code", "INVALID_ARGUMENT"}}),
      1);
  EXPECT_EQ(Value(metrics, "bnserve_requests_total", {{"method", "ListModels"}, {"model", ""}, {"code", "OK"}}), 1);
  EXPECT_EQ(Value(metrics, "bnserve_request_duration_seconds", {{"method", "Predict"}, {"model", "mlp"}}), 4);
  // A code never seen has no series yet.
  EXPECT_EQ(Value(metrics, "bnserve_requests_total", {{"method", "Predict"}, {"model", "mlp"}, {"code", "INTERNAL"}}),
            -1);
}

TEST(ServerMetricsTest, NamesThatAreNotModelsShareTheEmptyModelLabel) {
  ServerMetrics metrics;
  metrics.OnModelState("mlp", ModelState::kAvailable);
  const auto start = std::chrono::steady_clock::now();
  for (const char* name : {"a", "b", "../etc/passwd", "mlp2"}) {
    metrics.RecordCall("Predict", name, absl::StatusCode::kNotFound, start);
    metrics.AddInferenceSamples(name, 1);
  }
  EXPECT_EQ(Value(metrics, "bnserve_requests_total", {{"method", "Predict"}, {"model", ""}, {"code", "NOT_FOUND"}}), 4);
  EXPECT_EQ(Value(metrics, "bnserve_inference_samples_total", {{"model", ""}}), 4);
  EXPECT_EQ(Value(metrics, "bnserve_inference_samples_total", {{"model", "a"}}), -1);
  EXPECT_EQ(Value(metrics, "bnserve_inference_samples_total", {{"model", "mlp"}}), 0);
}

TEST(ServerMetricsTest, CountsSamplesCommitsAndLoadFailuresPerModel) {
  ServerMetrics metrics;
  metrics.OnModelState("cnn", ModelState::kLoading);
  metrics.OnModelState("cnn", ModelState::kError);
  metrics.OnModelState("cnn", ModelState::kLoading);
  metrics.OnModelState("cnn", ModelState::kAvailable);
  metrics.AddInferenceSamples("cnn", 64);
  metrics.AddInferenceSamples("cnn", 1);
  metrics.AddRecalibrationSamples("cnn", 32);
  metrics.RecordCommit("cnn", true);
  metrics.RecordCommit("cnn", true);
  metrics.RecordCommit("cnn", false);
  EXPECT_EQ(Value(metrics, "bnserve_model_load_failures_total", {{"model", "cnn"}}), 1);
  EXPECT_EQ(Value(metrics, "bnserve_inference_samples_total", {{"model", "cnn"}}), 65);
  EXPECT_EQ(Value(metrics, "bnserve_recalibration_samples_total", {{"model", "cnn"}}), 32);
  EXPECT_EQ(Value(metrics, "bnserve_commits_total", {{"model", "cnn"}}), 2);
  EXPECT_EQ(Value(metrics, "bnserve_commit_failures_total", {{"model", "cnn"}}), 1);
}

}  // namespace
}  // namespace bnserve
