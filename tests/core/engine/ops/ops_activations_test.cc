// Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, Clip and Softmax
// against float64 references, for every schema form (Clip attributes vs inputs at 11,
// Softmax's 2-D coercion before 13), awkward shapes and the error paths.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
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
using testing::OpTest;
using testing::RandomTensor;
using testing::ShapeOf;
using testing::TensorNear;

constexpr double kRelTol = 2e-6;
constexpr double kAbsTol = 1e-7;
constexpr float kInf = std::numeric_limits<float>::infinity();

const std::vector<std::vector<int64_t>>& AwkwardShapes() {
  static const auto* shapes =
      new std::vector<std::vector<int64_t>>{{}, {1}, {7}, {3, 5}, {2, 3, 5}, {1, 5, 3, 3}, {2, 3, 1, 2, 3}, {0, 3}};
  return *shapes;
}

std::vector<double> MapReference(const Tensor& x, const std::function<double(double)>& fn) {
  std::vector<double> y(x.data.size());
  for (size_t i = 0; i < y.size(); ++i) y[i] = fn(x.data[i]);
  return y;
}

struct UnaryCase {
  std::string op_type;
  std::function<void(OpTest*)> attrs;
  std::function<double(double)> fn;
};

TEST(ActivationsTest, PointwiseOpsMatchReferenceAtEveryOpset) {
  const std::vector<UnaryCase> cases = {
      {"Relu", [](OpTest*) {}, [](double v) { return v > 0 ? v : 0.0; }},
      {"LeakyRelu", [](OpTest*) {}, [](double v) { return v >= 0 ? v : v * static_cast<double>(0.01f); }},
      {"LeakyRelu", [](OpTest* g) { g->Attr("alpha", FloatAttr(0.3f)); },
       [](double v) { return v >= 0 ? v : v * static_cast<double>(0.3f); }},
      {"Sigmoid", [](OpTest*) {}, [](double v) { return 1.0 / (1.0 + std::exp(-v)); }},
      {"Tanh", [](OpTest*) {}, [](double v) { return std::tanh(v); }},
  };
  uint32_t seed = 1;
  for (const UnaryCase& c : cases) {
    for (int64_t opset : {6, 7, 11, 13, 14, 16, 17}) {
      for (const std::vector<int64_t>& dims : AwkwardShapes()) {
        const Tensor x = RandomTensor(ShapeOf(dims), seed++, -6.0f, 6.0f);
        OpTest g(c.op_type, opset);
        g.Input();
        c.attrs(&g);
        auto y = g.BuildAndRun(RegisterActivationOps, {x});
        ASSERT_TRUE(y.ok()) << c.op_type << " opset " << opset << ": " << y.status();
        EXPECT_TRUE(TensorNear((*y)[0], x.shape, MapReference(x, c.fn), kRelTol, kAbsTol))
            << c.op_type << " opset " << opset;
      }
    }
    OpTest old(c.op_type, 5);
    old.Input();
    EXPECT_EQ(old.Build(RegisterActivationOps).status().code(), absl::StatusCode::kUnimplemented) << c.op_type;
  }
}

// max(0, min(1, alpha*v + beta)) in float64 from float32 parameters.
double HardSigmoidReference(double v, float alpha, float beta) {
  if (std::isnan(v)) return v;
  return std::min(1.0, std::max(0.0, static_cast<double>(alpha) * v + static_cast<double>(beta)));
}

TEST(ActivationsTest, HardSigmoidAndHardSwishMatchReference) {
  // Around the kinks (-3, 3 for HardSwish; -2.5, 2.5 for the default
  // HardSigmoid) and far out, plus infinities and NaN.
  std::vector<float> values = {-10.0f, -3.0f, -2.5f, -1e-3f, 0.0f,  1e-3f,
                               2.5f,   3.0f,  10.0f, kInf,   -kInf, std::numeric_limits<float>::quiet_NaN()};
  const Tensor random = RandomTensor(Shape{2, 3, 4, 5}, 11, -5.0f, 5.0f);
  values.insert(values.end(), random.data.begin(), random.data.end());
  const Tensor x(Shape{static_cast<int64_t>(values.size())}, values);
  struct Case {
    std::string op_type;
    std::function<void(OpTest*)> attrs;
    std::function<double(double)> fn;
    std::vector<int64_t> opsets;
  };
  const float sixth = 1.0f / 6.0f;
  const std::vector<Case> cases = {
      {"HardSigmoid",
       [](OpTest*) {},
       [](double v) { return HardSigmoidReference(v, 0.2f, 0.5f); },
       {6, 11, 13, 17, 18}},
      // PyTorch's export of nn.Hardsigmoid.
      {"HardSigmoid",
       [&](OpTest* g) { g->Attr("alpha", FloatAttr(sixth)); },
       [&](double v) { return HardSigmoidReference(v, sixth, 0.5f); },
       {13}},
      {"HardSigmoid",
       [](OpTest* g) { g->Attr("alpha", FloatAttr(-0.7f)).Attr("beta", FloatAttr(0.25f)); },
       [](double v) { return HardSigmoidReference(v, -0.7f, 0.25f); },
       {11}},
      // x * HardSigmoid(x): at -inf the spec's formula gives -inf * 0 = NaN.
      {"HardSwish", [](OpTest*) {}, [&](double v) { return v * HardSigmoidReference(v, sixth, 0.5f); }, {14, 17, 18}},
  };
  for (const Case& c : cases) {
    for (int64_t opset : c.opsets) {
      OpTest g(c.op_type, opset);
      g.Input();
      c.attrs(&g);
      auto y = g.BuildAndRun(RegisterActivationOps, {x});
      ASSERT_TRUE(y.ok()) << c.op_type << " opset " << opset << ": " << y.status();
      EXPECT_TRUE(TensorNear((*y)[0], x.shape, MapReference(x, c.fn), kRelTol, kAbsTol))
          << c.op_type << " opset " << opset;
    }
  }
  OpTest early("HardSwish", 13);
  early.Input();
  EXPECT_EQ(early.Build(RegisterActivationOps).status().code(), absl::StatusCode::kUnimplemented);
  OpTest late("HardSigmoid", 19);
  late.Input();
  EXPECT_EQ(late.Build(RegisterActivationOps).status().code(), absl::StatusCode::kUnimplemented);
}

TEST(ActivationsTest, SigmoidAndTanhSaturateWithoutOverflow) {
  const Tensor x(Shape{6}, {-100.0f, -88.0f, -20.0f, 20.0f, 88.0f, 100.0f});
  for (const auto& [op_type, fn] : std::vector<std::pair<std::string, std::function<double(double)>>>{
           {"Sigmoid", [](double v) { return 1.0 / (1.0 + std::exp(-v)); }},
           {"Tanh", [](double v) { return std::tanh(v); }}}) {
    OpTest g(op_type, 13);
    g.Input();
    auto y = g.BuildAndRun(RegisterActivationOps, {x});
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_TRUE(TensorNear((*y)[0], x.shape, MapReference(x, fn), kRelTol, 1e-30)) << op_type;
  }
}

double ClipReference(double v, double lo, double hi) { return std::isnan(v) ? v : std::min(std::max(v, lo), hi); }

TEST(ActivationsTest, ClipWithAttributesBeforeOpset11) {
  Tensor x = RandomTensor(Shape{3, 5, 2}, 7, -3.0f, 3.0f);
  x.data[0] = kInf;
  x.data[1] = -kInf;
  x.data[2] = std::numeric_limits<float>::quiet_NaN();
  for (int64_t opset : {6, 9, 10}) {
    OpTest g("Clip", opset);
    g.Input().Attr("min", FloatAttr(-0.75f)).Attr("max", FloatAttr(1.25f));
    auto y = g.BuildAndRun(RegisterActivationOps, {x});
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_TRUE(
        TensorNear((*y)[0], x.shape, MapReference(x, [](double v) { return ClipReference(v, -0.75, 1.25); }), 0, 0))
        << "opset " << opset;
    // Clip-6's defaults are the finite float range, so they clamp infinities.
    OpTest defaults("Clip", opset);
    defaults.Input();
    auto d = defaults.BuildAndRun(RegisterActivationOps, {x});
    ASSERT_TRUE(d.ok()) << d.status();
    const double lowest = std::numeric_limits<float>::lowest();
    const double highest = std::numeric_limits<float>::max();
    EXPECT_TRUE(TensorNear((*d)[0], x.shape,
                           MapReference(x, [&](double v) { return ClipReference(v, lowest, highest); }), 0, 0));
  }
}

TEST(ActivationsTest, ClipWithOptionalInputsFromOpset11) {
  Tensor x = RandomTensor(Shape{2, 3, 5}, 8, -3.0f, 3.0f);
  x.data[0] = kInf;
  x.data[1] = std::numeric_limits<float>::quiet_NaN();
  const Tensor lo(Shape{}, {-0.5f});
  const Tensor hi(Shape{}, {2.0f});
  const double inf = std::numeric_limits<double>::infinity();
  for (int64_t opset : {11, 12, 13, 17}) {
    struct Variant {
      std::string name;
      std::function<void(OpTest*)> inputs;
      std::vector<Tensor> runtime;
      double lo, hi;
    };
    const std::vector<Variant> variants = {
        {"constant min and max",
         [](OpTest* g) {
           g->ConstantInput(FloatConstant(Shape{}, {-0.5f})).ConstantInput(FloatConstant(Shape{}, {2.0f}));
         },
         {x},
         -0.5,
         2.0},
        {"runtime min and max", [](OpTest* g) { g->Input().Input(); }, {x, lo, hi}, -0.5, 2.0},
        {"runtime min, constant max",
         [](OpTest* g) { g->Input().ConstantInput(FloatConstant(Shape{1}, {2.0f})); },
         {x, lo},
         -0.5,
         2.0},
        {"min only (trailing input omitted)", [](OpTest* g) { g->Input(); }, {x, lo}, -0.5, inf},
        {"max only (min absent)",
         [](OpTest* g) { g->AbsentInput().ConstantInput(FloatConstant(Shape{}, {2.0f})); },
         {x},
         -inf,
         2.0},
        {"no bounds", [](OpTest*) {}, {x}, -inf, inf},
        // ONNX: when min > max every value becomes max.
        {"min greater than max",
         [](OpTest* g) {
           g->ConstantInput(FloatConstant(Shape{}, {3.0f})).ConstantInput(FloatConstant(Shape{}, {1.0f}));
         },
         {x},
         3.0,
         1.0},
    };
    for (const Variant& v : variants) {
      OpTest g("Clip", opset);
      g.Input();
      v.inputs(&g);
      auto y = g.BuildAndRun(RegisterActivationOps, v.runtime);
      ASSERT_TRUE(y.ok()) << v.name << ": " << y.status();
      EXPECT_TRUE(
          TensorNear((*y)[0], x.shape, MapReference(x, [&](double e) { return ClipReference(e, v.lo, v.hi); }), 0, 0))
          << v.name << " opset " << opset;
    }
  }
}

TEST(ActivationsTest, ClipRejectsNonScalarBounds) {
  const Tensor x = RandomTensor(Shape{4}, 9, -3.0f, 3.0f);
  OpTest constant("Clip", 13);
  constant.Input().ConstantInput(FloatConstant(Shape{2}, {0.0f, 1.0f}));
  auto built = constant.Build(RegisterActivationOps);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(built.status().message().find("[2]"), std::string::npos) << built.status();

  OpTest runtime("Clip", 13);
  runtime.Input().AbsentInput().Input();
  auto y = runtime.BuildAndRun(RegisterActivationOps, {x, Tensor(Shape{1, 3}, {1, 2, 3})});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(y.status().message().find("max"), std::string::npos) << y.status();
  EXPECT_NE(y.status().message().find("[1,3]"), std::string::npos) << y.status();
}

// Softmax along `axis` of `shape` over elements outer*n*inner, the float64
// way: exp(x - max) / sum.
std::vector<double> SoftmaxReference(const Tensor& x, int64_t outer, int64_t n, int64_t inner) {
  std::vector<double> y(x.data.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t i) { return o * n * inner + i * inner + j; };
      double max = -std::numeric_limits<double>::infinity();
      for (int64_t i = 0; i < n; ++i) max = std::max(max, static_cast<double>(x.data[at(i)]));
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += std::exp(x.data[at(i)] - max);
      for (int64_t i = 0; i < n; ++i) y[at(i)] = std::exp(x.data[at(i)] - max) / sum;
    }
  }
  return y;
}

absl::StatusOr<std::vector<Tensor>> RunSoftmax(int64_t opset, const Tensor& x, const int64_t* axis) {
  OpTest g("Softmax", opset);
  g.Input();
  if (axis != nullptr) g.Attr("axis", IntAttr(*axis));
  return g.BuildAndRun(RegisterActivationOps, {x});
}

TEST(ActivationsTest, SoftmaxBeforeOpset13CoercesTo2D) {
  const std::vector<std::vector<int64_t>> shapes = {{7}, {3, 5}, {2, 3, 5}, {2, 3, 1, 5}, {2, 1, 3, 2, 3}};
  uint32_t seed = 20;
  for (int64_t opset : {1, 11, 12}) {
    for (const std::vector<int64_t>& dims : shapes) {
      const Shape shape = ShapeOf(dims);
      const Tensor x = RandomTensor(shape, seed++, -10.0f, 10.0f);
      const int rank = shape.rank();
      for (int64_t axis = opset >= 11 ? -rank : 0; axis < rank; ++axis) {
        const int a = static_cast<int>(axis < 0 ? axis + rank : axis);
        auto y = RunSoftmax(opset, x, &axis);
        ASSERT_TRUE(y.ok()) << y.status();
        EXPECT_TRUE(TensorNear((*y)[0], shape, SoftmaxReference(x, shape.Product(0, a), shape.Product(a, rank), 1),
                               kRelTol, kAbsTol))
            << "opset " << opset << " axis " << axis;
      }
      if (rank >= 2) {  // default axis 1
        auto y = RunSoftmax(opset, x, nullptr);
        ASSERT_TRUE(y.ok()) << y.status();
        EXPECT_TRUE(
            TensorNear((*y)[0], shape, SoftmaxReference(x, shape[0], shape.Product(1, rank), 1), kRelTol, kAbsTol))
            << "opset " << opset << " default axis";
      }
    }
  }
}

TEST(ActivationsTest, SoftmaxFromOpset13NormalizesOneAxis) {
  const std::vector<std::vector<int64_t>> shapes = {{7}, {3, 5}, {2, 3, 5}, {2, 3, 1, 5}, {2, 1, 3, 2, 3}};
  uint32_t seed = 40;
  for (int64_t opset : {13, 17}) {
    for (const std::vector<int64_t>& dims : shapes) {
      const Shape shape = ShapeOf(dims);
      const Tensor x = RandomTensor(shape, seed++, -10.0f, 10.0f);
      const int rank = shape.rank();
      for (int64_t axis = -rank; axis < rank; ++axis) {
        const int a = static_cast<int>(axis < 0 ? axis + rank : axis);
        auto y = RunSoftmax(opset, x, &axis);
        ASSERT_TRUE(y.ok()) << y.status();
        EXPECT_TRUE(TensorNear((*y)[0], shape,
                               SoftmaxReference(x, shape.Product(0, a), shape[a], shape.Product(a + 1, rank)), kRelTol,
                               kAbsTol))
            << "opset " << opset << " axis " << axis;
      }
      auto y = RunSoftmax(opset, x, nullptr);  // default axis -1
      ASSERT_TRUE(y.ok()) << y.status();
      EXPECT_TRUE(TensorNear((*y)[0], shape, SoftmaxReference(x, shape.Product(0, rank - 1), shape[rank - 1], 1),
                             kRelTol, kAbsTol))
          << "opset " << opset << " default axis";
    }
  }
}

TEST(ActivationsTest, SoftmaxIsStableForLargeLogits) {
  const Tensor x(Shape{2, 3}, {1000.0f, 1001.0f, 999.0f, -1000.0f, -1002.0f, -1001.0f});
  const int64_t axis = 1;
  auto y = RunSoftmax(13, x, &axis);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_TRUE(TensorNear((*y)[0], x.shape, SoftmaxReference(x, 2, 3, 1), kRelTol, kAbsTol));
}

TEST(ActivationsTest, SoftmaxAxisErrors) {
  const Tensor x = RandomTensor(Shape{2, 3}, 1, -3.0f, 3.0f);
  const int64_t negative = -1;
  for (int64_t opset : {1, 9}) {  // negative axes arrived in opset 11
    auto y = RunSoftmax(opset, x, &negative);
    ASSERT_FALSE(y.ok());
    EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  }
  for (int64_t opset : {11, 13}) {
    for (int64_t axis : {2, -3}) {
      auto y = RunSoftmax(opset, x, &axis);
      ASSERT_FALSE(y.ok()) << "axis " << axis;
      EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(y.status().message().find("test_Softmax"), std::string::npos) << y.status();
      EXPECT_NE(y.status().message().find(std::to_string(axis)), std::string::npos) << y.status();
    }
  }
}

TEST(ActivationsTest, NoHeapAllocationOnceOutputsHaveGrown) {
  const Tensor x = RandomTensor(Shape{2, 3, 5, 7}, 1, -3.0f, 3.0f);
  const Tensor lo(Shape{}, {-0.5f});
  const int64_t axis = 1;
  struct Case {
    OpTest graph;
    std::vector<const Tensor*> runtime;
  };
  std::vector<Case> cases;
  cases.push_back({OpTest("Relu", 14), {&x}});
  cases.push_back({OpTest("Sigmoid", 13), {&x}});
  cases.push_back({OpTest("Clip", 13), {&x, &lo}});
  cases.push_back({OpTest("Softmax", 13), {&x}});
  cases.push_back({OpTest("Softmax", 11), {&x}});
  for (Case& c : cases) {
    c.graph.Input();
    if (c.runtime.size() > 1) c.graph.Input();
    if (c.graph.node().op_type == "Softmax") c.graph.Attr("axis", IntAttr(axis));
    auto op = c.graph.Build(RegisterActivationOps);
    ASSERT_TRUE(op.ok()) << op.status();
    std::vector<Tensor> outputs;
    absl::Status status;
    EXPECT_EQ(c.graph.AllocationsOnRerun(**op, c.runtime, &outputs, &status), 0) << c.graph.node().op_type;
    EXPECT_TRUE(status.ok()) << status;
  }
}

}  // namespace
}  // namespace bnserve
