// ModelEntry: one model of the repository - its lifecycle state, its
// statistics store and the serving bundle requests use. Created by
// ModelManager for every model folder it has seen and never destroyed while
// the manager lives (an unloaded model keeps its entry), so sessions may
// hold a shared_ptr to it across a reload or unload.
//
// Concurrency: readers (Acquire, status, History) take only mu_, for a
// pointer copy. Writers (Load, Reload, Unload, Commit, Rollback) are
// serialized by writer_mu_, which they hold across their file I/O and plan
// building; they take mu_ only to swap the finished bundle in. So a commit
// never blocks a prediction, and a failed writer leaves the served bundle as
// it was. A shared statistics store (PostgreSQL) that moves on through
// another replica calls SyncWithStore, a writer like the others. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/model/model_limits.h"
#include "core/serving/bundle_cache.h"
#include "core/serving/model_state.h"
#include "core/serving/serving_bundle.h"
#include "core/serving/version_request.h"
#include "core/store/stats_store.h"
#include "core/util/file_system.h"
#include "core/util/status.h"

namespace bnserve {

// Called on every state change, with the entry's writer mutex held (so the
// calls for one model arrive in order). Must be quick and must not call back
// into the manager.
using ModelStateListener = std::function<void(const std::string& name, ModelState state)>;

struct ModelEntryOptions {
  FileSystem* file_system = nullptr;  // not owned; outlives the entry
  // Opens the model's statistics store; not owned, outlives the entry.
  // nullptr: a FileStatsStore in the model's folder through file_system.
  StatsStoreProvider* stats_stores = nullptr;
  // The default stream limit; <dir>/config.json may override it and add
  // batch limits (core/model/model_limits.h).
  int max_recalibration_streams = 2;
  size_t pinned_cache_capacity = 4;
  // The default drift monitoring; config.json's "drift" overrides it.
  DriftConfig drift;
};

class ModelEntry : public std::enable_shared_from_this<ModelEntry> {
 public:
  // `dir` is the model's folder (holding model.onnx). State starts as
  // kUnloaded; nothing is read until Load.
  ModelEntry(std::string name, std::string dir, ModelEntryOptions options, ModelStateListener listener);
  ModelEntry(const ModelEntry&) = delete;
  ModelEntry& operator=(const ModelEntry&) = delete;

  const std::string& name() const { return name_; }
  ModelStatus status() const;

  // Reads model.onnx, opens the statistics store and builds the plan of the
  // current version. ALREADY_EXISTS when already available. On failure the
  // state becomes kError and the error is returned.
  absl::Status Load();
  // Like Load, but for an available model builds the new bundle fully and
  // swaps it in; on failure the old bundle keeps serving.
  absl::Status Reload();
  // Releases the bundle and the store; running requests finish on theirs.
  // FAILED_PRECONDITION unless available.
  absl::Status Unload();

  // The bundle of the served version, or of a pinned one (read from the store
  // and planned once, then cached). UNAVAILABLE while loading,
  // FAILED_PRECONDITION when not loaded, NOT_FOUND for an unknown version.
  absl::StatusOr<std::shared_ptr<const ServingBundle>> Acquire(VersionRequest version) const;
  // The history of the served version, oldest first.
  absl::StatusOr<std::vector<VersionInfo>> History() const;

  // Commits `stats`, computed from `base`, as the new served version. Order:
  // build the plan, commit durably through the store, then swap; any failure
  // before the swap changes nothing. `expected_version` > 0 must still be
  // current (else ABORTED naming the current version); 0 = don't check.
  // ABORTED also when the model was reloaded since `base` was acquired.
  // I/O errors keep their message (operation, path, OS error text):
  // RESOURCE_EXHAUSTED when the disk is full (ENOSPC, EDQUOT, EFBIG),
  // FAILED_PRECONDITION when the statistics folder is not writable (EACCES,
  // EPERM, EROFS); nothing is committed and the served version stays.
  // With meta.request_id set, a key already in the history commits nothing
  // and returns that version with *deduplicated = true (or ALREADY_EXISTS
  // for a different request; see StatsStore::Commit), before any of the
  // checks above: a retry must not be refused because its first attempt
  // moved the version on.
  absl::StatusOr<VersionInfo> Commit(const ServingBundle& base, StatsSnapshot stats, VersionInfo meta,
                                     int64_t expected_version, bool* deduplicated = nullptr);
  // Commits a copy of version `to` (NOT_FOUND if unknown) and serves it.
  absl::StatusOr<VersionInfo> Rollback(int64_t to, int64_t expected_version);

  // Serves the store's current version when it is not the served one (a
  // commit made through another replica); a no-op otherwise or when the model
  // is not available. A version that cannot be planned is logged and the
  // served one stays.
  void SyncWithStore();

  // Reserves one of this model's concurrent recalibration streams;
  // RESOURCE_EXHAUSTED naming the limit, its value and where it was set when
  // all are taken. On OK, `limits` (if not null) receives the model's limits
  // for the stream. Each OK must be matched by one ReleaseRecalibrationSlot.
  absl::Status AcquireRecalibrationSlot(ModelLimits* limits = nullptr);
  void ReleaseRecalibrationSlot();

  // The limits and drift configuration read at the last load or reload.
  ModelLimits limits() const;

 private:
  struct Loaded {
    std::shared_ptr<const ServingBundle> bundle;
    std::shared_ptr<StatsStore> store;
    ModelLimits limits;
  };
  absl::StatusOr<Loaded> LoadFromDisk();
  // Load's work for a model that is not available. REQUIRES: writer_mu_.
  absl::Status LoadLocked();
  // REQUIRES: writer_mu_ (so listeners see one model's changes in order).
  void SetState(ModelState state, std::string error);
  // The served bundle and store, or the error explaining why there is none.
  absl::Status CopyServing(std::shared_ptr<const ServingBundle>* bundle, std::shared_ptr<StatsStore>* store) const;
  // Builds and caches the bundle of a pinned, non-current version.
  absl::StatusOr<std::shared_ptr<const ServingBundle>> BuildPinned(const ServingBundle& current,
                                                                   const StatsStore& store, int64_t version) const;
  // Swaps in a new bundle built from `snapshot` (whose version is then set
  // to info.version) and `plan`. REQUIRES: writer_mu_.
  void InstallCommitted(std::shared_ptr<StatsSnapshot> snapshot, std::shared_ptr<const InferencePlan> plan,
                        const VersionInfo& info);
  absl::Status VersionRace(int64_t expected, int64_t current) const;
  // SyncWithStore's work. REQUIRES: writer_mu_.
  void SyncWithStoreLocked();

  const std::string name_;
  const std::string dir_;
  const ModelEntryOptions options_;
  const ModelStateListener listener_;

  // std::mutex rather than absl::Mutex: Debian's Abseil is not built for
  // ThreadSanitizer, which would report false races (as in StatsStore).
  std::mutex writer_mu_;  // acquired before mu_
  mutable std::mutex mu_;
  ModelState state_ = ModelState::kUnloaded;     // guarded by mu_
  std::string error_;                            // guarded by mu_
  std::shared_ptr<const ServingBundle> bundle_;  // guarded by mu_
  std::shared_ptr<StatsStore> store_;            // guarded by mu_
  ModelLimits limits_;                           // guarded by mu_
  int active_recalibrations_ = 0;                // guarded by mu_
  mutable BundleCache pinned_;
};

}  // namespace bnserve
