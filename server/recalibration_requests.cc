#include "absl/strings/str_cat.h"
#include "server/proto_convert.h"
#include "server/requests.h"

namespace bnserve {

absl::Status RecalibrationStream::Add(const v1::RecalibrateRequest& message) {
  const int64_t index = messages_++;
  switch (message.kind_case()) {
    case v1::RecalibrateRequest::kConfig: {
      if (session_ != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("message ", index, ": expected a batch (the config comes once, first), got a second config"));
      }
      BN_ASSIGN_OR_RETURN(RecalibrationRequest request, RecalibrationRequestFromProto(message.config()));
      model_ = message.config().model();
      dry_run_ = message.config().dry_run();
      BN_ASSIGN_OR_RETURN(session_, manager_->StartRecalibration(model_, std::move(request)));
      return absl::OkStatus();
    }
    case v1::RecalibrateRequest::kBatch: {
      if (session_ == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("message ", index, ": expected the config first, got a batch"));
      }
      const ModelLimits& limits = session_->limits();
      const int64_t bytes = static_cast<int64_t>(message.ByteSizeLong());
      if (limits.max_recalibration_message_bytes > 0 && bytes > limits.max_recalibration_message_bytes) {
        return absl::ResourceExhaustedError(
            absl::StrCat("message ", index, " (batch): model '", model_, "': a batch message of ", bytes,
                         " bytes exceeds the limit ", limits.max_recalibration_message_bytes,
                         " = max_recalibration_message_bytes, set by ",
                         limits.SourceOf("max_recalibration_message_bytes"), "; send smaller batches"));
      }
      DecodedTensors inputs;
      absl::Status added = DecodeTensors(message.batch().inputs(), "inputs", &inputs);
      if (added.ok()) added = session_->AddBatch(inputs.views);
      if (added.ok()) {
        last_batch_samples_ = inputs.views.empty() || inputs.views[0].shape.rank() == 0 ? 0 : inputs.views[0].shape[0];
        return added;
      }
      // Say which message of the stream was refused.
      return absl::Status(added.code(), absl::StrCat("message ", index, " (batch): ", added.message()));
    }
    case v1::RecalibrateRequest::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("message ", index, ": expected config or batch, got a message with neither"));
}

absl::Status RecalibrationStream::Finish(v1::RecalibrateResponse* response) {
  if (session_ == nullptr) {
    return absl::InvalidArgumentError("Recalibrate: expected a config message, the stream ended without one");
  }
  std::unique_ptr<RecalibrationSession> session = std::move(session_);
  BN_ASSIGN_OR_RETURN(RecalibrationOutcome outcome, session->Finish());
  RecalibrationOutcomeToProto(outcome, response);
  if (outcome.staged != nullptr) {
    if (adapt_ == nullptr) return absl::FailedPreconditionError("config.stage: this server keeps no candidates");
    BN_ASSIGN_OR_RETURN(const int64_t id, adapt_->StageCandidate(model_, *outcome.base, *outcome.staged,
                                                                 outcome.staged_mode, outcome.summary.samples));
    response->set_candidate_id(id);
  }
  return absl::OkStatus();
}

}  // namespace bnserve
