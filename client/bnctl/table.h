// Table: an aligned plain-text table for terminal output, e.g.
//
//   layer  channels  eps    mean
//   ─────  ────────  ─────  ──────────────
//   bn1          16  1e-05  -0.4 .. 0.18
//
// A column is right-aligned when every cell in it is a number (empty cells
// and "-" placeholders aside), left-aligned otherwise; widths count code points (DisplayWidth), so bars
// and box characters line up. A value type; not thread-safe.
#pragma once

#include <string>
#include <vector>

namespace bnserve::client {

class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // Cells beyond the header count are dropped; missing ones are empty.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }

  // Header, rule, rows; each line ends in '\n', without trailing spaces.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace bnserve::client
