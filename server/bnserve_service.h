// BnServeService: the bnserve.v1.BnServe gRPC service - a thin adapter.
// Each unary handler hands one request function (server/requests.h) to the
// worker pool through RunUnary; each streaming RPC gets a reactor
// (server/reactors.h), each behind the Authorized() gate (server/auth/call_auth.h)
// so that no RPC runs without passing the server's AuthPolicy. No model
// logic lives here.
//
// Thread-safe; the CallEnv's manager and pool must outlive the gRPC server.
#pragma once

#include "bnserve/v1/bnserve_service.grpc.pb.h"
#include "server/arena_message_allocator.h"
#include "server/call_util.h"

namespace bnserve {

class BnServeService final : public v1::BnServe::CallbackService {
 public:
  explicit BnServeService(const CallEnv& env) : env_(env) { SetMessageAllocatorFor_Predict(&predict_messages_); }

  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context, const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* DescribeModel(grpc::CallbackServerContext* context, const v1::DescribeModelRequest* request,
                                          v1::DescribeModelResponse* response) override;
  grpc::ServerUnaryReactor* LoadModel(grpc::CallbackServerContext* context, const v1::LoadModelRequest* request,
                                      v1::LoadModelResponse* response) override;
  grpc::ServerUnaryReactor* ReloadModel(grpc::CallbackServerContext* context, const v1::ReloadModelRequest* request,
                                        v1::ReloadModelResponse* response) override;
  grpc::ServerUnaryReactor* UnloadModel(grpc::CallbackServerContext* context, const v1::UnloadModelRequest* request,
                                        v1::UnloadModelResponse* response) override;
  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context, const v1::PredictRequest* request,
                                    v1::PredictResponse* response) override;
  grpc::ServerBidiReactor<v1::PredictRequest, v1::PredictResponse>* PredictStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetRunningStats(grpc::CallbackServerContext* context,
                                            const v1::GetRunningStatsRequest* request,
                                            v1::GetRunningStatsResponse* response) override;
  grpc::ServerUnaryReactor* GetBatchStats(grpc::CallbackServerContext* context, const v1::GetBatchStatsRequest* request,
                                          v1::GetBatchStatsResponse* response) override;
  grpc::ServerReadReactor<v1::GetBatchStatsRequest>* GetBatchStatsStream(grpc::CallbackServerContext* context,
                                                                         v1::GetBatchStatsResponse* response) override;
  grpc::ServerUnaryReactor* Moments(grpc::CallbackServerContext* context, const v1::MomentsRequest* request,
                                    v1::MomentsResponse* response) override;
  grpc::ServerReadReactor<v1::RecalibrateRequest>* Recalibrate(grpc::CallbackServerContext* context,
                                                               v1::RecalibrateResponse* response) override;
  grpc::ServerUnaryReactor* ListVersions(grpc::CallbackServerContext* context, const v1::ListVersionsRequest* request,
                                         v1::ListVersionsResponse* response) override;
  grpc::ServerUnaryReactor* Rollback(grpc::CallbackServerContext* context, const v1::RollbackRequest* request,
                                     v1::RollbackResponse* response) override;
  grpc::ServerWriteReactor<v1::ExportChunk>* Export(grpc::CallbackServerContext* context,
                                                    const v1::ExportRequest* request) override;
  grpc::ServerUnaryReactor* GetDrift(grpc::CallbackServerContext* context, const v1::GetDriftRequest* request,
                                     v1::GetDriftResponse* response) override;
  grpc::ServerWriteReactor<v1::GetDriftResponse>* WatchDrift(grpc::CallbackServerContext* context,
                                                             const v1::GetDriftRequest* request) override;
  grpc::ServerUnaryReactor* PromoteCandidate(grpc::CallbackServerContext* context,
                                             const v1::PromoteCandidateRequest* request,
                                             v1::PromoteCandidateResponse* response) override;
  grpc::ServerUnaryReactor* DiscardCandidate(grpc::CallbackServerContext* context,
                                             const v1::DiscardCandidateRequest* request,
                                             v1::DiscardCandidateResponse* response) override;

 private:
  const CallEnv env_;
  // Predict's request and response live on pooled arenas: the hot unary
  // call parses and answers without heap allocation for its messages.
  ArenaMessageAllocator<v1::PredictRequest, v1::PredictResponse> predict_messages_;
};

}  // namespace bnserve
