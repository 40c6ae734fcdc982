// Slice and Split on float data against a reference that lists, per axis,
// the input coordinates an output takes (Python's slice semantics, which
// ONNX Slice follows: clamping, negative indices and steps), for every schema
// form (attributes before Slice-10 and Split-13, inputs after), and the
// error paths.
#include <algorithm>
#include <cstdint>
#include <limits>
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
using testing::TensorEq;

// The coordinates x[start:end:step] takes along an axis of size n, as Python's
// slice.indices() defines them.
std::vector<int64_t> SliceCoordinates(int64_t n, int64_t start, int64_t end, int64_t step) {
  auto norm = [&](int64_t v, int64_t lo, int64_t hi) {
    if (v < 0) v = v < -n ? lo : v + n;
    return std::min(std::max(v, lo), hi);
  };
  const int64_t lo = step > 0 ? 0 : -1, hi = step > 0 ? n : n - 1;
  const int64_t b = norm(start, step > 0 ? 0 : -1, hi);
  const int64_t e = norm(end, lo, hi);
  std::vector<int64_t> out;
  for (int64_t i = b; step > 0 ? i < e : i > e; i += step) {
    if (i >= 0 && i < n) out.push_back(i);
  }
  return out;
}

// Gathers x at the per-axis coordinate lists.
std::vector<float> Gather(const Tensor& x, const std::vector<std::vector<int64_t>>& coords, Shape* out_shape) {
  *out_shape = Shape{};
  for (const auto& c : coords) out_shape->push_back(static_cast<int64_t>(c.size()));
  std::vector<float> y(static_cast<size_t>(out_shape->NumElements()));
  for (size_t flat = 0; flat < y.size(); ++flat) {
    const std::vector<int64_t> index = testing::Unravel(static_cast<int64_t>(flat), *out_shape);
    int64_t src = 0;
    for (int d = 0; d < x.shape.rank(); ++d) src = src * x.shape[d] + coords[d][index[d]];
    y[flat] = x.data[src];
  }
  return y;
}

struct SliceCase {
  std::vector<int64_t> dims;
  std::vector<int64_t> starts, ends, axes, steps;
};

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

const std::vector<SliceCase>& SliceCases() {
  static const auto* cases = new std::vector<SliceCase>{
      {{2, 8, 3, 3}, {0}, {4}, {1}, {1}},                              // x.chunk(2, dim=1), first half
      {{2, 8, 3, 3}, {4}, {8}, {1}, {1}},                              // second half
      {{2, 6, 4, 5}, {1, -3}, {kMax, -1}, {-1, 2}, {1, 1}},            // negative axes and indices, open end
      {{3, 7}, {6, 0}, {-kMax, kMax}, {1, 0}, {-2, 2}},                // negative step to the front
      {{4, 5, 6}, {-100, 2, 10}, {100, 2, 0}, {0, 1, 2}, {1, 1, -3}},  // clamping, an empty axis
      {{2, 3, 2, 2, 5}, {1}, {4}, {4}, {2}},                           // rank 5, strided inner axis
  };
  return *cases;
}

std::vector<float> ReferenceSlice(const Tensor& x, const SliceCase& c, Shape* shape) {
  std::vector<std::vector<int64_t>> coords;
  for (int d = 0; d < x.shape.rank(); ++d) coords.push_back(SliceCoordinates(x.shape[d], 0, kMax, 1));
  for (size_t i = 0; i < c.starts.size(); ++i) {
    const int64_t axis = c.axes[i] < 0 ? c.axes[i] + x.shape.rank() : c.axes[i];
    coords[axis] = SliceCoordinates(x.shape[axis], c.starts[i], c.ends[i], c.steps[i]);
  }
  return Gather(x, coords, shape);
}

Shape Len(const std::vector<int64_t>& v) { return Shape{static_cast<int64_t>(v.size())}; }

TEST(SliceTest, MatchesReferenceWithInputsFromOpset10) {
  uint32_t seed = 1;
  for (const SliceCase& c : SliceCases()) {
    for (int64_t opset : {10, 11, 13}) {
      const Tensor x = RandomTensor(ShapeOf(c.dims), seed++);
      OpTest g("Slice", opset);
      g.Input()
          .ConstantInput(IntConstant(Len(c.starts), c.starts))
          .ConstantInput(IntConstant(Len(c.ends), c.ends))
          .ConstantInput(IntConstant(Len(c.axes), c.axes))
          .ConstantInput(IntConstant(Len(c.steps), c.steps));
      auto y = g.BuildAndRun(RegisterSliceSplitOps, {x});
      ASSERT_TRUE(y.ok()) << y.status();
      Shape shape;
      const std::vector<float> want = ReferenceSlice(x, c, &shape);
      EXPECT_TRUE(TensorEq((*y)[0], shape, want)) << "input " << x.shape.ToString() << " opset " << opset;
    }
  }
}

TEST(SliceTest, MatchesReferenceWithAttributesBeforeOpset10AndDefaultAxes) {
  uint32_t seed = 50;
  for (const SliceCase& c : SliceCases()) {
    if (std::any_of(c.steps.begin(), c.steps.end(), [](int64_t s) { return s != 1; })) continue;  // no steps yet
    const Tensor x = RandomTensor(ShapeOf(c.dims), seed++);
    OpTest g("Slice", 1);
    g.Input().Attr("starts", IntsAttr(c.starts)).Attr("ends", IntsAttr(c.ends)).Attr("axes", IntsAttr(c.axes));
    auto y = g.BuildAndRun(RegisterSliceSplitOps, {x});
    ASSERT_TRUE(y.ok()) << y.status();
    Shape shape;
    EXPECT_TRUE(TensorEq((*y)[0], shape, ReferenceSlice(x, c, &shape))) << x.shape.ToString();
  }
  // Without axes, starts[i] and ends[i] refer to axis i.
  const Tensor x = RandomTensor(Shape{4, 6, 2}, 99);
  OpTest g("Slice", 13);
  g.Input().ConstantInput(IntConstant(Shape{2}, {1, 2})).ConstantInput(IntConstant(Shape{2}, {3, 5}));
  auto y = g.BuildAndRun(RegisterSliceSplitOps, {x});
  ASSERT_TRUE(y.ok()) << y.status();
  Shape shape;
  EXPECT_TRUE(TensorEq((*y)[0], shape, ReferenceSlice(x, {{4, 6, 2}, {1, 2}, {3, 5}, {0, 1}, {1, 1}}, &shape)));
}

TEST(SliceTest, RefusesRuntimeBoundsAndZeroSteps) {
  OpTest runtime("Slice", 13);
  runtime.Input().Input("starts").ConstantInput(IntConstant(Shape{1}, {2}));
  auto op = runtime.Build(RegisterSliceSplitOps);
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(op.status().message().find("starts"), std::string::npos) << op.status();

  OpTest zero("Slice", 13);
  zero.Input()
      .ConstantInput(IntConstant(Shape{1}, {0}))
      .ConstantInput(IntConstant(Shape{1}, {2}))
      .ConstantInput(IntConstant(Shape{1}, {0}))
      .ConstantInput(IntConstant(Shape{1}, {0}));
  op = zero.Build(RegisterSliceSplitOps);
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.status().code(), absl::StatusCode::kInvalidArgument);
}

// Split's outputs against slices of the reference.
void ExpectSplit(const Tensor& x, int64_t axis, const std::vector<int64_t>& parts, const std::vector<Tensor>& got) {
  ASSERT_EQ(got.size(), parts.size());
  const int64_t a = axis < 0 ? axis + x.shape.rank() : axis;
  int64_t offset = 0;
  for (size_t k = 0; k < parts.size(); ++k) {
    std::vector<std::vector<int64_t>> coords;
    for (int d = 0; d < x.shape.rank(); ++d) {
      coords.push_back(d == a ? SliceCoordinates(x.shape[d], offset, offset + parts[k], 1)
                              : SliceCoordinates(x.shape[d], 0, kMax, 1));
    }
    Shape shape;
    const std::vector<float> want = Gather(x, coords, &shape);
    EXPECT_TRUE(TensorEq(got[k], shape, want)) << "output " << k << " of " << x.shape.ToString() << " axis " << axis;
    offset += parts[k];
  }
}

TEST(SplitTest, MatchesReferenceInEverySchemaForm) {
  const Tensor x = RandomTensor(Shape{2, 6, 3, 4}, 7);
  // Equal parts, every opset form.
  for (int64_t opset : {2, 11, 13, 18}) {
    OpTest g("Split", opset);
    g.Input().Attr("axis", IntAttr(1)).Outputs({"a", "b"});
    if (opset == 18) g.Attr("num_outputs", IntAttr(2));
    auto y = g.BuildAndRun(RegisterSliceSplitOps, {x});
    ASSERT_TRUE(y.ok()) << y.status();
    ExpectSplit(x, 1, {3, 3}, *y);
  }
  // Explicit parts: attribute before 13, input from 13; a negative axis.
  OpTest attr("Split", 11);
  attr.Input().Attr("axis", IntAttr(-1)).Attr("split", IntsAttr({1, 3})).Outputs({"a", "b"});
  auto y = attr.BuildAndRun(RegisterSliceSplitOps, {x});
  ASSERT_TRUE(y.ok()) << y.status();
  ExpectSplit(x, -1, {1, 3}, *y);
  OpTest input("Split", 13);
  input.Input().ConstantInput(IntConstant(Shape{3}, {1, 0, 2})).Attr("axis", IntAttr(2)).Outputs({"a", "b", "c"});
  y = input.BuildAndRun(RegisterSliceSplitOps, {x});
  ASSERT_TRUE(y.ok()) << y.status();
  ExpectSplit(x, 2, {1, 0, 2}, *y);
  // Opset 18's num_outputs on a dim it does not divide: the last part is smaller.
  OpTest uneven("Split", 18);
  uneven.Input().Attr("axis", IntAttr(1)).Attr("num_outputs", IntAttr(4)).Outputs({"a", "b", "c", "d"});
  const Tensor seven = RandomTensor(Shape{2, 7}, 8);
  y = uneven.BuildAndRun(RegisterSliceSplitOps, {seven});
  ASSERT_TRUE(y.ok()) << y.status();
  ExpectSplit(seven, 1, {2, 2, 2, 1}, *y);
}

TEST(SplitTest, RefusesPartsThatDoNotSumToTheDim) {
  OpTest g("Split", 13);
  g.Input().ConstantInput(IntConstant(Shape{2}, {2, 2})).Attr("axis", IntAttr(1)).Outputs({"a", "b"});
  auto y = g.BuildAndRun(RegisterSliceSplitOps, {RandomTensor(Shape{1, 5}, 3)});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(y.status().message().find("[2,2]"), std::string::npos) << y.status();
}

}  // namespace
}  // namespace bnserve
