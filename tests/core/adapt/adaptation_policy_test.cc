// The guardrails: promotion needs lower entropy by the margin and diverse
// windows; a promotion is kept unless it is worse than the version before.
#include "core/adapt/adaptation_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bnserve {
namespace {

using ::testing::HasSubstr;

ShadowTally Tally(double served_entropy, double candidate_entropy, int classes) {
  ShadowTally tally(10);
  for (int i = 0; i < 20; ++i) {
    tally.Add(OutputQuality{served_entropy, 0.9, 0}, OutputQuality{candidate_entropy, 0.95, i % classes});
  }
  return tally;
}

TEST(AdaptationPolicyTest, PromotesWhenEntropyDropsByTheMarginOnDiverseWindows) {
  DriftConfig config;
  const PolicyVerdict verdict = JudgePromotion(Tally(0.30, 0.10, 10), config);
  EXPECT_TRUE(verdict.accept) << verdict.reason;
  EXPECT_THAT(verdict.reason, HasSubstr("entropy lower by 0.2000"));
}

TEST(AdaptationPolicyTest, RefusesASmallEntropyGain) {
  DriftConfig config;
  config.entropy_margin = 0.05;
  const PolicyVerdict verdict = JudgePromotion(Tally(0.30, 0.27, 10), config);
  EXPECT_FALSE(verdict.accept);
  EXPECT_THAT(verdict.reason, HasSubstr("entropy not lower by entropy_margin 0.050"));
}

TEST(AdaptationPolicyTest, RefusesALabelShiftWhateverTheEntropy) {
  DriftConfig config;
  config.max_class_share = 0.4;
  const PolicyVerdict verdict = JudgePromotion(Tally(0.90, 0.01, 2), config);
  EXPECT_FALSE(verdict.accept);
  EXPECT_THAT(verdict.reason, HasSubstr("not diverse: one predicted class takes 0.500"));
}

TEST(AdaptationPolicyTest, KeepsAPromotionUnlessItIsWorse) {
  DriftConfig config;
  EXPECT_TRUE(JudgePromotionKept(Tally(0.30, 0.20, 10), config).accept);
  const PolicyVerdict worse = JudgePromotionKept(Tally(0.20, 0.30, 10), config);
  EXPECT_FALSE(worse.accept);
  EXPECT_THAT(worse.reason, HasSubstr("raise the mean entropy"));
}

}  // namespace
}  // namespace bnserve
