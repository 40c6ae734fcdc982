#include "server/predict_call.h"

#include <utility>

namespace bnserve {

std::shared_ptr<const ServingBundle> InlinePredictBundle(const CallEnv& env, const v1::PredictRequest& request) {
  if (env.inline_predict_ns <= 0 || request.statistics_version() != 0) return nullptr;
  std::shared_ptr<const ServingBundle> bundle = env.manager->ServedBundle(request.model());
  if (bundle == nullptr) return nullptr;
  // The floats the client sent (whatever the shapes claim; decoding checks
  // that they agree): the same count RunPrediction records costs with.
  int64_t elements = 0;
  for (const v1::Tensor& tensor : request.inputs()) {
    elements += static_cast<int64_t>(tensor.raw_float32_le().size() / sizeof(float)) + tensor.values_size();
  }
  const int64_t estimate = bundle->plan->run_cost().EstimateNanos(elements);
  if (estimate < 0 || estimate > env.inline_predict_ns) return nullptr;
  return bundle;
}

grpc::ServerUnaryReactor* StartPredict(const CallEnv& env, grpc::CallbackServerContext* context,
                                       const v1::PredictRequest* request, v1::PredictResponse* response) {
  std::shared_ptr<const ServingBundle> bundle = InlinePredictBundle(env, *request);
  if (bundle == nullptr) {
    return RunUnary(env, context, "Predict", request->model(), response,
                    [&manager = *env.manager, request, response] { return PredictImpl(manager, *request, response); });
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  CompleteUnary(reactor, context, "Predict", request->model(), *response, env.limits,
                [&] { return PredictImpl(*env.manager, *request, response, std::move(bundle)); });
  return reactor;
}

}  // namespace bnserve
