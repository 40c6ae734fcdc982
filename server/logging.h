// Process-wide logging set-up for bnserve (spdlog's default logger). Lines
// are "event=<name> key=value ..." so they grep and parse alike; the json
// format wraps each in one JSON object per line for log collectors:
//   {"ts":"2024-05-01T12:00:00.123Z","level":"info","msg":"event=model_available model=mlp ..."}
#pragma once

#include <string>

#include "core/util/status.h"

namespace bnserve {

// `level`: trace, debug, info, warn, error, critical or off. `format`: text
// or json. INVALID_ARGUMENT naming the flag otherwise.
absl::Status ConfigureLogging(const std::string& level, const std::string& format);

}  // namespace bnserve
