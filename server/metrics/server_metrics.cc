#include "server/metrics/server_metrics.h"

#include <mutex>

#include "prometheus/histogram.h"

namespace bnserve {
namespace {

// 50 µs (an inline Predict of a small model) to 10 s (a large batch, a
// commit): the range bnserve's calls take, about three buckets per decade.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};
  return *buckets;
}

}  // namespace

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("bnserve_requests_total")
                    .Help("Calls that ended, by method, model and gRPC status code")
                    .Register(*registry_)),
      latency_(prometheus::BuildHistogram()
                   .Name("bnserve_request_duration_seconds")
                   .Help("Time from receiving a call to its answer, by method and model")
                   .Register(*registry_)),
      inference_samples_(prometheus::BuildCounter()
                             .Name("bnserve_inference_samples_total")
                             .Help("Samples (batch rows) predicted successfully")
                             .Register(*registry_)),
      recalibration_samples_(prometheus::BuildCounter()
                                 .Name("bnserve_recalibration_samples_total")
                                 .Help("Samples of recalibration batches the model accepted")
                                 .Register(*registry_)),
      commits_(prometheus::BuildCounter()
                   .Name("bnserve_commits_total")
                   .Help("Statistics versions committed (Recalibrate or Rollback)")
                   .Register(*registry_)),
      commit_failures_(prometheus::BuildCounter()
                           .Name("bnserve_commit_failures_total")
                           .Help("Commit attempts that failed: nothing was committed")
                           .Register(*registry_)),
      load_failures_(prometheus::BuildCounter()
                         .Name("bnserve_model_load_failures_total")
                         .Help("Loads or reloads that left the model in the error state")
                         .Register(*registry_)) {
  std::unique_lock lock(mu_);
  unknown_ = FindOrAddLocked("");
}

ServerMetrics::ModelSeries* ServerMetrics::FindOrAddLocked(const std::string& model) {
  std::unique_ptr<ModelSeries>& slot = models_[model];
  if (slot == nullptr) {
    slot = std::make_unique<ModelSeries>();
    slot->model = model;
    const prometheus::Labels labels{{"model", model}};
    slot->inference_samples = &inference_samples_.Add(labels);
    slot->recalibration_samples = &recalibration_samples_.Add(labels);
    slot->commits = &commits_.Add(labels);
    slot->commit_failures = &commit_failures_.Add(labels);
    slot->load_failures = &load_failures_.Add(labels);
  }
  return slot.get();
}

ServerMetrics::ModelSeries* ServerMetrics::Find(absl::string_view model) const {
  std::shared_lock lock(mu_);
  auto it = models_.find(model);
  return it != models_.end() ? it->second.get() : unknown_;
}

ServerMetrics::CallSeries* ServerMetrics::FindOrAddCall(ModelSeries* series, const char* method) {
  {
    std::shared_lock lock(mu_);
    auto it = series->calls.find(method);
    if (it != series->calls.end()) return it->second.get();
  }
  std::unique_lock lock(mu_);
  std::unique_ptr<CallSeries>& call = series->calls[method];
  if (call == nullptr) {
    call = std::make_unique<CallSeries>();
    call->method = method;
    call->latency = &latency_.Add({{"method", call->method}, {"model", series->model}}, LatencyBuckets());
  }
  return call.get();
}

prometheus::Counter* ServerMetrics::CodeCounter(CallSeries* call, const std::string& model, absl::StatusCode code) {
  const size_t index = static_cast<size_t>(code) < call->by_code.size() ? static_cast<size_t>(code) : 2;  // UNKNOWN
  prometheus::Counter* counter = call->by_code[index].load(std::memory_order_acquire);
  if (counter != nullptr) return counter;
  // Family::Add returns the existing series for equal labels, so two threads
  // racing here store the same pointer.
  counter = &requests_.Add({{"method", call->method},
                            {"model", model},
                            {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(index))}});
  call->by_code[index].store(counter, std::memory_order_release);
  return counter;
}

void ServerMetrics::RecordCall(const char* method, absl::string_view model, absl::StatusCode code,
                               std::chrono::steady_clock::time_point start) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ModelSeries* series = Find(model);
  CallSeries* call = FindOrAddCall(series, method);
  call->latency->Observe(seconds);
  CodeCounter(call, series->model, code)->Increment();
}

void ServerMetrics::AddInferenceSamples(absl::string_view model, int64_t samples) {
  Find(model)->inference_samples->Increment(static_cast<double>(samples));
}

void ServerMetrics::AddRecalibrationSamples(absl::string_view model, int64_t samples) {
  Find(model)->recalibration_samples->Increment(static_cast<double>(samples));
}

void ServerMetrics::RecordCommit(absl::string_view model, bool ok) {
  ModelSeries* series = Find(model);
  (ok ? series->commits : series->commit_failures)->Increment();
}

void ServerMetrics::OnModelState(const std::string& model, ModelState state) {
  ModelSeries* series;
  {
    std::unique_lock lock(mu_);
    series = FindOrAddLocked(model);
  }
  if (state == ModelState::kError) series->load_failures->Increment();
}

}  // namespace bnserve
