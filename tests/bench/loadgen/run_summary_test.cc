// RunSummary: percentiles, rates and status counts against values worked
// out by hand, and the JSON fields compare.sh and the smoke test read.
#include "tests/bench/loadgen/run_summary.h"

#include <vector>

#include "gtest/gtest.h"

namespace bnserve::loadgen {
namespace {

TEST(PercentileTest, NearestRank) {
  const std::vector<double> v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(Percentile(v, 50), 5);
  EXPECT_EQ(Percentile(v, 90), 9);
  EXPECT_EQ(Percentile(v, 99), 10);
  EXPECT_EQ(Percentile(v, 100), 10);
  EXPECT_EQ(Percentile(v, 0), 1);
  EXPECT_EQ(Percentile({7}, 50), 7);
  EXPECT_EQ(Percentile({}, 50), 0);
}

TEST(SummarizeTest, RatesPercentilesAndCodes) {
  DriveResult result;
  result.elapsed = absl::Seconds(2);
  // 7 calls, unsorted, 2 of them failed.
  result.latencies_us = {300, 100, 700, 200, 500, 400, 600};
  result.codes[grpc::StatusCode::OK] = 5;
  result.codes[grpc::StatusCode::UNAVAILABLE] = 2;
  RunDescription d;
  d.rpc = "recalibrate";
  d.batch = 3;
  d.batches_per_call = 4;
  const RunSummary s = Summarize(d, result);
  EXPECT_EQ(s.calls, 7);
  EXPECT_EQ(s.errors, 2);
  EXPECT_DOUBLE_EQ(s.calls_per_s, 3.5);
  // Only OK calls count samples: 5 calls x 4 batches x 3 samples / 2 s.
  EXPECT_DOUBLE_EQ(s.samples_per_s, 30);
  EXPECT_EQ(s.p50_us, 400);
  EXPECT_EQ(s.p90_us, 700);
  EXPECT_EQ(s.max_us, 700);
  EXPECT_DOUBLE_EQ(s.mean_us, 400);

  const nlohmann::json j = ToJson(s);
  EXPECT_EQ(j["errors_by_code"], nlohmann::json({{"UNAVAILABLE", 2}}));
  EXPECT_EQ(j["latency_us"]["p50"], 400);
  EXPECT_EQ(j["calls"], 7);
  EXPECT_NE(RenderTable(s).find("UNAVAILABLE"), std::string::npos);
}

TEST(SummarizeTest, NoCallsIsAllZero) {
  DriveResult result;
  const RunSummary s = Summarize(RunDescription{}, result);
  EXPECT_EQ(s.calls, 0);
  EXPECT_EQ(s.calls_per_s, 0);
  EXPECT_EQ(s.p99_us, 0);
}

}  // namespace
}  // namespace bnserve::loadgen
