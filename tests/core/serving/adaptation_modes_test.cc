// The label-free adaptation modes through a Recalibrator (bn-semantics §12):
// option validation naming the field, the range and the value; and, on a
// BatchNorm2d, that prior's n counts images, not values per channel.
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/engine/statistics_plan.h"
#include "core/model/model.h"
#include "core/serving/recalibrator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/test_util.h"

namespace bnserve {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const Model> LoadCnn() {
  auto model = Model::LoadFromFile(testing::FixturePath("torch/cnn_bn2d.onnx"));
  EXPECT_TRUE(model.ok()) << model.status();
  return *model;
}

Tensor RandomImages(int64_t images, uint32_t seed, float offset) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Tensor t(Shape{images, 3, 16, 16});
  for (float& v : t.data) v = offset + 1.5f * dist(rng);
  return t;
}

RecalibrationOptions Options(RecalibrationMode mode) {
  RecalibrationOptions options;
  options.mode = mode;
  return options;
}

TEST(AdaptationModesTest, ValidOptionsPass) {
  RecalibrationOptions prior = Options(RecalibrationMode::kPrior);
  EXPECT_TRUE(ValidateRecalibrationOptions(prior, "config.").ok());  // default N
  prior.prior_strength = 0.0;
  EXPECT_TRUE(ValidateRecalibrationOptions(prior, "config.").ok());
  prior.prior_strength = 1e300;
  EXPECT_TRUE(ValidateRecalibrationOptions(prior, "config.").ok());
  RecalibrationOptions alpha = Options(RecalibrationMode::kAlpha);
  for (double a : {0.0, 0.5, 1.0}) {
    alpha.alpha = a;
    EXPECT_TRUE(ValidateRecalibrationOptions(alpha, "config.").ok()) << a;
  }
  RecalibrationOptions ema = Options(RecalibrationMode::kEma);
  ema.momentum = 0.3;
  ema.reset = true;
  EXPECT_TRUE(ValidateRecalibrationOptions(ema, "config.").ok());
}

// Options of `mode` with the given fields set.
RecalibrationOptions With(RecalibrationMode mode, std::optional<double> prior_strength, std::optional<double> alpha,
                          bool reset = false, std::optional<double> momentum = std::nullopt) {
  RecalibrationOptions options = Options(mode);
  options.prior_strength = prior_strength;
  options.alpha = alpha;
  options.reset = reset;
  options.momentum = momentum;
  return options;
}

TEST(AdaptationModesTest, BadOptionsNameTheFieldTheExpectedAndTheReceivedValue) {
  struct Case {
    RecalibrationOptions options;
    std::string message;
  };
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::nan("");
  const auto prior = RecalibrationMode::kPrior;
  const auto alpha = RecalibrationMode::kAlpha;
  const std::vector<Case> cases = {
      {With(prior, -1.0, {}), "config.prior_strength: expected a finite value >= 0, got -1"},
      {With(prior, inf, {}), "config.prior_strength: expected a finite value >= 0, got inf"},
      {With(prior, nan, {}), "config.prior_strength: expected a finite value >= 0, got nan"},
      {With(alpha, {}, 1.5), "config.alpha: expected a value in [0, 1], got 1.5"},
      {With(alpha, {}, -0.25), "config.alpha: expected a value in [0, 1], got -0.25"},
      {With(alpha, {}, nan), "config.alpha: expected a value in [0, 1], got nan"},
      {With(prior, {}, {}, /*reset=*/true), "config.reset: expected false with mode prior"},
      {With(alpha, {}, {}, /*reset=*/true), "config.reset: expected false with mode alpha"},
      {With(prior, {}, {}, false, /*momentum=*/0.1), "config.momentum: expected unset with mode prior"},
      {With(alpha, {}, {}, false, /*momentum=*/0.1), "config.momentum: expected unset with mode alpha"},
      {With(RecalibrationMode::kExact, 4.0, {}),
       "config.prior_strength: expected only with mode prior, got it with mode exact"},
      {With(prior, {}, 0.5), "config.alpha: expected only with mode alpha, got it with mode prior"},
      {With(RecalibrationMode::kEma, {}, {}, false, /*momentum=*/2.0),
       "config.momentum: expected a value in [0, 1] (PyTorch convention), got 2"},
  };

  auto model = LoadCnn();
  for (const Case& c : cases) {
    const absl::Status status = ValidateRecalibrationOptions(c.options, "config.");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
    // The Recalibrator refuses the same options, in core terms.
    const absl::Status created = Recalibrator::Create(model, model->file_stats(), c.options).status();
    EXPECT_EQ(created.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(std::string(created.message()), HasSubstr(c.message.substr(std::string("config.").size())));
  }
}

// bn1 of cnn_bn2d reads conv1(x), which no other BN influences: its target
// statistics are the moments of conv1 over all the streamed images at once,
// measured here by one statistics pass over the concatenated batches.
class AdaptationOnBn2dTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = LoadCnn();
    batches_ = {RandomImages(2, 11, -0.5f), RandomImages(5, 12, 1.0f)};
    Tensor all(Shape{7, 3, 16, 16});
    std::copy(batches_[0].data.begin(), batches_[0].data.end(), all.data.begin());
    std::copy(batches_[1].data.begin(), batches_[1].data.end(), all.data.begin() + batches_[0].data.size());
    auto plan = StatisticsPlan::Build(model_, model_->file_stats(), ForwardMode::kTrain).value();
    const TensorView view = all.view();
    ASSERT_TRUE(plan->Run({&view, 1}, &target_).ok());
  }

  StatsSnapshot Run(const RecalibrationOptions& options) {
    auto recalibrator = Recalibrator::Create(model_, model_->file_stats(), options).value();
    for (const Tensor& batch : batches_) {
      const TensorView view = batch.view();
      EXPECT_TRUE(recalibrator->AddBatch({&view, 1}).ok());
    }
    EXPECT_EQ(recalibrator->samples(), 7);
    return recalibrator->Finish(nullptr).value();
  }

  // Checks layer 0 against source_weight * served + target_weight * target.
  void ExpectMix(const StatsSnapshot& got, double source_weight, double target_weight, const std::string& label) {
    const LayerStats& served = model_->file_stats()->layers[0];
    ASSERT_EQ(target_.layers[0].size(), served.mean.size());
    for (size_t c = 0; c < served.mean.size(); ++c) {
      const double mean = source_weight * served.mean[c] + target_weight * target_.layers[0][c].mean;
      const double var = source_weight * served.var[c] + target_weight * target_.layers[0][c].VarUnbiased();
      EXPECT_NEAR(got.layers[0].mean[c], mean, 1e-9 * (1 + std::abs(mean))) << label << " channel " << c;
      EXPECT_NEAR(got.layers[0].var[c], var, 1e-9 * var) << label << " channel " << c;
    }
    EXPECT_EQ(got.layers[0].num_batches_tracked, served.num_batches_tracked + 2) << label;
    EXPECT_EQ(got.layers[0].sample_count, 0) << label;
  }

  std::shared_ptr<const Model> model_;
  std::vector<Tensor> batches_;
  BatchStatsSink target_;
};

TEST_F(AdaptationOnBn2dTest, PriorCountsImagesNotValuesPerChannel) {
  // 7 images, 7 * 16 * 16 = 1792 values per channel: n = 7.
  ASSERT_EQ(target_.layers[0][0].count, 1792);
  RecalibrationOptions options = Options(RecalibrationMode::kPrior);
  options.prior_strength = 5.0;
  ExpectMix(Run(options), 5.0 / 12, 7.0 / 12, "N = 5");
  options.prior_strength.reset();
  ExpectMix(Run(options), 16.0 / 23, 7.0 / 23, "default N = 16");
  options.prior_strength = 0.0;
  ExpectMix(Run(options), 0.0, 1.0, "N = 0");
}

TEST_F(AdaptationOnBn2dTest, AlphaMixesWithItsWeight) {
  RecalibrationOptions options = Options(RecalibrationMode::kAlpha);
  ExpectMix(Run(options), 0.9, 0.1, "default alpha 0.9");
  options.alpha = 0.3;
  ExpectMix(Run(options), 0.3, 0.7, "alpha 0.3");
}

}  // namespace
}  // namespace bnserve
