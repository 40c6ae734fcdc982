#include "server/status_util.h"

#include <string>

namespace bnserve {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  std::string message(status.message());
  if (message.size() > kMaxErrorMessageBytes) {
    constexpr char kSuffix[] = "... (truncated)";
    message.resize(kMaxErrorMessageBytes - sizeof(kSuffix) + 1);
    message += kSuffix;
  }
  // absl::StatusCode mirrors grpc::StatusCode value for value (both are the
  // canonical google.rpc.Code); anything outside the range is UNKNOWN.
  const int code = static_cast<int>(status.code());
  const grpc::StatusCode grpc_code = code >= 0 && code <= static_cast<int>(grpc::StatusCode::UNAUTHENTICATED)
                                         ? static_cast<grpc::StatusCode>(code)
                                         : grpc::StatusCode::UNKNOWN;
  return grpc::Status(grpc_code, message);
}

}  // namespace bnserve
