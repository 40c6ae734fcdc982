// The request logic of every bnserve.v1 RPC as gRPC-free functions taking
// (core, request, response), TF Serving's *_impl pattern: they validate and
// convert the request, make one call into core and fill the response. The
// gRPC handlers (bnserve_service.cc) and the stream reactors only add
// threading, cancellation and status conversion, so all of this is testable
// without a server.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "bnserve/v1/inference.pb.h"
#include "bnserve/v1/model.pb.h"
#include "bnserve/v1/recalibration.pb.h"
#include "bnserve/v1/statistics.pb.h"
#include "bnserve/v1/versions.pb.h"
#include "bnserve/v1/drift.pb.h"
#include "core/adapt/adaptation_manager.h"
#include "core/serving/batch_assembler.h"
#include "core/serving/model_manager.h"
#include "server/tensor_codec.h"

namespace bnserve {

// Limits the service enforces and reports (from the command line).
struct ServiceLimits {
  int64_t max_message_bytes = 64 << 20;               // gRPC send/receive limit
  int64_t max_stream_batch_bytes = int64_t{1} << 30;  // GetBatchStatsStream: assembled batch
};

// --- model lifecycle (model_requests.cc) ---
absl::Status ListModelsImpl(const ModelManager& manager, const ServiceLimits& limits,
                            const v1::ListModelsRequest& request, v1::ListModelsResponse* response);
absl::Status DescribeModelImpl(const ModelManager& manager, const v1::DescribeModelRequest& request,
                               v1::DescribeModelResponse* response);
absl::Status LoadModelImpl(ModelManager& manager, const v1::LoadModelRequest& request, v1::LoadModelResponse* response);
absl::Status ReloadModelImpl(ModelManager& manager, const v1::ReloadModelRequest& request,
                             v1::ReloadModelResponse* response);
absl::Status UnloadModelImpl(ModelManager& manager, const v1::UnloadModelRequest& request,
                             v1::UnloadModelResponse* response);

// --- inference (inference_requests.cc) ---
// `samples`, when given, receives the batch rows computed (for the metrics).
// A request naming a candidate_id predicts with that staged candidate from
// `adapt` (FAILED_PRECONDITION when `adapt` is null).
absl::Status PredictImpl(const ModelManager& manager, AdaptationManager* adapt, const v1::PredictRequest& request,
                         v1::PredictResponse* response, int64_t* samples = nullptr);
// PredictImpl computed on the calling thread when ModelManager::TryPredictInline
// says it is quick and cannot block; std::nullopt, with `response` untouched,
// when the call belongs on a worker (a pinned version, a model not served, a
// heavy or not yet timed plan, inputs that do not decode).
std::optional<absl::Status> TryPredictInline(const ModelManager& manager, const v1::PredictRequest& request,
                                             v1::PredictResponse* response, int64_t* samples = nullptr);

// --- statistics (statistics_requests.cc) ---
absl::Status GetRunningStatsImpl(const ModelManager& manager, const v1::GetRunningStatsRequest& request,
                                 v1::GetRunningStatsResponse* response);
absl::Status GetBatchStatsImpl(const ModelManager& manager, const v1::GetBatchStatsRequest& request,
                               v1::GetBatchStatsResponse* response);
absl::Status MomentsImpl(const v1::MomentsRequest& request, v1::MomentsResponse* response);

// GetBatchStatsStream's state: the first message's parameters and the batch
// assembled from every chunk. Not thread-safe (one per stream).
class BatchStatsStream {
 public:
  explicit BatchStatsStream(const ServiceLimits& limits) : assembler_(limits.max_stream_batch_bytes) {}
  // One chunk. Fields other than inputs must be unset or equal to the first
  // message's (INVALID_ARGUMENT naming the field otherwise).
  absl::Status Add(const v1::GetBatchStatsRequest& chunk);
  // The statistics of the whole batch. INVALID_ARGUMENT if no chunk came.
  absl::Status Finish(const ModelManager& manager, v1::GetBatchStatsResponse* response) const;

 private:
  bool started_ = false;
  v1::GetBatchStatsRequest header_;  // the first message without its inputs
  BatchAssembler assembler_;
};

// --- recalibration (recalibration_requests.cc) ---

// Recalibrate's state: a config message opens a core RecalibrationSession,
// batch messages feed it, Finish commits. Destroying it unfinished commits
// nothing. Not thread-safe (one per stream).
class RecalibrationStream {
 public:
  // `adapt` stages the result of a config.stage stream (nullptr: such a
  // stream fails at Finish).
  RecalibrationStream(ModelManager* manager, AdaptationManager* adapt) : manager_(manager), adapt_(adapt) {}
  // Config first (exactly once), then batches; INVALID_ARGUMENT for any
  // other order, and the session's errors.
  absl::Status Add(const v1::RecalibrateRequest& message);
  // Ends the stream: the dry-run summary or the committed version. The
  // model's stream slot is free again when this returns.
  absl::Status Finish(v1::RecalibrateResponse* response);
  // Ends the stream without committing (error or cancellation), freeing
  // the model's stream slot at once.
  void Abandon() { session_.reset(); }
  const std::string& model() const { return model_; }
  // Whether the config asked for a dry run (nothing is committed).
  bool dry_run() const { return dry_run_; }
  // Samples (batch rows) of the last batch Add accepted.
  int64_t last_batch_samples() const { return last_batch_samples_; }

 private:
  ModelManager* manager_;
  AdaptationManager* adapt_;
  std::string model_;
  bool dry_run_ = false;
  int64_t last_batch_samples_ = 0;
  int64_t messages_ = 0;
  std::unique_ptr<RecalibrationSession> session_;
};

// --- versions (version_requests.cc) ---
absl::Status ListVersionsImpl(const ModelManager& manager, const v1::ListVersionsRequest& request,
                              v1::ListVersionsResponse* response);
absl::Status RollbackImpl(ModelManager& manager, const v1::RollbackRequest& request, v1::RollbackResponse* response);
// The exported file as bytes; the Export reactor splits it into chunks.
absl::StatusOr<ExportedModel> ExportImpl(const ModelManager& manager, const v1::ExportRequest& request);

// --- drift monitoring and candidates (drift_requests.cc) ---
absl::Status GetDriftImpl(AdaptationManager& adapt, const v1::GetDriftRequest& request, v1::GetDriftResponse* response);
absl::Status PromoteCandidateImpl(AdaptationManager& adapt, const v1::PromoteCandidateRequest& request,
                                  v1::PromoteCandidateResponse* response);
absl::Status DiscardCandidateImpl(AdaptationManager& adapt, const v1::DiscardCandidateRequest& request,
                                  v1::DiscardCandidateResponse* response);
void DriftReportToProto(const DriftReport& report, v1::GetDriftResponse* out);

}  // namespace bnserve
