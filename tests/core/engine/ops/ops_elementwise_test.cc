// Add/Sub/Mul/Div against a naive float64 broadcasting reference that walks
// every output index, over awkward shapes: ranks 0..8, broadcasting in both
// directions, per-channel and scalar operands, size-0 dims; plus fused
// activations, constant operands, opset coverage and error cases.
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "core/engine/ops/fused_activation.h"
#include "core/engine/ops/ops.h"
#include "gtest/gtest.h"
#include "tests/test_util/op_test_util.h"

namespace bnserve {
namespace {

using testing::FloatAttr;
using testing::FloatConstant;
using testing::OpTest;
using testing::RandomTensor;
using testing::ShapeOf;
using testing::StringAttr;
using testing::TensorNear;

struct BinaryCase {
  std::string op_type;
  std::function<double(double, double)> fn;
};

const std::vector<BinaryCase>& AllOps() {
  static const auto* ops = new std::vector<BinaryCase>{
      {"Add", [](double a, double b) { return a + b; }},
      {"Sub", [](double a, double b) { return a - b; }},
      {"Mul", [](double a, double b) { return a * b; }},
      {"Div", [](double a, double b) { return a / b; }},
  };
  return *ops;
}

// Numpy broadcasting, written independently of core/engine/ops/broadcast.cc: the
// output shape from right-aligned dims, then every output element looked up
// through its multi-index (a size-1 operand dim always reads index 0).
Shape ReferenceBroadcastShape(const Shape& a, const Shape& b) {
  const int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> dims(rank);
  for (int i = 0; i < rank; ++i) {
    const int64_t ad = i - (rank - a.rank()) >= 0 ? a[i - (rank - a.rank())] : 1;
    const int64_t bd = i - (rank - b.rank()) >= 0 ? b[i - (rank - b.rank())] : 1;
    dims[i] = ad == 1 ? bd : ad;
  }
  return ShapeOf(dims);
}

int64_t OperandOffset(const std::vector<int64_t>& out_index, const Shape& s) {
  const int lead = static_cast<int>(out_index.size()) - s.rank();
  int64_t offset = 0;
  for (int d = 0; d < s.rank(); ++d) offset = offset * s[d] + (s[d] == 1 ? 0 : out_index[lead + d]);
  return offset;
}

std::vector<double> ReferenceBinary(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& fn,
                                    const std::function<double(double)>& activation = nullptr) {
  const Shape out = ReferenceBroadcastShape(a.shape, b.shape);
  std::vector<double> y(out.NumElements());
  for (int64_t i = 0; i < out.NumElements(); ++i) {
    const std::vector<int64_t> index = testing::Unravel(i, out);
    double v = fn(a.data[OperandOffset(index, a.shape)], b.data[OperandOffset(index, b.shape)]);
    if (activation) v = activation(v);
    y[i] = v;
  }
  return y;
}

struct ShapePair {
  std::vector<int64_t> a;
  std::vector<int64_t> b;
};

const std::vector<ShapePair>& CompatiblePairs() {
  static const auto* pairs = new std::vector<ShapePair>{
      {{2, 3, 5, 7}, {2, 3, 5, 7}},                          // same shape
      {{7}, {7}},                                            // rank 1
      {{}, {3, 5}},                                          // rank-0 scalar, left
      {{3, 5}, {}},                                          // rank-0 scalar, right
      {{1}, {4, 3}},                                         // size-1 scalar
      {{}, {}},                                              // both scalars
      {{3, 1, 1}, {2, 3, 5, 7}},                             // per-channel bias, left
      {{2, 3, 5, 7}, {1, 3, 1, 1}},                          // per-channel bias, right
      {{2, 5, 1, 1}, {2, 5, 3, 3}},                          // per (n, c)
      {{3, 1}, {1, 4}},                                      // both directions
      {{2, 1, 5}, {3, 1}},                                   // both directions, rank 3 vs 2
      {{5, 1, 3, 1, 7}, {4, 1, 2, 7}},                       // rank 5, alternating
      {{2, 3, 4, 5}, {5}},                                   // innermost-dim vector
      {{2, 3, 4, 1}, {1, 1, 1, 9}},                          // outer product
      {{2, 3, 1, 4, 5}, {3, 5, 1, 1}},                       // rank 5 mixed
      {{2, 1, 2, 1, 2, 1, 2, 3}, {1, 2, 1, 2, 1, 2, 1, 3}},  // rank 8 (kMaxRank)
      {{1, 1, 1}, {1}},                                      // all ones
      {{0, 3}, {1, 3}},                                      // empty output
      {{2, 0}, {2, 1}},                                      // empty output, broadcast 1 -> 0
  };
  return *pairs;
}

absl::StatusOr<std::vector<Tensor>> RunBinary(const std::string& op_type, int64_t opset, const Tensor& a,
                                              const Tensor& b, const std::string& activation = "") {
  OpTest g(op_type, opset);
  g.Input().Input();
  if (!activation.empty()) g.Attr(kFusedActivationAttr, StringAttr(activation));
  return g.BuildAndRun(RegisterElementwiseOps, {a, b});
}

TEST(ElementwiseTest, MatchesReferenceOnBroadcastShapes) {
  uint32_t seed = 1;
  for (const BinaryCase& op : AllOps()) {
    for (const ShapePair& p : CompatiblePairs()) {
      const Tensor a = RandomTensor(ShapeOf(p.a), seed++, -3.0f, 3.0f);
      // Keep divisors away from 0 so the float32 relative error stays small.
      const Tensor b = RandomTensor(ShapeOf(p.b), seed++, 0.25f, 3.0f);
      auto y = RunBinary(op.op_type, 14, a, b);
      ASSERT_TRUE(y.ok()) << op.op_type << " " << a.shape.ToString() << " " << b.shape.ToString() << ": " << y.status();
      EXPECT_TRUE(
          TensorNear((*y)[0], ReferenceBroadcastShape(a.shape, b.shape), ReferenceBinary(a, b, op.fn), 1e-6, 1e-7))
          << op.op_type << " A " << a.shape.ToString() << " B " << b.shape.ToString();
    }
  }
}

TEST(ElementwiseTest, EveryOpsetFrom7To17) {
  const Tensor a = RandomTensor(Shape{2, 3, 4}, 11, -3.0f, 3.0f);
  const Tensor b = RandomTensor(Shape{3, 1}, 12, 0.5f, 2.0f);
  for (const BinaryCase& op : AllOps()) {
    for (int64_t opset : {7, 8, 9, 11, 13, 14, 15, 17}) {
      auto y = RunBinary(op.op_type, opset, a, b);
      ASSERT_TRUE(y.ok()) << op.op_type << " opset " << opset << ": " << y.status();
      EXPECT_TRUE(TensorNear((*y)[0], Shape{2, 3, 4}, ReferenceBinary(a, b, op.fn), 1e-6, 1e-7))
          << op.op_type << " opset " << opset;
    }
    // Opsets 1-6 use the legacy `broadcast`/`axis` attributes; not supported.
    for (int64_t opset : {6, 18}) {
      auto y = RunBinary(op.op_type, opset, a, b);
      ASSERT_FALSE(y.ok()) << op.op_type << " opset " << opset;
      EXPECT_EQ(y.status().code(), absl::StatusCode::kUnimplemented) << y.status();
    }
  }
}

TEST(ElementwiseTest, ConstantOperandsArriveAsInputs) {
  // Bias add with B an initializer [C,1,1], and a constant scalar on the left.
  const Tensor x = RandomTensor(Shape{2, 5, 3, 3}, 21, -3.0f, 3.0f);
  const Tensor bias = RandomTensor(Shape{5, 1, 1}, 22, -3.0f, 3.0f);
  OpTest add("Add", 13);
  add.Input().ConstantInput(FloatConstant(bias.shape, bias.ToVector()));
  auto y = add.BuildAndRun(RegisterElementwiseOps, {x});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_TRUE(TensorNear((*y)[0], x.shape, ReferenceBinary(x, bias, AllOps()[0].fn), 1e-6, 1e-7));

  const Tensor two(Shape{}, {2.0f});
  OpTest div("Div", 13);
  div.ConstantInput(FloatConstant(Shape{}, {2.0f})).Input();
  const Tensor d = RandomTensor(Shape{7}, 23, 0.5f, 4.0f);
  auto q = div.BuildAndRun(RegisterElementwiseOps, {d});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_TRUE(TensorNear((*q)[0], d.shape, ReferenceBinary(two, d, AllOps()[3].fn), 1e-6, 1e-7));
}

TEST(ElementwiseTest, FusedActivationsOnEveryBroadcastShape) {
  // ResNet's residual Add + Relu is the case that matters; every op and
  // activation goes through the same row loop, so all are checked.
  struct ActivationCase {
    std::string name;
    std::function<void(OpTest*)> attrs;
    std::function<double(double)> fn;
  };
  const std::vector<ActivationCase> activations = {
      {"Relu", [](OpTest*) {}, [](double v) { return v > 0 ? v : 0.0; }},
      {"LeakyRelu", [](OpTest* g) { g->Attr(kFusedAlphaAttr, FloatAttr(0.2f)); },
       [](double v) { return v >= 0 ? v : v * static_cast<double>(0.2f); }},
      {"Clip",
       [](OpTest* g) {
         g->Attr(kFusedMinAttr, FloatAttr(-0.5f));
         g->Attr(kFusedMaxAttr, FloatAttr(1.5f));
       },
       [](double v) { return std::min(std::max(v, -0.5), 1.5); }},
  };
  uint32_t seed = 100;
  for (const BinaryCase& op : AllOps()) {
    for (const ActivationCase& act : activations) {
      for (const ShapePair& p : CompatiblePairs()) {
        const Tensor a = RandomTensor(ShapeOf(p.a), seed++, -3.0f, 3.0f);
        const Tensor b = RandomTensor(ShapeOf(p.b), seed++, 0.25f, 3.0f);
        OpTest g(op.op_type, 13);
        g.Input().Input().Attr(kFusedActivationAttr, StringAttr(act.name));
        act.attrs(&g);
        auto y = g.BuildAndRun(RegisterElementwiseOps, {a, b});
        ASSERT_TRUE(y.ok()) << y.status();
        EXPECT_TRUE(TensorNear((*y)[0], ReferenceBroadcastShape(a.shape, b.shape), ReferenceBinary(a, b, op.fn, act.fn),
                               1e-6, 1e-7))
            << op.op_type << "+" << act.name << " A " << a.shape.ToString() << " B " << b.shape.ToString();
      }
    }
  }
}

TEST(ElementwiseTest, SameShapeOperandsSplitOverThreadsGiveTheSameBits) {
  // The residual Add + Relu of a ResNet block, long enough to be cut over
  // the intra-op threads, and one too short to be.
  ThreadPool pool(3);
  for (const Shape& shape : {Shape{3, 64, 32, 32}, Shape{2, 5, 7}}) {
    const Tensor a = RandomTensor(shape, 31, -3.0f, 3.0f);
    const Tensor b = RandomTensor(shape, 32, -3.0f, 3.0f);
    OpTest alone("Add", 14);
    alone.Input().Input().Attr(kFusedActivationAttr, StringAttr("Relu"));
    OpTest split("Add", 14);
    split.Input().Input().Attr(kFusedActivationAttr, StringAttr("Relu")).WithThreadPool(&pool);
    auto expected = alone.BuildAndRun(RegisterElementwiseOps, {a, b});
    auto actual = split.BuildAndRun(RegisterElementwiseOps, {a, b});
    ASSERT_TRUE(expected.ok()) << expected.status();
    ASSERT_TRUE(actual.ok()) << actual.status();
    EXPECT_EQ((*actual)[0].shape, shape);
    EXPECT_EQ((*actual)[0].ToVector(), (*expected)[0].ToVector()) << shape.ToString();
    for (float v : (*actual)[0].data) ASSERT_GE(v, 0.0f);  // the Relu ran on every piece
  }
}

TEST(ElementwiseTest, DivisionByZeroFollowsIeee) {
  const Tensor a(Shape{4}, {1.0f, -2.0f, 0.0f, 3.0f});
  const Tensor b(Shape{1}, {0.0f});
  auto y = RunBinary("Div", 13, a, b);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_TRUE(TensorNear((*y)[0], Shape{4}, ReferenceBinary(a, b, AllOps()[3].fn), 0.0, 0.0));
}

TEST(ElementwiseTest, RejectsIncompatibleShapes) {
  const std::vector<ShapePair> bad = {{{2, 3}, {4}}, {{2, 3, 4}, {3, 5}}, {{5, 1}, {1, 4, 3}}, {{0}, {2}}};
  for (const ShapePair& p : bad) {
    const Tensor a = RandomTensor(ShapeOf(p.a), 1, -3.0f, 3.0f);
    const Tensor b = RandomTensor(ShapeOf(p.b), 2, -3.0f, 3.0f);
    auto y = RunBinary("Mul", 13, a, b);
    ASSERT_FALSE(y.ok()) << a.shape.ToString() << " vs " << b.shape.ToString();
    EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string msg(y.status().message());
    EXPECT_NE(msg.find("test_Mul"), std::string::npos) << msg;
    EXPECT_NE(msg.find(a.shape.ToString()), std::string::npos) << msg;
    EXPECT_NE(msg.find(b.shape.ToString()), std::string::npos) << msg;
  }
}

TEST(ElementwiseTest, RejectsUnknownFusedActivation) {
  OpTest g("Add", 13);
  g.Input().Input().Attr(kFusedActivationAttr, StringAttr("Gelu"));
  EXPECT_FALSE(g.Build(RegisterElementwiseOps).ok());
}

TEST(ElementwiseTest, NoHeapAllocationOnceOutputsHaveGrown) {
  const Tensor x = RandomTensor(Shape{2, 3, 5, 7}, 1, -3.0f, 3.0f);
  const Tensor per_channel = RandomTensor(Shape{3, 1, 1}, 2, -3.0f, 3.0f);
  const Tensor outer = RandomTensor(Shape{2, 1, 1, 7}, 3, -3.0f, 3.0f);
  for (const Tensor* b : {&x, &per_channel, &outer}) {
    OpTest g("Add", 13);
    g.Input().Input().Attr(kFusedActivationAttr, StringAttr("Relu"));
    auto op = g.Build(RegisterElementwiseOps);
    ASSERT_TRUE(op.ok()) << op.status();
    std::vector<Tensor> outputs;
    absl::Status status;
    EXPECT_EQ(g.AllocationsOnRerun(**op, {&x, b}, &outputs, &status), 0) << b->shape.ToString();
    EXPECT_TRUE(status.ok()) << status;
  }
}

}  // namespace
}  // namespace bnserve
