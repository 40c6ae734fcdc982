#include "core/adapt/adaptation_manager.h"

#include "absl/strings/str_cat.h"
#include "core/adapt/candidate_builder.h"

namespace bnserve {

AdaptationManager::~AdaptationManager() { Stop(); }

void AdaptationManager::Attach(ModelManager* models) { models_ = models; }

void AdaptationManager::Stop() {
  std::shared_ptr<const MonitorMap> monitors;
  std::vector<std::shared_ptr<DriftMonitor>> retired;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    stopped_ = true;
    monitors = std::atomic_exchange(&monitors_, std::make_shared<const MonitorMap>());
    retired.swap(retired_);
  }
  for (const auto& [name, monitor] : *monitors) monitor->Stop();
  for (const std::shared_ptr<DriftMonitor>& monitor : retired) monitor->Stop();
}

std::shared_ptr<DriftMonitor> AdaptationManager::Published(const std::string& model) const {
  const std::shared_ptr<const MonitorMap> monitors = std::atomic_load(&monitors_);
  auto it = monitors->find(model);
  return it == monitors->end() ? nullptr : it->second;
}

absl::StatusOr<std::shared_ptr<DriftMonitor>> AdaptationManager::MonitorFor(const std::string& model) {
  if (models_ == nullptr) return absl::FailedPreconditionError("drift monitoring is not attached to the models");
  BN_ASSIGN_OR_RETURN(ModelDescription description, models_->Describe(model));
  if (description.bundle == nullptr) {
    return absl::UnavailableError(absl::StrCat("model '", model, "' is not being served (state ",
                                               ModelStateName(description.status.state), ")"));
  }
  std::shared_ptr<DriftMonitor> monitor = Published(model);
  if (monitor != nullptr && monitor->model() == description.bundle->model.get()) return monitor;
  BN_ASSIGN_OR_RETURN(ModelLimits limits, models_->Limits(model));
  BN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, models_->Entry(model));
  std::lock_guard<std::mutex> lock(write_mu_);
  if (stopped_) return absl::UnavailableError("the server is shutting down");
  monitor = Published(model);
  if (monitor == nullptr || monitor->model() != description.bundle->model.get()) {
    if (monitor != nullptr) {
      monitor->RequestStop();
      retired_.push_back(monitor);
    }
    monitor = std::make_shared<DriftMonitor>(model, std::move(entry), description.bundle->model, limits.drift);
    auto next = std::make_shared<MonitorMap>(*std::atomic_load(&monitors_));
    (*next)[model] = monitor;
    std::atomic_store(&monitors_, std::shared_ptr<const MonitorMap>(std::move(next)));
  }
  return monitor;
}

void AdaptationManager::OnServedPrediction(const std::string& model, const std::shared_ptr<const ServingBundle>& bundle,
                                           absl::Span<const TensorView> inputs) {
  std::shared_ptr<DriftMonitor> monitor = Published(model);
  if (monitor == nullptr || monitor->model() != bundle->model.get()) {
    // The model's first prediction since it was (re)loaded: a one-time
    // lookup of its configuration.
    absl::StatusOr<std::shared_ptr<DriftMonitor>> created = MonitorFor(model);
    if (!created.ok()) return;
    monitor = *std::move(created);
    if (monitor->model() != bundle->model.get()) return;
  }
  monitor->Offer(bundle, inputs);
}

absl::StatusOr<DriftReport> AdaptationManager::Drift(const std::string& model, int windows) {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<DriftMonitor> monitor, MonitorFor(model));
  if (!monitor->config().enabled()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model '", model, "': drift monitoring is off (drift.sample_rate is 0); switch it on with the server flag "
        "--drift-sample-rate or \"drift\": {\"sample_rate\": ...} in the model's config.json, then reload it"));
  }
  return monitor->Report(windows);
}

std::vector<DriftReport> AdaptationManager::MonitoredReports(int windows) const {
  const std::shared_ptr<const MonitorMap> monitors = std::atomic_load(&monitors_);
  std::vector<DriftReport> reports;
  for (const auto& [name, monitor] : *monitors) {
    if (monitor->config().enabled()) reports.push_back(monitor->Report(windows));
  }
  return reports;
}

absl::StatusOr<int64_t> AdaptationManager::Subscribe(const std::string& model, std::function<void()> callback) {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<DriftMonitor> monitor, MonitorFor(model));
  return monitor->Subscribe(std::move(callback));
}

void AdaptationManager::Unsubscribe(const std::string& model, int64_t id) {
  if (std::shared_ptr<DriftMonitor> monitor = Published(model)) monitor->Unsubscribe(id);
}

absl::StatusOr<int64_t> AdaptationManager::StageCandidate(const std::string& model, const ServingBundle& base,
                                                          StatsSnapshot stats, std::string mode, int64_t samples) {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<DriftMonitor> monitor, MonitorFor(model));
  if (monitor->model() != base.model.get()) {
    return absl::AbortedError(absl::StrCat("model '", model, "' was reloaded during the recalibration; nothing staged"));
  }
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const ServingBundle> bundle, BundleWithStats(base, std::move(stats)));
  return monitor->Stage(std::move(bundle), "client", std::move(mode), samples);
}

absl::StatusOr<std::shared_ptr<const ServingBundle>> AdaptationManager::Candidate(const std::string& model,
                                                                                  int64_t id) {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<DriftMonitor> monitor, MonitorFor(model));
  return monitor->Candidate(id);
}

absl::StatusOr<VersionInfo> AdaptationManager::Promote(const std::string& model, int64_t id, const std::string& note) {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<DriftMonitor> monitor, MonitorFor(model));
  return monitor->Promote(id, note);
}

absl::Status AdaptationManager::Discard(const std::string& model, int64_t id) {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<DriftMonitor> monitor, MonitorFor(model));
  return monitor->Discard(id);
}

}  // namespace bnserve
