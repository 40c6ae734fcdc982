// FileStatsStore: the StatsStore (core/store/stats_store.h) of one model in
// its own folder - the default, for a single replica.
//
// Version 1 is what model.onnx carries (handed to Open, never written). Every
// later version is a file in <model_dir>/stats/ and CURRENT names the live
// one (layout and format: docs/stats-file-format.md). A commit is durable
// before it is acknowledged, and a crash at any moment leaves either the old
// or the new version: a restart serves exactly the last committed version.
// History is append-only: a rollback commits a copy of an old version.
//
// Memory stays bounded: the history's metadata is kept in memory, snapshots
// are read from disk on demand (Load), except the current one and version 1.
//
// Thread-safety: all methods may be called concurrently. Commits (and
// rollbacks) are serialized by a mutex held across their I/O; readers of
// current()/current_version()/History() take only a short second mutex, so
// they never wait for a writer's fsync (LevelDB's LogAndApply unlocks during
// the manifest write for the same reason). Both are std::mutex rather than
// absl::Mutex: Debian's Abseil is not built with ThreadSanitizer, so TSan
// cannot see absl::Mutex's synchronization and reports false races, while it
// does understand the pthread calls behind std::mutex. The FileSystem is not
// owned and must outlive the store.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/stats/bn_layer.h"
#include "core/stats/stats_snapshot.h"
#include "core/store/stats_store.h"
#include "core/store/version_info.h"
#include "core/util/file_system.h"
#include "core/util/status.h"

namespace bnserve {

class FileStatsStore : public StatsStore {
 public:
  // Opens (creating <model_dir>/stats/ if needed) the store of the model whose
  // BN layers are `layers` and whose ONNX statistics are `onnx_snapshot`
  // (version 1; must pass ValidateSnapshot). Removes leftover temporary files,
  // validates every version file and serves the version CURRENT names. When
  // CURRENT is missing (but version files exist), malformed, or names a
  // missing or corrupt file, serves the newest intact version not newer than
  // the one CURRENT names (the newest overall when CURRENT is unusable) and
  // records a recovery warning. Corrupt files and files written for other
  // layers (model.onnx replaced) are reported in the warnings and left
  // untouched. Errors: INVALID_ARGUMENT for a bad onnx_snapshot, and I/O
  // errors (other than a missing file) as the FileSystem reports them - an
  // unreadable disk is not guessed around.
  static absl::StatusOr<std::unique_ptr<FileStatsStore>> Open(FileSystem* fs, const std::string& model_dir,
                                                              const std::vector<BnLayerInfo>& layers,
                                                              std::shared_ptr<const StatsSnapshot> onnx_snapshot);

  FileStatsStore(const FileStatsStore&) = delete;
  FileStatsStore& operator=(const FileStatsStore&) = delete;

  int64_t current_version() const override;
  // The served statistics; snapshot->version == current_version().
  std::shared_ptr<const StatsSnapshot> current() const override;

  // The statistics of `version`, read from disk unless it is the current one
  // or version 1. NOT_FOUND for a version not in History(); DATA_LOSS if its
  // file has been damaged since Open.
  absl::StatusOr<std::shared_ptr<const StatsSnapshot>> Load(int64_t version) const override;

  // The lineage of the current version, oldest first: version 1 (origin
  // "onnx"), then each committed version whose successor names it as parent.
  // Files on disk outside that lineage (a commit that crashed before updating
  // CURRENT) are not listed.
  std::vector<VersionInfo> History() const override;

  // Commits `stats` as a new version if current_version() == expected_parent,
  // else ABORTED naming both versions (another writer got there first). The
  // new version's number is above every file in stats/ - normally
  // current_version() + 1. The store fills meta.version and meta.parent, and
  // meta.created_unix_ms when it is <= 0; an empty origin means
  // "recalibrate". INVALID_ARGUMENT when `stats` fails ValidateSnapshot or
  // meta is unusable (origin "onnx", negative counters). Durable before
  // returning OK. On an I/O error the in-memory state and the version a
  // restart would serve stay unchanged (the commit's files are removed, a
  // replaced CURRENT is restored) and the error is returned.
  //
  // Idempotency: when meta.request_id names a version in History(), nothing
  // is committed whatever expected_parent says, and that earlier version is
  // returned with *deduplicated (when given) set to true - if its
  // request_digest equals meta.request_digest; ALREADY_EXISTS naming the
  // version otherwise (the key was reused for a different request). Checked
  // with the commit lock held, so of two concurrent commits with one key
  // exactly one writes. Keys are remembered as long as their version is in
  // the history: a rollback keeps them, a recovery that drops a damaged
  // version from the lineage forgets its key.
  absl::StatusOr<VersionInfo> Commit(const StatsSnapshot& stats, VersionInfo meta, int64_t expected_parent,
                                     bool* deduplicated = nullptr) override;

  // The committed version whose request_id is `meta.request_id` when its
  // request_digest matches meta's; nullopt when the key is empty or unknown;
  // ALREADY_EXISTS when the key was used for a different request. A cheap
  // early look for callers; Commit repeats it under its lock.
  absl::StatusOr<std::optional<VersionInfo>> FindCommittedRequest(const VersionInfo& meta) const override;

  // Commits a copy of version `to` as a new version with origin "rollback"
  // (history stays append-only). NOT_FOUND when `to` is not in History();
  // otherwise as Commit.
  absl::StatusOr<VersionInfo> Rollback(int64_t to, int64_t expected_parent) override;

  // What Open had to work around (fallbacks, corrupt or foreign files, stale
  // temporary files it could not remove), one sentence each. Fixed after Open.
  std::vector<std::string> recovery_warnings() const override { return recovery_warnings_; }

 private:
  FileStatsStore(FileSystem* fs, std::string stats_dir, std::vector<BnLayerInfo> layers,
                 std::shared_ptr<const StatsSnapshot> onnx_snapshot);

  // Open's work after construction: fills the fields below and the warnings,
  // in four phases: scan stats/, choose the served version, trace its
  // lineage, install it.
  absl::Status Recover();
  // What stats/ holds: the version files fit to serve (leftover temporary
  // files are removed on the way), the highest version any file name uses,
  // and whether CURRENT and any version file exist.
  struct DiskScan {
    std::map<int64_t, VersionInfo> intact;
    int64_t highest_seen = 1;
    bool any_version_file = false;
    bool current_exists = false;
  };
  absl::StatusOr<DiskScan> ScanStatsDir();
  // The history of version file `path` when it is fit to serve; nullopt (with
  // a warning) when it is corrupt, misnamed or belongs to another model.
  // Errors only when the file cannot be read at all.
  absl::StatusOr<std::optional<VersionInfo>> ReadIntactVersion(const std::string& path, int64_t version);
  // The version to serve: CURRENT's when intact, else the newest intact
  // version not newer than it. Raises scan->highest_seen to what CURRENT names.
  absl::StatusOr<int64_t> ChooseServedVersion(DiskScan* scan);
  // The served version's history, version 1 first, following parent links
  // across damaged ancestors.
  std::vector<VersionInfo> Lineage(const std::map<int64_t, VersionInfo>& intact, int64_t current_version);
  // Commit with commit_mu_ held.
  absl::StatusOr<VersionInfo> CommitLocked(const StatsSnapshot& stats, VersionInfo meta, int64_t expected_parent,
                                           bool* deduplicated);
  absl::StatusOr<std::shared_ptr<const StatsSnapshot>> LoadFromDisk(int64_t version) const;
  std::string VersionPath(int64_t version) const;
  std::string CurrentPath() const;

  FileSystem* const fs_;
  const std::string stats_dir_;
  const std::vector<BnLayerInfo> layers_;
  const std::shared_ptr<const StatsSnapshot> onnx_snapshot_;
  std::vector<std::string> recovery_warnings_;  // written only by Open

  // Serializes writers, held across their I/O. Acquired before state_mu_.
  std::mutex commit_mu_;
  // Guards the three fields below, the state readers see; held only for a
  // few instructions. Only holders of commit_mu_ modify them.
  mutable std::mutex state_mu_;
  std::shared_ptr<const StatsSnapshot> current_;
  std::vector<VersionInfo> history_;  // ascending versions, history_.back() is current
  // Lowest version number above every file ever seen in stats/ (and the one
  // CURRENT named): the next commit's number, so no file is overwritten.
  int64_t next_version_ = 2;
};

// Opens FileStatsStores through one FileSystem (not owned; outlives the
// provider and its stores).
class FileStatsStoreProvider : public StatsStoreProvider {
 public:
  explicit FileStatsStoreProvider(FileSystem* fs) : fs_(fs) {}
  absl::StatusOr<std::shared_ptr<StatsStore>> Open(const StatsStoreModel& model) override;
  std::string description() const override { return "files (<model>/stats/)"; }

 private:
  FileSystem* const fs_;
};

}  // namespace bnserve
