// DriftReference: the calibrated score and threshold on synthetic per-image
// means - its false-alarm rate on fresh windows of the same distribution is
// near the one asked for, and a shift of half a standard deviation
// of the image means is found.
#include "core/adapt/drift_reference.h"

#include <random>

#include "core/adapt/drift_window.h"
#include "gtest/gtest.h"

namespace bnserve {
namespace {

// Two layers of 4 and 6 channels, image means N(mu + shift, 1) with the
// channels of a layer correlated through a shared per-image factor.
std::vector<float> Image(std::mt19937_64& random, double shift) {
  std::normal_distribution<double> normal;
  std::vector<float> row;
  for (int layer_channels : {4, 6}) {
    const double shared = normal(random);
    for (int c = 0; c < layer_channels; ++c) row.push_back(static_cast<float>(c + shift + 0.6 * shared + 0.8 * normal(random)));
  }
  return row;
}

// The window a DriftWindowAccumulator collects from these rows.
std::vector<std::vector<ChannelMoments>> Window(std::mt19937_64& random, int64_t n, double shift) {
  DriftWindowAccumulator window({4, 6});
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<float> row = Image(random, shift);
    BatchStatsSink sink;
    sink.layers = {std::vector<ChannelMoments>(4), std::vector<ChannelMoments>(6)};
    for (int c = 0; c < 4; ++c) sink.layers[0][c] = ChannelMoments{16, row[c], 1.0};
    for (int c = 0; c < 6; ++c) sink.layers[1][c] = ChannelMoments{16, row[4 + c], 1.0};
    window.AddImage(sink);
  }
  return window.image_means();
}

TEST(DriftReferenceTest, FalseAlarmRateOnFreshWindowsIsNearTheOneAskedFor) {
  std::mt19937_64 random(7);
  std::vector<std::vector<float>> rows;
  for (int i = 0; i < 8 * 64; ++i) rows.push_back(Image(random, 0.0));
  const auto reference = DriftReference::Build({4, 6}, rows, 64, 0.05, 11);
  ASSERT_GT(reference->threshold(), 1.0);
  int above = 0;
  constexpr int kWindows = 2000;
  for (int w = 0; w < kWindows; ++w) {
    std::vector<double> scores = reference->LayerScores(Window(random, 64, 0.0));
    ASSERT_EQ(scores.size(), 2u);
    above += std::max(scores[0], scores[1]) > reference->threshold();
  }
  const double rate = static_cast<double>(above) / kWindows;
  EXPECT_GT(rate, 0.01);
  EXPECT_LT(rate, 0.10);
}

TEST(DriftReferenceTest, AShiftOfHalfAStandardDeviationIsAboveTheThreshold) {
  std::mt19937_64 random(8);
  std::vector<std::vector<float>> rows;
  for (int i = 0; i < 512; ++i) rows.push_back(Image(random, 0.0));
  const auto reference = DriftReference::Build({4, 6}, rows, 64, 0.01, 12);
  int found = 0;
  for (int w = 0; w < 50; ++w) {
    std::vector<double> scores = reference->LayerScores(Window(random, 64, 0.5));
    found += std::max(scores[0], scores[1]) > reference->threshold();
  }
  EXPECT_GE(found, 45);
}

TEST(DriftReferenceTest, TheScoreIsAboutOneForTrafficLikeTheReference) {
  std::mt19937_64 random(9);
  std::vector<std::vector<float>> rows;
  for (int i = 0; i < 4096; ++i) rows.push_back(Image(random, 0.0));
  const auto reference = DriftReference::Build({4, 6}, rows, 32, 0.01, 13);
  double sum = 0.0;
  for (int w = 0; w < 400; ++w) sum += reference->LayerScores(Window(random, 32, 0.0))[1];
  EXPECT_NEAR(sum / 400, 1.0, 0.2);
}

}  // namespace
}  // namespace bnserve
