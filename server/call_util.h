// What the gRPC handlers and stream reactors share: the environment they run
// in, the unary-call wrapper, the response-size check and the one log line
// per call.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "core/serving/model_manager.h"
#include "google/protobuf/message_lite.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "server/auth/auth_policy.h"
#include "server/metrics/server_metrics.h"
#include "server/requests.h"
#include "server/status_util.h"
#include "server/worker_pool.h"

namespace bnserve {

// Everything a call needs; the pointees outlive the gRPC server.
struct CallEnv {
  ModelManager* manager = nullptr;
  WorkerPool* pool = nullptr;
  // Recalibrate streams' batches and commits (== pool when the server runs
  // without a separate recalibration pool).
  WorkerPool* recalibration_pool = nullptr;
  ServiceLimits limits;
  // Who may call what (server/auth/call_auth.h checks it); nullptr = all open.
  const AuthPolicy* auth = nullptr;
  // Where calls are counted and timed; nullptr = no metrics (--metrics-listen unset).
  ServerMetrics* metrics = nullptr;
  // Drift monitors and candidates (docs/drift.md); nullptr = none.
  AdaptationManager* adapt = nullptr;
};

// RESOURCE_EXHAUSTED when a response of `bytes` would exceed the message
// limit (the message states the limit and the size).
absl::Status CheckResponseSize(size_t bytes, const ServiceLimits& limits);

// CANCELLED when the client cancelled or the deadline passed (gRPC cancels
// the call then), naming what was abandoned; else OK.
absl::Status CheckNotCancelled(grpc::CallbackServerContext* context, const char* what);

// One line per call: at debug level for every call, at error level for
// server-side failures (INTERNAL, DATA_LOSS, UNKNOWN).
void LogCall(const char* rpc, const std::string& model, grpc::CallbackServerContext* context,
             const absl::Status& status, std::chrono::steady_clock::time_point start);

// The end of every call: logs it (LogCall) and records it in the metrics.
// `rpc` is a string literal.
void EndCall(const CallEnv& env, const char* rpc, const std::string& model, grpc::CallbackServerContext* context,
             const absl::Status& status, std::chrono::steady_clock::time_point start);

// Counts `samples` predicted on `model` (nothing when 0 or metrics are off).
inline void RecordInferenceSamples(const CallEnv& env, const std::string& model, int64_t samples) {
  if (env.metrics != nullptr && samples > 0) env.metrics->AddInferenceSamples(model, samples);
}

// Runs `work` on the calling thread unless the call was cancelled, checks
// the size of the `response` it filled, ends the call (EndCall; its duration
// counted from `start`, default now) and finishes it.
void CompleteUnary(grpc::ServerUnaryReactor* reactor, grpc::CallbackServerContext* context, const char* rpc,
                   const std::string& model, const google::protobuf::MessageLite& response, const CallEnv& env,
                   absl::FunctionRef<absl::Status()> work,
                   std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now());

// Runs `work` on the worker pool and finishes the call with its status
// (after checking the response size). `work` fills `response`.
template <typename Response>
grpc::ServerUnaryReactor* RunUnary(const CallEnv& env, grpc::CallbackServerContext* context, const char* rpc,
                                   std::string model, const Response* response, std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  env.pool->Submit([=, work = std::move(work), model = std::move(model)] {
    CompleteUnary(reactor, context, rpc, model, *response, env, work);
  });
  return reactor;
}

}  // namespace bnserve
