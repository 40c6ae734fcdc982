#include "core/graph/shape.h"

#include "gtest/gtest.h"

namespace bnserve {
namespace {

TEST(ShapeTest, NumElementsAndToString) {
  Shape s{2, 3, 4};
  EXPECT_EQ(s.rank(), 3);
  EXPECT_EQ(s.NumElements(), 24);
  EXPECT_EQ(s.ToString(), "[2,3,4]");
  EXPECT_EQ(Shape{}.NumElements(), 1);
}

TEST(ShapeTest, FromDimsRejectsNegativeSize) {
  auto s = Shape::FromDims({2, -1}, "input.shape");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("input.shape[1]"), std::string::npos);
  EXPECT_NE(s.status().message().find("-1"), std::string::npos);
}

TEST(ShapeTest, FromDimsRejectsOverflowingProduct) {
  auto s = Shape::FromDims({int64_t{1} << 40, int64_t{1} << 40});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ShapeTest, FromDimsRejectsTooManyDims) {
  std::vector<int64_t> dims(Shape::kMaxRank + 1, 1);
  EXPECT_FALSE(Shape::FromDims(dims).ok());
}

}  // namespace
}  // namespace bnserve
