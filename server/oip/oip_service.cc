#include "server/oip/oip_service.h"

#include "server/auth/call_auth.h"
#include "server/oip/oip_requests.h"

namespace bnserve {
namespace {

// Answers on the calling thread: nothing to compute, nothing that blocks.
grpc::ServerUnaryReactor* AnswerNow(const CallEnv& env, grpc::CallbackServerContext* context, const char* rpc,
                                    const google::protobuf::MessageLite& response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  CompleteUnary(reactor, context, rpc, "", response, env, [] { return absl::OkStatus(); });
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* OipService::ServerLive(grpc::CallbackServerContext* context,
                                                 const inference::ServerLiveRequest* request,
                                                 inference::ServerLiveResponse* response) {
  response->set_live(true);
  return AnswerNow(env_, context, "ServerLive", *response);
}

grpc::ServerUnaryReactor* OipService::ServerReady(grpc::CallbackServerContext* context,
                                                  const inference::ServerReadyRequest* request,
                                                  inference::ServerReadyResponse* response) {
  // Ready once serving: the models were loaded before the server started;
  // a model's own readiness is ModelReady.
  response->set_ready(true);
  return AnswerNow(env_, context, "ServerReady", *response);
}

grpc::ServerUnaryReactor* OipService::ModelReady(grpc::CallbackServerContext* context,
                                                 const inference::ModelReadyRequest* request,
                                                 inference::ModelReadyResponse* response) {
  return AuthorizedUnary(env_, context, "ModelReady", request->name(), response,
                         [=] { return ModelReadyImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* OipService::ServerMetadata(grpc::CallbackServerContext* context,
                                                     const inference::ServerMetadataRequest* request,
                                                     inference::ServerMetadataResponse* response) {
  return Authorized(env_, context, "ServerMetadata", [&] {
    ServerMetadataImpl(response);
    return AnswerNow(env_, context, "ServerMetadata", *response);
  });
}

grpc::ServerUnaryReactor* OipService::ModelMetadata(grpc::CallbackServerContext* context,
                                                    const inference::ModelMetadataRequest* request,
                                                    inference::ModelMetadataResponse* response) {
  return AuthorizedUnary(env_, context, "ModelMetadata", request->name(), response,
                         [=] { return ModelMetadataImpl(*env_.manager, *request, response); });
}

grpc::ServerUnaryReactor* OipService::ModelInfer(grpc::CallbackServerContext* context,
                                                 const inference::ModelInferRequest* request,
                                                 inference::ModelInferResponse* response) {
  return AuthorizedUnary(env_, context, "ModelInfer", request->model_name(), response, [=] {
    int64_t samples = 0;
    absl::Status status = ModelInferImpl(*env_.manager, *request, response, &samples);
    RecordInferenceSamples(env_, request->model_name(), samples);
    return status;
  });
}

}  // namespace bnserve
