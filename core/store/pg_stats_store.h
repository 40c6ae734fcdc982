// The statistics store in PostgreSQL, shared by every replica of a
// deployment (--stats-store postgresql://...). Schema: core/store/pg_schema.h;
// design and operations: docs/stats-store-postgresql.md.
//
// PgStatsStoreProvider owns two connections and one thread: the writer
// connection (opens, commits, loads of old versions; one statement at a
// time under a mutex) and the listener connection, on which its thread
// LISTENs to the commit channel, waits on the socket, and on each
// notification (and every poll interval, and after reconnecting) brings the
// affected stores up to date and calls their change listeners. While the
// database is down, each store keeps serving what it holds; commits, rollbacks
// and loads of versions it does not hold fail with UNAVAILABLE naming the
// store; both connections reconnect with backoff, and the provider logs
// event=stats_store_lost / event=stats_store_found on each transition.
//
// PgStatsStore is one model's view: its history's metadata and current
// snapshot in memory (like FileStatsStore), the database the authority. A
// commit is one transaction: lock the model's row (SELECT ... FOR UPDATE, so
// commits of one model are serialized across replicas), look the request id
// up, compare the head with expected_parent, insert version head + 1, move
// the head, NOTIFY. A store refuses to open when the model's model.onnx hash
// differs from the one recorded in the database.
//
// Thread-safe. The provider must outlive every store it opened (a store
// unregisters itself from its provider when destroyed).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/store/pg_connection.h"
#include "core/store/stats_store.h"
#include "core/util/file_system.h"

namespace bnserve {

class PgStatsStore;

struct PgStatsStoreOptions {
  std::string conninfo;               // libpq URI or key=value string, without a password
  FileSystem* file_system = nullptr;  // reads model.onnx for its hash; nullptr: DefaultFileSystem()
  // How often the listener re-reads every model's head even without a
  // notification: the bound on staleness should a notification be lost.
  std::chrono::milliseconds poll_interval{5000};
};

class PgStatsStoreProvider : public StatsStoreProvider {
 public:
  // Checks the connection string (INVALID_ARGUMENT, see
  // CheckPgConnectionString) and starts the listener thread. Does not need
  // the database to be up: the first Open does.
  static absl::StatusOr<std::unique_ptr<PgStatsStoreProvider>> Create(PgStatsStoreOptions options);
  ~PgStatsStoreProvider() override;

  // Migrates the schema on first use, registers the model (recording its
  // model.onnx SHA-256) or checks it against the recorded one
  // (FAILED_PRECONDITION naming both hashes), and reads its history.
  // UNAVAILABLE when the database cannot be reached.
  absl::StatusOr<std::shared_ptr<StatsStore>> Open(const StatsStoreModel& model) override;
  std::string description() const override { return display_; }
  // Called after each reconnection of the listener (not its first
  // connection, unless attempts failed before it), once it has caught up.
  void SetReconnectListener(std::function<void()> listener) override;

 private:
  friend class PgStatsStore;
  PgStatsStoreProvider(PgStatsStoreOptions options, std::string display);

  // Runs `work` on the writer connection, with the schema migrated; reports
  // the store lost or found.
  template <typename Work>
  auto WithWriter(Work work) -> decltype(work(std::declval<PgConnection&>()));
  // Logs event=stats_store_lost / _found when `status` (of a call on
  // `connection`) changes what the logs last said.
  void ReportHealth(const PgConnection& connection, const absl::Status& status);
  void ListenLoop();
  // Brings the stores of `models` (all when empty) up to date on the
  // listener connection and calls the listeners of those that changed.
  absl::Status CatchUp(const std::vector<std::string>& models);
  void Unregister(const std::string& model, const PgStatsStore* store);

  const PgStatsStoreOptions options_;
  const std::string display_;

  std::mutex writer_mu_;
  PgConnection writer_;    // guarded by writer_mu_
  bool migrated_ = false;  // guarded by writer_mu_

  std::mutex health_mu_;
  bool available_ = true;  // guarded by health_mu_; what the logs last said

  std::mutex stores_mu_;
  std::map<std::string, std::weak_ptr<PgStatsStore>> stores_;  // guarded by stores_mu_

  std::mutex reconnect_mu_;                   // held while reconnect_listener_ runs
  std::function<void()> reconnect_listener_;  // guarded by reconnect_mu_

  PgConnection listener_;  // the listener thread's alone
  int wake_fd_ = -1;       // eventfd: wakes the listener to stop
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

class PgStatsStore : public StatsStore, public std::enable_shared_from_this<PgStatsStore> {
 public:
  ~PgStatsStore() override;

  int64_t current_version() const override;
  std::shared_ptr<const StatsSnapshot> current() const override;
  absl::StatusOr<std::shared_ptr<const StatsSnapshot>> Load(int64_t version) const override;
  std::vector<VersionInfo> History() const override;
  absl::StatusOr<VersionInfo> Commit(const StatsSnapshot& stats, VersionInfo meta, int64_t expected_parent,
                                     bool* deduplicated = nullptr) override;
  absl::StatusOr<std::optional<VersionInfo>> FindCommittedRequest(const VersionInfo& meta) const override;
  absl::StatusOr<VersionInfo> Rollback(int64_t to, int64_t expected_parent) override;
  std::vector<std::string> recovery_warnings() const override { return {}; }
  void SetChangeListener(std::function<void()> listener) override;

 private:
  friend class PgStatsStoreProvider;
  PgStatsStore(PgStatsStoreProvider* provider, StatsStoreModel model);

  // Reads the versions after the known ones and the new head's statistics
  // on `connection`; true when the current version changed.
  // REQUIRES: commit_mu_.
  absl::StatusOr<bool> CatchUpLocked(PgConnection& connection);
  absl::StatusOr<VersionInfo> CommitLocked(const StatsSnapshot& stats, VersionInfo meta, int64_t expected_parent,
                                           bool* deduplicated);
  // The transaction of CommitLocked on the writer connection.
  absl::StatusOr<VersionInfo> CommitTransaction(PgConnection& connection, const StatsSnapshot& stats, VersionInfo meta,
                                                int64_t expected_parent, bool* deduplicated);
  absl::StatusOr<std::shared_ptr<const StatsSnapshot>> LoadPayload(PgConnection& connection, int64_t version) const;
  void CallListener();

  PgStatsStoreProvider* const provider_;
  const StatsStoreModel model_;

  // Serializes commits and catch-ups of this store (held across their
  // statements). Acquired before state_mu_.
  std::mutex commit_mu_;
  mutable std::mutex state_mu_;  // guards the fields below; held briefly
  std::shared_ptr<const StatsSnapshot> current_;
  std::vector<VersionInfo> history_;  // versions 1..current, contiguous
  std::function<void()> listener_;
};

}  // namespace bnserve
