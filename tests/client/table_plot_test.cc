// bnctl's text output helpers: aligned tables, Unicode bars and sparklines,
// number formatting.
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "client/bnctl/format.h"
#include "client/bnctl/plot.h"
#include "client/bnctl/table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bnserve::client {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

TEST(TableTest, AlignsTextLeftAndNumbersRight) {
  Table table({"layer", "channels", "range"});
  table.AddRow({"bn1", "16", "-0.4 .. 0.2"});
  table.AddRow({"conv_block.bn2", "3", "1 .. 2"});
  EXPECT_EQ(table.Render(),
            "layer           channels  range\n"
            "──────────────  ────────  ───────────\n"
            "bn1                   16  -0.4 .. 0.2\n"
            "conv_block.bn2         3  1 .. 2\n");
}

TEST(TableTest, CountsCodePointsAndPadsMissingCells) {
  Table table({"z", "bar"});
  table.AddRow({"▁▂▃", "x"});
  table.AddRow({"1"});
  const auto lines = Lines(table.Render());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2], "▁▂▃  x");
  EXPECT_EQ(lines[3], "1");  // no trailing spaces
  for (const auto& line : lines) EXPECT_NE(line.back(), ' ');
}

TEST(PlotTest, BarHasEighthResolution) {
  EXPECT_EQ(Bar(0.0), "");
  EXPECT_EQ(Bar(2.5), "██▌");
  EXPECT_EQ(Bar(0.125), "▏");
  EXPECT_EQ(Bar(-3.0), "");
}

TEST(PlotTest, SparklineScalesFromMinToMax) {
  EXPECT_EQ(Sparkline(std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7}), "▁▂▃▄▅▆▇█");
  EXPECT_EQ(Sparkline(std::vector<double>{-5, NAN, 5}), "▁ █");
  EXPECT_EQ(Sparkline(std::vector<double>{2, 2}), "▅▅");  // constant: mid height
  EXPECT_EQ(Sparkline(std::vector<double>{}), "");
}

TEST(PlotTest, PositiveBarsScaleToTheWidth) {
  BarChartOptions options;
  options.width = 8;
  const auto lines = Lines(BarChart({"a", "bb"}, std::vector<double>{4, 1}, options));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "a   ████████  4");
  EXPECT_EQ(lines[1], "bb  ██        1");
}

TEST(PlotTest, SignedBarsGrowFromAZeroAxis) {
  BarChartOptions options;
  options.width = 8;
  const auto lines = Lines(BarChart({"c0", "c1", "c2"}, std::vector<double>{-2, 2, NAN}, options));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "c0  ████│      -2");
  EXPECT_EQ(lines[1], "c1      │████  2");
  EXPECT_EQ(lines[2], "c2      │      nan");
}

TEST(PlotTest, ThresholdSparklineKeepsTheLowHalfAtOrBelowTheThreshold) {
  // Quarters of the threshold 4: ▁ up to 1, ▂ up to 2, ▃ up to 3, ▄ up to 4.
  EXPECT_EQ(ThresholdSparkline(std::vector<double>{0, 1, 1.5, 2.5, 4}, 4, 4), "▁▁▂▃▄");
  // Above it, logarithmic up to top = 4 * 2^4: each doubling one level.
  // (Values away from the level boundaries 8, 16, 32, where rounding of the
  // logarithms decides.)
  EXPECT_EQ(ThresholdSparkline(std::vector<double>{4.01, 7, 9, 17, 33, 64}, 4, 64), "▅▅▆▇██");
  // Just above the threshold is never drawn as below it, whatever the top.
  EXPECT_EQ(ThresholdSparkline(std::vector<double>{4.0001}, 4, 1e9), "▅");
  // No score, or no threshold yet.
  EXPECT_EQ(ThresholdSparkline(std::vector<double>{NAN, 1}, 4, 4), "·▁");
  EXPECT_EQ(ThresholdSparkline(std::vector<double>{0, 3}, 0, 3), "··");
}

TEST(FormatTest, NumbersRangesAndTimes) {
  EXPECT_EQ(FormatNumber(0.123456), "0.1235");
  EXPECT_EQ(FormatNumber(1e-5), "1e-05");
  EXPECT_EQ(FormatNumber(NAN), "nan");
  EXPECT_EQ(FormatRange(std::vector<double>{3, NAN, -1, 2}), "-1 .. 3");
  EXPECT_EQ(FormatRange(std::vector<double>{}), "-");
  EXPECT_EQ(FormatUnixMs(0), "-");
  EXPECT_EQ(FormatUnixMs(86400000), "1970-01-02 00:00:00 UTC");
  EXPECT_EQ(DisplayWidth("a█▏"), 3u);
}

}  // namespace
}  // namespace bnserve::client
