// AdaptationManager: every model's DriftMonitor, created on a model's first
// served prediction with the drift configuration it was loaded with (and
// again after a reload), and the front ends' door to drift reports and
// candidates. It is the ModelManager's PredictionTap.
//
// Lifetime: create it before the ModelManager (whose options point at it),
// Attach the manager, and Stop it before the manager is destroyed (monitors
// commit through the manager's entries).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/adapt/drift_monitor.h"
#include "core/serving/model_manager.h"
#include "core/serving/prediction_tap.h"

namespace bnserve {

class AdaptationManager : public PredictionTap {
 public:
  AdaptationManager() = default;
  ~AdaptationManager() override;

  void Attach(ModelManager* models);
  // Stops every monitor's worker; later predictions are not monitored.
  void Stop();

  void OnServedPrediction(const std::string& model, const std::shared_ptr<const ServingBundle>& bundle,
                          absl::Span<const TensorView> inputs) override;

  // FAILED_PRECONDITION when the model is loaded with monitoring off (the
  // message says how to switch it on); NOT_FOUND / UNAVAILABLE as for any
  // request naming the model.
  absl::StatusOr<DriftReport> Drift(const std::string& model, int windows);
  // The reports of the monitors made so far that have monitoring on (models
  // that served a prediction since they were loaded), with up to `windows`
  // recent windows each, by model name. Creates no monitor and asks the
  // ModelManager nothing: the metrics read it at scrape time.
  std::vector<DriftReport> MonitoredReports(int windows) const;
  // `callback` after each window and decision of the model's monitor.
  absl::StatusOr<int64_t> Subscribe(const std::string& model, std::function<void()> callback);
  void Unsubscribe(const std::string& model, int64_t id);

  // Stages `stats`, computed from `base`, as a candidate of the model.
  absl::StatusOr<int64_t> StageCandidate(const std::string& model, const ServingBundle& base, StatsSnapshot stats,
                                         std::string mode, int64_t samples);
  absl::StatusOr<std::shared_ptr<const ServingBundle>> Candidate(const std::string& model, int64_t id);
  absl::StatusOr<VersionInfo> Promote(const std::string& model, int64_t id, const std::string& note);
  absl::Status Discard(const std::string& model, int64_t id);

 private:
  using MonitorMap = std::map<std::string, std::shared_ptr<DriftMonitor>>;

  // The monitor of the model's current load, created when missing or made
  // for an older load. Never called with a lock held.
  absl::StatusOr<std::shared_ptr<DriftMonitor>> MonitorFor(const std::string& model);
  std::shared_ptr<DriftMonitor> Published(const std::string& model) const;

  ModelManager* models_ = nullptr;
  // Read on every prediction without a lock: an immutable map swapped whole.
  std::shared_ptr<const MonitorMap> monitors_ = std::make_shared<const MonitorMap>();
  std::mutex write_mu_;  // serializes creation and Stop
  bool stopped_ = false;  // guarded by write_mu_
  // Monitors of earlier loads, asked to stop but joined only by Stop: the
  // thread retiring one may be its own worker (a WatchDrift callback asking
  // for a report), which must not wait for itself.
  std::vector<std::shared_ptr<DriftMonitor>> retired_;  // guarded by write_mu_
};

}  // namespace bnserve
