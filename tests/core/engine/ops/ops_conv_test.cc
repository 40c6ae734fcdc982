// Conv against a float64 reference (tests/test_util/op_test_util.h ReferenceConv) over
// awkward shapes: odd channel counts, non-square kernels, strides, dilations,
// groups, depthwise, 1x1, auto_pad modes, 1-D, 3-D, fused activations; plus the
// errors a bad model or request must produce.
#include <cmath>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/engine/ops/conv_geometry.h"
#include "core/engine/ops/fused_activation.h"
#include "core/engine/ops/ops.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/op_test_util.h"

namespace bnserve {
namespace {

using ::bnserve::testing::ExpectAllClose;
using ::bnserve::testing::FloatAttr;
using ::bnserve::testing::IntAttr;
using ::bnserve::testing::IntsAttr;
using ::bnserve::testing::OpTest;
using ::bnserve::testing::RandomTensor;
using ::bnserve::testing::ReferenceConv;
using ::bnserve::testing::StringAttr;
using ::testing::HasSubstr;

struct ConvCase {
  std::string name;
  std::vector<int64_t> x_dims;
  std::vector<int64_t> w_dims;
  int64_t group = 1;
  std::vector<int64_t> strides;    // empty: attribute absent (all 1)
  std::vector<int64_t> dilations;  // empty: attribute absent (all 1)
  std::vector<int64_t> pads;       // empty: attribute absent (all 0)
  std::string auto_pad;            // empty: attribute absent (NOTSET)
  bool bias = true;
  std::string activation;  // "", "Relu", "LeakyRelu" or "Clip"
  int64_t opset = 13;

  // Fluent setters keep the case table readable without C++20 designated
  // initializers.
  ConvCase& Group(int64_t v) {
    group = v;
    return *this;
  }
  ConvCase& Strides(std::vector<int64_t> v) {
    strides = std::move(v);
    return *this;
  }
  ConvCase& Dilations(std::vector<int64_t> v) {
    dilations = std::move(v);
    return *this;
  }
  ConvCase& Pads(std::vector<int64_t> v) {
    pads = std::move(v);
    return *this;
  }
  ConvCase& AutoPad(std::string v) {
    auto_pad = std::move(v);
    return *this;
  }
  ConvCase& NoBias() {
    bias = false;
    return *this;
  }
  ConvCase& Activation(std::string v) {
    activation = std::move(v);
    return *this;
  }
  ConvCase& Opset(int64_t v) {
    opset = v;
    return *this;
  }
};

ConvCase Case(std::string name, std::vector<int64_t> x_dims, std::vector<int64_t> w_dims) {
  ConvCase c;
  c.name = std::move(name);
  c.x_dims = std::move(x_dims);
  c.w_dims = std::move(w_dims);
  return c;
}

std::string Describe(const ConvCase& c) {
  return absl::StrCat(c.name, ": X [", absl::StrJoin(c.x_dims, ","), "] W [", absl::StrJoin(c.w_dims, ","), "] group ",
                      c.group, " strides [", absl::StrJoin(c.strides, ","), "] dilations [",
                      absl::StrJoin(c.dilations, ","), "] pads [", absl::StrJoin(c.pads, ","), "] auto_pad '",
                      c.auto_pad, "' activation '", c.activation, "'");
}

// gtest prints the case this way instead of as raw bytes.
void PrintTo(const ConvCase& c, std::ostream* os) { *os << Describe(c); }

// Explicit pads for the reference, derived from the ONNX auto_pad rules.
std::vector<int64_t> ResolvePads(const ConvCase& c) {
  const size_t spatial = c.x_dims.size() - 2;
  std::vector<int64_t> pads(2 * spatial, 0);
  if (c.auto_pad.empty() || c.auto_pad == "NOTSET") return c.pads.empty() ? pads : c.pads;
  if (c.auto_pad == "VALID") return pads;
  for (size_t i = 0; i < spatial; ++i) {
    const int64_t in = c.x_dims[2 + i];
    const int64_t stride = c.strides.empty() ? 1 : c.strides[i];
    const int64_t dilation = c.dilations.empty() ? 1 : c.dilations[i];
    const int64_t extent = dilation * (c.w_dims[2 + i] - 1) + 1;
    const int64_t out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>(0, (out - 1) * stride + extent - in);
    const int64_t small = total / 2, large = total - total / 2;
    pads[i] = c.auto_pad == "SAME_UPPER" ? small : large;
    pads[spatial + i] = c.auto_pad == "SAME_UPPER" ? large : small;
  }
  return pads;
}

double ApplyActivation(const std::string& activation, double v) {
  if (activation == "Relu") return v > 0 ? v : 0;
  if (activation == "LeakyRelu") return v >= 0 ? v : 0.1 * v;
  if (activation == "Clip") return std::min(std::max(v, -0.5), 0.75);
  return v;
}

class ConvReferenceTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvReferenceTest, MatchesFloat64Reference) {
  const ConvCase& c = GetParam();
  const std::string what = Describe(c);
  const Shape x_shape = Shape::FromDims(c.x_dims).value();
  const Shape w_shape = Shape::FromDims(c.w_dims).value();
  const Tensor x = RandomTensor(x_shape, 1);
  const Tensor w = RandomTensor(w_shape, 2);
  const Tensor b = RandomTensor(Shape{w_shape[0]}, 3);

  OpTest test("Conv", c.opset);
  test.Input("x").ConstantInput("w", w);
  if (c.bias) test.ConstantInput("b", b);
  if (c.group != 1) test.Attr("group", IntAttr(c.group));
  if (!c.strides.empty()) test.Attr("strides", IntsAttr(c.strides));
  if (!c.dilations.empty()) test.Attr("dilations", IntsAttr(c.dilations));
  if (!c.pads.empty()) test.Attr("pads", IntsAttr(c.pads));
  if (!c.auto_pad.empty()) test.Attr("auto_pad", StringAttr(c.auto_pad));
  if (!c.activation.empty()) {
    test.Attr(kFusedActivationAttr, StringAttr(c.activation));
    test.Attr(kFusedAlphaAttr, FloatAttr(0.1f));
    test.Attr(kFusedMinAttr, FloatAttr(-0.5f));
    test.Attr(kFusedMaxAttr, FloatAttr(0.75f));
  }
  auto op = test.Build(RegisterConvOps);
  ASSERT_TRUE(op.ok()) << what << ": " << op.status();

  const size_t spatial = c.x_dims.size() - 2;
  Shape y_shape;
  std::vector<double> expected = ReferenceConv(x, w, c.bias ? b.ToVector() : std::vector<float>{},
                                               c.strides.empty() ? std::vector<int64_t>(spatial, 1) : c.strides,
                                               c.dilations.empty() ? std::vector<int64_t>(spatial, 1) : c.dilations,
                                               ResolvePads(c), c.group, &y_shape);
  for (double& v : expected) v = ApplyActivation(c.activation, v);

  // Twice on the same scratch: the second run reuses buffers sized by the first.
  std::vector<float> scratch;
  for (int run = 0; run < 2; ++run) {
    std::vector<Tensor> outputs;
    ASSERT_TRUE(test.Run(**op, {&x}, &outputs, &scratch).ok()) << what;
    ExpectAllClose(outputs[0], y_shape, expected, 1e-4, absl::StrCat(what, " run ", run));
  }
}

std::vector<ConvCase> Cases() {
  std::vector<ConvCase> cases = {
      Case("Basic3x3Pad1", {1, 3, 7, 9}, {5, 3, 3, 3}).Pads({1, 1, 1, 1}),
      Case("NoBiasNoPad", {2, 3, 6, 5}, {4, 3, 3, 3}).NoBias(),
      Case("Stride2", {1, 5, 11, 10}, {7, 5, 3, 3}).Strides({2, 2}).Pads({1, 1, 1, 1}),
      Case("NonSquareDilated", {1, 3, 13, 9}, {4, 3, 3, 2}).Dilations({2, 2}).Pads({2, 1, 1, 0}),
      Case("MixedStrideDilation", {2, 3, 12, 15}, {5, 3, 2, 4}).Strides({1, 3}).Dilations({3, 1}).Pads({0, 2, 1, 3}),
      Case("Groups2", {1, 6, 8, 7}, {4, 3, 3, 3}).Group(2).Strides({2, 1}).Pads({1, 1, 1, 1}),
      Case("Groups3Dilated", {2, 9, 10, 11}, {6, 3, 3, 3}).Group(3).Dilations({2, 2}).AutoPad("SAME_LOWER"),
      Case("Depthwise", {2, 7, 9, 8}, {7, 1, 3, 3}).Group(7).Pads({1, 1, 1, 1}),
      Case("DepthwiseStride2", {1, 5, 11, 12}, {5, 1, 3, 3})
          .Group(5)
          .Strides({2, 2})
          .Pads({1, 1, 1, 1})
          .Activation("Relu"),
      Case("DepthwiseMultiplier2Dilated", {1, 3, 12, 10}, {6, 1, 5, 5}).Group(3).Dilations({2, 2}).Pads({4, 4, 3, 2}),
      Case("DepthwiseNoPadNoBias", {1, 4, 6, 6}, {4, 1, 2, 3}).Group(4).NoBias(),
      Case("Pointwise", {2, 13, 6, 5}, {9, 13, 1, 1}).Activation("Relu"),
      Case("PointwiseGroups", {1, 6, 5, 7}, {9, 2, 1, 1}).Group(3),
      Case("PointwiseStride2", {1, 8, 9, 9}, {5, 8, 1, 1}).Strides({2, 2}),
      Case("PointwisePadded", {1, 3, 4, 5}, {2, 3, 1, 1}).Pads({1, 0, 0, 2}),
      Case("SameUpperEvenKernel", {1, 3, 9, 10}, {4, 3, 4, 3}).Strides({2, 2}).AutoPad("SAME_UPPER"),
      Case("SameLowerEvenKernel", {1, 3, 9, 10}, {4, 3, 4, 3}).Strides({2, 2}).AutoPad("SAME_LOWER"),
      Case("Valid", {1, 3, 10, 7}, {5, 3, 3, 3}).Strides({2, 2}).AutoPad("VALID"),
      Case("KernelLargerThanInput", {1, 2, 3, 3}, {3, 2, 5, 5}).Pads({2, 2, 2, 2}),
      Case("ManyChunks", {2, 32, 32, 32}, {33, 32, 3, 3}).Pads({1, 1, 1, 1}).Activation("Relu"),
      Case("WideInputChunkOfOneRow", {1, 64, 3, 130}, {3, 64, 3, 3}).Pads({1, 1, 1, 1}),
      Case("LeakyRelu", {1, 3, 5, 5}, {5, 3, 3, 3}).Pads({1, 1, 1, 1}).Activation("LeakyRelu"),
      Case("Clip", {1, 3, 5, 5}, {5, 3, 3, 3}).Activation("Clip"),
      Case("Conv1D", {2, 5, 17}, {4, 5, 3}).Strides({2}).Dilations({2}).Pads({1, 1}),
      Case("Conv1DDepthwise", {1, 4, 16}, {4, 1, 5}).Group(4).Pads({2, 2}),
      Case("Conv1DSameUpper", {1, 3, 10}, {2, 3, 4}).Strides({3}).AutoPad("SAME_UPPER"),
      Case("Conv1DPointwise", {1, 7, 9}, {3, 7, 1}).Activation("Relu"),
      Case("Conv1DLongKernel", {1, 3, 40}, {2, 3, 19}).Strides({2}).Pads({9, 9}),
      Case("Small7x7ManyChannels", {1, 16, 7, 7}, {20, 16, 3, 3}).Pads({1, 1, 1, 1}),
      Case("Opset1", {1, 3, 6, 6}, {2, 3, 3, 3}).Pads({1, 1, 1, 1}).Opset(1),
      Case("Opset11", {1, 3, 6, 6}, {2, 3, 3, 3}).Pads({1, 1, 1, 1}).Opset(11),
      // 3-D: the video networks' forms (r3d_18 stem and blocks, mc3_18's
      // 1x3x3, r2plus1d_18's (1,k,k) then (k,1,1) pair) and the edges.
      Case("Conv3DStem", {1, 3, 4, 20, 18}, {8, 3, 3, 7, 7})
          .Strides({1, 2, 2})
          .Pads({1, 3, 3, 1, 3, 3})
          .Activation("Relu"),
      Case("Conv3D3x3x3", {2, 9, 4, 9, 10}, {10, 9, 3, 3, 3}).Pads({1, 1, 1, 1, 1, 1}),
      Case("Conv3DStride2", {1, 8, 5, 9, 8}, {6, 8, 3, 3, 3}).Strides({2, 2, 2}).Pads({1, 1, 1, 1, 1, 1}),
      Case("Conv3DPointwiseStride2", {1, 8, 4, 7, 8}, {5, 8, 1, 1, 1}).Strides({2, 2, 2}).NoBias(),
      Case("Conv3DPointwise", {2, 6, 3, 5, 4}, {7, 6, 1, 1, 1}).Activation("Relu"),
      Case("Conv3DSpatialOnly", {1, 5, 3, 8, 8}, {6, 5, 1, 3, 3}).Pads({0, 1, 1, 0, 1, 1}),
      Case("Conv3DTemporalOnly", {1, 6, 5, 4, 6}, {4, 6, 3, 1, 1}).Strides({2, 1, 1}).Pads({1, 0, 0, 1, 0, 0}),
      Case("Conv3DDilatedAsymmetric", {1, 3, 7, 8, 9}, {4, 3, 2, 3, 2})
          .Strides({1, 2, 3})
          .Dilations({3, 1, 2})
          .Pads({2, 0, 1, 0, 2, 1}),
      Case("Conv3DGroups", {1, 6, 4, 6, 5}, {4, 3, 3, 3, 3}).Group(2).Pads({1, 1, 1, 1, 1, 1}),
      Case("Conv3DDepthwise", {1, 4, 4, 6, 5}, {8, 1, 3, 3, 3}).Group(4).Pads({1, 1, 1, 1, 1, 1}).NoBias(),
      Case("Conv3DSameUpper", {1, 3, 5, 7, 6}, {4, 3, 2, 3, 4}).Strides({2, 2, 1}).AutoPad("SAME_UPPER"),
      Case("Conv3DSameLowerLeaky", {1, 3, 5, 7, 6}, {4, 3, 2, 3, 4}).AutoPad("SAME_LOWER").Activation("LeakyRelu"),
      Case("Conv3DValidClip", {2, 3, 5, 6, 7}, {4, 3, 3, 2, 3}).AutoPad("VALID").Activation("Clip"),
      Case("Conv3DWideRows", {1, 16, 2, 4, 70}, {9, 16, 3, 3, 3}).Pads({1, 1, 1, 1, 1, 1}),
  };
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Conv, ConvReferenceTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<ConvCase>& info) { return info.param.name; });

TEST(ConvTest, KernelShapeAttributeMatchingWIsAccepted) {
  const Tensor w = RandomTensor(Shape{2, 3, 3, 3}, 2);
  OpTest test("Conv");
  test.Input("x").ConstantInput("w", w).Attr("kernel_shape", IntsAttr({3, 3}));
  EXPECT_TRUE(test.Build(RegisterConvOps).ok());
}

TEST(ConvTest, ConcurrentRunsOnOneOpAgree) {
  const Tensor w = RandomTensor(Shape{16, 8, 3, 3}, 2);
  const Tensor x = RandomTensor(Shape{1, 8, 20, 20}, 1);
  OpTest test("Conv");
  test.Input("x").ConstantInput("w", w).Attr("pads", IntsAttr({1, 1, 1, 1}));
  auto op = test.Build(RegisterConvOps);
  ASSERT_TRUE(op.ok()) << op.status();
  std::vector<Tensor> reference;
  ASSERT_TRUE(test.Run(**op, {&x}, &reference).ok());
  std::vector<std::vector<Tensor>> results(4);
  std::vector<std::thread> threads;
  for (auto& result : results) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) ASSERT_TRUE(test.Run(**op, {&x}, &result).ok());
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& result : results) EXPECT_EQ(result[0].data, reference[0].data);
}

// --- Errors -----------------------------------------------------------------

TEST(ConvErrorTest, WrongChannelCountNamesNodeAndShapes) {
  OpTest test("Conv");
  test.Name("conv1").Input("x").ConstantInput("w", RandomTensor(Shape{8, 3, 3, 3}, 2));
  auto op = test.Build(RegisterConvOps);
  ASSERT_TRUE(op.ok());
  const Tensor x = RandomTensor(Shape{1, 4, 32, 32}, 1);
  std::vector<Tensor> outputs;
  const absl::Status s = test.Run(**op, {&x}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "Conv node 'conv1' (opset 13): input X expected [N,3,H,W] with 3 channels, got [1,4,32,32]");
}

TEST(ConvErrorTest, WrongRank) {
  OpTest test("Conv");
  test.Input("x").ConstantInput("w", RandomTensor(Shape{8, 3, 3, 3}, 2));
  auto op = test.Build(RegisterConvOps);
  ASSERT_TRUE(op.ok());
  const Tensor x = RandomTensor(Shape{3, 32, 32}, 1);
  std::vector<Tensor> outputs;
  const absl::Status s = test.Run(**op, {&x}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("got [3,32,32]"));
}

TEST(ConvErrorTest, InputSmallerThanKernel) {
  OpTest test("Conv");
  test.Input("x").ConstantInput("w", RandomTensor(Shape{2, 3, 5, 5}, 2));
  auto op = test.Build(RegisterConvOps);
  ASSERT_TRUE(op.ok());
  const Tensor x = RandomTensor(Shape{1, 3, 4, 8}, 1);
  std::vector<Tensor> outputs;
  const absl::Status s = test.Run(**op, {&x}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("[1,3,4,8]"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("expected >= 5"));
}

TEST(ConvErrorTest, RuntimeWeightsAreUnimplemented) {
  OpTest test("Conv");
  test.Input("x").Input("w");
  const absl::Status s = test.Build(RegisterConvOps).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(s.message()), HasSubstr("input W"));
}

TEST(ConvErrorTest, RuntimeBiasIsUnimplemented) {
  OpTest test("Conv");
  test.Input("x").ConstantInput("w", RandomTensor(Shape{2, 3, 3, 3}, 2)).Input("b");
  EXPECT_EQ(test.Build(RegisterConvOps).status().code(), absl::StatusCode::kUnimplemented);
}

TEST(ConvErrorTest, Conv4DIsUnimplemented) {
  OpTest test("Conv");
  test.Input("x").ConstantInput("w", RandomTensor(Shape{2, 3, 3, 3, 3, 3}, 2));
  const absl::Status s = test.Build(RegisterConvOps).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(s.message()), HasSubstr("4 spatial dimensions"));
}

TEST(ConvErrorTest, Conv3DWrongRankNamesTheLayout) {
  OpTest test("Conv");
  test.Name("c3").Input("x").ConstantInput("w", RandomTensor(Shape{2, 3, 3, 3, 3}, 2));
  auto op = test.Build(RegisterConvOps);
  ASSERT_TRUE(op.ok()) << op.status();
  const Tensor x = RandomTensor(Shape{1, 3, 8, 8}, 1);
  std::vector<Tensor> outputs;
  const absl::Status s = test.Run(**op, {&x}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "Conv node 'c3' (opset 13): input X expected [N,3,D,H,W] with 3 channels, got [1,3,8,8]");
}

TEST(ConvErrorTest, Conv3DDepthSmallerThanKernel) {
  OpTest test("Conv");
  test.Input("x").ConstantInput("w", RandomTensor(Shape{2, 3, 3, 1, 1}, 2));
  auto op = test.Build(RegisterConvOps);
  ASSERT_TRUE(op.ok()) << op.status();
  const Tensor x = RandomTensor(Shape{1, 3, 2, 4, 4}, 1);
  std::vector<Tensor> outputs;
  const absl::Status s = test.Run(**op, {&x}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("spatial dimension 0 expected >= 3"));
}

TEST(ConvErrorTest, BadAttributes) {
  struct Bad {
    std::string key;
    Attribute value;
    std::string fragment;
  };
  const std::vector<Bad> bad = {
      {"auto_pad", StringAttr("SAME"), "auto_pad"},
      {"strides", IntsAttr({1}), "strides"},
      {"strides", IntsAttr({0, 1}), "strides"},
      {"dilations", IntsAttr({1, -1}), "dilations"},
      {"pads", IntsAttr({1, 1}), "pads"},
      {"pads", IntsAttr({1, -1, 1, 1}), "pads"},
      {"group", IntAttr(2), "group"},  // 5 output channels do not split in 2 groups
      {"kernel_shape", IntsAttr({3, 2}), "kernel_shape"},
  };
  for (const Bad& b : bad) {
    OpTest test("Conv");
    test.Name("c").Input("x").ConstantInput("w", RandomTensor(Shape{5, 3, 3, 3}, 2)).Attr(b.key, b.value);
    const absl::Status s = test.Build(RegisterConvOps).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << b.key;
    EXPECT_THAT(std::string(s.message()), HasSubstr("Conv node 'c'")) << b.key;
    EXPECT_THAT(std::string(s.message()), HasSubstr(b.fragment)) << b.key;
  }
}

TEST(ConvErrorTest, PadsTogetherWithAutoPadAreRejected) {
  OpTest test("Conv");
  test.Input("x")
      .ConstantInput("w", RandomTensor(Shape{2, 3, 3, 3}, 2))
      .Attr("auto_pad", StringAttr("SAME_UPPER"))
      .Attr("pads", IntsAttr({1, 1, 1, 1}));
  EXPECT_EQ(test.Build(RegisterConvOps).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConvErrorTest, BiasOfWrongSize) {
  OpTest test("Conv");
  test.Input("x").ConstantInput("w", RandomTensor(Shape{2, 3, 3, 3}, 2)).ConstantInput("b", RandomTensor(Shape{3}, 3));
  const absl::Status s = test.Build(RegisterConvOps).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("input B expected [2], got [3]"));
}

TEST(ConvErrorTest, OpsetOutOfRangeIsUnimplemented) {
  OpTest test("Conv", 23);
  test.Input("x").ConstantInput("w", RandomTensor(Shape{2, 3, 3, 3}, 2));
  EXPECT_EQ(test.Build(RegisterConvOps).status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace bnserve
