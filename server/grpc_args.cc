#include "server/grpc_args.h"

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace bnserve {
namespace {

// The value as an int when it is one whole integer in int's range.
bool ParseInt(const std::string& value, int* out) {
  if (value.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long parsed = std::strtol(value.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || parsed < INT_MIN || parsed > INT_MAX) return false;
  *out = static_cast<int>(parsed);
  return true;
}

}  // namespace

absl::StatusOr<std::pair<std::string, std::string>> ParseGrpcArg(const std::string& text, const std::string& flag) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": expected KEY=VALUE (a gRPC channel argument, e.g. grpc.http2.lookahead_bytes=1048576), got '", text,
        "'"));
  }
  return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

GrpcArgs ServerGrpcArgs(const GrpcArgs& overrides) {
  GrpcArgs args = {
      {GRPC_ARG_HTTP2_BDP_PROBE, "0"},
      {GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, std::to_string(256 * 1024)},
  };
  for (const auto& [key, value] : overrides) args[key] = value;
  return args;
}

void ApplyGrpcArgs(const GrpcArgs& args, grpc::ServerBuilder* builder) {
  for (const auto& [key, value] : args) {
    int number = 0;
    if (ParseInt(value, &number)) {
      builder->AddChannelArgument(key, number);
    } else {
      builder->AddChannelArgument(key, value);
    }
  }
}

}  // namespace bnserve
