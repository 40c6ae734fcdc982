#include "server/predict_call.h"

#include <optional>

namespace bnserve {

grpc::ServerUnaryReactor* StartPredict(const CallEnv& env, grpc::CallbackServerContext* context,
                                       const v1::PredictRequest* request, v1::PredictResponse* response) {
  const auto start = std::chrono::steady_clock::now();
  std::optional<absl::Status> inline_status = TryPredictInline(*env.manager, *request, response);
  if (!inline_status.has_value()) {
    return RunUnary(env, context, "Predict", request->model(), response,
                    [&manager = *env.manager, request, response] { return PredictImpl(manager, *request, response); });
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  CompleteUnary(
      reactor, context, "Predict", request->model(), *response, env.limits, [&] { return *inline_status; }, start);
  return reactor;
}

}  // namespace bnserve
