// OipService: inference.GRPCInferenceService, the Open Inference Protocol
// (KServe v2) over gRPC, on the same server and port as bnserve.v1 - a thin
// adapter like BnServeService: each handler runs one oip_requests.h
// function on the worker pool behind the Authorized() gate (ModelInfer is
// authorised like Predict, the metadata RPCs like DescribeModel).
// ServerLive and ServerReady are always open, as the standard health
// service is, and answered on the calling thread.
//
// Thread-safe; the CallEnv's pointees must outlive the gRPC server.
#pragma once

#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/call_util.h"

namespace bnserve {

class OipService final : public inference::GRPCInferenceService::CallbackService {
 public:
  explicit OipService(const CallEnv& env) : env_(env) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;

 private:
  const CallEnv env_;
};

}  // namespace bnserve
