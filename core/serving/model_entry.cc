#include "core/serving/model_entry.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/engine/op.h"
#include "core/store/file_stats_store.h"
#include "core/util/memory_release.h"
#include "spdlog/spdlog.h"

namespace bnserve {
namespace {

// Prefixes a core error with the model it concerns, keeping its code.
absl::Status ForModel(const std::string& name, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat("model '", name, "': ", status.message()));
}

// A failed commit's status as a client should read it. The codes the file
// system derives from errno describe the disk, not the caller:
// PERMISSION_DENIED (EACCES, EPERM, EROFS: the statistics folder is not
// writable) would read as "your credentials lack a role", so it becomes
// FAILED_PRECONDITION - the server's storage must be fixed before a retry can
// succeed; OUT_OF_RANGE (EFBIG: the process's file size limit) becomes
// RESOURCE_EXHAUSTED like ENOSPC and EDQUOT, gRPC's own example of which is
// "the entire file system is out of space". Not UNAVAILABLE: that tells
// clients to retry at once, and retrying does not free disk space. The
// message (operation, path, strerror text) is kept.
absl::Status CommitError(const std::string& name, const absl::Status& status) {
  absl::StatusCode code = status.code();
  if (code == absl::StatusCode::kPermissionDenied) code = absl::StatusCode::kFailedPrecondition;
  if (code == absl::StatusCode::kOutOfRange) code = absl::StatusCode::kResourceExhausted;
  return ForModel(name, absl::Status(code, status.message()));
}

// A store's current statistics with their history entry, read consistently
// although a shared store may move on between the two reads.
struct ServedVersion {
  std::shared_ptr<const StatsSnapshot> stats;
  VersionInfo info;
};
absl::StatusOr<ServedVersion> ReadServedVersion(const StatsStore& store) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::shared_ptr<const StatsSnapshot> stats = store.current();
    std::vector<VersionInfo> history = store.History();
    if (!history.empty() && history.back().version == stats->version) {
      return ServedVersion{std::move(stats), std::move(history.back())};
    }
  }
  return absl::UnavailableError("the statistics store kept changing while its current version was read; retry");
}

}  // namespace

ModelEntry::ModelEntry(std::string name, std::string dir, ModelEntryOptions options, ModelStateListener listener)
    : name_(std::move(name)),
      dir_(std::move(dir)),
      options_(options),
      listener_(std::move(listener)),
      pinned_(options.pinned_cache_capacity) {}

ModelStatus ModelEntry::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  ModelStatus status;
  status.name = name_;
  status.state = state_;
  status.error = error_;
  status.version = bundle_ ? bundle_->info.version : 0;
  status.active_recalibrations = active_recalibrations_;
  return status;
}

void ModelEntry::SetState(ModelState state, std::string error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = state;
    error_ = std::move(error);
  }
  if (listener_) listener_(name_, state);
}

absl::StatusOr<ModelEntry::Loaded> ModelEntry::LoadFromDisk() {
  // The limits first: a bad config.json fails the load before the work.
  ModelLimits defaults;
  defaults.max_recalibration_streams = options_.max_recalibration_streams;
  defaults.drift = options_.drift;
  BN_ASSIGN_OR_RETURN(ModelLimits limits, ReadModelLimits(options_.file_system, dir_, std::move(defaults)));
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const Model> model, Model::LoadFromFile(JoinPath(dir_, "model.onnx")));
  // An unsupported operator fails the load naming the operator, the node and
  // the opset, before the statistics store is touched; the plan built below
  // then validates every op's attributes and constant inputs.
  BN_RETURN_IF_ERROR(OpRegistry::Builtin().CheckGraph(model->graph()));
  FileStatsStoreProvider files(options_.file_system);
  StatsStoreProvider* provider = options_.stats_stores != nullptr ? options_.stats_stores : &files;
  BN_ASSIGN_OR_RETURN(std::shared_ptr<StatsStore> store,
                      provider->Open(StatsStoreModel{name_, dir_, model->bn_layers(), model->file_stats()}));
  for (const std::string& warning : store->recovery_warnings()) {
    spdlog::warn("event=stats_recovery model={} warning=\"{}\"", name_, warning);
  }
  // Before reading the current version: a change after this read calls
  // SyncWithStore, which waits for this writer and then serves it.
  store->SetChangeListener([weak = weak_from_this()] {
    if (std::shared_ptr<ModelEntry> entry = weak.lock()) entry->SyncWithStore();
  });
  BN_ASSIGN_OR_RETURN(ServedVersion served, ReadServedVersion(*store));
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const InferencePlan> plan, InferencePlan::Build(model, served.stats));
  auto bundle = std::make_shared<const ServingBundle>(
      ServingBundle{std::move(model), std::move(served.stats), std::move(plan), std::move(served.info)});
  return Loaded{std::move(bundle), std::move(store), std::move(limits)};
}

absl::Status ModelEntry::LoadLocked() {
  SetState(ModelState::kLoading, "");
  spdlog::info("event=model_loading model={} dir={}", name_, dir_);
  absl::StatusOr<Loaded> loaded = LoadFromDisk();
  if (!loaded.ok()) {
    const absl::Status error = ForModel(name_, loaded.status());
    SetState(ModelState::kError, std::string(error.message()));
    spdlog::error("event=model_load_failed model={} code={} error=\"{}\"", name_,
                  absl::StatusCodeToString(error.code()), std::string(error.message()));
    return error;
  }
  pinned_.Clear();
  const int64_t version = loaded->bundle->info.version;
  const size_t layers = loaded->bundle->model->bn_layers().size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    bundle_ = std::move(loaded->bundle);
    store_ = std::move(loaded->store);
    limits_ = std::move(loaded->limits);
  }
  SetState(ModelState::kAvailable, "");
  spdlog::info("event=model_available model={} version={} bn_layers={}", name_, version, layers);
  return absl::OkStatus();
}

absl::Status ModelEntry::Load() {
  const ReleaseFreedMemoryOnExit release_freed_memory;  // after the old bundle and temporaries are gone
  std::lock_guard<std::mutex> writer(writer_mu_);
  if (status().state == ModelState::kAvailable) {
    return absl::AlreadyExistsError(absl::StrCat("model '", name_, "' is already loaded (statistics version ",
                                                 status().version, "); use ReloadModel to re-read it"));
  }
  return LoadLocked();
}

absl::Status ModelEntry::Reload() {
  const ReleaseFreedMemoryOnExit release_freed_memory;  // after the old bundle and temporaries are gone
  std::lock_guard<std::mutex> writer(writer_mu_);
  if (status().state != ModelState::kAvailable) return LoadLocked();
  spdlog::info("event=model_reloading model={}", name_);
  absl::StatusOr<Loaded> loaded = LoadFromDisk();
  if (!loaded.ok()) {
    // The old bundle keeps serving: a bad file on disk must not take a
    // working model down.
    const absl::Status error = ForModel(name_, loaded.status());
    spdlog::error("event=model_reload_failed model={} code={} error=\"{}\" still_serving=true", name_,
                  absl::StatusCodeToString(error.code()), std::string(error.message()));
    return error;
  }
  const int64_t version = loaded->bundle->info.version;
  std::shared_ptr<const ServingBundle> old_bundle;
  std::shared_ptr<StatsStore> old_store;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old_bundle = std::exchange(bundle_, std::move(loaded->bundle));
    old_store = std::exchange(store_, std::move(loaded->store));
    limits_ = std::move(loaded->limits);
  }
  pinned_.Clear();  // pinned plans belong to the old model
  spdlog::info("event=model_reloaded model={} version={}", name_, version);
  return absl::OkStatus();
}

absl::Status ModelEntry::Unload() {
  const ReleaseFreedMemoryOnExit release_freed_memory;  // after the old bundle and temporaries are gone
  std::lock_guard<std::mutex> writer(writer_mu_);
  const ModelStatus current = status();
  if (current.state != ModelState::kAvailable) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", name_, "' is not loaded (state ", ModelStateName(current.state), ")"));
  }
  SetState(ModelState::kUnloading, "");
  spdlog::info("event=model_unloading model={} version={}", name_, current.version);
  std::shared_ptr<const ServingBundle> old_bundle;
  std::shared_ptr<StatsStore> old_store;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old_bundle = std::move(bundle_);
    old_store = std::move(store_);
  }
  pinned_.Clear();
  SetState(ModelState::kUnloaded, "");
  spdlog::info("event=model_unloaded model={}", name_);
  return absl::OkStatus();
}

absl::Status ModelEntry::CopyServing(std::shared_ptr<const ServingBundle>* bundle,
                                     std::shared_ptr<StatsStore>* store) const {
  std::lock_guard<std::mutex> lock(mu_);
  switch (state_) {
    case ModelState::kAvailable:
      *bundle = bundle_;
      if (store != nullptr) *store = store_;
      return absl::OkStatus();
    case ModelState::kLoading:
      return absl::UnavailableError(absl::StrCat("model '", name_, "' is loading; retry shortly"));
    case ModelState::kError:
      return absl::FailedPreconditionError(absl::StrCat("model '", name_, "' failed to load: ", error_));
    case ModelState::kUnloading:
    case ModelState::kUnloaded:
      break;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("model '", name_, "' is not loaded (state ", ModelStateName(state_), "); LoadModel it first"));
}

absl::StatusOr<std::shared_ptr<const ServingBundle>> ModelEntry::Acquire(VersionRequest version) const {
  std::shared_ptr<const ServingBundle> current;
  std::shared_ptr<StatsStore> store;
  BN_RETURN_IF_ERROR(CopyServing(&current, version.is_current() ? nullptr : &store));
  if (version.is_current() || version.version() == current->info.version) return current;
  std::shared_ptr<const ServingBundle> cached = pinned_.Get(version.version());
  // A bundle cached for the model before a reload is not served with the
  // new model (the cache is cleared on reload, but a slow concurrent miss
  // may have put an old one back).
  if (cached != nullptr && cached->model == current->model) return cached;
  return BuildPinned(*current, *store, version.version());
}

absl::StatusOr<std::shared_ptr<const ServingBundle>> ModelEntry::BuildPinned(const ServingBundle& current,
                                                                             const StatsStore& store,
                                                                             int64_t version) const {
  absl::StatusOr<std::shared_ptr<const StatsSnapshot>> stats = store.Load(version);
  if (absl::IsNotFound(stats.status())) {
    return absl::NotFoundError(absl::StrCat("model '", name_, "' has no statistics version ", version,
                                            " (current version ", current.info.version, ")"));
  }
  if (!stats.ok()) return ForModel(name_, stats.status());
  VersionInfo info;
  for (const VersionInfo& entry : store.History()) {
    if (entry.version == version) info = entry;
  }
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const InferencePlan> plan, InferencePlan::Build(current.model, *stats));
  auto bundle = std::make_shared<const ServingBundle>(
      ServingBundle{current.model, *std::move(stats), std::move(plan), std::move(info)});
  pinned_.Put(version, bundle);
  return bundle;
}

absl::StatusOr<std::vector<VersionInfo>> ModelEntry::History() const {
  std::shared_ptr<const ServingBundle> current;
  std::shared_ptr<StatsStore> store;
  BN_RETURN_IF_ERROR(CopyServing(&current, &store));
  return store->History();
}

absl::Status ModelEntry::VersionRace(int64_t expected, int64_t current) const {
  return absl::AbortedError(absl::StrCat("model '", name_, "': expected_version ", expected,
                                         " is no longer current; the current version is ", current,
                                         "; nothing was committed"));
}

void ModelEntry::InstallCommitted(std::shared_ptr<StatsSnapshot> snapshot, std::shared_ptr<const InferencePlan> plan,
                                  const VersionInfo& info) {
  // The store numbers the version, so the snapshot learns its number only
  // now; it is still private to this thread (the plan holds it, nobody holds
  // the plan), so setting the field is race-free.
  snapshot->version = info.version;
  std::shared_ptr<const ServingBundle> old_bundle;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old_bundle = bundle_;
    bundle_ = std::make_shared<const ServingBundle>(
        ServingBundle{old_bundle->model, std::move(snapshot), std::move(plan), info});
  }
  // The version just replaced is the likeliest to be pinned next (clients
  // comparing old and new): keep its plan.
  pinned_.Put(old_bundle->info.version, old_bundle);
}

void ModelEntry::SyncWithStore() {
  const ReleaseFreedMemoryOnExit release_freed_memory;  // after the old bundle is gone
  std::lock_guard<std::mutex> writer(writer_mu_);
  SyncWithStoreLocked();
}

void ModelEntry::SyncWithStoreLocked() {
  std::shared_ptr<const ServingBundle> current;
  std::shared_ptr<StatsStore> store;
  if (!CopyServing(&current, &store).ok()) return;
  if (store->current_version() == current->info.version) return;
  absl::StatusOr<ServedVersion> served = ReadServedVersion(*store);
  absl::StatusOr<std::shared_ptr<const InferencePlan>> plan =
      served.ok() ? InferencePlan::Build(current->model, served->stats) : served.status();
  if (!plan.ok()) {
    spdlog::error("event=stats_sync_failed model={} served_version={} error=\"{}\"", name_, current->info.version,
                  std::string(plan.status().message()));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    bundle_ = std::make_shared<const ServingBundle>(
        ServingBundle{current->model, std::move(served->stats), *std::move(plan), served->info});
  }
  pinned_.Put(current->info.version, current);
  spdlog::info("event=stats_version_received model={} version={} previous={} origin={}", name_, served->info.version,
               current->info.version, served->info.origin);
}

absl::StatusOr<VersionInfo> ModelEntry::Commit(const ServingBundle& base, StatsSnapshot stats, VersionInfo meta,
                                               int64_t expected_version, bool* deduplicated) {
  const ReleaseFreedMemoryOnExit release_freed_memory;  // after the old bundle and temporaries are gone
  if (deduplicated != nullptr) *deduplicated = false;
  std::lock_guard<std::mutex> writer(writer_mu_);
  std::shared_ptr<const ServingBundle> current;
  std::shared_ptr<StatsStore> store;
  BN_RETURN_IF_ERROR(CopyServing(&current, &store));
  // Every writer of the store holds writer_mu_, so what this finds cannot
  // change before the store's own check (which stays the authority).
  absl::StatusOr<std::optional<VersionInfo>> earlier = store->FindCommittedRequest(meta);
  if (!earlier.ok()) return ForModel(name_, earlier.status());
  if (earlier->has_value()) {
    if (deduplicated != nullptr) *deduplicated = true;
    spdlog::info("event=stats_commit_deduplicated model={} version={} request_id={}", name_, (*earlier)->version,
                 meta.request_id);
    return **std::move(earlier);
  }
  if (current->model != base.model) {
    return absl::AbortedError(absl::StrCat("model '", name_,
                                           "' was reloaded while the recalibration ran; nothing was "
                                           "committed, run it again"));
  }
  const int64_t current_version = store->current_version();
  if (expected_version > 0 && expected_version != current_version) {
    return VersionRace(expected_version, current_version);
  }
  auto snapshot = std::make_shared<StatsSnapshot>(std::move(stats));
  // Plan first: a snapshot that cannot be served must not become durable.
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const InferencePlan> plan, InferencePlan::Build(current->model, snapshot));
  bool store_deduplicated = false;
  absl::StatusOr<VersionInfo> info = store->Commit(*snapshot, std::move(meta), current_version, &store_deduplicated);
  if (absl::IsAborted(info.status())) {
    SyncWithStoreLocked();  // a shared store learnt the version that won
    return VersionRace(current_version, store->current_version());
  }
  if (!info.ok()) return CommitError(name_, info.status());
  if (store_deduplicated) {  // the key was committed through another replica; never install twice
    SyncWithStoreLocked();
    if (deduplicated != nullptr) *deduplicated = true;
    return info;
  }
  InstallCommitted(std::move(snapshot), std::move(plan), *info);
  spdlog::info(
      "event=stats_committed model={} version={} parent={} origin={} mode={} batches={} samples={} request_id={}",
      name_, info->version, info->parent, info->origin, info->mode, info->batches, info->samples, info->request_id);
  return info;
}

absl::StatusOr<VersionInfo> ModelEntry::Rollback(int64_t to, int64_t expected_version) {
  const ReleaseFreedMemoryOnExit release_freed_memory;  // after the old bundle and temporaries are gone
  std::lock_guard<std::mutex> writer(writer_mu_);
  std::shared_ptr<const ServingBundle> current;
  std::shared_ptr<StatsStore> store;
  BN_RETURN_IF_ERROR(CopyServing(&current, &store));
  const int64_t current_version = store->current_version();
  if (expected_version > 0 && expected_version != current_version) {
    return VersionRace(expected_version, current_version);
  }
  absl::StatusOr<std::shared_ptr<const StatsSnapshot>> source = store->Load(to);
  if (absl::IsNotFound(source.status())) {
    return absl::NotFoundError(
        absl::StrCat("model '", name_, "' has no statistics version ", to, " (current version ", current_version, ")"));
  }
  if (!source.ok()) return ForModel(name_, source.status());
  auto snapshot = std::make_shared<StatsSnapshot>(**source);
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const InferencePlan> plan, InferencePlan::Build(current->model, snapshot));
  absl::StatusOr<VersionInfo> info = store->Rollback(to, current_version);
  if (absl::IsAborted(info.status())) {
    SyncWithStoreLocked();
    return VersionRace(current_version, store->current_version());
  }
  if (!info.ok()) return CommitError(name_, info.status());
  InstallCommitted(std::move(snapshot), std::move(plan), *info);
  spdlog::info("event=stats_rolled_back model={} version={} parent={} source={}", name_, info->version, info->parent,
               to);
  return info;
}

ModelLimits ModelEntry::limits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return limits_;
}

absl::Status ModelEntry::AcquireRecalibrationSlot(ModelLimits* limits) {
  std::lock_guard<std::mutex> lock(mu_);
  // Streams opened before a reload that lowered the limit still count.
  if (active_recalibrations_ >= limits_.max_recalibration_streams) {
    return absl::ResourceExhaustedError(
        absl::StrCat("model '", name_, "' already has ", active_recalibrations_, " recalibration streams open (limit ",
                     limits_.max_recalibration_streams, " = max_recalibration_streams, set by ",
                     limits_.SourceOf("max_recalibration_streams"), "); retry when one finishes"));
  }
  ++active_recalibrations_;
  if (limits != nullptr) *limits = limits_;
  return absl::OkStatus();
}

void ModelEntry::ReleaseRecalibrationSlot() {
  std::lock_guard<std::mutex> lock(mu_);
  --active_recalibrations_;
}

}  // namespace bnserve
