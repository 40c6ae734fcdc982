#include "core/store/pg_stats_store.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/store/pg_schema.h"
#include "core/store/stats_file.h"
#include "core/util/crash_point.h"
#include "openssl/sha.h"
#include "spdlog/spdlog.h"

namespace bnserve {
namespace {

// The history columns, in VersionInfoFromRow's order.
constexpr char kVersionColumns[] =
    "version, parent, created_unix_ms, origin, mode, batches, samples, request_id, request_digest, note";

absl::StatusOr<VersionInfo> VersionInfoFromRow(const PgResult& rows, int row) {
  VersionInfo info;
  BN_ASSIGN_OR_RETURN(info.version, rows.integer(row, 0));
  BN_ASSIGN_OR_RETURN(info.parent, rows.integer(row, 1));
  BN_ASSIGN_OR_RETURN(info.created_unix_ms, rows.integer(row, 2));
  info.origin = rows.text(row, 3);
  info.mode = rows.text(row, 4);
  BN_ASSIGN_OR_RETURN(info.batches, rows.integer(row, 5));
  BN_ASSIGN_OR_RETURN(info.samples, rows.integer(row, 6));
  info.request_id = rows.text(row, 7);
  BN_ASSIGN_OR_RETURN(const int64_t digest, rows.integer(row, 8));
  info.request_digest = static_cast<uint32_t>(digest);
  info.note = rows.text(row, 9);
  return info;
}

VersionInfo OnnxVersionInfo() {
  VersionInfo info;
  info.version = 1;
  info.origin = std::string(kOriginOnnx);
  info.note = "statistics stored in model.onnx";
  return info;
}

int64_t NowUnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Sha256Hex(absl::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

PgParam Text(std::string value) { return PgParam{std::move(value), false}; }

}  // namespace

// ---- provider

absl::StatusOr<std::unique_ptr<PgStatsStoreProvider>> PgStatsStoreProvider::Create(PgStatsStoreOptions options) {
  BN_ASSIGN_OR_RETURN(std::string display, CheckPgConnectionString(options.conninfo));
  if (options.file_system == nullptr) options.file_system = DefaultFileSystem();
  std::unique_ptr<PgStatsStoreProvider> provider(new PgStatsStoreProvider(std::move(options), std::move(display)));
  provider->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (provider->wake_fd_ < 0) return absl::InternalError("statistics store: eventfd failed");
  provider->thread_ = std::thread([p = provider.get()] { p->ListenLoop(); });
  return provider;
}

PgStatsStoreProvider::PgStatsStoreProvider(PgStatsStoreOptions options, std::string display)
    : options_(std::move(options)),
      display_(std::move(display)),
      writer_(options_.conninfo, display_),
      listener_(options_.conninfo, display_) {}

PgStatsStoreProvider::~PgStatsStoreProvider() {
  stopping_ = true;
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void PgStatsStoreProvider::ReportHealth(const PgConnection& connection, const absl::Status& status) {
  // A statement's own error says nothing of the link, nor does a call
  // refused without trying during the reconnection backoff.
  if (!status.ok() && (!absl::IsUnavailable(status) || connection.skipped_attempt())) return;
  std::lock_guard<std::mutex> lock(health_mu_);
  if (status.ok() && !available_) {
    spdlog::info("event=stats_store_found store={}", display_);
  } else if (!status.ok() && available_) {
    spdlog::error("event=stats_store_lost store={} error=\"{}\"", display_, std::string(status.message()));
  }
  available_ = status.ok();
}

template <typename Work>
auto PgStatsStoreProvider::WithWriter(Work work) -> decltype(work(std::declval<PgConnection&>())) {
  std::lock_guard<std::mutex> lock(writer_mu_);
  if (!migrated_) {
    const absl::Status migrated = MigratePgSchema(writer_);
    ReportHealth(writer_, migrated);
    if (!migrated.ok()) return migrated;
    migrated_ = true;
  }
  auto result = work(writer_);
  ReportHealth(writer_, StatusOf(result));
  return result;
}

absl::StatusOr<std::shared_ptr<StatsStore>> PgStatsStoreProvider::Open(const StatsStoreModel& model) {
  if (model.onnx_snapshot == nullptr || model.onnx_snapshot->version != 1) {
    return absl::InvalidArgumentError("PgStatsStoreProvider::Open: expected the ONNX snapshot as version 1");
  }
  if (absl::Status s = ValidateSnapshot(model.layers, *model.onnx_snapshot); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("ONNX snapshot of '", model.dir, "': ", s.message()));
  }
  BN_ASSIGN_OR_RETURN(const std::string onnx_bytes, options_.file_system->ReadFile(JoinPath(model.dir, "model.onnx")));
  const std::string sha256 = Sha256Hex(onnx_bytes);
  std::shared_ptr<PgStatsStore> store(new PgStatsStore(this, model));
  BN_RETURN_IF_ERROR(WithWriter([&](PgConnection& db) -> absl::Status {
    BN_RETURN_IF_ERROR(db.Exec("INSERT INTO bnserve_models (name, onnx_sha256) VALUES ($1, $2) "
                               "ON CONFLICT (name) DO NOTHING",
                               {Text(model.name), Text(sha256)})
                           .status());
    BN_ASSIGN_OR_RETURN(PgResult rows,
                        db.Exec("SELECT onnx_sha256 FROM bnserve_models WHERE name = $1", {Text(model.name)}));
    if (rows.rows() != 1) {
      return absl::InternalError(absl::StrCat("statistics store ", display_, ": model '", model.name,
                                              "' vanished from bnserve_models right after it was registered"));
    }
    const std::string recorded = rows.text(0, 0);
    if (recorded != sha256) {
      return absl::FailedPreconditionError(absl::StrCat(
          "model.onnx has SHA-256 ", sha256, " but the statistics in ", display_,
          " were computed for a model.onnx with SHA-256 ", recorded,
          "; refusing them (deploy the same model file on every replica, or give the new model a new name)"));
    }
    std::lock_guard<std::mutex> lock(store->commit_mu_);
    return store->CatchUpLocked(db).status();
  }));
  {
    std::lock_guard<std::mutex> lock(stores_mu_);
    stores_[model.name] = store;
  }
  return std::shared_ptr<StatsStore>(std::move(store));
}

void PgStatsStoreProvider::SetReconnectListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(reconnect_mu_);
  reconnect_listener_ = std::move(listener);
}

void PgStatsStoreProvider::Unregister(const std::string& model, const PgStatsStore* store) {
  std::lock_guard<std::mutex> lock(stores_mu_);
  auto it = stores_.find(model);
  // Called from the store's destructor, when its weak_ptr has expired; a
  // reload's newer store (alive) stays registered.
  if (it != stores_.end() && it->second.expired()) stores_.erase(it);
}

absl::Status PgStatsStoreProvider::CatchUp(const std::vector<std::string>& models) {
  std::vector<std::shared_ptr<PgStatsStore>> stores;
  {
    std::lock_guard<std::mutex> lock(stores_mu_);
    for (const auto& [name, weak] : stores_) {
      if (!models.empty() && std::find(models.begin(), models.end(), name) == models.end()) continue;
      if (std::shared_ptr<PgStatsStore> store = weak.lock()) stores.push_back(std::move(store));
    }
  }
  for (const std::shared_ptr<PgStatsStore>& store : stores) {
    absl::StatusOr<bool> changed;
    {
      std::lock_guard<std::mutex> lock(store->commit_mu_);
      changed = store->CatchUpLocked(listener_);
    }
    if (absl::IsUnavailable(changed.status())) return changed.status();
    if (!changed.ok()) {
      spdlog::error("event=stats_catch_up_failed store={} model={} error=\"{}\"", display_, store->model_.name,
                    std::string(changed.status().message()));
      continue;
    }
    if (*changed) store->CallListener();
  }
  return absl::OkStatus();
}

void PgStatsStoreProvider::ListenLoop() {
  auto next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
  // False only until the first connection or failed attempt: every later
  // connection follows a time the database was out of reach.
  bool reconnection = false;
  while (!stopping_) {
    if (!listener_.connected()) {
      absl::Status status = listener_.EnsureConnected();
      if (status.ok()) status = listener_.Exec(absl::StrCat("LISTEN ", kPgStatsChannel)).status();
      if (status.ok()) status = CatchUp({});  // whatever was committed while we were away
      ReportHealth(listener_, status);
      if (!status.ok()) {
        reconnection = true;
        listener_.Reset();
        pollfd wake{wake_fd_, POLLIN, 0};
        poll(&wake, 1, 100);  // EnsureConnected's backoff spaces the real attempts
        continue;
      }
      next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
      if (reconnection) {
        std::lock_guard<std::mutex> lock(reconnect_mu_);
        if (reconnect_listener_) reconnect_listener_();
      }
      reconnection = true;
    }
    // Notifications that arrived during the last catch-up's queries already
    // sit in libpq's queue, where the socket no longer shows them: take
    // them before waiting.
    absl::StatusOr<std::vector<std::string>> models = listener_.TakeNotifications();
    if (!models.ok()) {
      ReportHealth(listener_, models.status());
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (models->empty() && now < next_poll) {
      const int timeout_ms = static_cast<int>(
          std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(next_poll - now).count()));
      pollfd fds[2] = {{listener_.socket(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      poll(fds, 2, timeout_ms);
      continue;  // stopping_ is checked at the top; EINTR just loops
    }
    absl::Status status;
    if (std::chrono::steady_clock::now() >= next_poll) {
      status = CatchUp({});
      next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
    } else if (!models->empty()) {
      std::sort(models->begin(), models->end());
      models->erase(std::unique(models->begin(), models->end()), models->end());
      status = CatchUp(*models);
    }
    if (!status.ok()) {
      ReportHealth(listener_, status);
      listener_.Reset();
    }
  }
}

// ---- one model's store

PgStatsStore::PgStatsStore(PgStatsStoreProvider* provider, StatsStoreModel model)
    : provider_(provider), model_(std::move(model)) {
  current_ = model_.onnx_snapshot;
  history_.push_back(OnnxVersionInfo());
}

PgStatsStore::~PgStatsStore() { provider_->Unregister(model_.name, this); }

int64_t PgStatsStore::current_version() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return current_->version;
}

std::shared_ptr<const StatsSnapshot> PgStatsStore::current() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return current_;
}

std::vector<VersionInfo> PgStatsStore::History() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return history_;
}

void PgStatsStore::SetChangeListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(state_mu_);
  listener_ = std::move(listener);
}

void PgStatsStore::CallListener() {
  std::function<void()> listener;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    listener = listener_;
  }
  if (listener) listener();
}

absl::StatusOr<std::shared_ptr<const StatsSnapshot>> PgStatsStore::Load(int64_t version) const {
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    if (version == current_->version) return current_;
    if (version < 1 || version > history_.back().version) {
      return absl::NotFoundError(absl::StrCat("statistics version ", version, " is not in the history of model '",
                                              model_.name, "' (current version ", current_->version, ")"));
    }
  }
  if (version == 1) return model_.onnx_snapshot;
  return provider_->WithWriter([&](PgConnection& db) { return LoadPayload(db, version); });
}

absl::StatusOr<std::shared_ptr<const StatsSnapshot>> PgStatsStore::LoadPayload(PgConnection& db,
                                                                               int64_t version) const {
  BN_ASSIGN_OR_RETURN(PgResult rows,
                      db.Exec("SELECT payload FROM bnserve_versions WHERE model = $1 AND version = $2",
                              {Text(model_.name), Text(absl::StrCat(version))}, /*binary_results=*/true));
  const std::string source = absl::StrCat(provider_->display_, " model '", model_.name, "' version ", version);
  if (rows.rows() != 1) return absl::DataLossError(absl::StrCat("statistics store: ", source, " has no row"));
  BN_ASSIGN_OR_RETURN(StatsFileContents contents, DecodeStatsFile(rows.text(0, 0), source));
  if (contents.info.version != version) {
    return absl::DataLossError(absl::StrCat(source, ": its payload says version ", contents.info.version));
  }
  if (std::optional<std::string> mismatch = StatsFileLayerMismatch(model_.layers, contents)) {
    return absl::DataLossError(absl::StrCat(source, " does not match the model: ", *mismatch));
  }
  return std::make_shared<const StatsSnapshot>(std::move(contents.snapshot));
}

absl::StatusOr<bool> PgStatsStore::CatchUpLocked(PgConnection& db) {
  int64_t known;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    known = history_.back().version;
  }
  BN_ASSIGN_OR_RETURN(PgResult rows, db.Exec(absl::StrCat("SELECT ", kVersionColumns,
                                                          " FROM bnserve_versions WHERE model = $1 AND version > $2 "
                                                          "ORDER BY version"),
                                             {Text(model_.name), Text(absl::StrCat(known))}));
  if (rows.rows() == 0) return false;
  std::vector<VersionInfo> added;
  for (int r = 0; r < rows.rows(); ++r) {
    BN_ASSIGN_OR_RETURN(VersionInfo info, VersionInfoFromRow(rows, r));
    const int64_t expected = known + 1 + r;
    if (info.version != expected || info.parent != expected - 1) {
      return absl::DataLossError(absl::StrCat("statistics store ", provider_->display_, " model '", model_.name,
                                              "': expected version ", expected, " with parent ", expected - 1,
                                              ", found version ", info.version, " with parent ", info.parent));
    }
    added.push_back(std::move(info));
  }
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const StatsSnapshot> snapshot, LoadPayload(db, added.back().version));
  std::lock_guard<std::mutex> lock(state_mu_);
  history_.insert(history_.end(), std::make_move_iterator(added.begin()), std::make_move_iterator(added.end()));
  current_ = std::move(snapshot);
  return true;
}

absl::StatusOr<std::optional<VersionInfo>> PgStatsStore::FindCommittedRequest(const VersionInfo& meta) const {
  if (meta.request_id.empty()) return std::nullopt;
  std::lock_guard<std::mutex> lock(state_mu_);
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
    if (it->request_id != meta.request_id) continue;
    if (it->request_digest != meta.request_digest) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "request_id '%s' was already used by version %d for a different request (request digest %08x, this one "
          "%08x); nothing was committed - a new recalibration needs a new request_id",
          absl::CHexEscape(meta.request_id), it->version, it->request_digest, meta.request_digest));
    }
    return *it;
  }
  return std::nullopt;
}

absl::StatusOr<VersionInfo> PgStatsStore::Commit(const StatsSnapshot& stats, VersionInfo meta, int64_t expected_parent,
                                                 bool* deduplicated) {
  std::lock_guard<std::mutex> commit_lock(commit_mu_);
  return CommitLocked(stats, std::move(meta), expected_parent, deduplicated);
}

absl::StatusOr<VersionInfo> PgStatsStore::Rollback(int64_t to, int64_t expected_parent) {
  std::lock_guard<std::mutex> commit_lock(commit_mu_);
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const StatsSnapshot> source, Load(to));
  VersionInfo meta;
  meta.origin = std::string(kOriginRollback);
  meta.note = absl::StrCat("rollback to version ", to);
  return CommitLocked(*source, std::move(meta), expected_parent, /*deduplicated=*/nullptr);
}

absl::StatusOr<VersionInfo> PgStatsStore::CommitLocked(const StatsSnapshot& stats, VersionInfo meta,
                                                       int64_t expected_parent, bool* deduplicated) {
  if (deduplicated != nullptr) *deduplicated = false;
  const std::string where = absl::StrCat("commit of model '", model_.name, "' to ", provider_->display_);
  if (absl::Status s = ValidateSnapshot(model_.layers, stats); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
  }
  if (meta.origin.empty()) meta.origin = std::string(kOriginRecalibrate);
  if (meta.origin == kOriginOnnx) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": origin \"", kOriginOnnx, "\" is reserved for version 1"));
  }
  if (meta.created_unix_ms <= 0) meta.created_unix_ms = NowUnixMillis();
  return provider_->WithWriter([&](PgConnection& db) -> absl::StatusOr<VersionInfo> {
    BN_RETURN_IF_ERROR(db.Exec("BEGIN").status());
    absl::StatusOr<VersionInfo> info = CommitTransaction(db, stats, meta, expected_parent, deduplicated);
    if (!info.ok() && db.connected()) (void)db.Exec("ROLLBACK");
    // What the transaction found may be newer than what this store knew
    // (a commit through another replica): learn it now, so that the caller
    // sees the winner of a race at once.
    if (!info.ok() || (deduplicated != nullptr && *deduplicated)) {
      if (db.connected()) (void)CatchUpLocked(db);
    }
    return info;
  });
}

absl::StatusOr<VersionInfo> PgStatsStore::CommitTransaction(PgConnection& db, const StatsSnapshot& stats,
                                                            VersionInfo meta, int64_t expected_parent,
                                                            bool* deduplicated) {
  const std::string where = absl::StrCat("commit of model '", model_.name, "' to ", provider_->display_);
  // The row lock serializes this model's commits across every replica.
  BN_ASSIGN_OR_RETURN(PgResult head_row,
                      db.Exec("SELECT head FROM bnserve_models WHERE name = $1 FOR UPDATE", {Text(model_.name)}));
  if (head_row.rows() != 1) {
    return absl::FailedPreconditionError(absl::StrCat(where, ": the model is not registered in the store any more"));
  }
  BN_ASSIGN_OR_RETURN(const int64_t head, head_row.integer(0, 0));
  if (!meta.request_id.empty()) {
    BN_ASSIGN_OR_RETURN(
        PgResult earlier,
        db.Exec(absl::StrCat("SELECT ", kVersionColumns, " FROM bnserve_versions WHERE model = $1 AND request_id = $2"),
                {Text(model_.name), Text(meta.request_id)}));
    if (earlier.rows() == 1) {
      BN_ASSIGN_OR_RETURN(VersionInfo info, VersionInfoFromRow(earlier, 0));
      if (info.request_digest != meta.request_digest) {
        return absl::AlreadyExistsError(absl::StrFormat(
            "request_id '%s' was already used by version %d for a different request (request digest %08x, this "
            "one %08x); nothing was committed - a new recalibration needs a new request_id",
            absl::CHexEscape(meta.request_id), info.version, info.request_digest, meta.request_digest));
      }
      BN_RETURN_IF_ERROR(db.Exec("ROLLBACK").status());
      if (deduplicated != nullptr) *deduplicated = true;
      return info;
    }
  }
  if (head != expected_parent) {
    return absl::AbortedError(
        absl::StrCat(where, ": expected to build on version ", expected_parent, " but the current version is ", head));
  }
  meta.version = head + 1;
  meta.parent = head;
  StatsFileContents contents;
  contents.info = meta;
  contents.snapshot = stats;
  contents.snapshot.version = meta.version;
  for (const BnLayerInfo& layer : model_.layers) contents.layer_names.push_back(layer.name);
  absl::StatusOr<std::string> payload = EncodeStatsFile(contents);
  if (!payload.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", payload.status().message()));
  BN_RETURN_IF_ERROR(
      db.Exec("INSERT INTO bnserve_versions (model, version, parent, created_unix_ms, origin, mode, batches, samples, "
              "request_id, request_digest, note, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
              {Text(model_.name), Text(absl::StrCat(meta.version)), Text(absl::StrCat(meta.parent)),
               Text(absl::StrCat(meta.created_unix_ms)), Text(meta.origin), Text(meta.mode),
               Text(absl::StrCat(meta.batches)), Text(absl::StrCat(meta.samples)), Text(meta.request_id),
               Text(absl::StrCat(meta.request_digest)), Text(meta.note), PgParam{*std::move(payload), true}})
          .status());
  BN_RETURN_IF_ERROR(db.Exec("UPDATE bnserve_models SET head = $2 WHERE name = $1",
                             {Text(model_.name), Text(absl::StrCat(meta.version))})
                         .status());
  BN_RETURN_IF_ERROR(db.Exec("SELECT pg_notify($1, $2)", {Text(kPgStatsChannel), Text(model_.name)}).status());
  MaybeCrashAt("pg_before_commit");  // everything written, the transaction still open
  absl::Status committed = db.Exec("COMMIT").status();
  if (absl::IsUnavailable(committed)) {
    return absl::UnavailableError(
        absl::StrCat(where, ": the connection was lost during COMMIT, so whether version ", meta.version,
                     " was committed is unknown; retry with the same request_id (a committed one is then returned): ",
                     committed.message()));
  }
  BN_RETURN_IF_ERROR(committed);
  MaybeCrashAt("pg_after_commit");  // committed, not yet served nor acknowledged
  auto snapshot = std::make_shared<const StatsSnapshot>(std::move(contents.snapshot));
  std::lock_guard<std::mutex> lock(state_mu_);
  if (history_.back().version == meta.parent) {
    history_.push_back(meta);
    current_ = std::move(snapshot);
  }
  return meta;
}

}  // namespace bnserve
