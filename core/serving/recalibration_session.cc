#include "core/serving/recalibration_session.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "core/model/model_inputs.h"

namespace bnserve {
namespace {

// Everything in the request that shapes the committed version, in a fixed
// order. The model is not included: keys are per model.
RequestDigest ConfigDigest(const RecalibrationRequest& request) {
  RequestDigest digest;
  const RecalibrationOptions& options = request.options;
  digest.AddInt(static_cast<int64_t>(options.mode));
  // prior and alpha add their parameter as the value they use (unset and the
  // default are the same request); the other modes add nothing here, so
  // their digests stay what they were before these two modes existed and a
  // retry across a server upgrade is still recognised.
  if (options.mode == RecalibrationMode::kPrior) {
    digest.AddDouble(options.prior_strength.value_or(kDefaultPriorStrength));
  }
  if (options.mode == RecalibrationMode::kAlpha) digest.AddDouble(options.alpha.value_or(kDefaultAlpha));
  digest.AddInt(options.momentum.has_value() ? 1 : 0);
  digest.AddDouble(options.momentum.value_or(0.0));
  digest.AddInt(options.reset ? 1 : 0);
  digest.AddInt(static_cast<int64_t>(options.layers.size()));
  for (const std::string& layer : options.layers) digest.AddString(layer);
  digest.AddInt(static_cast<int64_t>(options.forward));
  digest.AddInt(request.expected_version);
  digest.AddString(request.note);
  return digest;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RecalibrationSession>> RecalibrationSession::Start(std::shared_ptr<ModelEntry> entry,
                                                                                  RecalibrationRequest request,
                                                                                  ThreadPool* thread_pool) {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const ServingBundle> base, entry->Acquire(VersionRequest::Current()));
  if (base->model->bn_layers().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", entry->name(), "' has no BatchNormalization layer to recalibrate"));
  }
  if (request.dry_run) request.request_id.clear();  // nothing is committed, so nothing to deduplicate
  // A retry whose first attempt committed finds the version moved on by that
  // very commit: let it through to Finish, which answers with that version.
  // Only the key is looked at here (the batches are yet to come).
  bool key_committed = false;
  if (!request.request_id.empty()) {
    BN_ASSIGN_OR_RETURN(const std::vector<VersionInfo> history, entry->History());
    for (const VersionInfo& info : history) key_committed |= info.request_id == request.request_id;
  }
  if (!key_committed && request.expected_version > 0 && request.expected_version != base->info.version) {
    return absl::AbortedError(absl::StrCat("model '", entry->name(), "': expected_version ", request.expected_version,
                                           " is not current; the current version is ", base->info.version));
  }
  // The slot first: a refused stream should not pay for building a plan.
  ModelLimits limits;
  BN_RETURN_IF_ERROR(entry->AcquireRecalibrationSlot(&limits));
  absl::StatusOr<std::shared_ptr<const StatisticsPlan>> plan = base->StatisticsPlanFor(request.options.forward);
  if (!plan.ok()) {
    entry->ReleaseRecalibrationSlot();
    return plan.status();
  }
  absl::StatusOr<std::unique_ptr<Recalibrator>> recalibrator =
      Recalibrator::Create(base->model, base->stats, request.options, *std::move(plan), thread_pool);
  if (!recalibrator.ok()) {
    entry->ReleaseRecalibrationSlot();
    return recalibrator.status();
  }
  return std::unique_ptr<RecalibrationSession>(new RecalibrationSession(
      std::move(entry), std::move(base), std::move(request), *std::move(recalibrator), std::move(limits)));
}

RecalibrationSession::RecalibrationSession(std::shared_ptr<ModelEntry> entry, std::shared_ptr<const ServingBundle> base,
                                           RecalibrationRequest request, std::unique_ptr<Recalibrator> recalibrator,
                                           ModelLimits limits)
    : entry_(std::move(entry)),
      base_(std::move(base)),
      request_(std::move(request)),
      recalibrator_(std::move(recalibrator)),
      digest_(ConfigDigest(request_)),
      limits_(std::move(limits)) {}

RecalibrationSession::~RecalibrationSession() { entry_->ReleaseRecalibrationSlot(); }

absl::Status RecalibrationSession::AddBatch(absl::Span<const TensorView> inputs) {
  // Shape errors worded against the model's declared inputs, before the
  // engine's own checks.
  std::vector<TensorView> views(inputs.begin(), inputs.end());
  BN_RETURN_IF_ERROR(ResolveBatchForm(base_->model->graph(), {}, absl::MakeSpan(views),
                                      /*allow_single_instance=*/false)
                         .status());
  const int64_t samples = views.empty() || views[0].shape.rank() == 0 ? 0 : views[0].shape[0];
  if (limits_.max_recalibration_batch_samples > 0 && samples > limits_.max_recalibration_batch_samples) {
    return absl::ResourceExhaustedError(
        absl::StrCat("model '", entry_->name(), "': a recalibration batch of ", samples, " samples exceeds the limit ",
                     limits_.max_recalibration_batch_samples, " = max_recalibration_batch_samples, set by ",
                     limits_.SourceOf("max_recalibration_batch_samples"), "; send smaller batches"));
  }
  BN_RETURN_IF_ERROR(recalibrator_->AddBatch(views));
  if (!request_.request_id.empty()) digest_.AddBatch(views);
  return absl::OkStatus();
}

absl::StatusOr<RecalibrationOutcome> RecalibrationSession::Finish() {
  RecalibrationOutcome outcome;
  outcome.model = entry_->name();
  outcome.base_version = base_->info.version;
  outcome.dry_run = request_.dry_run;
  BN_ASSIGN_OR_RETURN(StatsSnapshot stats, recalibrator_->Finish(&outcome.summary));
  if (request_.stage) {
    outcome.staged = std::make_shared<const StatsSnapshot>(std::move(stats));
    outcome.base = base_;
    outcome.staged_mode = std::string(RecalibrationModeName(request_.options.mode));
    return outcome;
  }
  if (request_.dry_run) return outcome;
  VersionInfo meta;
  meta.origin = std::string(kOriginRecalibrate);
  meta.mode = std::string(RecalibrationModeName(request_.options.mode));
  meta.batches = recalibrator_->batches();
  meta.samples = recalibrator_->samples();
  meta.note = request_.note;
  meta.request_id = request_.request_id;
  if (!meta.request_id.empty()) meta.request_digest = digest_.value();
  BN_ASSIGN_OR_RETURN(outcome.new_version, entry_->Commit(*base_, std::move(stats), std::move(meta),
                                                          request_.expected_version, &outcome.deduplicated));
  if (outcome.deduplicated) {
    outcome.base_version = outcome.new_version.parent;
    outcome.summary.batches = outcome.new_version.batches;
    outcome.summary.samples = outcome.new_version.samples;
    outcome.summary.layers.clear();
  }
  return outcome;
}

}  // namespace bnserve
