// Whole-file reads and atomic whole-file writes for the client's small data
// files. Stateless; thread-safe.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace bnserve::client {

// The file's bytes; NOT_FOUND / PERMISSION_DENIED / INVALID_ARGUMENT (a
// directory) naming the path.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path);

// Writes to "<path>.tmp" and renames it over `path`, so a failed write never
// leaves a half-written file under the final name.
absl::Status WriteFileBytes(const std::string& path, const std::string& bytes);

}  // namespace bnserve::client
