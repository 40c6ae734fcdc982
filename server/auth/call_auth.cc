#include "server/auth/call_auth.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace bnserve {

absl::Status AuthorizeCall(const CallEnv& env, grpc::CallbackServerContext* context, const char* rpc) {
  if (env.auth == nullptr || !env.auth->enabled()) return absl::OkStatus();
  const auto& metadata = context->client_metadata();
  std::optional<absl::string_view> authorization;
  absl::Status status;
  if (metadata.count("authorization") > 1) {
    status = absl::UnauthenticatedError(absl::StrCat(rpc, ": more than one 'authorization' metadata entry"));
  } else {
    if (auto it = metadata.find("authorization"); it != metadata.end()) {
      authorization = absl::string_view(it->second.data(), it->second.size());
    }
    status = env.auth->Check(rpc, authorization);
  }
  if (!status.ok()) {
    // The status message names the RPC and the roles, never the token.
    spdlog::warn("event=rpc_denied rpc={} peer={} code={} error=\"{}\"", rpc, context->peer(),
                 absl::StatusCodeToString(status.code()), std::string(status.message()));
  }
  return status;
}

}  // namespace bnserve
