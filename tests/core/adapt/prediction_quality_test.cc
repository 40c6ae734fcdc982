// AssessOutput and ShadowTally: entropy and top-1 of logits or of
// probabilities, spatial outputs, and the window class share.
#include "core/adapt/prediction_quality.h"

#include <cmath>

#include "gtest/gtest.h"

namespace bnserve {
namespace {

TensorView View(const Shape& shape, const std::vector<float>& values) { return TensorView{shape, values.data()}; }

TEST(PredictionQualityTest, LogitsGoThroughASoftmax) {
  const std::vector<float> logits = {0.0f, std::log(3.0f)};  // probabilities 0.25, 0.75
  absl::StatusOr<OutputQuality> q = AssessOutput(View(Shape{1, 2}, logits));
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->top1_class, 1);
  EXPECT_NEAR(q->top1_probability, 0.75, 1e-6);
  EXPECT_NEAR(q->entropy, -(0.25 * std::log(0.25) + 0.75 * std::log(0.75)), 1e-6);
}

TEST(PredictionQualityTest, ProbabilitiesAreTakenAsTheyAre) {
  const std::vector<float> p = {0.1f, 0.2f, 0.7f};
  absl::StatusOr<OutputQuality> q = AssessOutput(View(Shape{1, 3}, p));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->top1_class, 2);
  EXPECT_NEAR(q->top1_probability, 0.7, 1e-6);
}

TEST(PredictionQualityTest, SpatialOutputsAverageOverPositions) {
  // [1, 2 classes, 2 positions]: position 0 sure of class 0, position 1 even.
  const std::vector<float> p = {1.0f, 0.5f, 0.0f, 0.5f};
  absl::StatusOr<OutputQuality> q = AssessOutput(View(Shape{1, 2, 2}, p));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->top1_class, 0);
  EXPECT_NEAR(q->entropy, 0.5 * std::log(2.0), 1e-6);
  EXPECT_NEAR(q->top1_probability, 0.75, 1e-6);
}

TEST(PredictionQualityTest, OneClassOrABatchIsRefused) {
  const std::vector<float> one = {1.0f};
  EXPECT_EQ(AssessOutput(View(Shape{1, 1}, one)).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<float> two_rows = {1.0f, 0.0f, 0.0f, 1.0f};
  EXPECT_EQ(AssessOutput(View(Shape{2, 2}, two_rows)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ShadowTallyTest, CountsAgreementAndTheLargestClassShareOfAnyWindow) {
  ShadowTally tally(4);
  const auto q = [](int64_t c, double entropy) { return OutputQuality{entropy, 0.9, c}; };
  // Window 1: candidate classes 0, 1, 2, 3; window 2: 5, 5, 5, 6.
  const int64_t candidate[] = {0, 1, 2, 3, 5, 5, 5, 6};
  for (int i = 0; i < 8; ++i) tally.Add(q(candidate[i] == 5 ? 5 : 9, 0.5), q(candidate[i], 0.25));
  EXPECT_EQ(tally.samples(), 8);
  EXPECT_DOUBLE_EQ(tally.top1_agreement(), 3.0 / 8.0);
  EXPECT_DOUBLE_EQ(tally.served_entropy(), 0.5);
  EXPECT_DOUBLE_EQ(tally.candidate_entropy(), 0.25);
  EXPECT_DOUBLE_EQ(tally.candidate_max_class_share(), 0.75);
}

}  // namespace
}  // namespace bnserve
