// CallDriver: a closed-loop load generator. It keeps `concurrency` calls in
// flight - each slot starts its next call from the completion of its
// previous one - until `duration` has passed or `max_calls` calls have been
// started, then waits for the calls in flight and returns every completed
// call's latency and status code.
//
// Calls are started through a CallStarter, which must start one
// asynchronous call (gRPC's callback API) and invoke `done` exactly once,
// from any thread, when it finishes. A slot never has two calls in flight,
// so each slot's records are written by one call chain at a time and need
// no lock.
//
// Not thread-safe itself: Drive blocks its caller until the run is over.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/support/status.h"

namespace bnserve::loadgen {

using DoneCallback = std::function<void(const grpc::Status&)>;
// Starts one call on `slot` (0 <= slot < concurrency).
using CallStarter = std::function<void(int slot, DoneCallback done)>;

struct DriveOptions {
  int concurrency = 1;
  // Stop starting calls after this long (ignored when zero).
  absl::Duration duration = absl::ZeroDuration();
  // Stop after this many calls (ignored when zero).
  int64_t max_calls = 0;
};

struct DriveResult {
  // From the first call started to the last call finished.
  absl::Duration elapsed;
  // One entry per completed call (any status), in microseconds.
  std::vector<double> latencies_us;
  // Completed calls by status code (OK included).
  std::map<grpc::StatusCode, int64_t> codes;
};

// REQUIRES: concurrency >= 1; duration > 0 or max_calls > 0.
DriveResult Drive(const CallStarter& start, const DriveOptions& options);

}  // namespace bnserve::loadgen
