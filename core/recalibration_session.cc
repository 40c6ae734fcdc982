#include "core/recalibration_session.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "core/model_inputs.h"

namespace bnserve {
namespace {

// VersionInfo::mode: how a recalibrated version was computed.
const char* RecalibrationModeName(RecalibrationMode mode) {
  switch (mode) {
    case RecalibrationMode::kEma:
      return "ema";
    case RecalibrationMode::kCumulative:
      return "cumulative";
    case RecalibrationMode::kPopulation:
      return "population";
    case RecalibrationMode::kExact:
      return "exact";
  }
  return "unknown";
}

}  // namespace

absl::StatusOr<std::unique_ptr<RecalibrationSession>> RecalibrationSession::Start(std::shared_ptr<ModelEntry> entry,
                                                                                  RecalibrationRequest request) {
  BN_ASSIGN_OR_RETURN(std::shared_ptr<const ServingBundle> base, entry->Acquire(VersionRequest::Current()));
  if (base->model->bn_layers().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", entry->name(), "' has no BatchNormalization layer to recalibrate"));
  }
  if (request.expected_version > 0 && request.expected_version != base->info.version) {
    return absl::AbortedError(absl::StrCat("model '", entry->name(), "': expected_version ", request.expected_version,
                                           " is not current; the current version is ", base->info.version));
  }
  // The slot first: a refused stream should not pay for building a plan.
  BN_RETURN_IF_ERROR(entry->AcquireRecalibrationSlot());
  absl::StatusOr<std::shared_ptr<const StatisticsPlan>> plan = base->StatisticsPlanFor(request.options.forward);
  if (!plan.ok()) {
    entry->ReleaseRecalibrationSlot();
    return plan.status();
  }
  absl::StatusOr<std::unique_ptr<Recalibrator>> recalibrator =
      Recalibrator::Create(base->model, base->stats, request.options, *std::move(plan));
  if (!recalibrator.ok()) {
    entry->ReleaseRecalibrationSlot();
    return recalibrator.status();
  }
  return std::unique_ptr<RecalibrationSession>(
      new RecalibrationSession(std::move(entry), std::move(base), std::move(request), *std::move(recalibrator)));
}

RecalibrationSession::RecalibrationSession(std::shared_ptr<ModelEntry> entry, std::shared_ptr<const ServingBundle> base,
                                           RecalibrationRequest request, std::unique_ptr<Recalibrator> recalibrator)
    : entry_(std::move(entry)),
      base_(std::move(base)),
      request_(std::move(request)),
      recalibrator_(std::move(recalibrator)) {}

RecalibrationSession::~RecalibrationSession() { entry_->ReleaseRecalibrationSlot(); }

absl::Status RecalibrationSession::AddBatch(absl::Span<const TensorView> inputs) {
  // Shape errors worded against the model's declared inputs, before the
  // engine's own checks.
  std::vector<TensorView> views(inputs.begin(), inputs.end());
  BN_RETURN_IF_ERROR(ResolveBatchForm(base_->model->graph(), {}, absl::MakeSpan(views),
                                      /*allow_single_instance=*/false)
                         .status());
  return recalibrator_->AddBatch(views);
}

absl::StatusOr<RecalibrationOutcome> RecalibrationSession::Finish() {
  RecalibrationOutcome outcome;
  outcome.model = entry_->name();
  outcome.base_version = base_->info.version;
  outcome.dry_run = request_.dry_run;
  BN_ASSIGN_OR_RETURN(StatsSnapshot stats, recalibrator_->Finish(&outcome.summary));
  if (request_.dry_run) return outcome;
  VersionInfo meta;
  meta.origin = std::string(kOriginRecalibrate);
  meta.mode = RecalibrationModeName(request_.options.mode);
  meta.batches = recalibrator_->batches();
  meta.samples = recalibrator_->samples();
  meta.note = request_.note;
  BN_ASSIGN_OR_RETURN(outcome.new_version,
                      entry_->Commit(*base_, std::move(stats), std::move(meta), request_.expected_version));
  return outcome;
}

}  // namespace bnserve
