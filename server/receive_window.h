// How far gRPC may read ahead of a call on the server: the HTTP/2 window each
// stream announces. gRPC's default grows the window with bandwidth-delay
// probing; on loopback it grew until a Recalibrate stream's unread batches
// held tens of MiB (the MLP server's peak RSS rose 27 MB after a 10,000-batch
// stream, against a 10-batch one). A fixed window bounds what an unread
// stream can hold at the window's size, at the cost of window updates for
// messages larger than it. Shared by bnserve and bnserve-echo so that the
// echo floor is configured like the server.
#pragma once

#include <cstdint>

#include "grpcpp/server_builder.h"

namespace bnserve {

// 256 KiB bounded read-ahead with no measurable cost on 600 KB Predicts or
// CNN batch-64 Recalibrate batches (README, "Running it: flags").
inline constexpr int64_t kDefaultStreamWindowKib = 256;

// window_kib > 0: a fixed per-stream window of that many KiB (no
// bandwidth-delay probing); 0: gRPC's default, growing window.
inline void ApplyStreamWindow(int64_t window_kib, grpc::ServerBuilder* builder) {
  if (window_kib <= 0) return;
  builder->AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, static_cast<int>(window_kib * 1024));
}

}  // namespace bnserve
