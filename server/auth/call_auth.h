// The authorisation gate every BnServe handler goes through: Authorized()
// checks the call's `authorization` metadata against the server's
// AuthPolicy before the handler builds its reactor, and a refused call is
// finished at once with UNAUTHENTICATED / PERMISSION_DENIED by a reactor
// that reads nothing. One mechanism for unary and streaming RPCs alike.
#pragma once

#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "server/call_util.h"

namespace bnserve {

// OK when `rpc` may run for this call's client; otherwise the status to
// finish with, after logging the refusal (RPC, peer, code - never the
// token).
absl::Status AuthorizeCall(const CallEnv& env, grpc::CallbackServerContext* context, const char* rpc);

namespace call_auth_internal {

// Reactors that finish with a fixed status right away (gRPC keeps calls
// made before the reactor is bound) and delete themselves when done.
template <typename Request>
class RejectedRead final : public grpc::ServerReadReactor<Request> {
 public:
  explicit RejectedRead(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

template <typename Response>
class RejectedWrite final : public grpc::ServerWriteReactor<Response> {
 public:
  explicit RejectedWrite(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

template <typename Request, typename Response>
class RejectedBidi final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit RejectedBidi(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

inline grpc::ServerUnaryReactor* Reject(grpc::ServerUnaryReactor*, grpc::CallbackServerContext* context,
                                        const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}
template <typename Request>
grpc::ServerReadReactor<Request>* Reject(grpc::ServerReadReactor<Request>*, grpc::CallbackServerContext*,
                                         const grpc::Status& status) {
  return new RejectedRead<Request>(status);
}
template <typename Response>
grpc::ServerWriteReactor<Response>* Reject(grpc::ServerWriteReactor<Response>*, grpc::CallbackServerContext*,
                                           const grpc::Status& status) {
  return new RejectedWrite<Response>(status);
}
template <typename Request, typename Response>
grpc::ServerBidiReactor<Request, Response>* Reject(grpc::ServerBidiReactor<Request, Response>*,
                                                   grpc::CallbackServerContext*, const grpc::Status& status) {
  return new RejectedBidi<Request, Response>(status);
}

}  // namespace call_auth_internal

// `start()` builds the call's reactor (RunUnary or a New*Reactor factory);
// it runs only when the policy lets `rpc` through.
template <typename Start>
std::invoke_result_t<Start> Authorized(const CallEnv& env, grpc::CallbackServerContext* context, const char* rpc,
                                       Start&& start) {
  absl::Status status = AuthorizeCall(env, context, rpc);
  if (status.ok()) return std::forward<Start>(start)();
  using ReactorPointer = std::invoke_result_t<Start>;
  return call_auth_internal::Reject(ReactorPointer{nullptr}, context, ToGrpcStatus(status));
}

// The shape of every unary RPC but Predict, in both services (bnserve.v1 and
// the Open Inference Protocol): check the caller's token, then run `work` on
// the worker pool.
template <typename Response>
grpc::ServerUnaryReactor* AuthorizedUnary(const CallEnv& env, grpc::CallbackServerContext* context, const char* rpc,
                                          std::string model, const Response* response,
                                          std::function<absl::Status()> work) {
  return Authorized(env, context, rpc,
                    [&] { return RunUnary(env, context, rpc, std::move(model), response, std::move(work)); });
}

}  // namespace bnserve
