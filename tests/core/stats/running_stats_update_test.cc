#include "core/stats/running_stats_update.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/test_util/test_util.h"

namespace bnserve {
namespace {

using ::bnserve::testing::LoadJsonFixture;
using ::bnserve::testing::ReadJsonTensor;

// Fixture values are torch float64 results: agreement to ~1e-12 relative,
// 1e-13 absolute for O(1) values.
void ExpectClose(double got, double want, const std::string& where) {
  EXPECT_NEAR(got, want, 1e-12 * std::fabs(want) + 1e-13) << where;
}

void ExpectStatsClose(const LayerStats& got, const nlohmann::json& mean, const nlohmann::json& var,
                      const std::string& where) {
  ASSERT_EQ(got.mean.size(), mean.size()) << where;
  ASSERT_EQ(got.var.size(), var.size()) << where;
  for (size_t c = 0; c < got.mean.size(); ++c) {
    ExpectClose(got.mean[c], mean[c].get<double>(), absl::StrCat(where, " mean[", c, "]"));
    ExpectClose(got.var[c], var[c].get<double>(), absl::StrCat(where, " var[", c, "]"));
  }
}

std::vector<ChannelMoments> MomentsOf(const nlohmann::json& tensor) {
  std::vector<int64_t> dims;
  std::vector<double> values;
  ReadJsonTensor(tensor, &dims, &values);
  const std::vector<float> data(values.begin(), values.end());  // exact: inputs are float32
  auto shape = Shape::FromDims(dims);
  EXPECT_TRUE(shape.ok());
  std::vector<ChannelMoments> moments;
  ComputeChannelMoments(TensorView{*shape, data.data()}, &moments);
  return moments;
}

// The first-dim rows of a fixture tensor: the batch's samples.
int64_t RowsOf(const nlohmann::json& tensor) { return tensor.at("shape")[0].get<int64_t>(); }

ModeParameters Momentum(double momentum) {
  ModeParameters parameters;
  parameters.momentum = momentum;
  return parameters;
}

// The fixture's own (n, mean, M2) per channel of one batch (of BatchNorm1d
// on (N, C): n is also the batch's rows).
std::vector<ChannelMoments> StatedMoments(const nlohmann::json& per_batch) {
  std::vector<ChannelMoments> moments;
  for (size_t c = 0; c < per_batch.at("mean").size(); ++c) {
    moments.push_back(ChannelMoments{per_batch.at("n").get<int64_t>(), per_batch.at("mean")[c], per_batch.at("M2")[c]});
  }
  return moments;
}

TEST(ResetLayerStatsTest, IsPyTorchReset) {
  const LayerStats stats = ResetLayerStats(3);
  EXPECT_EQ(stats.mean, (std::vector<double>{0.0, 0.0, 0.0}));
  EXPECT_EQ(stats.var, (std::vector<double>{1.0, 1.0, 1.0}));
  EXPECT_EQ(stats.num_batches_tracked, 0);
  EXPECT_EQ(stats.sample_count, 0);
}

// BatchNorm2d and BatchNorm1d, 3 steps each, momentum 0.1 (EMA) and null
// (cumulative), batch moments computed from the fixture's inputs.
TEST(RunningStatsAccumulatorTest, TrainFixtureEveryStep) {
  const nlohmann::json fixture = LoadJsonFixture("bn-vectors/train_running_stats.json");
  int runs_checked = 0;
  for (const auto& c : fixture.at("cases")) {
    LayerStats start;
    start.mean = c.at("initial_running_mean").get<std::vector<double>>();
    start.var = c.at("initial_running_var").get<std::vector<double>>();
    start.num_batches_tracked = c.at("initial_num_batches_tracked");
    for (const auto& run : c.at("runs")) {
      const bool cumulative = run.at("momentum").is_null();
      const RecalibrationMode mode = cumulative ? RecalibrationMode::kCumulative : RecalibrationMode::kEma;
      RunningStatsAccumulator accumulator(mode, start, Momentum(cumulative ? 0.0 : run.at("momentum").get<double>()));
      int64_t samples = 0;
      for (size_t b = 0; b < c.at("batches").size(); ++b) {
        const std::string where =
            absl::StrCat(c.at("module").get<std::string>(), " momentum ", run.at("momentum").dump(), " step ", b + 1);
        const std::vector<ChannelMoments> batch = MomentsOf(c.at("batches")[b]);
        ASSERT_TRUE(accumulator.AddBatch(batch, RowsOf(c.at("batches")[b])).ok()) << where;
        samples += batch[0].count;
        const auto& step = run.at("steps")[b];
        const LayerStats got = accumulator.Result();
        ExpectStatsClose(got, step.at("running_mean_after"), step.at("running_var_after"), where);
        EXPECT_EQ(got.num_batches_tracked, step.at("num_batches_tracked_after").get<int64_t>()) << where;
        EXPECT_EQ(got.sample_count, 0) << where;  // not a pooled state
      }
      ++runs_checked;
    }
  }
  EXPECT_EQ(runs_checked, 4);
}

TEST(RunningStatsAccumulatorTest, PooledFixtureAllStreamingModes) {
  const nlohmann::json fixture = LoadJsonFixture("bn-vectors/pooled_vs_alg2.json");
  for (const auto& c : fixture.at("cases")) {
    const std::string label = c.at("label");
    const int64_t channels = c.at("num_features");
    RunningStatsAccumulator cumulative(RecalibrationMode::kCumulative, ResetLayerStats(channels));
    RunningStatsAccumulator population(RecalibrationMode::kPopulation, ResetLayerStats(channels));
    RunningStatsAccumulator exact(RecalibrationMode::kExact, ResetLayerStats(channels));
    const auto& per_batch = c.at("per_batch");
    for (size_t b = 0; b < per_batch.size(); ++b) {
      const std::string where = absl::StrCat(label, " after batch ", b + 1);
      const std::vector<ChannelMoments> batch = StatedMoments(per_batch[b]);
      const int64_t rows = batch[0].count;
      ASSERT_TRUE(cumulative.AddBatch(batch, rows).ok());
      ASSERT_TRUE(population.AddBatch(batch, rows).ok());
      ASSERT_TRUE(exact.AddBatch(batch, rows).ok());
      const auto& torch = c.at("torch_momentum_none_after_each_batch")[b];
      ExpectStatsClose(cumulative.Result(), torch.at("running_mean"), torch.at("running_var"), "cumulative " + where);
      EXPECT_EQ(cumulative.Result().num_batches_tracked, torch.at("num_batches_tracked").get<int64_t>());

      const auto& chan = c.at("chan_merge_state_after_each_batch")[b];
      const LayerStats pooled = exact.Result();
      const int64_t count = chan.at("count");
      EXPECT_EQ(pooled.sample_count, count) << where;
      for (int64_t ch = 0; ch < channels; ++ch) {
        ExpectClose(pooled.mean[ch], chan.at("mean")[ch], absl::StrCat("exact ", where, " mean"));
        ExpectClose(pooled.var[ch], chan.at("M2")[ch].get<double>() / (count - 1),
                    absl::StrCat("exact ", where, " var"));
      }
    }
    const auto& alg2 = c.at("algorithm2_estimate");
    ExpectStatsClose(population.Result(), alg2.at("mean"), alg2.at("var"), "population " + label);
    const auto& pooled = c.at("exact_pooled_estimate");
    ExpectStatsClose(exact.Result(), pooled.at("mean"), pooled.at("var_unbiased"), "exact " + label);
    EXPECT_EQ(exact.Result().sample_count, pooled.at("count").get<int64_t>());
  }
}

TEST(RunningStatsAccumulatorTest, EdgeCaseFixtures) {
  const nlohmann::json fixture = LoadJsonFixture("bn-vectors/edge_cases.json");
  int checked = 0;
  for (const auto& c : fixture.at("cases")) {
    if (!c.contains("running_mean_after") || !c.contains("momentum")) continue;
    const std::string label = c.at("label");
    RunningStatsAccumulator accumulator(RecalibrationMode::kEma, ResetLayerStats(1),
                                        Momentum(c.at("momentum").get<double>()));
    ASSERT_TRUE(accumulator.AddBatch(MomentsOf(c.at("input")), RowsOf(c.at("input"))).ok()) << label;
    ExpectStatsClose(accumulator.Result(), c.at("running_mean_after"), c.at("running_var_after"), label);
    ++checked;
  }
  EXPECT_EQ(checked, 3);  // n=2, constant channel, N=1 with L=3
}

// --- Continuing from a snapshot ---------------------------------------------

LayerStats Snapshot(std::vector<double> mean, std::vector<double> var, int64_t batches, int64_t samples) {
  LayerStats stats;
  stats.mean = std::move(mean);
  stats.var = std::move(var);
  stats.num_batches_tracked = batches;
  stats.sample_count = samples;
  return stats;
}

// Two batches of BatchNorm1d on (N, C) (rows = values per channel) ...
const std::vector<ChannelMoments> kBatchA = {{4, 1.0, 6.0}, {4, -2.0, 0.75}};
const std::vector<ChannelMoments> kBatchB = {{6, 3.0, 10.0}, {6, 0.5, 2.5}};
constexpr int64_t kRowsA = 4;
constexpr int64_t kRowsB = 6;
// ... or, for the modes that count rows (kPrior's n), the same moments from
// BatchNorm2d on 2 and 3 images of 2 pixels each.
constexpr int64_t kImagesA = 2;
constexpr int64_t kImagesB = 3;

TEST(RunningStatsAccumulatorTest, CumulativeContinuesTheCounter) {
  // num_batches_tracked 9: the next batch is blended with f = 1/10.
  const LayerStats start = Snapshot({5.0, 1.0}, {2.0, 3.0}, 9, 0);
  RunningStatsAccumulator accumulator(RecalibrationMode::kCumulative, start);
  ASSERT_TRUE(accumulator.AddBatch(kBatchA, kRowsA).ok());
  const LayerStats got = accumulator.Result();
  EXPECT_DOUBLE_EQ(got.mean[0], 0.9 * 5.0 + 0.1 * 1.0);
  EXPECT_DOUBLE_EQ(got.var[0], 0.9 * 2.0 + 0.1 * (6.0 / 3.0));
  EXPECT_DOUBLE_EQ(got.mean[1], 0.9 * 1.0 + 0.1 * -2.0);
  EXPECT_DOUBLE_EQ(got.var[1], 0.9 * 3.0 + 0.1 * (0.75 / 3.0));
  EXPECT_EQ(got.num_batches_tracked, 10);
  EXPECT_EQ(got.sample_count, 0);
}

TEST(RunningStatsAccumulatorTest, PopulationContinuesTheAverage) {
  // Three earlier batches averaged to (mean 2, var 4): adding two more gives
  // the plain average of five batch statistics.
  const LayerStats start = Snapshot({2.0, 2.0}, {4.0, 4.0}, 3, 30);
  RunningStatsAccumulator accumulator(RecalibrationMode::kPopulation, start);
  ASSERT_TRUE(accumulator.AddBatch(kBatchA, kRowsA).ok());
  ASSERT_TRUE(accumulator.AddBatch(kBatchB, kRowsB).ok());
  const LayerStats got = accumulator.Result();
  EXPECT_NEAR(got.mean[0], (3 * 2.0 + 1.0 + 3.0) / 5, 1e-15);
  EXPECT_NEAR(got.var[0], (3 * 4.0 + 6.0 / 3 + 10.0 / 5) / 5, 1e-15);
  EXPECT_NEAR(got.mean[1], (3 * 2.0 - 2.0 + 0.5) / 5, 1e-15);
  EXPECT_NEAR(got.var[1], (3 * 4.0 + 0.75 / 3 + 2.5 / 5) / 5, 1e-15);
  EXPECT_EQ(got.num_batches_tracked, 5);
  EXPECT_EQ(got.sample_count, 0);
}

TEST(RunningStatsAccumulatorTest, FirstCumulativeBatchReplacesAnUncountedStart) {
  const LayerStats start = Snapshot({7.0, 7.0}, {9.0, 9.0}, 0, 0);
  for (RecalibrationMode mode : {RecalibrationMode::kCumulative, RecalibrationMode::kPopulation}) {
    RunningStatsAccumulator accumulator(mode, start);
    ASSERT_TRUE(accumulator.AddBatch(kBatchA, kRowsA).ok());
    EXPECT_EQ(accumulator.Result().mean, (std::vector<double>{1.0, -2.0}));
    EXPECT_EQ(accumulator.Result().var, (std::vector<double>{2.0, 0.25}));
  }
}

TEST(RunningStatsAccumulatorTest, EmaMomentumExtremes) {
  const LayerStats start = Snapshot({5.0, 1.0}, {2.0, 3.0}, 100, 0);
  RunningStatsAccumulator frozen(RecalibrationMode::kEma, start, Momentum(0.0));
  RunningStatsAccumulator last_only(RecalibrationMode::kEma, start, Momentum(1.0));
  for (const auto* batch : {&kBatchA, &kBatchB}) {
    ASSERT_TRUE(frozen.AddBatch(*batch, (*batch)[0].count).ok());
    ASSERT_TRUE(last_only.AddBatch(*batch, (*batch)[0].count).ok());
  }
  EXPECT_EQ(frozen.Result().mean, start.mean);
  EXPECT_EQ(frozen.Result().var, start.var);
  EXPECT_EQ(frozen.Result().num_batches_tracked, 102);  // PyTorch counts even when frozen
  EXPECT_EQ(last_only.Result().mean, (std::vector<double>{3.0, 0.5}));
  EXPECT_EQ(last_only.Result().var, (std::vector<double>{2.0, 0.5}));
}

TEST(RunningStatsAccumulatorTest, EmaWeightsDecayGeometrically) {
  // r_k = (1-m)^k r_0 + sum_j m (1-m)^(k-j) stat_j (bn-semantics section 4).
  const double m = 0.3;
  const LayerStats start = Snapshot({5.0, 1.0}, {2.0, 3.0}, 0, 0);
  RunningStatsAccumulator accumulator(RecalibrationMode::kEma, start, Momentum(m));
  ASSERT_TRUE(accumulator.AddBatch(kBatchA, kRowsA).ok());
  ASSERT_TRUE(accumulator.AddBatch(kBatchB, kRowsB).ok());
  const LayerStats got = accumulator.Result();
  EXPECT_NEAR(got.mean[0], (1 - m) * (1 - m) * 5.0 + m * (1 - m) * 1.0 + m * 3.0, 1e-15);
  EXPECT_NEAR(got.var[1], (1 - m) * (1 - m) * 3.0 + m * (1 - m) * 0.25 + m * 0.5, 1e-15);
}

TEST(RunningStatsAccumulatorTest, ExactSeedsThePoolFromSampleCount) {
  // A snapshot that pooled 10 samples: (10, mean, var*9) is its Chan state.
  const LayerStats start = Snapshot({2.0, -1.0}, {0.5, 4.0}, 2, 10);
  RunningStatsAccumulator accumulator(RecalibrationMode::kExact, start);
  ASSERT_TRUE(accumulator.AddBatch(kBatchA, kRowsA).ok());
  const LayerStats got = accumulator.Result();
  for (int c = 0; c < 2; ++c) {
    ChannelMoments want{10, start.mean[c], start.var[c] * 9};
    want.Merge(kBatchA[c]);
    EXPECT_DOUBLE_EQ(got.mean[c], want.mean);
    EXPECT_DOUBLE_EQ(got.var[c], want.m2 / 13);
  }
  EXPECT_EQ(got.sample_count, 14);
  EXPECT_EQ(got.num_batches_tracked, 3);
}

TEST(RunningStatsAccumulatorTest, ExactIgnoresStartWithoutSampleCount) {
  const LayerStats start = Snapshot({2.0, -1.0}, {0.5, 4.0}, 500, 0);
  RunningStatsAccumulator accumulator(RecalibrationMode::kExact, start);
  ASSERT_TRUE(accumulator.AddBatch(kBatchA, kRowsA).ok());
  ASSERT_TRUE(accumulator.AddBatch(kBatchB, kRowsB).ok());
  const LayerStats got = accumulator.Result();
  for (int c = 0; c < 2; ++c) {
    ChannelMoments want = kBatchA[c];
    want.Merge(kBatchB[c]);
    EXPECT_DOUBLE_EQ(got.mean[c], want.mean);
    EXPECT_DOUBLE_EQ(got.var[c], want.m2 / 9);
  }
  EXPECT_EQ(got.sample_count, 10);
  EXPECT_EQ(got.num_batches_tracked, 502);
}

TEST(RunningStatsAccumulatorTest, NoBatchesLeavesTheStart) {
  const LayerStats start = Snapshot({2.0, -1.0}, {0.5, 4.0}, 7, 70);
  for (RecalibrationMode mode :
       {RecalibrationMode::kEma, RecalibrationMode::kCumulative, RecalibrationMode::kPopulation,
        RecalibrationMode::kExact, RecalibrationMode::kPrior, RecalibrationMode::kAlpha}) {
    RunningStatsAccumulator accumulator(mode, start);
    const LayerStats got = accumulator.Result();
    EXPECT_EQ(got.mean, start.mean);
    EXPECT_EQ(got.var, start.var);
    EXPECT_EQ(got.num_batches_tracked, 7);
    EXPECT_EQ(got.sample_count, 70);
    EXPECT_EQ(accumulator.batches_added(), 0);
  }
}

// --- prior and alpha (bn-semantics §12) ------------------------------------

// The target of kBatchA then kBatchB, pooled by hand (Chan's merge): 10
// values per channel; channel 0: mean (4*1 + 6*3)/10 = 2.2, M2 = 6 + 10 +
// 2^2*4*6/10 = 25.6; channel 1: mean (4*-2 + 6*0.5)/10 = -0.5, M2 = 0.75 +
// 2.5 + 2.5^2*4*6/10 = 18.25.
constexpr double kTargetMean[2] = {2.2, -0.5};
constexpr double kTargetVar[2] = {25.6 / 9, 18.25 / 9};

// A served layer that an exact stream produced (sample_count 70): prior and
// alpha must not continue its pool.
const LayerStats kSource = Snapshot({5.0, 1.0}, {2.0, 3.0}, 7, 70);

LayerStats MixOfAAndB(RecalibrationMode mode, const ModeParameters& parameters) {
  RunningStatsAccumulator accumulator(mode, kSource, parameters);
  EXPECT_TRUE(accumulator.AddBatch(kBatchA, kImagesA).ok());
  EXPECT_TRUE(accumulator.AddBatch(kBatchB, kImagesB).ok());
  return accumulator.Result();
}

void ExpectNearRelative(double got, double want, const std::string& where) {
  EXPECT_NEAR(got, want, 2e-15 * std::fabs(want)) << where;
}

TEST(RunningStatsAccumulatorTest, PriorWeighsTheSourceAsNSamplesAgainstTheImagesStreamed) {
  ModeParameters parameters;
  parameters.prior_strength = 16.0;
  const LayerStats got = MixOfAAndB(RecalibrationMode::kPrior, parameters);
  // n = 2 + 3 images (not the 10 values per channel): weights 16/21, 5/21.
  for (int c = 0; c < 2; ++c) {
    const std::string where = absl::StrCat("channel ", c);
    ExpectNearRelative(got.mean[c], (16 * kSource.mean[c] + 5 * kTargetMean[c]) / 21, where + " mean");
    ExpectNearRelative(got.var[c], (16 * kSource.var[c] + 5 * kTargetVar[c]) / 21, where + " var");
  }
  EXPECT_NEAR(got.mean[0], 91.0 / 21, 1e-15);  // (16*5 + 5*2.2)/21, the formula spelled out once
  EXPECT_EQ(got.num_batches_tracked, 9);
  EXPECT_EQ(got.sample_count, 0);  // not a pooled state
}

TEST(RunningStatsAccumulatorTest, PriorStrengthZeroIsThePooledTargetExactly) {
  ModeParameters parameters;
  parameters.prior_strength = 0.0;
  const LayerStats got = MixOfAAndB(RecalibrationMode::kPrior, parameters);
  // The same pool kExact builds from an empty start.
  RunningStatsAccumulator exact(RecalibrationMode::kExact, Snapshot({0.0, 0.0}, {1.0, 1.0}, 0, 0));
  ASSERT_TRUE(exact.AddBatch(kBatchA, kImagesA).ok());
  ASSERT_TRUE(exact.AddBatch(kBatchB, kImagesB).ok());
  EXPECT_EQ(got.mean, exact.Result().mean);
  EXPECT_EQ(got.var, exact.Result().var);
  for (int c = 0; c < 2; ++c) {
    ExpectNearRelative(got.mean[c], kTargetMean[c], absl::StrCat("mean ", c));
    ExpectNearRelative(got.var[c], kTargetVar[c], absl::StrCat("var ", c));
  }
}

TEST(RunningStatsAccumulatorTest, PriorStrengthAtTheLargestDoubleKeepsTheSourceWithoutOverflow) {
  ModeParameters parameters;
  parameters.prior_strength = std::numeric_limits<double>::max();  // N * mean would be infinite
  const LayerStats got = MixOfAAndB(RecalibrationMode::kPrior, parameters);
  EXPECT_EQ(got.mean, kSource.mean);
  EXPECT_EQ(got.var, kSource.var);
  EXPECT_EQ(got.num_batches_tracked, 9);
}

TEST(RunningStatsAccumulatorTest, AlphaMixesWithAFixedWeight) {
  for (double alpha : {0.9, 0.25}) {
    ModeParameters parameters;
    parameters.alpha = alpha;
    const LayerStats got = MixOfAAndB(RecalibrationMode::kAlpha, parameters);
    for (int c = 0; c < 2; ++c) {
      const std::string where = absl::StrCat("alpha ", alpha, " channel ", c);
      ExpectNearRelative(got.mean[c], alpha * kSource.mean[c] + (1 - alpha) * kTargetMean[c], where + " mean");
      ExpectNearRelative(got.var[c], alpha * kSource.var[c] + (1 - alpha) * kTargetVar[c], where + " var");
    }
    EXPECT_EQ(got.num_batches_tracked, 9);
    EXPECT_EQ(got.sample_count, 0);
  }
  EXPECT_NEAR(MixOfAAndB(RecalibrationMode::kAlpha, {}).mean[1], 0.9 * 1.0 + 0.1 * -0.5, 1e-15);  // default 0.9
}

TEST(RunningStatsAccumulatorTest, AlphaExtremesAreTheSourceAndTheTarget) {
  ModeParameters keep_all, take_all;
  keep_all.alpha = 1.0;
  take_all.alpha = 0.0;
  const LayerStats source = MixOfAAndB(RecalibrationMode::kAlpha, keep_all);
  EXPECT_EQ(source.mean, kSource.mean);
  EXPECT_EQ(source.var, kSource.var);
  ModeParameters no_prior;
  no_prior.prior_strength = 0.0;
  const LayerStats target = MixOfAAndB(RecalibrationMode::kAlpha, take_all);
  EXPECT_EQ(target.mean, MixOfAAndB(RecalibrationMode::kPrior, no_prior).mean);
  EXPECT_EQ(target.var, MixOfAAndB(RecalibrationMode::kPrior, no_prior).var);
}

TEST(RunningStatsAccumulatorTest, PriorDefaultStrengthIsSixteen) {
  EXPECT_EQ(ModeParameters{}.prior_strength, 16.0);
  EXPECT_EQ(ModeParameters{}.alpha, 0.9);
  ModeParameters sixteen;
  sixteen.prior_strength = 16.0;
  EXPECT_EQ(MixOfAAndB(RecalibrationMode::kPrior, {}).mean, MixOfAAndB(RecalibrationMode::kPrior, sixteen).mean);
}

TEST(RunningStatsAccumulatorTest, ModeNamesAreWhatTheHistoryRecords) {
  EXPECT_EQ(RecalibrationModeName(RecalibrationMode::kEma), "ema");
  EXPECT_EQ(RecalibrationModeName(RecalibrationMode::kExact), "exact");
  EXPECT_EQ(RecalibrationModeName(RecalibrationMode::kPrior), "prior");
  EXPECT_EQ(RecalibrationModeName(RecalibrationMode::kAlpha), "alpha");
}

// --- Rejected batches leave the state untouched -------------------------------

TEST(RunningStatsAccumulatorTest, RejectsBadBatches) {
  struct BadBatch {
    std::vector<ChannelMoments> batch;
    int64_t samples;
    std::string expected_text;
  };
  const std::vector<BadBatch> bad = {
      {{{4, 1.0, 6.0}}, 4, "expected 2 channels, got 1"},
      {{{4, 1.0, 6.0}, {1, 0.0, 0.0}}, 4, "channel 1: expected at least 2 values per channel, got 1"},
      {{{4, 1.0, 6.0}, {5, 0.0, 1.0}}, 4, "channel 1: expected 4 values like channel 0, got 5"},
      {{{4, NAN, 6.0}, {4, 0.0, 1.0}}, 4, "channel 0: expected finite mean and M2"},
      {{{4, 1.0, 6.0}, {4, 0.0, INFINITY}}, 4, "channel 1: expected finite mean and M2"},
      {kBatchA, 0, "batch samples: expected 1 to 4 (the values per channel), got 0"},
      {kBatchA, 5, "batch samples: expected 1 to 4 (the values per channel), got 5"},
  };
  for (RecalibrationMode mode :
       {RecalibrationMode::kEma, RecalibrationMode::kExact, RecalibrationMode::kPrior, RecalibrationMode::kAlpha}) {
    RunningStatsAccumulator accumulator(mode, ResetLayerStats(2));
    ASSERT_TRUE(accumulator.AddBatch(kBatchA, kRowsA).ok());
    const LayerStats before = accumulator.Result();
    for (const BadBatch& b : bad) {
      const absl::Status status = accumulator.AddBatch(b.batch, b.samples);
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << b.expected_text;
      EXPECT_NE(status.message().find(b.expected_text), std::string::npos) << status.message();
    }
    const LayerStats after = accumulator.Result();
    EXPECT_EQ(after.mean, before.mean);
    EXPECT_EQ(after.var, before.var);
    EXPECT_EQ(after.num_batches_tracked, before.num_batches_tracked);
    EXPECT_EQ(after.sample_count, before.sample_count);
    EXPECT_EQ(accumulator.batches_added(), 1);
  }
}

}  // namespace
}  // namespace bnserve
