#include "core/stats/channel_moments.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/stats/moment_reduction.h"
#include "gtest/gtest.h"
#include "tests/test_util/moments_reference.h"
#include "tests/test_util/test_util.h"

namespace bnserve {
namespace {

using ::bnserve::testing::LoadJsonFixture;
using ::bnserve::testing::NaiveMoments;
using ::bnserve::testing::NumElements;
using ::bnserve::testing::RandomData;
using ::bnserve::testing::ReadJsonTensor;
using ::bnserve::testing::ReferenceMoments;
using ::bnserve::testing::ViewOf;

// Tolerance scale of a mean: its own size, or the spread if that is larger
// (a mean near 0 is only known to about eps * stddev).
double MeanScale(double mean, double m2, int64_t count) {
  return std::max(std::fabs(mean), std::sqrt(m2 / static_cast<double>(count)));
}

void ExpectMatchesReference(const std::vector<ChannelMoments>& got, const ReferenceMoments& want, double tolerance,
                            const std::string& label) {
  ASSERT_EQ(got.size(), want.mean.size()) << label;
  for (size_t c = 0; c < got.size(); ++c) {
    EXPECT_EQ(got[c].count, want.count[c]) << label << " channel " << c;
    if (want.count[c] == 0) continue;
    EXPECT_NEAR(got[c].mean, want.mean[c], tolerance * MeanScale(want.mean[c], want.m2[c], want.count[c]))
        << label << " channel " << c;
    EXPECT_NEAR(got[c].m2, want.m2[c], tolerance * want.m2[c]) << label << " channel " << c;
  }
}

std::vector<float> ToFloats(const std::vector<double>& values) {
  return std::vector<float>(values.begin(), values.end());
}

// --- Merge ----------------------------------------------------------------

TEST(ChannelMomentsMergeTest, EmptySidesAreIdentities) {
  const ChannelMoments some{5, 2.5, 7.25};
  ChannelMoments left;
  left.Merge(some);
  EXPECT_EQ(left.count, 5);
  EXPECT_EQ(left.mean, 2.5);
  EXPECT_EQ(left.m2, 7.25);

  ChannelMoments right = some;
  right.Merge(ChannelMoments{});
  EXPECT_EQ(right.count, 5);
  EXPECT_EQ(right.mean, 2.5);
  EXPECT_EQ(right.m2, 7.25);

  ChannelMoments none;
  none.Merge(ChannelMoments{});
  EXPECT_EQ(none.count, 0);
  EXPECT_EQ(none.VarBiased(), 0.0);
}

TEST(ChannelMomentsMergeTest, MatchesConcatenatedData) {
  // Unequal parts with different centres, as batches of a drifting stream.
  const std::vector<int64_t> sizes = {1, 2, 7, 130, 1029};
  std::vector<float> all;
  ChannelMoments merged;
  for (size_t p = 0; p < sizes.size(); ++p) {
    const std::vector<float> part = RandomData(sizes[p], 100.0 * p - 50.0, 1.0 + p, 11 + p);
    std::vector<ChannelMoments> part_moments;
    ComputeChannelMoments(ViewOf({sizes[p]}, part), &part_moments);
    ASSERT_EQ(part_moments.size(), 1u);
    merged.Merge(part_moments[0]);
    all.insert(all.end(), part.begin(), part.end());
  }
  const ReferenceMoments want = NaiveMoments({static_cast<int64_t>(all.size())}, all, 0b1);
  ExpectMatchesReference({merged}, want, 1e-13, "merged parts");
  EXPECT_NEAR(merged.VarBiased(), want.m2[0] / all.size(), 1e-13 * merged.VarBiased());
  EXPECT_NEAR(merged.VarUnbiased(), want.m2[0] / (all.size() - 1), 1e-13 * merged.VarUnbiased());
}

// The fixture's batches are not all float32-representable (a float64 shift
// was added after drawing them in float32), so the merge is driven with the
// per-batch (n, mean, M2) the fixture states rather than with moments
// recomputed from float32 data.
TEST(ChannelMomentsMergeTest, PooledFixtureChanStates) {
  const nlohmann::json fixture = LoadJsonFixture("bn-vectors/pooled_vs_alg2.json");
  for (const auto& c : fixture.at("cases")) {
    const std::string label = c.at("label");
    const auto& per_batch = c.at("per_batch");
    const auto& states = c.at("chan_merge_state_after_each_batch");
    const int64_t channels = c.at("num_features").get<int64_t>();
    std::vector<ChannelMoments> pool(channels);
    for (size_t b = 0; b < per_batch.size(); ++b) {
      for (int64_t ch = 0; ch < channels; ++ch) {
        pool[ch].Merge(ChannelMoments{per_batch[b].at("n").get<int64_t>(), per_batch[b].at("mean")[ch],
                                      per_batch[b].at("M2")[ch]});
        const double pooled_mean = states[b].at("mean")[ch];
        const double pooled_m2 = states[b].at("M2")[ch];
        EXPECT_EQ(pool[ch].count, states[b].at("count").get<int64_t>());
        EXPECT_NEAR(pool[ch].mean, pooled_mean, 1e-12 * std::max(1.0, std::fabs(pooled_mean))) << label;
        EXPECT_NEAR(pool[ch].m2, pooled_m2, 1e-12 * pooled_m2) << label << " after batch " << b;
      }
    }
    const auto& pooled = c.at("exact_pooled_estimate");
    for (int64_t ch = 0; ch < channels; ++ch) {
      const double var_biased = pooled.at("var_biased")[ch];
      const double var_unbiased = pooled.at("var_unbiased")[ch];
      EXPECT_NEAR(pool[ch].VarBiased(), var_biased, 1e-12 * var_biased) << label;
      EXPECT_NEAR(pool[ch].VarUnbiased(), var_unbiased, 1e-12 * var_unbiased) << label;
    }
  }
}

// --- ComputeChannelMoments --------------------------------------------------

TEST(ComputeChannelMomentsTest, MatchesNaiveReferenceOnAwkwardShapes) {
  // Rank 1 is one channel; rank 2 is [N,C]; rank >= 3 is [N,C,spatial...].
  // Sizes straddle the 1024-element blocks and the 64-element run threshold.
  const std::vector<std::vector<int64_t>> shapes = {
      {1},          {7},          {1024},       {1025},        {5000},         {1, 1},       {5, 3},
      {2, 1},       {1030, 7},    {3, 17},      {2000, 33},    {1, 5, 1},      {4, 3, 5},    {2, 5, 130},
      {3, 3, 1},    {2, 3, 2, 2}, {1, 3, 1, 1}, {3, 5, 7, 11}, {2, 4, 33, 33}, {9, 7, 3, 3}, {2, 3, 2, 3, 2},
      {1, 1, 1025}, {1030, 3, 2}, {2, 2, 63},   {2, 2, 64},    {1, 16, 1, 1},  {3, 24, 1, 1}};
  uint32_t seed = 1;
  for (const auto& dims : shapes) {
    const std::vector<float> data = RandomData(NumElements(dims), 0.5, 2.0, seed++);
    std::vector<ChannelMoments> got;
    ComputeChannelMoments(ViewOf(dims, data), &got);
    const int rank = static_cast<int>(dims.size());
    const uint32_t reduced = rank == 1 ? 0b1 : ((1u << rank) - 1) & ~0b10u;
    ExpectMatchesReference(got, NaiveMoments(dims, data, reduced), 1e-13,
                           absl::StrCat("shape [", absl::StrJoin(dims, ","), "]"));
  }
}

// ChannelRunMoments (one channel at a time, as a statistics pass's BN op
// computes them on several threads) must give exactly what the whole-tensor
// reduction gives, so that thread counts change no result.
TEST(ChannelRunMomentsTest, BitIdenticalToComputeChannelMoments) {
  const std::vector<std::vector<int64_t>> runs = {{1, 5, 3},    {1, 3, 2, 2},   {2, 5, 130},     {2, 2, 64},
                                                  {3, 4, 8, 8}, {2, 4, 33, 33}, {4, 3, 1, 1030}, {64, 32, 32, 32}};
  uint32_t seed = 100;
  for (const auto& dims : runs) {
    const std::string label = absl::StrCat("shape [", absl::StrJoin(dims, ","), "]");
    const std::vector<float> data = RandomData(NumElements(dims), 3.0, 2.0, seed++);
    const TensorView x = ViewOf(dims, data);
    ASSERT_TRUE(ChannelPlanesAreRuns(x.shape)) << label;
    std::vector<ChannelMoments> whole;
    ComputeChannelMoments(x, &whole);
    const int64_t channels = dims[1];
    std::vector<ChannelMoments> split(static_cast<size_t>(channels));
    // Uneven ranges, as a thread pool hands them out.
    for (int64_t c = 0; c < channels; c += 2) ChannelRunMoments(x, c, std::min(c + 2, channels), &split[c]);
    for (int64_t c = 0; c < channels; ++c) {
      EXPECT_EQ(split[c].count, whole[c].count) << label << " channel " << c;
      EXPECT_EQ(split[c].mean, whole[c].mean) << label << " channel " << c;
      EXPECT_EQ(split[c].m2, whole[c].m2) << label << " channel " << c;
    }
  }
}

TEST(ChannelRunMomentsTest, OtherLayoutsAreNotRuns) {
  // Read as columns ([N,C], short planes with N > 1), one run for the whole
  // tensor (C == 1), or empty: ChannelRunMoments does not apply.
  for (const auto& dims : std::vector<std::vector<int64_t>>{
           {5, 3}, {2, 3, 2, 2}, {9, 7, 3, 3}, {3, 24, 1, 1}, {4, 1, 8, 8}, {0, 3, 4, 4}, {2, 2, 63}, {7}}) {
    EXPECT_FALSE(ChannelPlanesAreRuns(*Shape::FromDims(dims))) << absl::StrJoin(dims, ",");
  }
}

TEST(ComputeChannelMomentsTest, EmptyBatchGivesZeroCounts) {
  const std::vector<float> none;
  std::vector<ChannelMoments> got = {ChannelMoments{3, 1.0, 1.0}};
  ComputeChannelMoments(ViewOf({0, 3, 4, 4}, none), &got);
  ASSERT_EQ(got.size(), 3u);
  for (const ChannelMoments& m : got) {
    EXPECT_EQ(m.count, 0);
    EXPECT_EQ(m.mean, 0.0);
    EXPECT_EQ(m.m2, 0.0);
  }
}

TEST(ComputeChannelMomentsTest, ScalarIsOneChannelOfOne) {
  const std::vector<float> data = {4.5f};
  std::vector<ChannelMoments> got;
  ComputeChannelMoments(TensorView{Shape{}, data.data()}, &got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].count, 1);
  EXPECT_EQ(got[0].mean, 4.5);
  EXPECT_EQ(got[0].m2, 0.0);
}

TEST(ComputeChannelMomentsTest, TrainFixtureBatchStatistics) {
  const nlohmann::json fixture = LoadJsonFixture("bn-vectors/train_running_stats.json");
  for (const auto& c : fixture.at("cases")) {
    const auto& batches = c.at("batches");
    // Every run sees the same batches; the first run's steps suffice.
    const auto& steps = c.at("runs")[0].at("steps");
    for (size_t b = 0; b < batches.size(); ++b) {
      std::vector<int64_t> dims;
      std::vector<double> values;
      ReadJsonTensor(batches[b], &dims, &values);
      const std::vector<float> data = ToFloats(values);
      std::vector<ChannelMoments> got;
      ComputeChannelMoments(ViewOf(dims, data), &got);
      const auto& want = steps[b].at("batch_stats");
      ASSERT_EQ(got.size(), want.at("mean").size());
      for (size_t ch = 0; ch < got.size(); ++ch) {
        const std::string where = absl::StrCat(c.at("module").get<std::string>(), " batch ", b, " channel ", ch);
        EXPECT_EQ(got[ch].count, want.at("n").get<int64_t>()) << where;
        const double mean = want.at("mean")[ch];
        const double var_biased = want.at("var_biased")[ch];
        const double var_unbiased = want.at("var_unbiased")[ch];
        EXPECT_NEAR(got[ch].mean, mean, 1e-12 * std::max(1.0, std::fabs(mean))) << where;
        EXPECT_NEAR(got[ch].VarBiased(), var_biased, 1e-12 * var_biased) << where;
        EXPECT_NEAR(got[ch].VarUnbiased(), var_unbiased, 1e-12 * var_unbiased) << where;
      }
    }
  }
}

TEST(ComputeChannelMomentsTest, CancellationFixtureIsExact) {
  const nlohmann::json fixture = LoadJsonFixture("bn-vectors/cancellation.json");
  std::vector<int64_t> dims;
  std::vector<double> values;
  ReadJsonTensor(fixture.at("input"), &dims, &values);
  const std::vector<float> data = ToFloats(values);
  const double true_mean = fixture.at("true_mean");
  const double true_var_biased = fixture.at("true_var_biased");
  const double true_var_unbiased = fixture.at("true_var_unbiased");
  const int64_t n = static_cast<int64_t>(data.size());
  // The same samples as one channel in the layouts the §7 table mentions.
  for (const std::vector<int64_t>& layout :
       std::vector<std::vector<int64_t>>{{n}, {n, 1}, {1, 1, n}, {n, 1, 1, 1}, {2, 1, n / 2}}) {
    std::vector<ChannelMoments> got;
    ComputeChannelMoments(ViewOf(layout, data), &got);
    ASSERT_EQ(got.size(), 1u);
    const std::string where = absl::StrCat("layout [", absl::StrJoin(layout, ","), "]");
    EXPECT_NEAR(got[0].mean, true_mean, 1e-15 * true_mean) << where;
    EXPECT_NEAR(got[0].VarBiased(), true_var_biased, 1e-12 * true_var_biased) << where;
    EXPECT_NEAR(got[0].VarUnbiased(), true_var_unbiased, 1e-12 * true_var_unbiased) << where;
  }
}

TEST(ComputeChannelMomentsTest, EdgeCaseFixtures) {
  const nlohmann::json fixture = LoadJsonFixture("bn-vectors/edge_cases.json");
  int checked = 0;
  for (const auto& c : fixture.at("cases")) {
    const std::string label = c.at("label");
    if (label != "n=2" && label != "constant_channel" && label != "N=1_L=3_allowed") continue;
    std::vector<int64_t> dims;
    std::vector<double> values;
    ReadJsonTensor(c.at("input"), &dims, &values);
    const std::vector<float> data = ToFloats(values);
    std::vector<ChannelMoments> got;
    ComputeChannelMoments(ViewOf(dims, data), &got);
    ASSERT_EQ(got.size(), 1u) << label;
    const ReferenceMoments want = NaiveMoments(dims, data, dims.size() == 2 ? 0b1 : 0b101);
    EXPECT_EQ(got[0].count, want.count[0]) << label;
    EXPECT_DOUBLE_EQ(got[0].mean, want.mean[0]) << label;
    EXPECT_DOUBLE_EQ(got[0].m2, want.m2[0]) << label;
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST(ComputeChannelMomentsTest, ConstantChannelHasZeroVarianceExactly) {
  std::vector<float> data(2 * 3 * 100);
  for (size_t i = 0; i < data.size(); ++i) data[i] = (i / 100) % 3 == 1 ? 1e4f + 0.5f : 0.1f * (i % 7);
  std::vector<ChannelMoments> got;
  ComputeChannelMoments(ViewOf({2, 3, 100}, data), &got);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1].mean, 1e4 + 0.5);
  EXPECT_EQ(got[1].m2, 0.0);
}

// Shifting by the first value of each block costs accuracy when that value is
// an outlier far from the rest: the error bound grows to about
// eps * sqrt(B) * (B + 1) relative for blocks of B = 1024 (here 1e6 among
// N(0,1) values measures 2e-12), still far inside the 1e-9 promised.
TEST(ComputeChannelMomentsTest, OutlierAtBlockStartStaysAccurate) {
  for (const std::vector<int64_t>& dims : std::vector<std::vector<int64_t>>{{3000, 5}, {3, 5, 3000}}) {
    std::vector<float> data = RandomData(NumElements(dims), 0.0, 1.0, 99);
    data[0] = 1e6f;  // channel 0's first value, in either layout
    std::vector<ChannelMoments> got;
    ComputeChannelMoments(ViewOf(dims, data), &got);
    const uint32_t reduced = dims.size() == 2 ? 0b1 : 0b101;
    ExpectMatchesReference(got, NaiveMoments(dims, data, reduced), 1e-10,
                           absl::StrCat("outlier, shape [", absl::StrJoin(dims, ","), "]"));
  }
}

TEST(ComputeChannelMomentsTest, NanStaysVisible) {
  std::vector<float> data = RandomData(4 * 2 * 80, 0.0, 1.0, 5);
  data[80 + 17] = std::numeric_limits<float>::quiet_NaN();  // sample 0, channel 1
  std::vector<ChannelMoments> got;
  ComputeChannelMoments(ViewOf({4, 2, 80}, data), &got);
  EXPECT_TRUE(std::isfinite(got[0].mean) && std::isfinite(got[0].m2));
  EXPECT_TRUE(std::isnan(got[1].mean) || std::isnan(got[1].m2));
}

}  // namespace
}  // namespace bnserve
