// The client library's data helpers: wire tensor conversion, fitting files
// to a model input, batching, and the classifier read-outs (softmax,
// cross-entropy) against a naive long-double reference.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "client/batches.h"
#include "client/classification.h"
#include "client/tensor_convert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bnserve::client {
namespace {

using ::testing::HasSubstr;

FloatArray Iota(std::vector<int64_t> shape) {
  FloatArray array;
  array.shape = std::move(shape);
  int64_t n = 1;
  for (int64_t d : array.shape) n *= d;
  for (int64_t i = 0; i < n; ++i) array.values.push_back(0.5f * i - 3.0f);
  return array;
}

v1::TensorSpec Spec(std::vector<int64_t> dims) {
  v1::TensorSpec spec;
  spec.set_name("input");
  for (int64_t d : dims) {
    spec.add_shape(d);
    spec.add_dim_names(d < 0 ? "batch" : "");
  }
  return spec;
}

TEST(TensorConvertTest, RowsToTensorIsRawLittleEndianRowMajor) {
  const FloatArray array = Iota({5, 3, 2});
  const v1::Tensor tensor = RowsToTensor(array, 1, 4);
  EXPECT_THAT(tensor.shape(), ::testing::ElementsAre(3, 3, 2));
  ASSERT_EQ(tensor.raw_float32_le().size(), 3u * 6 * 4);
  std::vector<float> decoded(18);
  std::memcpy(decoded.data(), tensor.raw_float32_le().data(), 18 * 4);
  for (int i = 0; i < 18; ++i) EXPECT_EQ(decoded[i], array.values[6 + i]) << i;
}

TEST(TensorConvertTest, TensorToArrayReadsBothEncodingsAndChecksSizes) {
  v1::Tensor values;
  values.add_shape(2);
  values.add_shape(2);
  for (float v : {1.f, 2.f, 3.f, 4.f}) values.add_values(v);
  auto a = TensorToArray(values);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->values, (std::vector<float>{1, 2, 3, 4}));

  auto b = TensorToArray(ArrayToTensor(*a));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->values, a->values);
  EXPECT_EQ(b->shape, a->shape);

  values.add_values(5.f);
  EXPECT_FALSE(TensorToArray(values).ok());
  v1::Tensor raw = ArrayToTensor(*a);
  raw.mutable_raw_float32_le()->pop_back();
  EXPECT_FALSE(TensorToArray(raw).ok());
  v1::Tensor negative;
  negative.add_shape(-1);
  EXPECT_FALSE(TensorToArray(negative).ok());
}

TEST(FitToInputTest, KeepsMatchingInstancesAndReshapesFlatRows) {
  auto same = FitToInput(Iota({7, 1, 8, 8}), Spec({-1, 1, 8, 8}), "x.npy");
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->shape, (std::vector<int64_t>{7, 1, 8, 8}));

  // A CSV of 64 columns for an image input.
  auto flat = FitToInput(Iota({3, 64}), Spec({-1, 1, 8, 8}), "x.csv");
  ASSERT_TRUE(flat.ok()) << flat.status();
  EXPECT_EQ(flat->shape, (std::vector<int64_t>{3, 1, 8, 8}));
  EXPECT_EQ(flat->values, Iota({3, 64}).values);

  // One instance without the batch dim.
  auto single = FitToInput(Iota({1, 8, 8}), Spec({-1, 1, 8, 8}), "one.npy");
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_EQ(single->shape, (std::vector<int64_t>{1, 1, 8, 8}));

  // Symbolic non-batch dims accept any size there.
  auto symbolic = FitToInput(Iota({2, 3, 5}), Spec({-1, 3, -1}), "s.npy");
  ASSERT_TRUE(symbolic.ok()) << symbolic.status();
  EXPECT_EQ(symbolic->shape, (std::vector<int64_t>{2, 3, 5}));
}

TEST(FitToInputTest, MismatchNamesFileShapesAndValueCounts) {
  auto bad = FitToInput(Iota({4, 63}), Spec({-1, 1, 8, 8}), "bad.csv");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "bad.csv: data of shape [4,63] does not fit model input 'input' [batch,1,8,8] "
            "(64 values per instance, got 63)");
  EXPECT_FALSE(FitToInput(Iota({2, 4, 5}), Spec({-1, 3, -1}), "s.npy").ok());
}

TEST(BatchSplitterTest, CoversAllRowsInOrderWithASmallerLastBatch) {
  const FloatArray array = Iota({10, 3});
  BatchSplitter splitter(array, 4);
  ASSERT_EQ(splitter.num_batches(), 3);
  EXPECT_EQ(splitter.end(2) - splitter.begin(2), 2);
  std::vector<float> joined;
  for (int64_t i = 0; i < splitter.num_batches(); ++i) {
    auto batch = TensorToArray(splitter.Batch(i));
    ASSERT_TRUE(batch.ok());
    EXPECT_EQ(batch->shape[0], splitter.end(i) - splitter.begin(i));
    joined.insert(joined.end(), batch->values.begin(), batch->values.end());
  }
  EXPECT_EQ(joined, array.values);
  EXPECT_EQ(RowsWithinBytes(array, 25), 2);  // 12-byte rows
  EXPECT_EQ(RowsWithinBytes(array, 1), 1);
}

// Naive reference: softmax in long double of (logits - offset), the offset
// subtracted exactly in long double.
std::vector<long double> NaiveSoftmax(const std::vector<float>& logits, long double offset = 0) {
  long double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<long double>(x) - offset);
  std::vector<long double> p;
  for (float x : logits) p.push_back(std::exp(static_cast<long double>(x) - offset) / sum);
  return p;
}

TEST(ClassificationTest, MatchesNaiveSoftmaxAndStaysFiniteForHugeLogits) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  for (int trial = 0; trial < 200; ++trial) {
    const int classes = 2 + trial % 11;
    std::vector<float> logits(classes);
    for (float& x : logits) x = normal(rng);
    const auto p = NaiveSoftmax(logits);
    const int64_t argmax = std::max_element(p.begin(), p.end()) - p.begin();
    const ClassScore score = Classify(logits);
    EXPECT_EQ(score.label, argmax);
    EXPECT_NEAR(score.probability, static_cast<double>(p[argmax]), 1e-12);
    const int64_t label = trial % classes;
    EXPECT_NEAR(CrossEntropy(logits, label), static_cast<double>(-std::log(p[label])), 1e-9);
    // Huge logits: a naive exp(1e4) overflows even in double.
    std::vector<float> shifted = logits;
    for (float& x : shifted) x += 1.0e4f;
    const auto q = NaiveSoftmax(shifted, 1.0e4L);
    const int64_t shifted_argmax = std::max_element(q.begin(), q.end()) - q.begin();
    const ClassScore big = Classify(shifted);
    EXPECT_EQ(big.label, shifted_argmax);
    EXPECT_NEAR(big.probability, static_cast<double>(q[shifted_argmax]), 1e-12);
    EXPECT_NEAR(CrossEntropy(shifted, label), static_cast<double>(-std::log(q[label])), 1e-9);
  }
}

TEST(ClassificationTest, MetricsCountAccuracyAndRejectBadLabels) {
  ClassificationMetrics metrics;
  ASSERT_TRUE(metrics.Add(std::vector<float>{0, 5, 1}, 1).ok());
  ASSERT_TRUE(metrics.Add(std::vector<float>{3, 0, 1}, 2).ok());
  ASSERT_TRUE(metrics.Add(std::vector<float>{0, 0, 9}, 2).ok());
  EXPECT_EQ(metrics.count(), 3);
  EXPECT_EQ(metrics.correct(), 2);
  EXPECT_DOUBLE_EQ(metrics.accuracy(), 2.0 / 3.0);
  const double expected = (CrossEntropy(std::vector<float>{0, 5, 1}, 1) + CrossEntropy(std::vector<float>{3, 0, 1}, 2) +
                           CrossEntropy(std::vector<float>{0, 0, 9}, 2)) /
                          3;
  EXPECT_NEAR(metrics.mean_cross_entropy(), expected, 1e-12);
  absl::Status bad = metrics.Add(std::vector<float>{0, 1}, 2);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("label 2 of instance 3"));
  EXPECT_FALSE(metrics.Add(std::vector<float>{0, 1}, -1).ok());
  EXPECT_EQ(metrics.count(), 3);
}

}  // namespace
}  // namespace bnserve::client
