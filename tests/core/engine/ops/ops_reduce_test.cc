// ReduceMean, ReduceSum and ReduceMax against a float64 reference that
// groups every input element by its output coordinate, for axes as an
// attribute and as an input (ReduceSum from 13, the others from 18), keepdims,
// negative axes, no axes (every axis, or the identity with
// noop_with_empty_axes), NaN and the error paths.
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/engine/ops/ops.h"
#include "gtest/gtest.h"
#include "tests/test_util/op_test_util.h"

namespace bnserve {
namespace {

using testing::IntAttr;
using testing::IntConstant;
using testing::IntsAttr;
using testing::OpTest;
using testing::RandomTensor;
using testing::ShapeOf;
using testing::TensorNear;

// Reduces `x` over `axes` (all when empty) by grouping elements per output
// coordinate; returns the values and sets *shape.
std::vector<double> ReferenceReduce(const Tensor& x, std::vector<int64_t> axes, bool keepdims, const std::string& op,
                                    Shape* shape) {
  const int rank = x.shape.rank();
  std::set<int> reduced;
  for (int64_t a : axes) reduced.insert(static_cast<int>(a < 0 ? a + rank : a));
  if (axes.empty()) {
    for (int d = 0; d < rank; ++d) reduced.insert(d);
  }
  *shape = Shape{};
  for (int d = 0; d < rank; ++d) {
    if (!reduced.count(d)) {
      shape->push_back(x.shape[d]);
    } else if (keepdims) {
      shape->push_back(1);
    }
  }
  std::map<std::vector<int64_t>, std::vector<double>> groups;
  for (int64_t flat = 0; flat < x.size(); ++flat) {
    const std::vector<int64_t> index = testing::Unravel(flat, x.shape);
    std::vector<int64_t> key;
    for (int d = 0; d < rank; ++d) key.push_back(reduced.count(d) ? 0 : index[d]);
    groups[key].push_back(x.data[flat]);
  }
  std::vector<double> out;
  for (const auto& [key, values] : groups) {  // std::map order = row-major order of the output
    double r = op == "ReduceMax" ? -INFINITY : 0.0;
    for (double v : values) {
      if (op == "ReduceMax") {
        r = (std::isnan(v) || std::isnan(r)) ? NAN : std::max(r, v);
      } else {
        r += v;
      }
    }
    if (op == "ReduceMean") r /= static_cast<double>(values.size());
    out.push_back(r);
  }
  return out;
}

struct ReduceCase {
  std::vector<int64_t> dims;
  std::vector<int64_t> axes;
};

const std::vector<ReduceCase>& Cases() {
  static const auto* cases = new std::vector<ReduceCase>{
      {{2, 3, 4, 5}, {2, 3}},    // MNASNet's head: mean over H, W
      {{2, 3, 4, 5}, {-1, -2}},  // the same, negative
      {{2, 3, 4, 5}, {1}},      {{2, 3, 4, 5}, {0, 2}},      {{3, 7}, {0}}, {{5}, {0}}, {{2, 3, 4}, {}},  // every axis
      {{1, 6, 1, 1}, {2, 3}},   {{2, 1, 3, 2, 2}, {1, 3, 4}}};
  return *cases;
}

constexpr double kRelTol = 1e-6;

TEST(ReduceTest, AxesAttributeMatchesReference) {
  uint32_t seed = 1;
  for (const char* op : {"ReduceMean", "ReduceSum", "ReduceMax"}) {
    const int64_t last_attr_opset = std::string(op) == "ReduceSum" ? 12 : 17;
    for (int64_t opset : {int64_t{11}, last_attr_opset}) {
      for (const ReduceCase& c : Cases()) {
        for (int64_t keepdims : {0, 1}) {
          const Tensor x = RandomTensor(ShapeOf(c.dims), seed++, -3.0f, 3.0f);
          OpTest g(op, opset);
          g.Input().Attr("keepdims", IntAttr(keepdims));
          if (!c.axes.empty()) g.Attr("axes", IntsAttr(c.axes));
          auto y = g.BuildAndRun(RegisterReduceOps, {x});
          ASSERT_TRUE(y.ok()) << op << ": " << y.status();
          Shape shape;
          const std::vector<double> want = ReferenceReduce(x, c.axes, keepdims == 1, op, &shape);
          EXPECT_TRUE(TensorNear((*y)[0], shape, want, kRelTol, 1e-6))
              << op << " opset " << opset << " input " << x.shape.ToString() << " keepdims " << keepdims;
        }
      }
    }
  }
}

TEST(ReduceTest, AxesInputMatchesReference) {
  uint32_t seed = 500;
  for (const char* op : {"ReduceMean", "ReduceSum", "ReduceMax"}) {
    const int64_t first_input_opset = std::string(op) == "ReduceSum" ? 13 : 18;
    for (int64_t opset : {first_input_opset, int64_t{18}}) {
      for (const ReduceCase& c : Cases()) {
        const Tensor x = RandomTensor(ShapeOf(c.dims), seed++, -3.0f, 3.0f);
        OpTest g(op, opset);
        g.Input();
        if (!c.axes.empty()) g.ConstantInput(IntConstant(Shape{static_cast<int64_t>(c.axes.size())}, c.axes));
        auto y = g.BuildAndRun(RegisterReduceOps, {x});
        ASSERT_TRUE(y.ok()) << op << ": " << y.status();
        Shape shape;
        const std::vector<double> want = ReferenceReduce(x, c.axes, /*keepdims=*/true, op, &shape);
        EXPECT_TRUE(TensorNear((*y)[0], shape, want, kRelTol, 1e-6))
            << op << " opset " << opset << " input " << x.shape.ToString();
      }
    }
  }
}

TEST(ReduceTest, NoopWithEmptyAxesIsTheIdentity) {
  const Tensor x = RandomTensor(Shape{2, 3, 4}, 3);
  for (const char* op : {"ReduceMean", "ReduceSum", "ReduceMax"}) {
    OpTest g(op, 18);
    g.Input().Attr("noop_with_empty_axes", IntAttr(1));
    auto y = g.BuildAndRun(RegisterReduceOps, {x});
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_TRUE(testing::TensorEq((*y)[0], x.shape, x.ToVector())) << op;
    // An empty axes input counts as no axes.
    OpTest empty(op, 18);
    empty.Input().ConstantInput(IntConstant(Shape{0}, {})).Attr("noop_with_empty_axes", IntAttr(1));
    y = empty.BuildAndRun(RegisterReduceOps, {x});
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_TRUE(testing::TensorEq((*y)[0], x.shape, x.ToVector())) << op;
  }
}

TEST(ReduceTest, MaxPropagatesNaNAndHandlesInfinities) {
  Tensor x(Shape{3, 3}, {1.0f, NAN, 2.0f, -INFINITY, -INFINITY, -INFINITY, 5.0f, INFINITY, 0.0f});
  x.data[0] = NAN;  // NaN first in its row too
  OpTest g("ReduceMax", 13);
  g.Input().Attr("axes", IntsAttr({1})).Attr("keepdims", IntAttr(0));
  auto y = g.BuildAndRun(RegisterReduceOps, {x});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_TRUE(std::isnan((*y)[0].data[0]));
  EXPECT_EQ((*y)[0].data[1], -INFINITY);
  EXPECT_EQ((*y)[0].data[2], INFINITY);
}

TEST(ReduceTest, InvalidAttributesAndInputs) {
  OpTest runtime_axes("ReduceMean", 18);
  runtime_axes.Input().Input("axes");
  const absl::Status st = runtime_axes.Build(RegisterReduceOps).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(st.message().find("axes"), std::string::npos) << st;

  OpTest repeated("ReduceSum", 11);
  repeated.Input().Attr("axes", IntsAttr({1, 1}));
  EXPECT_EQ(repeated.Build(RegisterReduceOps).status().code(), absl::StatusCode::kInvalidArgument);

  OpTest negative_early("ReduceMean", 10);
  negative_early.Input().Attr("axes", IntsAttr({-1}));
  EXPECT_EQ(negative_early.Build(RegisterReduceOps).status().code(), absl::StatusCode::kInvalidArgument);

  OpTest keepdims("ReduceMax", 13);
  keepdims.Input().Attr("keepdims", IntAttr(2));
  EXPECT_EQ(keepdims.Build(RegisterReduceOps).status().code(), absl::StatusCode::kInvalidArgument);

  OpTest out_of_range("ReduceMean", 13);
  out_of_range.Input().Attr("axes", IntsAttr({4}));
  auto y = out_of_range.BuildAndRun(RegisterReduceOps, {RandomTensor(Shape{2, 3}, 1)});
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);

  OpTest newer("ReduceMean", 19);
  newer.Input();
  EXPECT_EQ(newer.Build(RegisterReduceOps).status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace bnserve
