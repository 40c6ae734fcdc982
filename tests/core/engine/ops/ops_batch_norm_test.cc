// BatchNormalization (inference form) and bnserve::ChannelAffine: PyTorch
// eval-mode vectors (tests/fixtures/bn-vectors), a naive float64 reference
// over ranks 1..5 and odd channel counts for every opset form (7, 9, 14, 15),
// fused activations, the training-mode and bad-statistics errors, and
// concurrent runs of one shared op.
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/engine/ops/bn_fold.h"
#include "core/engine/ops/fused_activation.h"
#include "core/engine/ops/ops.h"
#include "gtest/gtest.h"
#include "tests/test_util/op_test_util.h"
#include "tests/test_util/test_util.h"

namespace bnserve {
namespace {

using testing::FloatAttr;
using testing::FloatConstant;
using testing::IntAttr;
using testing::OpTest;
using testing::RandomTensor;
using testing::RandomValues;
using testing::ShapeOf;
using testing::StringAttr;
using testing::TensorNear;

// Every registered schema form: 7 (spatial), 9 (no mode attribute),
// 14 (training_mode), 15 (decoupled input types), and neighbours.
const std::vector<int64_t> kBnOpsets = {7, 8, 9, 13, 14, 15, 17};

struct BnParams {
  std::vector<float> gamma, beta, mean, var;
};

BnParams RandomParams(int64_t channels, uint32_t seed) {
  return BnParams{RandomValues(channels, seed, -1.5f, 1.5f), RandomValues(channels, seed + 1, -1.0f, 1.0f),
                  RandomValues(channels, seed + 2, -1.0f, 1.0f), RandomValues(channels, seed + 3, 0.5f, 2.0f)};
}

// A BatchNormalization node whose parameters are initializers. `epsilon`
// < 0 leaves the attribute out (default 1e-5).
OpTest BnGraph(int64_t opset, const BnParams& p, float epsilon) {
  const Shape c{static_cast<int64_t>(p.gamma.size())};
  OpTest g("BatchNormalization", opset);
  g.Input()
      .ConstantInput(FloatConstant(c, p.gamma))
      .ConstantInput(FloatConstant(c, p.beta))
      .ConstantInput(FloatConstant(c, p.mean))
      .ConstantInput(FloatConstant(c, p.var));
  if (epsilon >= 0) g.Attr("epsilon", FloatAttr(epsilon));
  return g;
}

// y = gamma*(x - mean)/sqrt(var + eps) + beta in float64, channel axis 1,
// rank 1 = one channel (bn-semantics.md sections 1 and 2).
std::vector<double> BnReference(const Tensor& x, const BnParams& p, double epsilon) {
  const int rank = x.shape.rank();
  const int64_t channels = rank >= 2 ? x.shape[1] : 1;
  const int64_t inner = rank >= 2 ? x.shape.Product(2, rank) : x.shape[0];
  std::vector<double> y(x.data.size());
  for (size_t i = 0; i < y.size(); ++i) {
    const int64_t c = (static_cast<int64_t>(i) / inner) % channels;
    y[i] = p.gamma[c] * (x.data[i] - static_cast<double>(p.mean[c])) / std::sqrt(p.var[c] + epsilon) + p.beta[c];
  }
  return y;
}

// ---------------------------------------------------------------- PyTorch vectors

std::vector<float> ToFloats(const nlohmann::json& j) {
  std::vector<float> v;
  for (double d : j.get<std::vector<double>>()) v.push_back(static_cast<float>(d));
  return v;
}

TEST(BatchNormTest, MatchesPyTorchEvalVectors) {
  for (const std::string file : {"bn-vectors/eval_bn1d.json", "bn-vectors/eval_bn2d.json"}) {
    const nlohmann::json fixture = testing::LoadJsonFixture(file);
    const BnParams p{ToFloats(fixture.at("weight")), ToFloats(fixture.at("bias")), ToFloats(fixture.at("running_mean")),
                     ToFloats(fixture.at("running_var"))};
    // The ONNX attribute is float32, like the value torch exported.
    const float epsilon = static_cast<float>(fixture.at("eps").get<double>());
    ASSERT_FALSE(fixture.at("cases").empty()) << file;
    for (const nlohmann::json& c : fixture.at("cases")) {
      std::vector<int64_t> x_dims, y_dims;
      std::vector<double> x_data, expected;
      testing::ReadJsonTensor(c.at("input"), &x_dims, &x_data);
      testing::ReadJsonTensor(c.at("expected_y"), &y_dims, &expected);
      const Tensor x(ShapeOf(x_dims), std::vector<float>(x_data.begin(), x_data.end()));
      for (int64_t opset : kBnOpsets) {
        auto y = BnGraph(opset, p, epsilon).BuildAndRun(RegisterBatchNormOps, {x});
        ASSERT_TRUE(y.ok()) << y.status();
        EXPECT_TRUE(TensorNear((*y)[0], ShapeOf(y_dims), expected, 1e-5, 1e-6))
            << file << " input " << x.shape.ToString() << " opset " << opset;
      }
    }
  }
}

TEST(BatchNormTest, FoldMatchesPyTorchFoldedForm) {
  for (const std::string file : {"bn-vectors/eval_bn1d.json", "bn-vectors/eval_bn2d.json"}) {
    const nlohmann::json f = testing::LoadJsonFixture(file);
    auto widen = [&](const char* key) { return f.at(key).get<std::vector<double>>(); };
    const double epsilon = static_cast<float>(f.at("eps").get<double>());
    auto folded =
        FoldBatchNorm(widen("weight"), widen("bias"), widen("running_mean"), widen("running_var"), epsilon, file);
    ASSERT_TRUE(folded.ok()) << folded.status();
    const std::vector<double> scale = widen("folded_scale");
    const std::vector<double> shift = widen("folded_shift");
    ASSERT_EQ(folded->scale.size(), scale.size());
    for (size_t c = 0; c < scale.size(); ++c) {
      // Folded in float64 and rounded once: within half a float32 ulp.
      EXPECT_NEAR(folded->scale[c], scale[c], std::fabs(scale[c]) * 6e-8) << file << " channel " << c;
      EXPECT_NEAR(folded->shift[c], shift[c], std::fabs(shift[c]) * 6e-8) << file << " channel " << c;
    }
  }
}

// ---------------------------------------------------------------- naive reference

TEST(BatchNormTest, MatchesReferenceOnAwkwardShapesAndOpsets) {
  // The float32 kernel computes x*scale + shift, whose rounding error scales
  // with max(|x*scale|, |shift|) (bn-semantics.md section 2), up to ~10 here,
  // so the absolute tolerance is a few float32 ulps of that, not of |y|.
  const std::vector<std::vector<int64_t>> shapes = {{7},          {5, 3},          {2, 5, 7},    {2, 3, 5, 7},
                                                    {1, 7, 3, 1}, {2, 3, 2, 3, 2}, {3, 1, 4, 5}, {0, 5, 3}};
  uint32_t seed = 1;
  for (int64_t opset : kBnOpsets) {
    for (const std::vector<int64_t>& dims : shapes) {
      for (float epsilon : {-1.0f, 1e-5f, 1e-3f}) {
        const Shape shape = ShapeOf(dims);
        const int64_t channels = shape.rank() >= 2 ? shape[1] : 1;
        const BnParams p = RandomParams(channels, seed);
        const Tensor x = RandomTensor(shape, seed + 10, -3.0f, 3.0f);
        seed += 20;
        auto y = BnGraph(opset, p, epsilon).BuildAndRun(RegisterBatchNormOps, {x});
        ASSERT_TRUE(y.ok()) << y.status();
        const double eps = epsilon < 0 ? static_cast<double>(1e-5f) : static_cast<double>(epsilon);
        EXPECT_TRUE(TensorNear((*y)[0], shape, BnReference(x, p, eps), 1e-5, 4e-6))
            << "opset " << opset << " shape " << shape.ToString() << " epsilon " << epsilon;
      }
    }
  }
}

TEST(BatchNormTest, EpsilonIsReadFromTheNode) {
  // Tiny variance makes eps dominate: 1e-5 vs 1e-3 must give different outputs.
  const BnParams p{{1.0f}, {0.0f}, {0.0f}, {1e-6f}};
  const Tensor x(Shape{1, 1, 2}, {1.0f, -2.0f});
  for (float epsilon : {1e-5f, 1e-3f}) {
    auto y = BnGraph(15, p, epsilon).BuildAndRun(RegisterBatchNormOps, {x});
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_TRUE(TensorNear((*y)[0], x.shape, BnReference(x, p, epsilon), 1e-6, 0)) << epsilon;
  }
}

TEST(BatchNormTest, FusedActivation) {
  const Tensor x = RandomTensor(Shape{2, 5, 3, 3}, 3, -3.0f, 3.0f);
  const BnParams p = RandomParams(5, 4);
  const std::vector<double> bn = BnReference(x, p, 1e-5f);
  for (int64_t opset : {9, 15}) {
    OpTest relu = BnGraph(opset, p, 1e-5f);
    relu.Attr(kFusedActivationAttr, StringAttr("Relu"));
    auto y = relu.BuildAndRun(RegisterBatchNormOps, {x});
    ASSERT_TRUE(y.ok()) << y.status();
    std::vector<double> want = bn;
    for (double& v : want) v = v > 0 ? v : 0;
    EXPECT_TRUE(TensorNear((*y)[0], x.shape, want, 1e-5, 4e-6)) << "Relu opset " << opset;

    OpTest clip = BnGraph(opset, p, 1e-5f);
    clip.Attr(kFusedActivationAttr, StringAttr("Clip"))
        .Attr(kFusedMinAttr, FloatAttr(0.0f))
        .Attr(kFusedMaxAttr, FloatAttr(6.0f));
    auto z = clip.BuildAndRun(RegisterBatchNormOps, {x});
    ASSERT_TRUE(z.ok()) << z.status();
    want = bn;
    for (double& v : want) v = std::min(std::max(v, 0.0), 6.0);
    EXPECT_TRUE(TensorNear((*z)[0], x.shape, want, 1e-5, 4e-6)) << "Clip opset " << opset;
  }
}

// ---------------------------------------------------------------- errors

TEST(BatchNormTest, RejectsTrainingMode) {
  const BnParams p = RandomParams(3, 1);
  for (int64_t opset : {14, 15, 17}) {
    OpTest g = BnGraph(opset, p, 1e-5f);
    g.Attr("training_mode", IntAttr(1));
    auto built = g.Build(RegisterBatchNormOps);
    ASSERT_FALSE(built.ok()) << "opset " << opset;
    EXPECT_EQ(built.status().code(), absl::StatusCode::kUnimplemented);
    const std::string msg(built.status().message());
    EXPECT_NE(msg.find("test_BatchNormalization"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.eval()"), std::string::npos) << msg;
    EXPECT_NE(msg.find("TrainingMode.PRESERVE"), std::string::npos) << msg;
  }
  // training_mode=0 written out explicitly is inference (what PRESERVE exports).
  OpTest preserve = BnGraph(15, p, 1e-5f);
  preserve.Attr("training_mode", IntAttr(0));
  EXPECT_TRUE(preserve.Build(RegisterBatchNormOps).ok());
}

TEST(BatchNormTest, RejectsStatisticsOutputs) {
  const BnParams p = RandomParams(3, 1);
  struct Case {
    int64_t opset;
    std::vector<std::string> outputs;
  };
  const std::vector<Case> cases = {
      {7, {"y", "mean", "var", "saved_mean", "saved_var"}},
      {9, {"y", "mean", "var", "saved_mean", "saved_var"}},
      {13, {"y", "", "var"}},
      {15, {"y", "running_mean", "running_var"}},
  };
  for (const Case& c : cases) {
    OpTest g = BnGraph(c.opset, p, 1e-5f);
    g.Outputs(c.outputs);
    auto built = g.Build(RegisterBatchNormOps);
    ASSERT_FALSE(built.ok()) << "opset " << c.opset;
    EXPECT_EQ(built.status().code(), absl::StatusCode::kUnimplemented);
    EXPECT_NE(built.status().message().find("TrainingMode.PRESERVE"), std::string::npos) << built.status();
  }
  // Trailing unrequested optional outputs are fine.
  OpTest g = BnGraph(9, p, 1e-5f);
  g.Outputs({"y", "", ""});
  EXPECT_TRUE(g.Build(RegisterBatchNormOps).ok());
}

TEST(BatchNormTest, Opset7SpatialAttribute) {
  const BnParams p = RandomParams(3, 1);
  OpTest spatial = BnGraph(7, p, 1e-5f);
  spatial.Attr("spatial", IntAttr(1));
  EXPECT_TRUE(spatial.Build(RegisterBatchNormOps).ok());
  OpTest per_element = BnGraph(7, p, 1e-5f);
  per_element.Attr("spatial", IntAttr(0));
  EXPECT_EQ(per_element.Build(RegisterBatchNormOps).status().code(), absl::StatusCode::kUnimplemented);
  // Opset 6 and earlier (is_test attribute) are not registered.
  EXPECT_EQ(BnGraph(6, p, 1e-5f).Build(RegisterBatchNormOps).status().code(), absl::StatusCode::kUnimplemented);
}

TEST(BatchNormTest, RejectsBadStatisticsNamingTheChannel) {
  const float nan = std::nanf("");
  struct Case {
    std::vector<float> var;
    float epsilon;
  };
  const std::vector<Case> cases = {
      {{1.0f, 1.0f, -1.0f}, 1e-5f},     // var + eps < 0
      {{1.0f, 1.0f, 0.0f}, 0.0f},       // var + eps == 0
      {{1.0f, 1.0f, nan}, 1e-5f},       // NaN
      {{1.0f, 1.0f, INFINITY}, 1e-5f},  // infinite
  };
  for (const Case& c : cases) {
    BnParams p = RandomParams(3, 1);
    p.var = c.var;
    auto built = BnGraph(15, p, c.epsilon).Build(RegisterBatchNormOps);
    ASSERT_FALSE(built.ok());
    EXPECT_EQ(built.status().code(), absl::StatusCode::kFailedPrecondition);
    const std::string msg(built.status().message());
    EXPECT_NE(msg.find("test_BatchNormalization"), std::string::npos) << msg;
    EXPECT_NE(msg.find("channel 2"), std::string::npos) << msg;
  }
  BnParams inf_mean = RandomParams(3, 1);
  inf_mean.mean[1] = INFINITY;
  auto built = BnGraph(15, inf_mean, 1e-5f).Build(RegisterBatchNormOps);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(built.status().message().find("channel 1"), std::string::npos) << built.status();
}

TEST(BatchNormTest, RejectsRuntimeOrMisshapenParameters) {
  const BnParams p = RandomParams(3, 1);
  const Shape c{3};
  OpTest runtime_mean("BatchNormalization", 15);
  runtime_mean.Input()
      .ConstantInput(FloatConstant(c, p.gamma))
      .ConstantInput(FloatConstant(c, p.beta))
      .Input()
      .ConstantInput(FloatConstant(c, p.var));
  auto built = runtime_mean.Build(RegisterBatchNormOps);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(built.status().message().find("mean"), std::string::npos) << built.status();

  OpTest short_var("BatchNormalization", 15);
  short_var.Input()
      .ConstantInput(FloatConstant(c, p.gamma))
      .ConstantInput(FloatConstant(c, p.beta))
      .ConstantInput(FloatConstant(c, p.mean))
      .ConstantInput(FloatConstant(Shape{2}, {1.0f, 1.0f}));
  built = short_var.Build(RegisterBatchNormOps);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(built.status().message().find("[3]"), std::string::npos) << built.status();
  EXPECT_NE(built.status().message().find("[2]"), std::string::npos) << built.status();
}

TEST(BatchNormTest, RejectsInputWithWrongChannelCount) {
  const BnParams p = RandomParams(3, 1);
  for (const std::vector<int64_t>& dims : std::vector<std::vector<int64_t>>{{2, 4, 5}, {7}, {}, {2, 1, 3}}) {
    const Tensor x = RandomTensor(ShapeOf(dims), 2, -3.0f, 3.0f);
    auto y = BnGraph(15, p, 1e-5f).BuildAndRun(RegisterBatchNormOps, {x});
    ASSERT_FALSE(y.ok()) << x.shape.ToString();
    EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string msg(y.status().message());
    EXPECT_NE(msg.find(x.shape.ToString()), std::string::npos) << msg;
    EXPECT_NE(msg.find("[N,3,...]"), std::string::npos) << msg;
  }
}

// ---------------------------------------------------------------- ChannelAffine

OpTest ChannelAffineGraph(int64_t opset, const std::vector<float>& scale, const std::vector<float>& shift) {
  OpTest g("ChannelAffine", opset, kBnserveDomain);
  g.Input()
      .ConstantInput(FloatConstant(Shape{static_cast<int64_t>(scale.size())}, scale))
      .ConstantInput(FloatConstant(Shape{static_cast<int64_t>(shift.size())}, shift));
  return g;
}

TEST(ChannelAffineTest, MatchesReference) {
  const std::vector<std::vector<int64_t>> shapes = {{7}, {5, 3}, {2, 5, 7}, {2, 3, 5, 7}, {2, 3, 2, 3, 2}};
  uint32_t seed = 1;
  for (int64_t opset : {7, 13, 17}) {
    for (const std::vector<int64_t>& dims : shapes) {
      const Shape shape = ShapeOf(dims);
      const int64_t channels = shape.rank() >= 2 ? shape[1] : 1;
      const std::vector<float> scale = RandomValues(channels, seed++, -3.0f, 3.0f);
      const std::vector<float> shift = RandomValues(channels, seed++, -3.0f, 3.0f);
      const Tensor x = RandomTensor(shape, seed++, -3.0f, 3.0f);
      for (const std::string activation : {"", "Relu"}) {
        OpTest g = ChannelAffineGraph(opset, scale, shift);
        if (!activation.empty()) g.Attr(kFusedActivationAttr, StringAttr(activation));
        auto y = g.BuildAndRun(RegisterBatchNormOps, {x});
        ASSERT_TRUE(y.ok()) << y.status();
        const int rank = shape.rank();
        const int64_t inner = rank >= 2 ? shape.Product(2, rank) : shape[0];
        std::vector<double> want(x.data.size());
        for (size_t i = 0; i < want.size(); ++i) {
          const int64_t c = (static_cast<int64_t>(i) / inner) % channels;
          want[i] = static_cast<double>(x.data[i]) * scale[c] + shift[c];
          if (!activation.empty()) want[i] = std::max(want[i], 0.0);
        }
        EXPECT_TRUE(TensorNear((*y)[0], shape, want, 1e-5, 4e-6))
            << shape.ToString() << " opset " << opset << " activation '" << activation << "'";
      }
    }
  }
}

TEST(ChannelAffineTest, SameKernelAsBatchNormalization) {
  // ChannelAffine fed BN's folded parameters must reproduce BN bit for bit.
  const BnParams p = RandomParams(5, 7);
  const Tensor x = RandomTensor(Shape{3, 5, 4, 3}, 8, -3.0f, 3.0f);
  auto bn = BnGraph(15, p, 1e-3f).BuildAndRun(RegisterBatchNormOps, {x});
  ASSERT_TRUE(bn.ok()) << bn.status();
  auto widen = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
  auto folded = FoldBatchNorm(widen(p.gamma), widen(p.beta), widen(p.mean), widen(p.var), 1e-3f, "bn");
  ASSERT_TRUE(folded.ok()) << folded.status();
  auto affine = ChannelAffineGraph(13, folded->scale, folded->shift).BuildAndRun(RegisterBatchNormOps, {x});
  ASSERT_TRUE(affine.ok()) << affine.status();
  EXPECT_TRUE(testing::TensorEq((*affine)[0], x.shape, (*bn)[0].ToVector()));
}

TEST(ChannelAffineTest, Errors) {
  OpTest mismatched = ChannelAffineGraph(13, {1.0f, 2.0f, 3.0f}, {0.0f, 1.0f});
  EXPECT_EQ(mismatched.Build(RegisterBatchNormOps).status().code(), absl::StatusCode::kInvalidArgument);

  OpTest runtime("ChannelAffine", 13, kBnserveDomain);
  runtime.Input().Input().ConstantInput(FloatConstant(Shape{1}, {0.0f}));
  EXPECT_EQ(runtime.Build(RegisterBatchNormOps).status().code(), absl::StatusCode::kUnimplemented);

  auto y = ChannelAffineGraph(13, {1.0f, 2.0f}, {0.0f, 1.0f})
               .BuildAndRun(RegisterBatchNormOps, {RandomTensor(Shape{2, 3, 4}, 1, -3.0f, 3.0f)});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(y.status().message().find("[2,3,4]"), std::string::npos) << y.status();
}

// ---------------------------------------------------------------- runtime contract

TEST(BatchNormTest, NoHeapAllocationOnceOutputsHaveGrown) {
  const BnParams p = RandomParams(3, 1);
  const Tensor x = RandomTensor(Shape{2, 3, 5, 7}, 2, -3.0f, 3.0f);
  OpTest g = BnGraph(15, p, 1e-5f);
  g.Attr(kFusedActivationAttr, StringAttr("Relu"));
  auto op = g.Build(RegisterBatchNormOps);
  ASSERT_TRUE(op.ok()) << op.status();
  std::vector<Tensor> outputs;
  absl::Status status;
  EXPECT_EQ(g.AllocationsOnRerun(**op, {&x}, &outputs, &status), 0);
  EXPECT_TRUE(status.ok()) << status;
}

TEST(BatchNormTest, OneOpRunsConcurrently) {
  // One op shared by several threads, each with its own inputs and outputs
  // (the executor's model); every thread must get the single-thread result.
  const BnParams p = RandomParams(5, 3);
  OpTest g = BnGraph(15, p, 1e-5f);
  auto op = g.Build(RegisterBatchNormOps);
  ASSERT_TRUE(op.ok()) << op.status();
  constexpr int kThreads = 4;
  std::vector<Tensor> inputs;
  std::vector<std::vector<Tensor>> expected(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    inputs.push_back(RandomTensor(Shape{2 + t, 5, 3, 3}, 100 + t, -3.0f, 3.0f));
    ASSERT_TRUE(g.Run(**op, {&inputs[t]}, &expected[t]).ok());
  }
  std::vector<absl::Status> statuses(kThreads);
  std::vector<char> same(kThreads, 1);  // not vector<bool>: threads write neighbours
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Tensor> outputs;
      for (int rep = 0; rep < 50 && statuses[t].ok(); ++rep) {
        statuses[t] = g.Run(**op, {&inputs[t]}, &outputs);
        same[t] = same[t] && outputs[0].data == expected[t][0].data;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(statuses[t].ok()) << statuses[t];
    EXPECT_TRUE(same[t]) << "thread " << t;
  }
}

}  // namespace
}  // namespace bnserve
