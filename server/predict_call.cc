#include "server/predict_call.h"

#include <optional>

namespace bnserve {

grpc::ServerUnaryReactor* StartPredict(const CallEnv& env, grpc::CallbackServerContext* context,
                                       const v1::PredictRequest* request, v1::PredictResponse* response) {
  const auto start = std::chrono::steady_clock::now();
  int64_t samples = 0;
  std::optional<absl::Status> inline_status = TryPredictInline(*env.manager, *request, response, &samples);
  if (!inline_status.has_value()) {
    return RunUnary(env, context, "Predict", request->model(), response, [env, request, response] {
      int64_t samples = 0;
      absl::Status status = PredictImpl(*env.manager, env.adapt, *request, response, &samples);
      RecordInferenceSamples(env, request->model(), samples);
      return status;
    });
  }
  RecordInferenceSamples(env, request->model(), samples);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  CompleteUnary(
      reactor, context, "Predict", request->model(), *response, env, [&] { return *inline_status; }, start);
  return reactor;
}

}  // namespace bnserve
