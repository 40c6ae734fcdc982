#include "server/bnserve_service.h"

#include "server/auth/call_auth.h"
#include "server/predict_call.h"
#include "server/reactors.h"

namespace bnserve {
namespace {

// Counts a commit attempt in the metrics: a request naming no valid model,
// version or candidate attempted none.
absl::Status RecordCommitAttempt(const CallEnv& env, const std::string& model, absl::Status status) {
  const bool attempted =
      status.code() != absl::StatusCode::kNotFound && status.code() != absl::StatusCode::kInvalidArgument;
  if (env.metrics != nullptr && attempted) env.metrics->RecordCommit(model, status.ok());
  return status;
}

}  // namespace

grpc::ServerUnaryReactor* BnServeService::ListModels(grpc::CallbackServerContext* context,
                                                     const v1::ListModelsRequest* request,
                                                     v1::ListModelsResponse* response) {
  return AuthorizedUnary(env_, context, "ListModels", "", response,
                         [=] { return ListModelsImpl(*env_.manager, env_.limits, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::DescribeModel(grpc::CallbackServerContext* context,
                                                        const v1::DescribeModelRequest* request,
                                                        v1::DescribeModelResponse* response) {
  return AuthorizedUnary(env_, context, "DescribeModel", request->model(), response,
                         [=] { return DescribeModelImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::LoadModel(grpc::CallbackServerContext* context,
                                                    const v1::LoadModelRequest* request,
                                                    v1::LoadModelResponse* response) {
  return AuthorizedUnary(env_, context, "LoadModel", request->model(), response,
                         [=] { return LoadModelImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::ReloadModel(grpc::CallbackServerContext* context,
                                                      const v1::ReloadModelRequest* request,
                                                      v1::ReloadModelResponse* response) {
  return AuthorizedUnary(env_, context, "ReloadModel", request->model(), response,
                         [=] { return ReloadModelImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::UnloadModel(grpc::CallbackServerContext* context,
                                                      const v1::UnloadModelRequest* request,
                                                      v1::UnloadModelResponse* response) {
  return AuthorizedUnary(env_, context, "UnloadModel", request->model(), response,
                         [=] { return UnloadModelImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::Predict(grpc::CallbackServerContext* context,
                                                  const v1::PredictRequest* request, v1::PredictResponse* response) {
  return Authorized(env_, context, "Predict", [&] { return StartPredict(env_, context, request, response); });
}

grpc::ServerBidiReactor<v1::PredictRequest, v1::PredictResponse>* BnServeService::PredictStream(
    grpc::CallbackServerContext* context) {
  return Authorized(env_, context, "PredictStream", [&] { return NewPredictStreamReactor(env_, context); });
}

grpc::ServerUnaryReactor* BnServeService::GetRunningStats(grpc::CallbackServerContext* context,
                                                          const v1::GetRunningStatsRequest* request,
                                                          v1::GetRunningStatsResponse* response) {
  return AuthorizedUnary(env_, context, "GetRunningStats", request->model(), response,
                         [=] { return GetRunningStatsImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::GetBatchStats(grpc::CallbackServerContext* context,
                                                        const v1::GetBatchStatsRequest* request,
                                                        v1::GetBatchStatsResponse* response) {
  return AuthorizedUnary(env_, context, "GetBatchStats", request->model(), response,
                         [=] { return GetBatchStatsImpl(*env_.manager, *request, response); });
}

grpc::ServerReadReactor<v1::GetBatchStatsRequest>* BnServeService::GetBatchStatsStream(
    grpc::CallbackServerContext* context, v1::GetBatchStatsResponse* response) {
  return Authorized(env_, context, "GetBatchStatsStream",
                    [&] { return NewBatchStatsStreamReactor(env_, context, response); });
}

grpc::ServerUnaryReactor* BnServeService::Moments(grpc::CallbackServerContext* context,
                                                  const v1::MomentsRequest* request, v1::MomentsResponse* response) {
  return AuthorizedUnary(env_, context, "Moments", "", response, [=] { return MomentsImpl(*request, response); });
}

grpc::ServerReadReactor<v1::RecalibrateRequest>* BnServeService::Recalibrate(grpc::CallbackServerContext* context,
                                                                             v1::RecalibrateResponse* response) {
  return Authorized(env_, context, "Recalibrate", [&] { return NewRecalibrateReactor(env_, context, response); });
}

grpc::ServerUnaryReactor* BnServeService::ListVersions(grpc::CallbackServerContext* context,
                                                       const v1::ListVersionsRequest* request,
                                                       v1::ListVersionsResponse* response) {
  return AuthorizedUnary(env_, context, "ListVersions", request->model(), response,
                         [=] { return ListVersionsImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::Rollback(grpc::CallbackServerContext* context,
                                                   const v1::RollbackRequest* request, v1::RollbackResponse* response) {
  return AuthorizedUnary(env_, context, "Rollback", request->model(), response, [=] {
    return RecordCommitAttempt(env_, request->model(), RollbackImpl(*env_.manager, *request, response));
  });
}

grpc::ServerWriteReactor<v1::ExportChunk>* BnServeService::Export(grpc::CallbackServerContext* context,
                                                                  const v1::ExportRequest* request) {
  return Authorized(env_, context, "Export", [&] { return NewExportReactor(env_, context, request); });
}

grpc::ServerUnaryReactor* BnServeService::GetDrift(grpc::CallbackServerContext* context,
                                                   const v1::GetDriftRequest* request, v1::GetDriftResponse* response) {
  return AuthorizedUnary(env_, context, "GetDrift", request->model(), response,
                         [=] { return GetDriftImpl(*env_.adapt, *request, response); });
}

grpc::ServerWriteReactor<v1::GetDriftResponse>* BnServeService::WatchDrift(grpc::CallbackServerContext* context,
                                                                           const v1::GetDriftRequest* request) {
  return Authorized(env_, context, "WatchDrift", [&] { return NewWatchDriftReactor(env_, context, request); });
}

grpc::ServerUnaryReactor* BnServeService::PromoteCandidate(grpc::CallbackServerContext* context,
                                                           const v1::PromoteCandidateRequest* request,
                                                           v1::PromoteCandidateResponse* response) {
  return AuthorizedUnary(env_, context, "PromoteCandidate", request->model(), response, [=] {
    return RecordCommitAttempt(env_, request->model(), PromoteCandidateImpl(*env_.adapt, *request, response));
  });
}

grpc::ServerUnaryReactor* BnServeService::DiscardCandidate(grpc::CallbackServerContext* context,
                                                           const v1::DiscardCandidateRequest* request,
                                                           v1::DiscardCandidateResponse* response) {
  return AuthorizedUnary(env_, context, "DiscardCandidate", request->model(), response,
                         [=] { return DiscardCandidateImpl(*env_.adapt, *request, response); });
}

}  // namespace bnserve
