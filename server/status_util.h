// The one place where core's absl::Status becomes a grpc::Status (TF
// Serving's grpc_status_util). The codes are the same numbers in both
// libraries, so the mapping is one to one; the message is capped so a
// pathological error (a huge list of names) cannot bloat the trailers.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace bnserve {

// Longest error message sent to clients, in bytes.
inline constexpr size_t kMaxErrorMessageBytes = 4096;

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace bnserve
