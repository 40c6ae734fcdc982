// gRPC channel arguments of the server: bnserve's defaults, and the
// `--grpc-arg KEY=VALUE` settings that override them (any argument gRPC
// core knows, e.g. grpc.http2.lookahead_bytes). Shared by bnserve and
// bnserve-echo so that the echo floor is configured like the server.
//
// The one default: a fixed HTTP/2 window of 256 KiB per stream, without
// bandwidth-delay probing. gRPC's default window grows with that probing; on
// loopback it grew until a Recalibrate stream's unread batches held tens of
// MiB. A fixed window bounds what an unread stream holds at the window's
// size, at the cost of window updates for messages larger than it, which
// cost nothing measurable on 600 KB Predicts or CNN batch-64 Recalibrate
// batches (docs/performance.md).
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server_builder.h"

namespace bnserve {

// Channel argument name -> value, as given (an all-digit value, with an
// optional sign, is passed to gRPC as an integer, anything else as a string).
using GrpcArgs = std::map<std::string, std::string>;

// "KEY=VALUE" -> {KEY, VALUE}; INVALID_ARGUMENT naming `flag` and the text
// when there is no '=' or the key is empty.
absl::StatusOr<std::pair<std::string, std::string>> ParseGrpcArg(const std::string& text, const std::string& flag);

// bnserve's defaults with `overrides` applied on top (same key: the override).
GrpcArgs ServerGrpcArgs(const GrpcArgs& overrides);

// Adds every argument of `args` to `builder`.
void ApplyGrpcArgs(const GrpcArgs& args, grpc::ServerBuilder* builder);

}  // namespace bnserve
