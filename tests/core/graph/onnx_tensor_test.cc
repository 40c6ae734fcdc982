#include "core/graph/onnx_tensor.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/onnx_builder.h"

namespace bnserve {
namespace {

using ::bnserve::testing::FloatTensor;
using ::bnserve::testing::IntTensor;
using ::testing::HasSubstr;

// The value of a non-negative finite float16 bit pattern (b <= 0x7BFF),
// straight from the IEEE 754 binary16 definition.
double ReferenceHalfValue(uint16_t b) {
  const int exponent = b >> 10;
  const int mantissa = b & 0x3ff;
  return exponent == 0 ? std::ldexp(mantissa, -24) : std::ldexp(1024 + mantissa, exponent - 25);
}

TEST(OnnxTensorTest, HalfBitsToFloatMatchesDefinitionForEveryPattern) {
  for (uint32_t b = 0; b <= 0x7BFF; ++b) {
    const double want = ReferenceHalfValue(static_cast<uint16_t>(b));
    ASSERT_EQ(HalfBitsToFloat(static_cast<uint16_t>(b)), want) << "bits 0x" << std::hex << b;
    ASSERT_EQ(HalfBitsToFloat(static_cast<uint16_t>(b | 0x8000)), -want) << "bits 0x" << std::hex << (b | 0x8000);
  }
  EXPECT_EQ(HalfBitsToFloat(0x7C00), INFINITY);
  EXPECT_EQ(HalfBitsToFloat(0xFC00), -INFINITY);
  EXPECT_TRUE(std::isnan(HalfBitsToFloat(0x7E00)));
}

TEST(OnnxTensorTest, DoubleToHalfRoundTripsEveryPattern) {
  for (uint32_t b = 0; b <= 0xFFFF; ++b) {
    const float v = HalfBitsToFloat(static_cast<uint16_t>(b));
    if (std::isnan(v)) {
      EXPECT_TRUE(std::isnan(HalfBitsToFloat(DoubleToHalfBits(v))));
      continue;
    }
    ASSERT_EQ(DoubleToHalfBits(v), b) << "bits 0x" << std::hex << b;
  }
}

// Nearest float16 by brute force over the sorted table of values, ties to
// the even bit pattern; values at or beyond 65520 overflow to infinity.
uint16_t ReferenceNearestHalf(double a, const std::vector<double>& table) {
  if (a >= 65520.0) return 0x7C00;
  const auto hi = std::lower_bound(table.begin(), table.end(), a);
  if (hi == table.begin()) return 0;
  const uint16_t upper = static_cast<uint16_t>(hi - table.begin());
  const uint16_t lower = upper - 1;
  const double below = a - table[lower];
  const double above = table[upper] - a;
  if (below < above) return lower;
  if (above < below) return upper;
  return (lower % 2 == 0) ? lower : upper;
}

TEST(OnnxTensorTest, DoubleToHalfRoundsToNearestEven) {
  std::vector<double> table;
  for (uint32_t b = 0; b <= 0x7BFF; ++b) table.push_back(ReferenceHalfValue(static_cast<uint16_t>(b)));
  // Every midpoint between neighbours, and its neighbouring doubles.
  for (size_t b = 0; b + 1 < table.size(); ++b) {
    const double mid = (table[b] + table[b + 1]) / 2;  // exact in double
    for (double a : {mid, std::nextafter(mid, 0.0), std::nextafter(mid, 1e9)}) {
      ASSERT_EQ(DoubleToHalfBits(a), ReferenceNearestHalf(a, table)) << "value " << a;
      ASSERT_EQ(DoubleToHalfBits(-a), ReferenceNearestHalf(a, table) | 0x8000) << "value " << -a;
    }
  }
  EXPECT_EQ(DoubleToHalfBits(65519.99), 0x7BFF);
  EXPECT_EQ(DoubleToHalfBits(65520.0), 0x7C00);
  EXPECT_EQ(DoubleToHalfBits(1e300), 0x7C00);
  // Random values over the whole range, log-uniform.
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> log2_magnitude(-30.0, 16.0);
  for (int i = 0; i < 100000; ++i) {
    const double a = std::exp2(log2_magnitude(rng));
    ASSERT_EQ(DoubleToHalfBits(a), ReferenceNearestHalf(a, table)) << "value " << a;
  }
}

TEST(OnnxTensorTest, EncodeFloatValuesWritesLittleEndianRawData) {
  onnx::TensorProto t = FloatTensor("w", {3}, {9, 9, 9}, ::bnserve::testing::TensorEncoding::kTyped);
  ASSERT_TRUE(EncodeFloatValues({1.0, -2.0, 0.1}, "w", &t).ok());
  EXPECT_EQ(t.float_data_size(), 0);
  // 1.0f = 0x3F800000, -2.0f = 0xC0000000, 0.1f = 0x3DCCCCCD, little-endian.
  EXPECT_EQ(t.raw_data(), std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0\xcd\xcc\xcc\x3d", 12));
}

TEST(OnnxTensorTest, EncodeFloatValuesChecksCountAndType) {
  onnx::TensorProto t = FloatTensor("w", {3}, {1, 2, 3});
  absl::Status s = EncodeFloatValues({1.0, 2.0}, "tensor w", &t);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("tensor w: expected 3 values"));
  onnx::TensorProto i = IntTensor("i", {2}, {1, 2});
  EXPECT_EQ(EncodeFloatValues({1.0, 2.0}, "i", &i).code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace bnserve
