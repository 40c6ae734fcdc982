// ModelManager: the model repository and every model's lifecycle - the one
// object the server (or any other front end) talks to. Knows nothing of
// gRPC: each method is one request's worth of core work.
//
// Repository layout: <repository>/<name>/model.onnx, one folder per model
// (name = folder name, see core/model/model_name.h); each model's statistics
// versions live in <repository>/<name>/stats/ (core/store/file_stats_store.h)
// or in a database shared by replicas (core/store/pg_stats_store.h).
//
// Every model is a ModelEntry holding an immutable ServingBundle behind one
// pointer: requests copy it and compute without locks; loads, reloads,
// commits and rollbacks build a complete new bundle before swapping it in,
// so they never fail a request in flight (on this or any other model).
//
// Thread-safe. The FileSystem must outlive the manager.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/serving/batch_stats_query.h"
#include "core/serving/model_entry.h"
#include "core/serving/prediction.h"
#include "core/serving/prediction_tap.h"
#include "core/serving/recalibration_session.h"
#include "core/util/thread_pool.h"

namespace bnserve {

inline constexpr int kMaxIntraOpThreads = 64;

// A Predict whose plan's recent runs say it takes at most this long is worth
// computing on the thread that received it: handing it to another thread
// costs a wake-up and two context switches, tens of microseconds on a busy
// machine, more than a small model's whole forward pass; a longer one would
// hold up a thread the server needs for receiving calls.
inline constexpr int64_t kInlinePredictBudgetNs = 200'000;

struct ModelManagerOptions {
  std::string repository;             // directory with one folder per model
  FileSystem* file_system = nullptr;  // nullptr: DefaultFileSystem()
  // Where every model's statistics versions live (not owned; outlives the
  // manager). nullptr: each model's stats/ folder (FileStatsStore); a
  // PgStatsStoreProvider shares them between replicas.
  StatsStoreProvider* stats_stores = nullptr;
  int max_recalibration_streams = 2;  // concurrent Recalibrate streams per model
  size_t pinned_cache_capacity = 4;   // plans of pinned versions kept per model
  // Threads one statistics pass (a recalibration batch, a batch-statistics
  // query) may use, the calling thread included: above 1 the manager starts
  // statistics_threads - 1 workers shared by all passes; a pass finding them
  // busy computes alone (core/util/thread_pool.h). The server passes its worker
  // thread count, so one recalibration stream uses the cores it was given.
  int statistics_threads = 1;
  // CPU priority (nice, 0..19) of those workers. The server passes
  // --recalibration-nice: a heavy recalibration stream then takes idle cores
  // but yields them to predictions.
  int statistics_nice = 0;
  // Threads one Predict may use, the calling thread included (1..64): above
  // 1 the manager starts intra_op_threads - 1 workers shared by all
  // predictions; a prediction finding them busy computes alone, so under
  // concurrent load each call keeps to its own thread. For latency with few
  // calls in flight: each core then streams only its share of the weights.
  // The one intra-op threading of predictions (--intra-op-threads).
  int intra_op_threads = 1;
  // TryPredictInline's budget; 0 = never inline (tests of the worker path).
  int64_t inline_predict_budget_ns = kInlinePredictBudgetNs;
  // Every model's default drift monitoring (off unless sample_rate > 0);
  // its config.json may override it (core/model/drift_config.h).
  DriftConfig drift;
};

// Describe's answer: the status, and the bundle being served (null unless
// the model is available).
struct ModelDescription {
  ModelStatus status;
  std::shared_ptr<const ServingBundle> bundle;
};

// A version's statistics and the selected layers (indices into
// bundle->model->bn_layers() and bundle->stats->layers).
struct RunningStatsView {
  std::shared_ptr<const ServingBundle> bundle;
  std::vector<int> layers;
};

struct ExportedModel {
  VersionInfo info;   // the version whose statistics the bytes carry
  std::string bytes;  // serialized ONNX ModelProto
};

class ModelManager {
 public:
  // INVALID_ARGUMENT when the repository is not a readable directory.
  // Loads nothing yet (see LoadAll).
  static absl::StatusOr<std::unique_ptr<ModelManager>> Create(ModelManagerOptions options);
  ~ModelManager();
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  const std::string& repository() const { return options_.repository; }

  // Loads every model folder of the repository (folders without model.onnx
  // or with an invalid name are skipped with a warning). A model that fails
  // is logged and left in kError; the others serve. Returns how many are
  // available.
  int LoadAll();

  // Installs the observer of served predictions (the drift monitors); not
  // owned, must stay valid until replaced (nullptr = none).
  void SetPredictionTap(PredictionTap* tap) { tap_.store(tap, std::memory_order_release); }

  // Installs the state-change listener (health reporting) and immediately
  // replays every model's current state to it.
  void SetStateListener(ModelStateListener listener);

  // Every model seen so far, sorted by name.
  std::vector<ModelStatus> List() const;
  absl::StatusOr<ModelDescription> Describe(const std::string& name) const;

  // Lifecycle at run time; see ModelEntry::Load/Reload/Unload. Load also
  // picks up folders added to the repository after start-up.
  absl::StatusOr<ModelStatus> Load(const std::string& name);
  absl::StatusOr<ModelStatus> Reload(const std::string& name);
  absl::StatusOr<ModelStatus> Unload(const std::string& name);

  // Inference on the served or a pinned version. `names` is empty or
  // parallel to `inputs` (see ResolveBatchForm, which may reshape the views
  // in place); the inputs' data must outlive the call only.
  absl::StatusOr<Prediction> Predict(const std::string& name, VersionRequest version,
                                     absl::Span<const std::string> names, absl::Span<TensorView> inputs) const;
  // Predict on the served version, computed on the calling thread, when
  // that is quick and cannot block: the model is loaded and available (no
  // repository read, no error message built) and its plan's recent runs say
  // inputs of this size take at most options.inline_predict_budget_ns.
  // std::nullopt, having run nothing, otherwise ("would block": unknown or
  // unavailable model, no run timed yet, too heavy): call Predict from a
  // thread that may block, which also says why a model is not served.
  std::optional<absl::StatusOr<Prediction>> TryPredictInline(const std::string& name,
                                                             absl::Span<const std::string> names,
                                                             absl::Span<TensorView> inputs) const;
  // Inference on a bundle the caller holds (a staged candidate's), with the
  // manager's intra-op threads; not tapped.
  absl::StatusOr<Prediction> PredictWithBundle(std::shared_ptr<const ServingBundle> bundle,
                                               absl::Span<const std::string> names,
                                               absl::Span<TensorView> inputs) const;
  // The limits and drift configuration a model was loaded with.
  absl::StatusOr<ModelLimits> Limits(const std::string& name) const;
  // The entry of a known model (for the drift monitor's commits and
  // rollbacks); NOT_FOUND otherwise.
  absl::StatusOr<std::shared_ptr<ModelEntry>> Entry(const std::string& name) const;
  // Running statistics of a version, restricted to `layers` (empty = all).
  absl::StatusOr<RunningStatsView> RunningStats(const std::string& name, VersionRequest version,
                                                absl::Span<const std::string> layers) const;
  // Batch statistics and drift; changes nothing.
  absl::StatusOr<BatchStatsReport> BatchStatistics(const std::string& name, VersionRequest version,
                                                   absl::Span<const TensorView> inputs, ForwardMode mode,
                                                   bool sort_by_drift) const;

  absl::StatusOr<std::unique_ptr<RecalibrationSession>> StartRecalibration(const std::string& name,
                                                                           RecalibrationRequest request);
  absl::StatusOr<std::vector<VersionInfo>> History(const std::string& name) const;
  absl::StatusOr<VersionInfo> Rollback(const std::string& name, int64_t to_version, int64_t expected_version);
  // model.onnx with the statistics of `version`, as bytes (nothing is
  // written on the server).
  absl::StatusOr<ExportedModel> Export(const std::string& name, VersionRequest version) const;

 private:
  explicit ModelManager(ModelManagerOptions options);

  std::string ModelDir(const std::string& name) const;
  bool HasModelFile(const std::string& name) const;
  // The entry of a model that exists; NOT_FOUND (or FAILED_PRECONDITION for
  // a folder never loaded) otherwise. Validates the name.
  absl::StatusOr<std::shared_ptr<ModelEntry>> Find(const std::string& name) const;
  // Find, creating the entry when the folder holds model.onnx.
  absl::StatusOr<std::shared_ptr<ModelEntry>> FindOrCreate(const std::string& name);
  absl::StatusOr<std::shared_ptr<const ServingBundle>> Acquire(const std::string& name, VersionRequest version) const;
  // The served bundle of `name` when it is loaded and available, else
  // nullptr. Unlike Acquire it never reads the repository and builds no
  // error message.
  std::shared_ptr<const ServingBundle> ServedBundle(const std::string& name) const;
  void Notify(const std::string& name, ModelState state);
  // RunPrediction, then the tap for a served version's success.
  absl::StatusOr<Prediction> RunAndTap(const std::string& name, std::shared_ptr<const ServingBundle> bundle,
                                       bool served, absl::Span<const std::string> names,
                                       absl::Span<TensorView> inputs) const;
  // Loads again every model whose last load failed: called when the
  // statistics store can be reached again (a replica that started while its
  // database was down serves once the database is back).
  void RetryFailedLoads();

  const ModelManagerOptions options_;
  std::unique_ptr<ThreadPool> statistics_pool_;  // null when statistics_threads <= 1
  std::unique_ptr<ThreadPool> intra_op_pool_;    // null when intra_op_threads <= 1

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<ModelEntry>> entries_;  // guarded by mu_

  std::atomic<PredictionTap*> tap_{nullptr};

  std::mutex listener_mu_;
  ModelStateListener listener_;  // guarded by listener_mu_
};

}  // namespace bnserve
