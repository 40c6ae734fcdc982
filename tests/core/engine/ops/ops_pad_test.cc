// Pad against a reference that builds, axis by axis, the list of input
// coordinates each output coordinate copies (walking outwards for reflect),
// for every mode and schema form (attributes before 11, inputs from 11, axes
// at 18), cropping pads, pads wider than the axis, and the error paths.
#include <cstdint>
#include <string>
#include <vector>

#include "core/engine/ops/ops.h"
#include "gtest/gtest.h"
#include "tests/test_util/op_test_util.h"

namespace bnserve {
namespace {

using testing::FloatAttr;
using testing::FloatConstant;
using testing::IntConstant;
using testing::IntsAttr;
using testing::OpTest;
using testing::RandomTensor;
using testing::ShapeOf;
using testing::StringAttr;
using testing::TensorEq;

// Input coordinate of every output coordinate along one axis of size n, -1
// for the constant fill. Reflect walks away from the border, turning at
// both ends without repeating them (numpy's "reflect").
std::vector<int64_t> AxisSources(int64_t n, int64_t begin, int64_t end, const std::string& mode) {
  std::vector<int64_t> front, back;
  for (int64_t k = 1; k <= begin; ++k) {  // k-th coordinate before the start
    if (mode == "constant") {
      front.insert(front.begin(), -1);
    } else if (mode == "edge") {
      front.insert(front.begin(), 0);
    } else {
      int64_t pos = 0, dir = 1;
      for (int64_t s = 0; s < k; ++s) {
        if (n == 1) break;
        if (pos + dir < 0 || pos + dir >= n) dir = -dir;
        pos += dir;
      }
      front.insert(front.begin(), pos);
    }
  }
  for (int64_t k = 1; k <= end; ++k) {
    if (mode == "constant") {
      back.push_back(-1);
    } else if (mode == "edge") {
      back.push_back(n - 1);
    } else {
      int64_t pos = n - 1, dir = -1;
      for (int64_t s = 0; s < k; ++s) {
        if (n == 1) break;
        if (pos + dir < 0 || pos + dir >= n) dir = -dir;
        pos += dir;
      }
      back.push_back(pos);
    }
  }
  std::vector<int64_t> all = front;
  for (int64_t i = 0; i < n; ++i) all.push_back(i);
  all.insert(all.end(), back.begin(), back.end());
  // Negative pads crop.
  const int64_t drop_front = begin < 0 ? -begin : 0;
  const int64_t drop_back = end < 0 ? -end : 0;
  return std::vector<int64_t>(all.begin() + drop_front, all.end() - drop_back);
}

std::vector<float> ReferencePad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode, float value,
                                Shape* out_shape) {
  const int rank = x.shape.rank();
  std::vector<std::vector<int64_t>> sources;
  *out_shape = Shape{};
  for (int d = 0; d < rank; ++d) {
    sources.push_back(AxisSources(x.shape[d], pads[d], pads[d + rank], mode));
    out_shape->push_back(static_cast<int64_t>(sources.back().size()));
  }
  std::vector<float> y(static_cast<size_t>(out_shape->NumElements()));
  for (size_t flat = 0; flat < y.size(); ++flat) {
    const std::vector<int64_t> index = testing::Unravel(static_cast<int64_t>(flat), *out_shape);
    int64_t src = 0;
    bool fill = false;
    for (int d = 0; d < rank; ++d) {
      const int64_t c = sources[d][index[d]];
      fill |= c < 0;
      src = src * x.shape[d] + (c < 0 ? 0 : c);
    }
    y[flat] = fill ? value : x.data[src];
  }
  return y;
}

struct PadCase {
  std::vector<int64_t> dims;
  std::vector<int64_t> pads;
};

const std::vector<PadCase>& Cases() {
  static const auto* cases =
      new std::vector<PadCase>{{{1, 2, 3, 4}, {0, 0, 1, 1, 0, 0, 1, 1}},  // the exporters' spatial pad
                               {{2, 3, 4, 5}, {0, 1, 2, 0, 1, 0, 0, 3}},  // every axis, asymmetric
                               {{2, 3, 5}, {0, 0, -1, 0, 0, 2}},          // crop in front, pad behind
                               {{1, 1, 3, 3}, {0, 0, 5, 7, 0, 0, 4, 6}},  // wider than the axis: reflect folds again
                               {{4}, {2, 3}},                             // 1-D
                               {{3, 1}, {1, 2, 2, 1}},                    // an axis of size 1
                               {{2, 2, 2, 2, 3}, {0, 0, 1, 0, 1, 0, 0, 1, 0, 2}}};  // rank 5
  return *cases;
}

TEST(PadTest, EveryModeMatchesReferenceWithAttributesBeforeOpset11) {
  uint32_t seed = 1;
  for (const char* mode : {"constant", "reflect", "edge"}) {
    for (const PadCase& c : Cases()) {
      for (int64_t opset : {2, 10}) {
        const Tensor x = RandomTensor(ShapeOf(c.dims), seed++);
        OpTest g("Pad", opset);
        g.Input().Attr("pads", IntsAttr(c.pads)).Attr("mode", StringAttr(mode)).Attr("value", FloatAttr(1.5f));
        auto y = g.BuildAndRun(RegisterPadOps, {x});
        ASSERT_TRUE(y.ok()) << mode << ": " << y.status();
        Shape shape;
        const std::vector<float> want = ReferencePad(x, c.pads, mode, 1.5f, &shape);
        EXPECT_TRUE(TensorEq((*y)[0], shape, want)) << mode << " input " << x.shape.ToString() << " opset " << opset;
      }
    }
  }
}

TEST(PadTest, EveryModeMatchesReferenceWithInputsFromOpset11) {
  uint32_t seed = 100;
  for (const char* mode : {"constant", "reflect", "edge"}) {
    for (const PadCase& c : Cases()) {
      for (int64_t opset : {11, 13, 18}) {
        const Tensor x = RandomTensor(ShapeOf(c.dims), seed++);
        OpTest g("Pad", opset);
        g.Input()
            .ConstantInput(IntConstant(Shape{static_cast<int64_t>(c.pads.size())}, c.pads))
            .ConstantInput(FloatConstant(Shape{}, {-2.0f}))
            .Attr("mode", StringAttr(mode));
        auto y = g.BuildAndRun(RegisterPadOps, {x});
        ASSERT_TRUE(y.ok()) << mode << ": " << y.status();
        Shape shape;
        const std::vector<float> want = ReferencePad(x, c.pads, mode, -2.0f, &shape);
        EXPECT_TRUE(TensorEq((*y)[0], shape, want)) << mode << " input " << x.shape.ToString() << " opset " << opset;
      }
    }
  }
}

TEST(PadTest, ConstantValueDefaultsToZeroAndMayBeARuntimeInput) {
  const Tensor x = RandomTensor(Shape{1, 2, 3, 3}, 7);
  const std::vector<int64_t> pads = {0, 0, 1, 2, 0, 0, 2, 1};
  Shape shape;
  OpTest absent("Pad", 13);
  absent.Input().ConstantInput(IntConstant(Shape{8}, pads));
  auto y = absent.BuildAndRun(RegisterPadOps, {x});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_TRUE(TensorEq((*y)[0], Shape{1, 2, 6, 6}, ReferencePad(x, pads, "constant", 0.0f, &shape)));

  OpTest runtime("Pad", 13);
  runtime.Input().ConstantInput(IntConstant(Shape{8}, pads)).Input();
  const Tensor value(Shape{}, {3.25f});
  y = runtime.BuildAndRun(RegisterPadOps, {x, value});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_TRUE(TensorEq((*y)[0], Shape{1, 2, 6, 6}, ReferencePad(x, pads, "constant", 3.25f, &shape)));

  const Tensor not_scalar(Shape{2}, {1.0f, 2.0f});
  y = runtime.BuildAndRun(RegisterPadOps, {x, not_scalar});
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PadTest, AxesInputAtOpset18SelectsAndOrdersTheAxes) {
  const Tensor x = RandomTensor(Shape{2, 3, 4, 5}, 9);
  for (const char* mode : {"constant", "reflect", "edge"}) {
    OpTest g("Pad", 18);
    // axes [-1, 2]: width gets (1, 3), height (2, 0).
    g.Input()
        .ConstantInput(IntConstant(Shape{4}, {1, 2, 3, 0}))
        .AbsentInput()
        .ConstantInput(IntConstant(Shape{2}, {-1, 2}))
        .Attr("mode", StringAttr(mode));
    auto y = g.BuildAndRun(RegisterPadOps, {x});
    ASSERT_TRUE(y.ok()) << y.status();
    Shape shape;
    const std::vector<float> want = ReferencePad(x, {0, 0, 2, 1, 0, 0, 0, 3}, mode, 0.0f, &shape);
    EXPECT_TRUE(TensorEq((*y)[0], shape, want)) << mode;
  }
  OpTest early("Pad", 13);
  early.Input().ConstantInput(IntConstant(Shape{2}, {1, 1})).AbsentInput().ConstantInput(IntConstant(Shape{1}, {0}));
  EXPECT_EQ(early.Build(RegisterPadOps).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PadTest, UnsupportedFormsFailAtBuildNamingTheProblem) {
  OpTest wrap("Pad", 13);
  wrap.Input().ConstantInput(IntConstant(Shape{2}, {1, 1})).Attr("mode", StringAttr("wrap"));
  const absl::Status st = wrap.Build(RegisterPadOps).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(st.message().find("mode 'wrap'"), std::string::npos) << st;

  OpTest runtime_pads("Pad", 13);
  runtime_pads.Input().Input("pads");
  const absl::Status rp = runtime_pads.Build(RegisterPadOps).status();
  EXPECT_EQ(rp.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(rp.message().find("pads"), std::string::npos) << rp;

  OpTest no_pads("Pad", 10);
  no_pads.Input();
  EXPECT_EQ(no_pads.Build(RegisterPadOps).status().code(), absl::StatusCode::kInvalidArgument);

  OpTest odd("Pad", 13);
  odd.Input().ConstantInput(IntConstant(Shape{3}, {1, 1, 1}));
  EXPECT_EQ(odd.Build(RegisterPadOps).status().code(), absl::StatusCode::kInvalidArgument);

  OpTest opset1("Pad", 1);
  opset1.Input();
  EXPECT_EQ(opset1.Build(RegisterPadOps).status().code(), absl::StatusCode::kUnimplemented);
}

TEST(PadTest, RunTimeShapeErrors) {
  OpTest g("Pad", 13);
  g.Input().ConstantInput(IntConstant(Shape{4}, {0, -3, 0, 0}));
  // Wrong rank for 4 pads.
  auto y = g.BuildAndRun(RegisterPadOps, {RandomTensor(Shape{1, 2, 3}, 1)});
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  // Cropping more than the axis holds.
  y = g.BuildAndRun(RegisterPadOps, {RandomTensor(Shape{2, 2}, 1)});
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(y.status().message().find("below zero"), std::string::npos) << y.status();
}

TEST(PadTest, RerunDoesNotAllocate) {
  OpTest g("Pad", 13);
  g.Input().ConstantInput(IntConstant(Shape{8}, {0, 0, 1, 1, 0, 0, 1, 1})).Attr("mode", StringAttr("reflect"));
  auto op = g.Build(RegisterPadOps);
  ASSERT_TRUE(op.ok()) << op.status();
  const Tensor x = RandomTensor(Shape{2, 3, 8, 8}, 3);
  std::vector<Tensor> outputs;
  absl::Status st;
  EXPECT_EQ(g.AllocationsOnRerun(**op, {&x}, &outputs, &st), 0);
  EXPECT_TRUE(st.ok()) << st;
}

}  // namespace
}  // namespace bnserve
