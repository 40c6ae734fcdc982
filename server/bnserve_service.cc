#include "server/bnserve_service.h"

#include "server/reactors.h"

namespace bnserve {

grpc::ServerUnaryReactor* BnServeService::ListModels(grpc::CallbackServerContext* context,
                                                     const v1::ListModelsRequest* request,
                                                     v1::ListModelsResponse* response) {
  return RunUnary(env_, context, "ListModels", "", response,
                  [=] { return ListModelsImpl(*env_.manager, env_.limits, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::DescribeModel(grpc::CallbackServerContext* context,
                                                        const v1::DescribeModelRequest* request,
                                                        v1::DescribeModelResponse* response) {
  return RunUnary(env_, context, "DescribeModel", request->model(), response,
                  [=] { return DescribeModelImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::LoadModel(grpc::CallbackServerContext* context,
                                                    const v1::LoadModelRequest* request,
                                                    v1::LoadModelResponse* response) {
  return RunUnary(env_, context, "LoadModel", request->model(), response,
                  [=] { return LoadModelImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::ReloadModel(grpc::CallbackServerContext* context,
                                                      const v1::ReloadModelRequest* request,
                                                      v1::ReloadModelResponse* response) {
  return RunUnary(env_, context, "ReloadModel", request->model(), response,
                  [=] { return ReloadModelImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::UnloadModel(grpc::CallbackServerContext* context,
                                                      const v1::UnloadModelRequest* request,
                                                      v1::UnloadModelResponse* response) {
  return RunUnary(env_, context, "UnloadModel", request->model(), response,
                  [=] { return UnloadModelImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::Predict(grpc::CallbackServerContext* context,
                                                  const v1::PredictRequest* request, v1::PredictResponse* response) {
  return RunUnary(env_, context, "Predict", request->model(), response,
                  [=] { return PredictImpl(*env_.manager, *request, response); });
}

grpc::ServerBidiReactor<v1::PredictRequest, v1::PredictResponse>* BnServeService::PredictStream(
    grpc::CallbackServerContext* context) {
  return NewPredictStreamReactor(env_, context);
}

grpc::ServerUnaryReactor* BnServeService::GetRunningStats(grpc::CallbackServerContext* context,
                                                          const v1::GetRunningStatsRequest* request,
                                                          v1::GetRunningStatsResponse* response) {
  return RunUnary(env_, context, "GetRunningStats", request->model(), response,
                  [=] { return GetRunningStatsImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::GetBatchStats(grpc::CallbackServerContext* context,
                                                        const v1::GetBatchStatsRequest* request,
                                                        v1::GetBatchStatsResponse* response) {
  return RunUnary(env_, context, "GetBatchStats", request->model(), response,
                  [=] { return GetBatchStatsImpl(*env_.manager, *request, response); });
}

grpc::ServerReadReactor<v1::GetBatchStatsRequest>* BnServeService::GetBatchStatsStream(
    grpc::CallbackServerContext* context, v1::GetBatchStatsResponse* response) {
  return NewBatchStatsStreamReactor(env_, context, response);
}

grpc::ServerUnaryReactor* BnServeService::Moments(grpc::CallbackServerContext* context,
                                                  const v1::MomentsRequest* request, v1::MomentsResponse* response) {
  return RunUnary(env_, context, "Moments", "", response, [=] { return MomentsImpl(*request, response); });
}

grpc::ServerReadReactor<v1::RecalibrateRequest>* BnServeService::Recalibrate(grpc::CallbackServerContext* context,
                                                                             v1::RecalibrateResponse* response) {
  return NewRecalibrateReactor(env_, context, response);
}

grpc::ServerUnaryReactor* BnServeService::ListVersions(grpc::CallbackServerContext* context,
                                                       const v1::ListVersionsRequest* request,
                                                       v1::ListVersionsResponse* response) {
  return RunUnary(env_, context, "ListVersions", request->model(), response,
                  [=] { return ListVersionsImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* BnServeService::Rollback(grpc::CallbackServerContext* context,
                                                   const v1::RollbackRequest* request, v1::RollbackResponse* response) {
  return RunUnary(env_, context, "Rollback", request->model(), response,
                  [=] { return RollbackImpl(*env_.manager, *request, response); });
}

grpc::ServerWriteReactor<v1::ExportChunk>* BnServeService::Export(grpc::CallbackServerContext* context,
                                                                  const v1::ExportRequest* request) {
  return NewExportReactor(env_, context, request);
}

}  // namespace bnserve
