// DriftMonitor: one model's watch over its live traffic, and the label-free
// adaptation loop built on it (docs/drift.md).
//
//  - Offer (on the serving thread, after a prediction of the served
//    version) keeps a config.sample_rate share of the samples: each is
//    copied into a bounded queue, or counted as dropped when the queue is
//    full. Nothing else happens on the serving thread.
//  - One worker thread per monitored model, at low CPU priority, runs each
//    queued sample through the eval-forward statistics pass (what each BN
//    layer sees under the frozen statistics) and adds it to the open window.
//  - The first reference_windows windows after a version starts being served
//    build the DriftReference (the calibrated threshold); later windows are
//    scored against it, and alarm_windows consecutive windows above the
//    threshold raise the alarm (as many below clear it).
//  - Candidates: statistics staged, not served - built by the policy from
//    the alarmed traffic, or staged by a client's Recalibrate stream. The
//    most recent one is shadowed on the sampled traffic (served and candidate
//    predictions side by side).
//  - With config.auto_adapt: alarm -> collect candidate_samples new samples ->
//    build -> shadow for shadow_samples -> promote (commit) or refuse, by the
//    guardrails of core/adapt/adaptation_policy.h; after a promotion the
//    previous version is shadowed the same way and restored by a rollback
//    when the promotion made things worse. Every decision is an event and,
//    when it commits, the version's history note.
//
// Thread-safe. Stop() (or the destructor) ends the worker; call it before
// the ModelManager that owns the entry goes away.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/adapt/candidate_builder.h"
#include "core/adapt/drift_reference.h"
#include "core/adapt/drift_report.h"
#include "core/adapt/drift_window.h"
#include "core/adapt/prediction_quality.h"
#include "core/model/drift_config.h"
#include "core/serving/model_entry.h"

namespace bnserve {

// Samples waiting for the worker; beyond this they are dropped and counted.
inline constexpr size_t kDriftQueueSamples = 1024;
// Windows and events kept for GetDrift.
inline constexpr size_t kDriftWindowsKept = 256;
inline constexpr size_t kDriftEventsKept = 256;

class DriftMonitor {
 public:
  // `model` identifies the loaded model the monitor was made for (a reload
  // makes a new one). Starts the worker when config.enabled().
  DriftMonitor(std::string name, std::shared_ptr<ModelEntry> entry, std::shared_ptr<const Model> model,
               DriftConfig config);
  ~DriftMonitor();
  DriftMonitor(const DriftMonitor&) = delete;
  DriftMonitor& operator=(const DriftMonitor&) = delete;

  // Asks the worker to end after its current sample, without waiting.
  void RequestStop();
  // RequestStop, then waits for the worker. Not from the worker itself
  // (nor from a subscriber's callback, which runs on it).
  void Stop();

  const Model* model() const { return model_.get(); }
  const DriftConfig& config() const { return config_; }

  // Never blocks on the worker: see the header comment.
  void Offer(const std::shared_ptr<const ServingBundle>& bundle, absl::Span<const TensorView> inputs);

  // The state, with the `windows` most recent windows.
  DriftReport Report(int windows) const;
  // `callback` runs on the worker after each window and each decision; it
  // must be quick. Returns the id for Unsubscribe.
  int64_t Subscribe(std::function<void()> callback);
  void Unsubscribe(int64_t id);

  // Stages statistics computed from `bundle->info.version`; returns the id.
  int64_t Stage(std::shared_ptr<const ServingBundle> bundle, std::string source, std::string mode, int64_t samples);
  // NOT_FOUND naming the id and the staged ones.
  absl::StatusOr<std::shared_ptr<const ServingBundle>> Candidate(int64_t id) const;
  // Commits the candidate (origin "adapt"; ABORTED when the served version is
  // no longer the one it was built from) and drops it from the staged ones.
  absl::StatusOr<VersionInfo> Promote(int64_t id, const std::string& note);
  absl::Status Discard(int64_t id);

 private:
  struct QueuedSample {
    std::shared_ptr<const ServingBundle> bundle;
    MonitoredInputs inputs;
  };
  struct StagedCandidate {
    CandidateReport report;
    std::shared_ptr<const ServingBundle> bundle;
    ShadowTally tally;
    bool auto_built = false;
  };
  enum class Policy { kMonitoring, kCollecting, kShadowing, kWatching };

  void Run();
  void Process(QueuedSample sample);
  void ProcessSample(QueuedSample sample);
  // A new served version: windows and reference start again.
  void Restart(int64_t version);
  void CloseWindow();
  // Served and candidate (or, after a promotion, previous and served)
  // predictions of one sample.
  void ShadowSample(const QueuedSample& sample);
  void StepPolicyAfterWindow();
  void BuildCandidateFromPool();
  void DecidePromotion(int64_t id);
  void DecideRollback();
  absl::StatusOr<VersionInfo> CommitCandidate(const StagedCandidate& candidate, const std::string& note);
  void AddEvent(const std::string& kind, int64_t version, int64_t candidate_id, const std::string& reason);  // REQUIRES: mu_
  void NotifySubscribers();
  std::vector<int64_t> Channels() const;

  const std::string name_;
  const std::shared_ptr<ModelEntry> entry_;
  const std::shared_ptr<const Model> model_;
  const DriftConfig config_;

  // The queue between Offer and the worker.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<QueuedSample> queue_;  // guarded by queue_mu_
  bool stopping_ = false;           // guarded by queue_mu_
  std::atomic<int64_t> offered_{0};
  std::atomic<int64_t> sampled_{0};
  std::atomic<int64_t> dropped_{0};
  std::atomic<int64_t> processed_{0};

  // Worker-only state.
  std::optional<DriftWindowAccumulator> window_;
  int64_t window_opened_ms_ = 0;
  std::vector<std::vector<float>> reference_rows_;
  std::shared_ptr<const DriftReference> reference_;
  int64_t above_run_ = 0;  // consecutive windows above (or, while alarmed, below) the threshold
  std::vector<MonitoredInputs> pool_;  // kCollecting: the candidate's samples
  int64_t cooldown_windows_ = 0;
  std::shared_ptr<const ServingBundle> previous_;  // kWatching: the version before the promotion
  std::shared_ptr<const ServingBundle> promoted_;  // kWatching: the promoted version
  std::optional<ShadowTally> watch_tally_;
  uint64_t seed_ = 0x9e3779b97f4a7c15ull;

  // What Report shows; guarded by mu_.
  mutable std::mutex mu_;
  int64_t version_ = 0;
  int64_t window_index_ = 0;
  int64_t reference_windows_ = 0;
  double threshold_ = 0.0;  // 0 until calibrated
  bool alarm_ = false;
  std::string alarm_reason_ = "calibrating: collecting the reference windows";
  Policy policy_ = Policy::kMonitoring;
  std::deque<DriftWindowReport> windows_;
  std::deque<DriftEventReport> events_;
  std::map<int64_t, StagedCandidate> candidates_;
  int64_t next_candidate_id_ = 1;
  int64_t shadowed_candidate_ = 0;  // the candidate ShadowSample runs; 0 = none

  std::mutex subscribers_mu_;
  std::map<int64_t, std::function<void()>> subscribers_;  // guarded by subscribers_mu_
  int64_t next_subscriber_ = 1;                            // guarded by subscribers_mu_

  std::thread worker_;
};

}  // namespace bnserve
