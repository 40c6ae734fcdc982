#include "tests/reliability/rss_monitor.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace bnserve::reliability {
namespace {

RssThreshold Threshold(int64_t floor_kib, double fraction) {
  RssThreshold t;
  t.floor_kib = floor_kib;
  t.fraction = fraction;
  return t;
}

TEST(JudgeRss, NoiseWithinTheThresholdIsFlat) {
  // Warm-up growth (ignored), then +-2 MiB of noise around 100 MiB.
  const std::vector<int64_t> samples = {20000, 60000, 102400, 100352, 104448, 101376, 103424, 100352, 102400, 101376};
  const RssVerdict v = JudgeRss(samples, 2, 1.0, Threshold(8192, 0.05));
  EXPECT_TRUE(v.flat) << v.reason;
  EXPECT_EQ(v.judged_samples, 8u);
  EXPECT_EQ(v.first_kib, 20000);
  EXPECT_EQ(v.last_kib, 101376);
  EXPECT_EQ(v.max_kib, 104448);
  EXPECT_EQ(v.threshold_kib, 8192);  // 5% of ~100 MiB is 5 MiB < the floor
}

TEST(JudgeRss, SteadyGrowthIsNotFlat) {
  // 1 MiB per second for 40 s: the halves' medians differ by 20 MiB.
  std::vector<int64_t> samples;
  for (int i = 0; i < 40; ++i) samples.push_back(100 * 1024 + i * 1024);
  const RssVerdict v = JudgeRss(samples, 0, 1.0, Threshold(8192, 0.05));
  EXPECT_FALSE(v.flat);
  EXPECT_EQ(v.growth_kib, 20 * 1024);
  EXPECT_NEAR(v.slope_kib_per_s, 1024, 1e-6);
  EXPECT_NE(v.reason.find("grew by 20480 KiB"), std::string::npos) << v.reason;
}

TEST(JudgeRss, ThresholdIsTheLargerOfFloorAndFraction) {
  const std::vector<int64_t> samples(10, 1000000);
  EXPECT_EQ(JudgeRss(samples, 0, 1.0, Threshold(8192, 0.05)).threshold_kib, 50000);
  EXPECT_EQ(JudgeRss(samples, 0, 1.0, Threshold(8192, 0.0)).threshold_kib, 8192);
}

TEST(JudgeRss, TooFewSamplesIsUndecidedNotFlat) {
  const RssVerdict v = JudgeRss({1, 2, 3, 4, 5}, 3, 1.0, Threshold(8192, 0.05));
  EXPECT_FALSE(v.flat);
  EXPECT_NE(v.reason.find("fewer than 4"), std::string::npos);
  EXPECT_FALSE(JudgeRss({}, 0, 1.0, Threshold(8192, 0.05)).flat);
}

TEST(RssMonitor, SamplesThisProcess) {
  EXPECT_GT(ReadRssKib(getpid()), 0);
  EXPECT_EQ(ReadRssKib(-1), -1);
  RssMonitor monitor(getpid(), std::chrono::milliseconds(10));
  while (monitor.samples().size() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  monitor.EndWarmup();
  monitor.Stop();
  EXPECT_GE(monitor.first_judged(), 3u);
  for (int64_t kib : monitor.samples()) EXPECT_GT(kib, 0);
}

}  // namespace
}  // namespace bnserve::reliability
