// StatsStore: the durable, versioned history of one model's BN statistics,
// as ModelEntry sees it - whichever medium holds it. Two implementations:
// FileStatsStore (core/store/file_stats_store.h, the default: the model's
// stats/ folder, one process) and PgStatsStore (core/store/pg_stats_store.h:
// a PostgreSQL database shared by every replica).
//
// The contract both keep: version 1 is the ONNX file's statistics; a commit
// is durable before it is acknowledged and either happens whole or not at
// all; history is append-only (a rollback commits a copy); of two commits on
// one parent exactly one succeeds (ABORTED for the other); a request id names
// at most one version. A shared store may also move on by itself (a commit
// through another replica): it then calls the change listener.
//
// StatsStoreProvider opens the store of one model. Both are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/stats/bn_layer.h"
#include "core/stats/stats_snapshot.h"
#include "core/store/version_info.h"
#include "core/util/status.h"

namespace bnserve {

class StatsStore {
 public:
  virtual ~StatsStore() = default;

  virtual int64_t current_version() const = 0;
  // The served statistics; snapshot->version == current_version().
  virtual std::shared_ptr<const StatsSnapshot> current() const = 0;
  // The statistics of `version`. NOT_FOUND for a version not in History();
  // DATA_LOSS when its stored bytes are damaged; UNAVAILABLE when the store
  // that holds it cannot be reached.
  virtual absl::StatusOr<std::shared_ptr<const StatsSnapshot>> Load(int64_t version) const = 0;
  // The lineage of the current version, oldest first, version 1 (origin
  // "onnx") first; back().version == current_version() once the store has
  // settled (a concurrent change may be between the two reads).
  virtual std::vector<VersionInfo> History() const = 0;

  // Commits `stats` as the next version if current_version() ==
  // expected_parent (the store's own current version: for a shared store,
  // the one every replica agrees on), else ABORTED naming both versions. The
  // store fills meta.version and meta.parent, and meta.created_unix_ms when
  // it is <= 0; an empty origin means "recalibrate". INVALID_ARGUMENT for
  // statistics failing ValidateSnapshot or an unusable meta. A retry of a
  // committed request id returns that version with *deduplicated = true
  // (ALREADY_EXISTS when the key was used for a different request), checked
  // before expected_parent. On any error nothing was committed - except
  // UNAVAILABLE whose message says the outcome is unknown (a shared store
  // lost its connection during the commit): a retry with the same request id
  // then settles it.
  virtual absl::StatusOr<VersionInfo> Commit(const StatsSnapshot& stats, VersionInfo meta, int64_t expected_parent,
                                             bool* deduplicated = nullptr) = 0;
  // The committed version whose request_id and digest are meta's, from what
  // this store knows; nullopt when the key is empty or unknown; ALREADY_EXISTS
  // when the key was used for a different request. A cheap early look:
  // Commit repeats it authoritatively.
  virtual absl::StatusOr<std::optional<VersionInfo>> FindCommittedRequest(const VersionInfo& meta) const = 0;
  // Commits a copy of version `to` with origin "rollback". NOT_FOUND when
  // `to` is not in History(); otherwise as Commit.
  virtual absl::StatusOr<VersionInfo> Rollback(int64_t to, int64_t expected_parent) = 0;

  // What opening the store had to work around, one sentence each.
  virtual std::vector<std::string> recovery_warnings() const = 0;

  // Called (on the store's own thread, with no store lock held) after the
  // current version changed other than by this object's Commit or Rollback:
  // a commit through another replica. Set once, right after opening; a store
  // that only this process writes never calls it.
  virtual void SetChangeListener(std::function<void()> listener) {}
};

// What a provider needs to open one model's store.
struct StatsStoreModel {
  std::string name;                                    // the model's name in the repository
  std::string dir;                                     // its folder, holding model.onnx
  std::vector<BnLayerInfo> layers;                     // its BN layers, in order
  std::shared_ptr<const StatsSnapshot> onnx_snapshot;  // version 1 (must pass ValidateSnapshot)
};

class StatsStoreProvider {
 public:
  virtual ~StatsStoreProvider() = default;
  // Opens (creating when new) the store of `model`.
  virtual absl::StatusOr<std::shared_ptr<StatsStore>> Open(const StatsStoreModel& model) = 0;
  // Where the statistics live, fit for logs and error messages (no secrets).
  virtual std::string description() const = 0;
  // Called (on the provider's own thread) each time a store that was out
  // of reach can be reached again - the moment to retry opening the stores
  // that failed meanwhile. Returns once no call is running any more, so the
  // owner of the listener may go away after setting nullptr. A provider
  // that is always reachable (files) never calls it.
  virtual void SetReconnectListener(std::function<void()> listener) {}
};

}  // namespace bnserve
