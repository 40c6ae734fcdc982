// What every load generator of this folder needs before it sends anything:
// the loopback-only guard, an unlimited-size channel, and request payloads
// shaped after DescribeModel. Shared by bnserve-bench and bnserve-loadtest.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bnserve/v1/bnserve_service.grpc.pb.h"
#include "grpcpp/channel.h"

namespace bnserve::loadgen {

// Loopback only: these tools generate load and must not be pointed at a
// shared server by accident.
bool IsLoopback(const std::string& address);

// An insecure channel without message size limits on the client side.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address);

// One tensor per model input, batch dim = `batch`, filled with a smooth
// deterministic pattern (the same as engine_bench's inputs); raw float32
// bytes, or repeated floats when `packed`.
absl::StatusOr<std::vector<v1::Tensor>> MakeInputs(const v1::DescribeModelResponse& model, int64_t batch, bool packed);

}  // namespace bnserve::loadgen
