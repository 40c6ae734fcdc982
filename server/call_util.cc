#include "server/call_util.h"

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace bnserve {

absl::Status CheckResponseSize(size_t bytes, const ServiceLimits& limits) {
  if (static_cast<int64_t>(bytes) <= limits.max_message_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("response of ", bytes, " bytes exceeds the server's message limit of ", limits.max_message_bytes,
                   " bytes (--max-message-mb); send a smaller batch or use "
                   "the streaming RPC"));
}

absl::Status CheckNotCancelled(grpc::CallbackServerContext* context, const char* what) {
  // The deadline is checked on its own: a call ended by the server's
  // deadline timer can report a clean end of the client's stream before
  // IsCancelled() turns true (a Recalibrate stream cut by its deadline then
  // looked half-closed and committed its first batches: 2 of 51 deadline
  // cuts in cancel_fuzz under ThreadSanitizer's slower scheduling).
  const bool expired = context->deadline() <= std::chrono::system_clock::now();
  if (!expired && !context->IsCancelled()) return absl::OkStatus();
  return expired ? absl::DeadlineExceededError(absl::StrCat("deadline exceeded; ", what, " abandoned"))
                 : absl::CancelledError(absl::StrCat("cancelled by the client; ", what, " abandoned"));
}

void LogCall(const char* rpc, const std::string& model, grpc::CallbackServerContext* context,
             const absl::Status& status, std::chrono::steady_clock::time_point start) {
  const bool server_fault = status.code() == absl::StatusCode::kInternal ||
                            status.code() == absl::StatusCode::kDataLoss || status.code() == absl::StatusCode::kUnknown;
  const spdlog::level::level_enum level = server_fault ? spdlog::level::err : spdlog::level::debug;
  // The arguments (the peer string above all) cost allocations: build them
  // only when the line is written, not on every call at the default level.
  if (!spdlog::default_logger_raw()->should_log(level)) return;
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  spdlog::log(level, "event=rpc rpc={} model={} peer={} code={} ms={:.3f} error=\"{}\"", rpc, model, context->peer(),
              absl::StatusCodeToString(status.code()), ms, std::string(status.message()));
}

void EndCall(const CallEnv& env, const char* rpc, const std::string& model, grpc::CallbackServerContext* context,
             const absl::Status& status, std::chrono::steady_clock::time_point start) {
  LogCall(rpc, model, context, status, start);
  if (env.metrics != nullptr) env.metrics->RecordCall(rpc, model, status.code(), start);
}

void CompleteUnary(grpc::ServerUnaryReactor* reactor, grpc::CallbackServerContext* context, const char* rpc,
                   const std::string& model, const google::protobuf::MessageLite& response, const CallEnv& env,
                   absl::FunctionRef<absl::Status()> work, std::chrono::steady_clock::time_point start) {
  absl::Status status = CheckNotCancelled(context, "call");
  if (status.ok()) status = work();
  if (status.ok()) status = CheckResponseSize(response.ByteSizeLong(), env.limits);
  EndCall(env, rpc, model, context, status, start);
  reactor->Finish(ToGrpcStatus(status));
}

}  // namespace bnserve
