#include "client/bnctl/table.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "client/bnctl/format.h"

namespace bnserve::client {
namespace {

bool LooksNumeric(const std::string& cell) {
  if (cell == "nan" || cell == "inf" || cell == "-inf") return true;
  char* end = nullptr;
  std::strtod(cell.c_str(), &end);
  return end != cell.c_str() && *end == '\0';
}

std::string Repeat(const std::string& piece, size_t times) {
  std::string out;
  for (size_t i = 0; i < times; ++i) out += piece;
  return out;
}

}  // namespace

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  const size_t columns = headers_.size();
  std::vector<size_t> width(columns);
  std::vector<bool> right(columns, false);
  for (size_t c = 0; c < columns; ++c) {
    width[c] = DisplayWidth(headers_[c]);
    bool numeric = false;
    bool all_numeric = true;
    for (const auto& row : rows_) {
      width[c] = std::max(width[c], DisplayWidth(row[c]));
      if (row[c].empty() || row[c] == "-") continue;  // placeholders fit either alignment
      numeric = true;
      all_numeric = all_numeric && LooksNumeric(row[c]);
    }
    right[c] = numeric && all_numeric;
  }
  auto render_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < columns; ++c) {
      const std::string pad(width[c] - DisplayWidth(cells[c]), ' ');
      absl::StrAppend(&line, c == 0 ? "" : "  ", right[c] ? pad + cells[c] : cells[c] + pad);
    }
    line.erase(line.find_last_not_of(' ') + 1);
    return line + "\n";
  };
  std::vector<std::string> rule(columns);
  for (size_t c = 0; c < columns; ++c) rule[c] = Repeat("─", width[c]);
  std::string out = render_line(headers_) + render_line(rule);
  for (const auto& row : rows_) out += render_line(row);
  return out;
}

}  // namespace bnserve::client
