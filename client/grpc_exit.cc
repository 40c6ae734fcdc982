#include "client/grpc_exit.h"

#include <grpc/grpc.h>

#include "absl/time/clock.h"

namespace bnserve::client {

bool AwaitGrpcShutdown(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  // grpc_is_initialized() takes gRPC's init lock, which its clean-up holds
  // while it runs: false means the clean-up has finished, threads joined.
  while (grpc_is_initialized()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace bnserve::client
