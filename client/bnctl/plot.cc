#include "client/bnctl/plot.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "client/bnctl/format.h"

namespace bnserve::client {
namespace {

// Eighths of a cell, left-aligned: index k draws k/8 of a cell.
constexpr const char* kEighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"};
constexpr const char* kLevels[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};

// A bar growing to the left, right-aligned in `width` cells. Unicode has no
// right-aligned eighth blocks besides ▕, so it rounds to whole cells.
std::string LeftBar(double cells, int width) {
  const int whole = std::min(width, static_cast<int>(std::lround(cells)));
  std::string bar(static_cast<size_t>(width - whole), ' ');
  for (int i = 0; i < whole; ++i) bar += kEighths[8];
  return bar;
}

}  // namespace

std::string Bar(double cells) {
  const int eighths = static_cast<int>(std::lround(std::max(0.0, cells) * 8));
  std::string bar;
  for (int i = 0; i < eighths / 8; ++i) bar += kEighths[8];
  bar += kEighths[eighths % 8];
  return bar;
}

std::string Sparkline(absl::Span<const double> values) {
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  std::string line;
  for (double v : values) {
    if (!std::isfinite(v)) {
      line += " ";
      continue;
    }
    // A constant series sits at mid height rather than on the floor.
    const double t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    line += kLevels[std::clamp(static_cast<int>(std::lround(t * 7)), 0, 7)];
  }
  return line;
}

std::string ThresholdSparkline(absl::Span<const double> values, double threshold, double top) {
  std::string line;
  for (double v : values) {
    if (!std::isfinite(v) || !(threshold > 0)) {
      line += "·";
      continue;
    }
    int level = 0;
    if (v <= threshold) {
      level = std::clamp(static_cast<int>(std::ceil(v / threshold * 4)) - 1, 0, 3);
    } else {
      const double fraction = top > v ? std::log(v / threshold) / std::log(top / threshold) : 1.0;
      level = 4 + std::clamp(static_cast<int>(std::ceil(fraction * 4)) - 1, 0, 3);
    }
    line += kLevels[level];
  }
  return line;
}

std::string BarChart(const std::vector<std::string>& labels, absl::Span<const double> values,
                     const BarChartOptions& options) {
  double max_pos = 0.0, max_neg = 0.0;
  size_t label_width = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    label_width = std::max(label_width, DisplayWidth(labels[i]));
    if (!std::isfinite(values[i])) continue;
    max_pos = std::max(max_pos, values[i]);
    max_neg = std::max(max_neg, -values[i]);
  }
  // Split the width between the sides in proportion to their extent, so one
  // scale serves both.
  const double extent = max_pos + max_neg;
  const int neg_width = extent > 0 ? static_cast<int>(std::lround(options.width * max_neg / extent)) : 0;
  const int pos_width = options.width - neg_width;
  const double scale = extent > 0 ? options.width / extent : 0.0;
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    std::string label = labels[i] + std::string(label_width - DisplayWidth(labels[i]), ' ');
    std::string left = neg_width > 0 ? LeftBar(std::isfinite(v) && v < 0 ? -v * scale : 0.0, neg_width) : "";
    std::string right = std::isfinite(v) && v > 0 ? Bar(v * scale) : "";
    right += std::string(static_cast<size_t>(std::max<int>(0, pos_width - static_cast<int>(DisplayWidth(right)))), ' ');
    absl::StrAppend(&out, label, "  ", left, neg_width > 0 ? "│" : "", right, "  ",
                    FormatNumber(v, options.significant), "\n");
  }
  return out;
}

}  // namespace bnserve::client
