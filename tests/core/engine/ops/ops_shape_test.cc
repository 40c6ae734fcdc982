// Flatten, Reshape, Transpose, Concat, Identity and Dropout: output shapes
// and element placement against references that index every element, for
// every opset form (negative axes from 11, Reshape's allowzero from 14,
// Dropout's attribute/input forms), awkward shapes and the error paths.
#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "core/engine/ops/ops.h"
#include "gtest/gtest.h"
#include "tests/test_util/op_test_util.h"

namespace bnserve {
namespace {

using testing::FloatAttr;
using testing::FloatConstant;
using testing::IntAttr;
using testing::IntConstant;
using testing::IntsAttr;
using testing::OpTest;
using testing::RandomTensor;
using testing::ShapeOf;
using testing::TensorEq;

std::string Str(const std::vector<int64_t>& v) { return ShapeOf(v).ToString(); }

// ---------------------------------------------------------------- Flatten

absl::StatusOr<std::vector<Tensor>> RunFlatten(int64_t opset, const Tensor& x, const int64_t* axis) {
  OpTest g("Flatten", opset);
  g.Input();
  if (axis != nullptr) g.Attr("axis", IntAttr(*axis));
  return g.BuildAndRun(RegisterShapeOps, {x});
}

TEST(ShapeOpsTest, FlattenEveryAxisAndOpset) {
  const std::vector<std::vector<int64_t>> shapes = {{}, {5}, {3, 5}, {2, 3, 5}, {2, 1, 3, 5}, {2, 3, 1, 2, 3}, {0, 3}};
  uint32_t seed = 1;
  for (int64_t opset : {1, 9, 11, 13, 17}) {
    for (const std::vector<int64_t>& dims : shapes) {
      const Shape shape = ShapeOf(dims);
      const Tensor x = RandomTensor(shape, seed++, -3.0f, 3.0f);
      const int rank = shape.rank();
      for (int64_t axis = opset >= 11 ? -rank : 0; axis <= rank; ++axis) {
        const int a = static_cast<int>(axis < 0 ? axis + rank : axis);
        int64_t rows = 1;
        int64_t cols = 1;
        for (int d = 0; d < rank; ++d) (d < a ? rows : cols) *= dims[d];
        auto y = RunFlatten(opset, x, &axis);
        ASSERT_TRUE(y.ok()) << y.status();
        EXPECT_TRUE(TensorEq((*y)[0], Shape{rows, cols}, x.ToVector()))
            << "opset " << opset << " shape " << shape.ToString() << " axis " << axis;
      }
      if (rank >= 1) {
        auto y = RunFlatten(opset, x, nullptr);  // default axis 1
        ASSERT_TRUE(y.ok()) << y.status();
        EXPECT_TRUE(TensorEq((*y)[0], Shape{dims[0], shape.Product(1, rank)}, x.ToVector())) << shape.ToString();
      }
    }
  }
}

TEST(ShapeOpsTest, FlattenAxisErrors) {
  const Tensor x = RandomTensor(Shape{2, 3, 4}, 1, -3.0f, 3.0f);
  const int64_t negative = -1;
  auto old = RunFlatten(10, x, &negative);  // negative axes arrived in opset 11
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), absl::StatusCode::kInvalidArgument);
  for (int64_t axis : {4, -4}) {
    auto y = RunFlatten(13, x, &axis);
    ASSERT_FALSE(y.ok()) << axis;
    EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(y.status().message().find("[-3, 3]"), std::string::npos) << y.status();
  }
}

// ---------------------------------------------------------------- Reshape

absl::StatusOr<std::vector<Tensor>> RunReshape(int64_t opset, const Tensor& x, const std::vector<int64_t>& target,
                                               const int64_t* allow_zero = nullptr) {
  OpTest g("Reshape", opset);
  g.Input().ConstantInput(IntConstant(Shape{static_cast<int64_t>(target.size())}, target));
  if (allow_zero != nullptr) g.Attr("allowzero", IntAttr(*allow_zero));
  return g.BuildAndRun(RegisterShapeOps, {x});
}

TEST(ShapeOpsTest, ReshapeTargetsAtEveryOpset) {
  struct Case {
    std::vector<int64_t> input, target, expected;
  };
  const std::vector<Case> cases = {
      {{2, 3, 4}, {0, -1}, {2, 12}},
      {{2, 3, 4}, {4, 0, -1}, {4, 3, 2}},
      {{2, 3, 4}, {-1}, {24}},
      {{2, 3, 4}, {3, 2, 2, 2}, {3, 2, 2, 2}},
      {{1, 1}, {}, {}},
      {{7}, {1, 7, 1}, {1, 7, 1}},
      {{2, 3, 5, 7}, {0, 0, -1}, {2, 3, 35}},
      {{0, 3}, {-1, 3}, {0, 3}},
      {{3, 1, 5}, {0, 5}, {3, 5}},
  };
  uint32_t seed = 10;
  for (int64_t opset : {5, 13, 14, 17}) {
    for (const Case& c : cases) {
      const Tensor x = RandomTensor(ShapeOf(c.input), seed++, -3.0f, 3.0f);
      auto y = RunReshape(opset, x, c.target);
      ASSERT_TRUE(y.ok()) << Str(c.input) << " -> " << Str(c.target) << ": " << y.status();
      EXPECT_TRUE(TensorEq((*y)[0], ShapeOf(c.expected), x.ToVector()))
          << "opset " << opset << " " << Str(c.input) << " -> " << Str(c.target);
    }
  }
  const Tensor x = RandomTensor(Shape{2, 3}, 1, -3.0f, 3.0f);
  EXPECT_EQ(RunReshape(4, x, {6}).status().code(), absl::StatusCode::kUnimplemented);  // shape was an attribute
}

TEST(ShapeOpsTest, ReshapeAllowZeroFromOpset14) {
  const int64_t one = 1;
  const int64_t zero = 0;
  const Tensor empty(Shape{0, 3}, {});
  // allowzero=1: a 0 is a literal zero dimension.
  auto literal = RunReshape(14, empty, {3, 0}, &one);
  ASSERT_TRUE(literal.ok()) << literal.status();
  EXPECT_EQ((*literal)[0].shape, (Shape{3, 0}));
  // allowzero=0 (and before opset 14, where the attribute does not exist): 0
  // copies the input dimension, so [3, 0] means [3, 3] and cannot hold 0 elements.
  for (int64_t opset : {13, 14}) {
    auto copied = RunReshape(opset, empty, {3, 0}, opset == 14 ? &zero : &one);
    ASSERT_FALSE(copied.ok()) << "opset " << opset;
    EXPECT_EQ(copied.status().code(), absl::StatusCode::kInvalidArgument);
  }
  // A 0 next to a -1 is ambiguous with allowzero=1.
  auto both = RunReshape(14, RandomTensor(Shape{2, 3}, 1, -3.0f, 3.0f), {0, -1}, &one);
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(both.status().message().find("allowzero"), std::string::npos) << both.status();
}

TEST(ShapeOpsTest, ReshapeRejectsBadTargets) {
  const Tensor x = RandomTensor(Shape{2, 3, 4}, 1, -3.0f, 3.0f);
  struct Bad {
    std::vector<int64_t> target;
    absl::StatusCode code;
  };
  const std::vector<Bad> bad = {
      {{5, -1}, absl::StatusCode::kInvalidArgument},                     // 24 is not a multiple of 5
      {{5, 5}, absl::StatusCode::kInvalidArgument},                      // 25 != 24 elements
      {{-1, -1}, absl::StatusCode::kInvalidArgument},                    // two inferred dims
      {{-2, 12}, absl::StatusCode::kInvalidArgument},                    // negative size
      {{0, 0, 0, 0}, absl::StatusCode::kInvalidArgument},                // copies a dim the input does not have
      {{1, 1, 1, 1, 1, 1, 1, 1, 24}, absl::StatusCode::kUnimplemented},  // rank 9 > kMaxRank
      {{int64_t{1} << 40, int64_t{1} << 40}, absl::StatusCode::kInvalidArgument},  // overflowing product
  };
  for (const Bad& b : bad) {
    auto y = RunReshape(13, x, b.target);
    ASSERT_FALSE(y.ok()) << Str(b.target);
    EXPECT_EQ(y.status().code(), b.code) << Str(b.target) << ": " << y.status();
    EXPECT_NE(y.status().message().find("test_Reshape"), std::string::npos) << y.status();
  }
  auto mismatch = RunReshape(13, x, {5, 5});
  EXPECT_NE(mismatch.status().message().find("[2,3,4]"), std::string::npos) << mismatch.status();
  EXPECT_NE(mismatch.status().message().find("[5,5]"), std::string::npos) << mismatch.status();
}

TEST(ShapeOpsTest, ReshapeNeedsAConstantInt64Shape) {
  OpTest runtime("Reshape", 13);
  runtime.Input().Input();
  auto built = runtime.Build(RegisterShapeOps);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(built.status().message().find("constant"), std::string::npos) << built.status();
  EXPECT_NE(built.status().message().find("in1"), std::string::npos) << built.status();

  OpTest float_shape("Reshape", 13);
  float_shape.Input().ConstantInput(FloatConstant(Shape{2}, {2.0f, 12.0f}));
  EXPECT_EQ(float_shape.Build(RegisterShapeOps).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------- Transpose

std::vector<float> TransposeReference(const Tensor& x, const std::vector<int64_t>& perm, Shape* out_shape) {
  Shape out;
  for (int64_t p : perm) out.push_back(x.shape[static_cast<int>(p)]);
  *out_shape = out;
  std::vector<float> y(x.data.size());
  for (int64_t i = 0; i < out.NumElements(); ++i) {
    const std::vector<int64_t> o = testing::Unravel(i, out);
    std::vector<int64_t> in(o.size());
    for (size_t k = 0; k < perm.size(); ++k) in[perm[k]] = o[k];
    int64_t flat = 0;
    for (int d = 0; d < x.shape.rank(); ++d) flat = flat * x.shape[d] + in[d];
    y[i] = x.data[flat];
  }
  return y;
}

TEST(ShapeOpsTest, TransposeEveryPermutation) {
  const std::vector<std::vector<int64_t>> shapes = {{5}, {3, 5}, {2, 3, 5}, {2, 3, 1, 5}, {2, 3, 1, 2, 3}};
  uint32_t seed = 30;
  for (int64_t opset : {1, 13, 17}) {
    for (const std::vector<int64_t>& dims : shapes) {
      const Tensor x = RandomTensor(ShapeOf(dims), seed++, -3.0f, 3.0f);
      std::vector<int64_t> perm(dims.size());
      std::iota(perm.begin(), perm.end(), 0);
      do {
        OpTest g("Transpose", opset);
        g.Input().Attr("perm", IntsAttr(perm));
        auto y = g.BuildAndRun(RegisterShapeOps, {x});
        ASSERT_TRUE(y.ok()) << y.status();
        Shape expected_shape;
        const std::vector<float> expected = TransposeReference(x, perm, &expected_shape);
        EXPECT_TRUE(TensorEq((*y)[0], expected_shape, expected)) << x.shape.ToString() << " perm " << Str(perm);
      } while (std::next_permutation(perm.begin(), perm.end()));
    }
  }
}

TEST(ShapeOpsTest, TransposeDefaultReversesAnyRank) {
  const std::vector<std::vector<int64_t>> shapes = {{}, {5}, {3, 5}, {2, 3, 5, 7}, {2, 1, 2, 1, 2, 1, 2, 3}, {0, 3}};
  uint32_t seed = 50;
  for (const std::vector<int64_t>& dims : shapes) {
    const Tensor x = RandomTensor(ShapeOf(dims), seed++, -3.0f, 3.0f);
    OpTest g("Transpose", 13);
    g.Input();
    auto y = g.BuildAndRun(RegisterShapeOps, {x});
    ASSERT_TRUE(y.ok()) << y.status();
    std::vector<int64_t> reversed(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) reversed[i] = static_cast<int64_t>(dims.size() - 1 - i);
    Shape expected_shape;
    const std::vector<float> expected = TransposeReference(x, reversed, &expected_shape);
    EXPECT_TRUE(TensorEq((*y)[0], expected_shape, expected)) << x.shape.ToString();
  }
}

TEST(ShapeOpsTest, TransposeErrors) {
  for (const std::vector<int64_t>& perm : std::vector<std::vector<int64_t>>{{0, 0, 1}, {0, 3, 1}, {-1, 0, 1}}) {
    OpTest g("Transpose", 13);
    g.Input().Attr("perm", IntsAttr(perm));
    auto built = g.Build(RegisterShapeOps);
    ASSERT_FALSE(built.ok()) << Str(perm);
    EXPECT_EQ(built.status().code(), absl::StatusCode::kInvalidArgument);
  }
  OpTest g("Transpose", 13);
  g.Input().Attr("perm", IntsAttr({0, 2, 1}));
  auto y = g.BuildAndRun(RegisterShapeOps, {RandomTensor(Shape{2, 3}, 1, -3.0f, 3.0f)});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(y.status().message().find("[2,3]"), std::string::npos) << y.status();
}

// ---------------------------------------------------------------- Concat

std::vector<float> ConcatReference(const std::vector<Tensor>& xs, int axis, Shape* out_shape) {
  Shape out = xs[0].shape;
  out[axis] = 0;
  for (const Tensor& x : xs) out[axis] += x.shape[axis];
  *out_shape = out;
  std::vector<float> y(static_cast<size_t>(out.NumElements()));
  for (int64_t i = 0; i < out.NumElements(); ++i) {
    std::vector<int64_t> idx = testing::Unravel(i, out);
    size_t k = 0;
    while (idx[axis] >= xs[k].shape[axis]) idx[axis] -= xs[k++].shape[axis];
    int64_t flat = 0;
    for (int d = 0; d < out.rank(); ++d) flat = flat * xs[k].shape[d] + idx[d];
    y[i] = xs[k].data[flat];
  }
  return y;
}

TEST(ShapeOpsTest, ConcatEveryAxisAndOpset) {
  const std::vector<std::vector<int64_t>> shapes = {{5}, {3, 5}, {2, 3, 5}, {2, 3, 1, 5}, {2, 3, 1, 2, 3}};
  const std::vector<int64_t> axis_sizes = {3, 0, 1, 2};  // includes an empty input
  uint32_t seed = 70;
  for (int64_t opset : {4, 11, 13, 17}) {
    for (const std::vector<int64_t>& dims : shapes) {
      const int rank = static_cast<int>(dims.size());
      for (int64_t axis = opset >= 11 ? -rank : 0; axis < rank; ++axis) {
        const int a = static_cast<int>(axis < 0 ? axis + rank : axis);
        std::vector<Tensor> xs;
        OpTest g("Concat", opset);
        g.Attr("axis", IntAttr(axis));
        for (int64_t size : axis_sizes) {
          std::vector<int64_t> d = dims;
          d[a] = size;
          xs.push_back(RandomTensor(ShapeOf(d), seed++, -3.0f, 3.0f));
          g.Input();
        }
        auto y = g.BuildAndRun(RegisterShapeOps, xs);
        ASSERT_TRUE(y.ok()) << y.status();
        Shape expected_shape;
        const std::vector<float> expected = ConcatReference(xs, a, &expected_shape);
        EXPECT_TRUE(TensorEq((*y)[0], expected_shape, expected)) << "opset " << opset << " axis " << axis;
      }
    }
  }
}

TEST(ShapeOpsTest, ConcatWithConstantAndSingleInput) {
  const Tensor x = RandomTensor(Shape{2, 3, 2}, 1, -3.0f, 3.0f);
  const Tensor c = RandomTensor(Shape{2, 1, 2}, 2, -3.0f, 3.0f);
  OpTest g("Concat", 13);
  g.Input().ConstantInput(FloatConstant(c.shape, c.ToVector())).Attr("axis", IntAttr(1));
  auto y = g.BuildAndRun(RegisterShapeOps, {x});
  ASSERT_TRUE(y.ok()) << y.status();
  Shape expected_shape;
  const std::vector<float> expected = ConcatReference({x, c}, 1, &expected_shape);
  EXPECT_TRUE(TensorEq((*y)[0], expected_shape, expected));

  OpTest one("Concat", 13);
  one.Input().Attr("axis", IntAttr(0));
  auto z = one.BuildAndRun(RegisterShapeOps, {x});
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_TRUE(TensorEq((*z)[0], x.shape, x.ToVector()));
}

TEST(ShapeOpsTest, ConcatErrors) {
  auto run = [](int64_t opset, int64_t axis, const std::vector<Tensor>& xs) {
    OpTest g("Concat", opset);
    g.Attr("axis", IntAttr(axis));
    for (size_t i = 0; i < xs.size(); ++i) g.Input();
    return g.BuildAndRun(RegisterShapeOps, xs);
  };
  const Tensor a = RandomTensor(Shape{2, 3, 4}, 1, -3.0f, 3.0f);
  const Tensor rank2 = RandomTensor(Shape{2, 3}, 2, -3.0f, 3.0f);
  const Tensor other = RandomTensor(Shape{2, 5, 4}, 3, -3.0f, 3.0f);

  auto rank_mismatch = run(13, 1, {a, rank2});
  ASSERT_FALSE(rank_mismatch.ok());
  EXPECT_EQ(rank_mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(rank_mismatch.status().message().find("rank 3"), std::string::npos) << rank_mismatch.status();
  EXPECT_NE(rank_mismatch.status().message().find("[2,3]"), std::string::npos) << rank_mismatch.status();

  auto dim_mismatch = run(13, 2, {a, other});  // differ on axis 1, concatenating on 2
  ASSERT_FALSE(dim_mismatch.ok());
  EXPECT_EQ(dim_mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(dim_mismatch.status().message().find("[2,5,4]"), std::string::npos) << dim_mismatch.status();

  EXPECT_EQ(run(13, 3, {a, a}).status().code(), absl::StatusCode::kInvalidArgument);   // axis out of range
  EXPECT_EQ(run(10, -1, {a, a}).status().code(), absl::StatusCode::kInvalidArgument);  // negative before 11

  OpTest no_axis("Concat", 13);
  no_axis.Input();
  EXPECT_EQ(no_axis.Build(RegisterShapeOps).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------- Identity, Dropout

TEST(ShapeOpsTest, IdentityCopiesAtEveryOpset) {
  const Tensor x = RandomTensor(Shape{2, 3, 5}, 1, -3.0f, 3.0f);
  for (int64_t opset : {1, 13, 14, 16, 17}) {
    OpTest g("Identity", opset);
    g.Input();
    auto y = g.BuildAndRun(RegisterShapeOps, {x});
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_TRUE(TensorEq((*y)[0], x.shape, x.ToVector())) << "opset " << opset;
  }
}

TEST(ShapeOpsTest, DropoutIsIdentityAtInference) {
  const Tensor x = RandomTensor(Shape{3, 7}, 2, -3.0f, 3.0f);
  // Opsets 7-11: `ratio` attribute.
  for (int64_t opset : {7, 9, 10, 11}) {
    OpTest g("Dropout", opset);
    g.Input().Attr("ratio", FloatAttr(0.3f));
    auto y = g.BuildAndRun(RegisterShapeOps, {x});
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_TRUE(TensorEq((*y)[0], x.shape, x.ToVector())) << "opset " << opset;
  }
  // Opsets 12+: optional ratio and training_mode inputs.
  const Tensor ratio(Shape{}, {0.5f});
  const Tensor off(Shape{}, {0.0f});
  for (int64_t opset : {12, 13, 17}) {
    OpTest plain("Dropout", opset);
    plain.Input();
    OpTest constant_mode("Dropout", opset);
    constant_mode.Input().ConstantInput(FloatConstant(Shape{}, {0.5f})).ConstantInput(IntConstant(Shape{}, {0}));
    OpTest runtime_mode("Dropout", opset);
    runtime_mode.Input().Input().Input();
    for (auto [g, runtime] : std::vector<std::pair<OpTest*, std::vector<Tensor>>>{
             {&plain, {x}}, {&constant_mode, {x}}, {&runtime_mode, {x, ratio, off}}}) {
      auto y = g->BuildAndRun(RegisterShapeOps, runtime);
      ASSERT_TRUE(y.ok()) << y.status();
      EXPECT_TRUE(TensorEq((*y)[0], x.shape, x.ToVector())) << "opset " << opset;
    }
  }
  OpTest legacy("Dropout", 6);  // is_test era
  legacy.Input();
  EXPECT_EQ(legacy.Build(RegisterShapeOps).status().code(), absl::StatusCode::kUnimplemented);
}

TEST(ShapeOpsTest, DropoutMaskOutput) {
  const Tensor x = RandomTensor(Shape{2, 5}, 3, -3.0f, 3.0f);
  // Opsets 7-9: the mask has the input's float type; all ones at inference.
  OpTest float_mask("Dropout", 7);
  float_mask.Input().Outputs({"y", "mask"});
  auto y = float_mask.BuildAndRun(RegisterShapeOps, {x});
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_EQ(y->size(), 2u);
  EXPECT_TRUE(TensorEq((*y)[0], x.shape, x.ToVector()));
  EXPECT_TRUE(TensorEq((*y)[1], x.shape, std::vector<float>(10, 1.0f)));
  // From opset 10 the mask is bool, which bnserve's float tensors cannot hold.
  for (int64_t opset : {10, 12, 13}) {
    OpTest bool_mask("Dropout", opset);
    bool_mask.Input().Outputs({"y", "mask"});
    auto built = bool_mask.Build(RegisterShapeOps);
    ASSERT_FALSE(built.ok()) << "opset " << opset;
    EXPECT_EQ(built.status().code(), absl::StatusCode::kUnimplemented);
    EXPECT_NE(built.status().message().find("mask"), std::string::npos) << built.status();
  }
}

TEST(ShapeOpsTest, DropoutRejectsTrainingMode) {
  const Tensor x = RandomTensor(Shape{2, 5}, 4, -3.0f, 3.0f);
  OpTest constant("Dropout", 13);
  constant.Input().AbsentInput().ConstantInput(IntConstant(Shape{}, {1}));
  auto built = constant.Build(RegisterShapeOps);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(built.status().message().find("training_mode"), std::string::npos) << built.status();

  OpTest runtime("Dropout", 13);
  runtime.Input().AbsentInput().Input();
  auto y = runtime.BuildAndRun(RegisterShapeOps, {x, Tensor(Shape{}, {1.0f})});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kUnimplemented);
}

TEST(ShapeOpsTest, NoHeapAllocationOnceOutputsHaveGrown) {
  const Tensor x = RandomTensor(Shape{2, 3, 5, 7}, 1, -3.0f, 3.0f);
  std::vector<OpTest> graphs;
  graphs.emplace_back("Flatten", 13);
  graphs.back().Input().Attr("axis", IntAttr(2));
  graphs.emplace_back("Reshape", 14);
  graphs.back().Input().ConstantInput(IntConstant(Shape{3}, {0, -1, 7}));
  graphs.emplace_back("Transpose", 13);
  graphs.back().Input().Attr("perm", IntsAttr({0, 2, 3, 1}));
  graphs.emplace_back("Concat", 13);
  graphs.back().Input().Input().Attr("axis", IntAttr(-1));
  graphs.emplace_back("Identity", 13);
  graphs.back().Input();
  graphs.emplace_back("Dropout", 13);
  graphs.back().Input();
  for (OpTest& g : graphs) {
    auto op = g.Build(RegisterShapeOps);
    ASSERT_TRUE(op.ok()) << op.status();
    std::vector<const Tensor*> runtime(g.node().op_type == "Concat" ? 2 : 1, &x);
    std::vector<Tensor> outputs;
    absl::Status status;
    EXPECT_EQ(g.AllocationsOnRerun(**op, runtime, &outputs, &status), 0) << g.node().op_type;
    EXPECT_TRUE(status.ok()) << g.node().op_type << ": " << status;
  }
}

}  // namespace
}  // namespace bnserve
