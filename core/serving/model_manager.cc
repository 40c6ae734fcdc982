#include "core/serving/model_manager.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/model/layer_selection.h"
#include "core/model/model_name.h"
#include "core/model/onnx_export.h"
#include "spdlog/spdlog.h"

namespace bnserve {

absl::StatusOr<std::unique_ptr<ModelManager>> ModelManager::Create(ModelManagerOptions options) {
  if (options.file_system == nullptr) options.file_system = DefaultFileSystem();
  absl::StatusOr<std::vector<std::string>> listing = options.file_system->ListDir(options.repository);
  if (!listing.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("model repository '", options.repository,
                                                   "': expected a readable directory: ", listing.status().message()));
  }
  if (options.intra_op_threads < 1 || options.intra_op_threads > kMaxIntraOpThreads) {
    return absl::InvalidArgumentError(
        absl::StrCat("intra_op_threads: expected 1 to ", kMaxIntraOpThreads, ", got ", options.intra_op_threads));
  }
  if (options.max_recalibration_streams < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_recalibration_streams: expected >= 1, got ", options.max_recalibration_streams));
  }
  return std::unique_ptr<ModelManager>(new ModelManager(std::move(options)));
}

ModelManager::ModelManager(ModelManagerOptions options) : options_(std::move(options)) {
  if (options_.statistics_threads > 1) {
    statistics_pool_ = std::make_unique<ThreadPool>(options_.statistics_threads, options_.statistics_nice);
  }
  if (options_.intra_op_threads > 1) intra_op_pool_ = std::make_unique<ThreadPool>(options_.intra_op_threads);
  if (options_.stats_stores != nullptr) options_.stats_stores->SetReconnectListener([this] { RetryFailedLoads(); });
}

ModelManager::~ModelManager() {
  // Waits for a retry in progress: none may start or run once this is gone.
  if (options_.stats_stores != nullptr) options_.stats_stores->SetReconnectListener(nullptr);
}

void ModelManager::RetryFailedLoads() {
  for (const ModelStatus& status : List()) {
    if (status.state != ModelState::kError) continue;
    spdlog::info("event=model_load_retry model={} reason=\"statistics store reachable again\"", status.name);
    (void)Load(status.name);
  }
}

std::string ModelManager::ModelDir(const std::string& name) const { return JoinPath(options_.repository, name); }

bool ModelManager::HasModelFile(const std::string& name) const {
  return options_.file_system->FileExists(JoinPath(ModelDir(name), "model.onnx"));
}

int ModelManager::LoadAll() {
  absl::StatusOr<std::vector<std::string>> listing = options_.file_system->ListDir(options_.repository);
  if (!listing.ok()) {
    spdlog::error("event=repository_unreadable repository={} error=\"{}\"", options_.repository,
                  std::string(listing.status().message()));
    return 0;
  }
  int available = 0;
  for (const std::string& name : *listing) {
    if (!ValidateModelName(name).ok() || !HasModelFile(name)) {
      spdlog::warn(
          "event=repository_entry_skipped repository={} entry=\"{}\" reason=\"not a folder with "
          "model.onnx and a valid model name\"",
          options_.repository, name);
      continue;
    }
    absl::StatusOr<ModelStatus> status = Load(name);
    if (status.ok() && status->state == ModelState::kAvailable) ++available;
  }
  spdlog::info("event=repository_loaded repository={} available={}", options_.repository, available);
  return available;
}

void ModelManager::Notify(const std::string& name, ModelState state) {
  std::lock_guard<std::mutex> lock(listener_mu_);
  if (listener_) listener_(name, state);
}

void ModelManager::SetStateListener(ModelStateListener listener) {
  std::lock_guard<std::mutex> lock(listener_mu_);
  listener_ = std::move(listener);
  // Replayed with listener_mu_ held: a concurrent change notifies after this
  // loop, so the listener always ends with the latest state.
  for (const ModelStatus& status : List()) {
    if (listener_) listener_(status.name, status.state);
  }
}

std::vector<ModelStatus> ModelManager::List() const {
  std::vector<std::shared_ptr<ModelEntry>> entries;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, entry] : entries_) entries.push_back(entry);
  }
  std::vector<ModelStatus> statuses;
  for (const auto& entry : entries) statuses.push_back(entry->status());
  return statuses;
}

absl::StatusOr<std::shared_ptr<ModelEntry>> ModelManager::Find(const std::string& name) const {
  BN_RETURN_IF_ERROR(ValidateModelName(name));
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(name);
    if (it != entries_.end()) return it->second;
  }
  if (HasModelFile(name)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", name, "' is in the repository but not loaded; LoadModel it first"));
  }
  std::vector<std::string> known;
  for (const ModelStatus& status : List()) known.push_back(status.name);
  return absl::NotFoundError(absl::StrCat("model '", name, "' not found in repository ", options_.repository,
                                          " (models: ", absl::StrJoin(known, ", "), ")"));
}

absl::StatusOr<std::shared_ptr<ModelEntry>> ModelManager::FindOrCreate(const std::string& name) {
  BN_RETURN_IF_ERROR(ValidateModelName(name));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(name);
  if (it != entries_.end()) return it->second;
  if (!HasModelFile(name)) {
    return absl::NotFoundError(absl::StrCat("model '", name, "': no file ", JoinPath(ModelDir(name), "model.onnx")));
  }
  ModelEntryOptions entry_options;
  entry_options.file_system = options_.file_system;
  entry_options.stats_stores = options_.stats_stores;
  entry_options.max_recalibration_streams = options_.max_recalibration_streams;
  entry_options.drift = options_.drift;
  entry_options.pinned_cache_capacity = options_.pinned_cache_capacity;
  auto entry = std::make_shared<ModelEntry>(name, ModelDir(name), entry_options,
                                            [this](const std::string& n, ModelState s) { Notify(n, s); });
  entries_.emplace(name, entry);
  return entry;
}

absl::StatusOr<ModelDescription> ModelManager::Describe(const std::string& name) const {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, Find(name));
  ModelDescription description;
  description.status = entry->status();
  absl::StatusOr<std::shared_ptr<const ServingBundle>> bundle = entry->Acquire(VersionRequest::Current());
  if (bundle.ok()) description.bundle = *std::move(bundle);
  return description;
}

absl::StatusOr<ModelLimits> ModelManager::Limits(const std::string& name) const {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, Find(name));
  return entry->limits();
}

absl::StatusOr<std::shared_ptr<ModelEntry>> ModelManager::Entry(const std::string& name) const { return Find(name); }

absl::StatusOr<ModelStatus> ModelManager::Load(const std::string& name) {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, FindOrCreate(name));
  BN_RETURN_IF_ERROR(entry->Load());
  return entry->status();
}

absl::StatusOr<ModelStatus> ModelManager::Reload(const std::string& name) {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, FindOrCreate(name));
  BN_RETURN_IF_ERROR(entry->Reload());
  return entry->status();
}

absl::StatusOr<ModelStatus> ModelManager::Unload(const std::string& name) {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, Find(name));
  BN_RETURN_IF_ERROR(entry->Unload());
  return entry->status();
}

absl::StatusOr<std::shared_ptr<const ServingBundle>> ModelManager::Acquire(const std::string& name,
                                                                           VersionRequest version) const {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, Find(name));
  return entry->Acquire(version);
}

std::shared_ptr<const ServingBundle> ModelManager::ServedBundle(const std::string& name) const {
  std::shared_ptr<ModelEntry> entry;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return nullptr;
    entry = it->second;
  }
  absl::StatusOr<std::shared_ptr<const ServingBundle>> bundle = entry->Acquire(VersionRequest::Current());
  return bundle.ok() ? *std::move(bundle) : nullptr;
}

absl::StatusOr<Prediction> ModelManager::Predict(const std::string& name, VersionRequest version,
                                                 absl::Span<const std::string> names,
                                                 absl::Span<TensorView> inputs) const {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const ServingBundle> bundle, Acquire(name, version));
  return RunAndTap(name, std::move(bundle), version.is_current(), names, inputs);
}

absl::StatusOr<Prediction> ModelManager::PredictWithBundle(std::shared_ptr<const ServingBundle> bundle,
                                                           absl::Span<const std::string> names,
                                                           absl::Span<TensorView> inputs) const {
  return RunPrediction(std::move(bundle), names, inputs, intra_op_pool_.get());
}

absl::StatusOr<Prediction> ModelManager::RunAndTap(const std::string& name, std::shared_ptr<const ServingBundle> bundle,
                                                   bool served, absl::Span<const std::string> names,
                                                   absl::Span<TensorView> inputs) const {
  absl::StatusOr<Prediction> prediction = RunPrediction(bundle, names, inputs, intra_op_pool_.get());
  if (prediction.ok() && served) {
    if (PredictionTap* tap = tap_.load(std::memory_order_acquire)) tap->OnServedPrediction(name, bundle, inputs);
  }
  return prediction;
}

std::optional<absl::StatusOr<Prediction>> ModelManager::TryPredictInline(const std::string& name,
                                                                         absl::Span<const std::string> names,
                                                                         absl::Span<TensorView> inputs) const {
  if (options_.inline_predict_budget_ns <= 0) return std::nullopt;
  std::shared_ptr<const ServingBundle> bundle = ServedBundle(name);
  if (bundle == nullptr) return std::nullopt;
  // The input floats: the count RunPrediction records its costs with.
  int64_t elements = 0;
  for (const TensorView& input : inputs) elements += input.size();
  const int64_t estimate = bundle->plan->run_cost().EstimateNanos(elements);
  if (estimate < 0 || estimate > options_.inline_predict_budget_ns) return std::nullopt;
  return RunAndTap(name, std::move(bundle), /*served=*/true, names, inputs);
}

absl::StatusOr<RunningStatsView> ModelManager::RunningStats(const std::string& name, VersionRequest version,
                                                            absl::Span<const std::string> layers) const {
  RunningStatsView view;
  BN_ASSIGN_OR_RETURN(view.bundle, Acquire(name, version));
  BN_ASSIGN_OR_RETURN(view.layers, SelectBnLayers(*view.bundle->model, layers));
  return view;
}

absl::StatusOr<BatchStatsReport> ModelManager::BatchStatistics(const std::string& name, VersionRequest version,
                                                               absl::Span<const TensorView> inputs, ForwardMode mode,
                                                               bool sort_by_drift) const {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const ServingBundle> bundle, Acquire(name, version));
  return ComputeBatchStats(*bundle, inputs, mode, sort_by_drift, statistics_pool_.get());
}

absl::StatusOr<std::unique_ptr<RecalibrationSession>> ModelManager::StartRecalibration(const std::string& name,
                                                                                       RecalibrationRequest request) {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, Find(name));
  return RecalibrationSession::Start(std::move(entry), std::move(request), statistics_pool_.get());
}

absl::StatusOr<std::vector<VersionInfo>> ModelManager::History(const std::string& name) const {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, Find(name));
  return entry->History();
}

absl::StatusOr<VersionInfo> ModelManager::Rollback(const std::string& name, int64_t to_version,
                                                   int64_t expected_version) {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, Find(name));
  return entry->Rollback(to_version, expected_version);
}

absl::StatusOr<ExportedModel> ModelManager::Export(const std::string& name, VersionRequest version) const {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const ServingBundle> bundle, Acquire(name, version));
  ExportedModel exported;
  exported.info = bundle->info;
  BN_ASSIGN_OR_RETURN(onnx::ModelProto original, bundle->model->RestoreProto());
  BN_ASSIGN_OR_RETURN(exported.bytes, ExportOnnxWithStats(std::move(original), bundle->model->bn_layers(),
                                                          *bundle->stats, bundle->model->base_dir()));
  return exported;
}

}  // namespace bnserve
