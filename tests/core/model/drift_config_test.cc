// The "drift" object of config.json: every key, and errors that name the
// file, the key, the range and the value.
#include "core/model/drift_config.h"

#include "core/model/model_limits.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bnserve {
namespace {

using ::testing::HasSubstr;

TEST(DriftConfigTest, KeysOverrideTheDefaults) {
  absl::StatusOr<ModelLimits> limits = ParseModelLimits(
      R"({"drift": {"sample_rate": 0.25, "window_samples": 32, "auto_adapt": true, "adapt_mode": "prior",
                    "prior_strength": 8, "max_class_share": 0.5}})",
      "m/config.json", ModelLimits{});
  ASSERT_TRUE(limits.ok()) << limits.status();
  EXPECT_DOUBLE_EQ(limits->drift.sample_rate, 0.25);
  EXPECT_EQ(limits->drift.window_samples, 32);
  EXPECT_TRUE(limits->drift.auto_adapt);
  EXPECT_EQ(limits->drift.adapt_mode, "prior");
  EXPECT_DOUBLE_EQ(limits->drift.prior_strength, 8.0);
  EXPECT_DOUBLE_EQ(limits->drift.max_class_share, 0.5);
  EXPECT_EQ(limits->drift.reference_windows, DriftConfig{}.reference_windows);
  EXPECT_TRUE(limits->drift.enabled());
}

TEST(DriftConfigTest, TheServerDefaultsStayWhenTheFileSaysNothing) {
  ModelLimits defaults;
  defaults.drift.sample_rate = 0.1;
  absl::StatusOr<ModelLimits> limits = ParseModelLimits(R"({"drift": {}})", "m/config.json", defaults);
  ASSERT_TRUE(limits.ok());
  EXPECT_DOUBLE_EQ(limits->drift.sample_rate, 0.1);
}

TEST(DriftConfigTest, ErrorsNameTheFileTheKeyTheRangeAndTheValue) {
  const auto error = [](const std::string& json) {
    return std::string(ParseDriftConfig(json, "m/config.json", DriftConfig{}).status().message());
  };
  EXPECT_EQ(error(R"({"sample_rate": 1.5})"), "m/config.json: drift.sample_rate: expected a number in [0, 1], got 1.5");
  EXPECT_THAT(error(R"({"window_samples": 4})"), HasSubstr("drift.window_samples: expected an integer in [8, "));
  EXPECT_THAT(error(R"({"auto_adapt": "yes"})"), HasSubstr("drift.auto_adapt: expected true or false, got \"yes\""));
  EXPECT_THAT(error(R"({"adapt_mode": "ema"})"), HasSubstr("drift.adapt_mode: expected \"cumulative\" or \"prior\""));
  EXPECT_THAT(error(R"({"sampel_rate": 0.1})"), HasSubstr("drift: unknown key \"sampel_rate\"; expected one of"));
  EXPECT_THAT(error(R"([1])"), HasSubstr("drift: expected a JSON object"));
}

}  // namespace
}  // namespace bnserve
