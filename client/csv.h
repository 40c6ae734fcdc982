// CSV of floats: one instance per row, the same number of columns on every
// row, an optional header row. The header is recognised when no cell of the
// first non-blank line is a number (so a typo in the first data row is still
// reported as an error, not swallowed as a header). Blank lines are skipped;
// CR LF line ends are accepted. A bad cell is INVALID_ARGUMENT naming the
// source, line and column (1-based) and the offending text.
//
// Stateless free functions; thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/float_array.h"

namespace bnserve::client {

// Returns shape [rows, columns]. `what` names the source in error messages.
absl::StatusOr<FloatArray> ParseCsv(absl::string_view text, const std::string& what);

absl::StatusOr<FloatArray> ReadCsv(const std::string& path);

}  // namespace bnserve::client
