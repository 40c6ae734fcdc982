// Terminal plots drawn with Unicode block characters:
//   Sparkline  one character per value, ▁▂▃▄▅▆▇█ scaled from min to max;
//   ThresholdSparkline  the same against a threshold: the low half of the
//              blocks at or below it, the high half above it;
//   BarChart   one labelled horizontal bar per value with 1/8-cell
//              resolution; with negative values the bars grow left and right
//              of a zero axis (│).
// Non-finite values are drawn as blanks and printed as such. Stateless;
// thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/types/span.h"

namespace bnserve::client {

std::string Sparkline(absl::Span<const double> values);

// Non-negative scores against `threshold` (> 0), so that a glance tells the
// values above it: ▁▂▃▄ for 0 .. threshold (linearly, each a quarter of it),
// ▅▆▇█ above it, logarithmically up to `top` (the largest value of the whole
// view, so that several lines share one scale; big shifts score orders of
// magnitude above the threshold). NaN (no score, e.g. a window that
// calibrated the threshold) is drawn as "·", and so is every value when
// threshold <= 0 (not calibrated yet).
std::string ThresholdSparkline(absl::Span<const double> values, double threshold, double top);

// A bar `cells` cells long (fractional, >= 0) with 1/8-cell resolution,
// growing to the right: Bar(2.5) == "██▌".
std::string Bar(double cells);

struct BarChartOptions {
  int width = 40;       // cells for the longest bar (both sides together)
  int significant = 4;  // digits of the printed value
};

// One line per value: "label  bar  value\n". labels.size() == values.size().
std::string BarChart(const std::vector<std::string>& labels, absl::Span<const double> values,
                     const BarChartOptions& options = {});

}  // namespace bnserve::client
