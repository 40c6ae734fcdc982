// RunCost: unknown until a run is recorded, then a per-element average that
// scales estimates linearly, moves by 1/8 of the gap per run, and saturates
// instead of overflowing.
#include "core/engine/run_cost.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace bnserve {
namespace {

TEST(RunCostTest, UnknownUntilTheFirstRun) {
  RunCost cost;
  EXPECT_EQ(cost.EstimateNanos(100), -1);
  cost.Record(100, 5'000);  // 50 ns per element
  EXPECT_EQ(cost.EstimateNanos(100), 5'000);
  EXPECT_EQ(cost.EstimateNanos(1'000), 50'000);
  EXPECT_EQ(cost.EstimateNanos(0), 50);  // 0 elements counts as 1
}

TEST(RunCostTest, AveragesOverRecentRuns) {
  RunCost cost;
  cost.Record(1'000, 1'000'000);  // 1 us per element
  // One run 9x slower (a preempted run) moves the average by an eighth of
  // the gap only.
  cost.Record(1'000, 9'000'000);
  EXPECT_EQ(cost.EstimateNanos(1'000), 2'000'000);
  // Runs back at the old cost bring it back down.
  for (int i = 0; i < 100; ++i) cost.Record(1'000, 1'000'000);
  EXPECT_LT(cost.EstimateNanos(1'000), 1'000'100);
}

TEST(RunCostTest, SaturatesInsteadOfOverflowing) {
  RunCost cost;
  const int64_t max = std::numeric_limits<int64_t>::max();
  cost.Record(1, max);
  cost.Record(1, max);
  EXPECT_GT(cost.EstimateNanos(1), 0);
  EXPECT_EQ(cost.EstimateNanos(max), max);
  RunCost negative;
  negative.Record(-5, -5);
  EXPECT_EQ(negative.EstimateNanos(1'000), 0);
}

}  // namespace
}  // namespace bnserve
