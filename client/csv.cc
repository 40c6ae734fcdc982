#include "client/csv.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/file_bytes.h"

namespace bnserve::client {
namespace {

// Parses a whole cell as a float (strtof: decimal, exponent, inf, nan).
bool ParseFloatCell(absl::string_view cell, float* value) {
  if (cell.empty()) return false;
  const std::string text(cell);
  char* end = nullptr;
  errno = 0;
  const float parsed = std::strtof(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return false;
  // ERANGE on underflow still gives a usable (denormal or zero) value; only
  // overflow (1e39 does not fit a float32) is an error.
  if (errno == ERANGE && std::isinf(parsed)) return false;
  *value = parsed;
  return true;
}

std::vector<absl::string_view> SplitCells(absl::string_view line) {
  std::vector<absl::string_view> cells = absl::StrSplit(line, ',');
  for (auto& cell : cells) cell = absl::StripAsciiWhitespace(cell);
  return cells;
}

bool IsHeader(const std::vector<absl::string_view>& cells) {
  float ignored;
  for (absl::string_view cell : cells) {
    if (ParseFloatCell(cell, &ignored)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<FloatArray> ParseCsv(absl::string_view text, const std::string& what) {
  FloatArray array;
  size_t columns = 0;
  int64_t rows = 0;
  bool first_line = true;
  int64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    std::vector<absl::string_view> cells = SplitCells(line);
    if (first_line) {
      first_line = false;
      columns = cells.size();
      if (IsHeader(cells)) continue;
    }
    if (cells.size() != columns) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": line ", line_number, ": expected ", columns,
                                                     " columns (as on the first line), got ", cells.size()));
    }
    for (size_t c = 0; c < cells.size(); ++c) {
      float value;
      if (!ParseFloatCell(cells[c], &value)) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": line ", line_number, ", column ", c + 1,
                                                       ": expected a number, got '", cells[c], "'"));
      }
      array.values.push_back(value);
    }
    ++rows;
  }
  if (rows == 0) return absl::InvalidArgumentError(absl::StrCat(what, ": no data rows in the CSV"));
  array.shape = {rows, static_cast<int64_t>(columns)};
  return array;
}

absl::StatusOr<FloatArray> ReadCsv(const std::string& path) {
  auto text = ReadFileBytes(path);
  if (!text.ok()) return text.status();
  return ParseCsv(*text, path);
}

}  // namespace bnserve::client
