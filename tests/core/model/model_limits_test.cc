#include "core/model/model_limits.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bnserve {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

ModelLimits Defaults() {
  ModelLimits d;
  d.max_recalibration_streams = 3;
  return d;
}

TEST(ModelLimitsTest, EveryKeyOverridesItsDefault) {
  absl::StatusOr<ModelLimits> limits = ParseModelLimits(
      R"({"max_recalibration_streams": 1, "max_recalibration_batch_samples": 512,
          "max_recalibration_message_bytes": 1048576})",
      "repo/m/config.json", Defaults());
  ASSERT_TRUE(limits.ok()) << limits.status();
  EXPECT_EQ(limits->max_recalibration_streams, 1);
  EXPECT_EQ(limits->max_recalibration_batch_samples, 512);
  EXPECT_EQ(limits->max_recalibration_message_bytes, 1048576);
  EXPECT_TRUE(limits->streams_from_config);
  EXPECT_EQ(limits->SourceOf("max_recalibration_streams"), "repo/m/config.json");
}

TEST(ModelLimitsTest, MissingKeysKeepTheDefaults) {
  absl::StatusOr<ModelLimits> limits =
      ParseModelLimits(R"({"max_recalibration_batch_samples": 8})", "c.json", Defaults());
  ASSERT_TRUE(limits.ok()) << limits.status();
  EXPECT_EQ(limits->max_recalibration_streams, 3);
  EXPECT_FALSE(limits->streams_from_config);
  EXPECT_EQ(limits->SourceOf("max_recalibration_streams"), "--max-recalibration-streams");
  EXPECT_EQ(limits->max_recalibration_message_bytes, 0);
  EXPECT_EQ(ParseModelLimits("{}", "c.json", Defaults())->max_recalibration_batch_samples, 0);
}

TEST(ModelLimitsTest, BadFilesAreInvalidArgumentNamingFileKeyExpectedAndFound) {
  const auto error = [](const std::string& text) {
    return ParseModelLimits(text, "repo/m/config.json", Defaults()).status();
  };
  const absl::Status unknown = error(R"({"max_recalibration_stream": 1})");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.message(),
              AllOf(HasSubstr("repo/m/config.json"), HasSubstr("unknown key \"max_recalibration_stream\""),
                    HasSubstr("max_recalibration_streams")));
  const absl::Status text = error(R"({"max_recalibration_streams": "two"})");
  EXPECT_EQ(text.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(text.message(),
              AllOf(HasSubstr("max_recalibration_streams: expected an integer in [1, "), HasSubstr("got \"two\"")));
  EXPECT_THAT(error(R"({"max_recalibration_streams": 0})").message(), HasSubstr("got 0"));
  EXPECT_THAT(error(R"({"max_recalibration_batch_samples": -5})").message(), HasSubstr("got -5"));
  EXPECT_THAT(error(R"({"max_recalibration_batch_samples": 2.5})").message(), HasSubstr("got 2.5"));
  EXPECT_THAT(error(R"({"max_recalibration_message_bytes": 18446744073709551615})").message(),
              HasSubstr("max_recalibration_message_bytes: expected an integer in [1, 2147483647]"));
  EXPECT_THAT(error("[1, 2]").message(), HasSubstr("expected a JSON object, got array"));
  EXPECT_THAT(error("{not json").message(), HasSubstr("expected a JSON object, got text that is not JSON"));
}

}  // namespace
}  // namespace bnserve
