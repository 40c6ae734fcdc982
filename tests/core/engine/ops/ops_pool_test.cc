// MaxPool, AveragePool and GlobalAveragePool against float64 loops written
// here, over strides, dilations, asymmetric pads, auto_pad, ceil_mode
// (including the dropped last window), count_include_pad and 1-D windows;
// plus attribute/opset and shape errors.
#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/engine/ops/ops.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/op_test_util.h"

namespace bnserve {
namespace {

using ::bnserve::testing::ExpectAllClose;
using ::bnserve::testing::IntAttr;
using ::bnserve::testing::IntsAttr;
using ::bnserve::testing::OpTest;
using ::bnserve::testing::RandomTensor;
using ::bnserve::testing::StringAttr;
using ::testing::HasSubstr;

struct PoolCase {
  std::string name;
  std::string op;  // "MaxPool" or "AveragePool"
  std::vector<int64_t> x_dims;
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides, dilations, pads;  // empty: attribute absent
  std::string auto_pad;
  bool ceil_mode = false;
  bool count_include_pad = false;
  int64_t opset = 13;

  PoolCase& Strides(std::vector<int64_t> v) {
    strides = std::move(v);
    return *this;
  }
  PoolCase& Dilations(std::vector<int64_t> v) {
    dilations = std::move(v);
    return *this;
  }
  PoolCase& Pads(std::vector<int64_t> v) {
    pads = std::move(v);
    return *this;
  }
  PoolCase& AutoPad(std::string v) {
    auto_pad = std::move(v);
    return *this;
  }
  PoolCase& Ceil() {
    ceil_mode = true;
    return *this;
  }
  PoolCase& IncludePad() {
    count_include_pad = true;
    return *this;
  }
  PoolCase& Opset(int64_t v) {
    opset = v;
    return *this;
  }
};

PoolCase Case(std::string name, std::string op, std::vector<int64_t> x_dims, std::vector<int64_t> kernel) {
  PoolCase c;
  c.name = std::move(name);
  c.op = std::move(op);
  c.x_dims = std::move(x_dims);
  c.kernel = std::move(kernel);
  return c;
}

std::string Describe(const PoolCase& c) {
  return absl::StrCat(c.name, ": ", c.op, " X [", absl::StrJoin(c.x_dims, ","), "] kernel [",
                      absl::StrJoin(c.kernel, ","), "] strides [", absl::StrJoin(c.strides, ","), "] dilations [",
                      absl::StrJoin(c.dilations, ","), "] pads [", absl::StrJoin(c.pads, ","), "] auto_pad '",
                      c.auto_pad, "' ceil ", c.ceil_mode, " include_pad ", c.count_include_pad);
}

void PrintTo(const PoolCase& c, std::ostream* os) { *os << Describe(c); }

// Per spatial axis: output size and the begin/end padding actually used,
// derived from the ONNX rules independently of the op's code.
struct Axis {
  int64_t in, kernel, stride, dilation, pad_begin, pad_end, out;
};

std::vector<Axis> ResolveAxes(const PoolCase& c) {
  const size_t spatial = c.kernel.size();
  std::vector<Axis> axes(spatial);
  for (size_t i = 0; i < spatial; ++i) {
    Axis& a = axes[i];
    a.in = c.x_dims[2 + i];
    a.kernel = c.kernel[i];
    a.stride = c.strides.empty() ? 1 : c.strides[i];
    a.dilation = c.dilations.empty() ? 1 : c.dilations[i];
    const int64_t extent = a.dilation * (a.kernel - 1) + 1;
    if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
      a.out = static_cast<int64_t>(std::ceil(static_cast<double>(a.in) / a.stride));
      const int64_t total = std::max<int64_t>(0, (a.out - 1) * a.stride + extent - a.in);
      a.pad_begin = c.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      a.pad_end = total - a.pad_begin;
      continue;
    }
    a.pad_begin = c.pads.empty() || c.auto_pad == "VALID" ? 0 : c.pads[i];
    a.pad_end = c.pads.empty() || c.auto_pad == "VALID" ? 0 : c.pads[spatial + i];
    const double span = static_cast<double>(a.in + a.pad_begin + a.pad_end - extent) / a.stride;
    if (c.ceil_mode && c.auto_pad != "VALID") {
      a.out = static_cast<int64_t>(std::ceil(span)) + 1;
      // The last window may not start in the end padding.
      if ((a.out - 1) * a.stride >= a.in + a.pad_begin) --a.out;
    } else {
      a.out = static_cast<int64_t>(std::floor(span)) + 1;
    }
  }
  return axes;
}

std::vector<double> ReferencePool(const PoolCase& c, const Tensor& x, Shape* y_shape) {
  std::vector<Axis> axes = ResolveAxes(c);
  std::vector<int64_t> dims = {c.x_dims[0], c.x_dims[1]};
  for (const Axis& a : axes) dims.push_back(a.out);
  *y_shape = Shape::FromDims(dims).value();
  // 1-D and 2-D as 3-D [D, H, W] with dummy leading axes.
  while (axes.size() < 3) axes.insert(axes.begin(), Axis{1, 1, 1, 1, 0, 0, 1});
  const Axis& d = axes[0];
  const Axis& h = axes[1];
  const Axis& w = axes[2];
  const int64_t planes = c.x_dims[0] * c.x_dims[1];
  std::vector<double> y;
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t od = 0; od < d.out; ++od) {
      for (int64_t oh = 0; oh < h.out; ++oh) {
        for (int64_t ow = 0; ow < w.out; ++ow) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          int64_t inside = 0, inside_padded = 0;
          for (int64_t k = 0; k < d.kernel; ++k) {
            for (int64_t i = 0; i < h.kernel; ++i) {
              for (int64_t j = 0; j < w.kernel; ++j) {
                const int64_t id = od * d.stride - d.pad_begin + k * d.dilation;
                const int64_t ih = oh * h.stride - h.pad_begin + i * h.dilation;
                const int64_t iw = ow * w.stride - w.pad_begin + j * w.dilation;
                if (id >= -d.pad_begin && id < d.in + d.pad_end && ih >= -h.pad_begin && ih < h.in + h.pad_end &&
                    iw >= -w.pad_begin && iw < w.in + w.pad_end) {
                  ++inside_padded;
                }
                if (id < 0 || id >= d.in || ih < 0 || ih >= h.in || iw < 0 || iw >= w.in) continue;
                const double v = x.data[((p * d.in + id) * h.in + ih) * w.in + iw];
                best = std::max(best, v);
                sum += v;
                ++inside;
              }
            }
          }
          if (c.op == "MaxPool") {
            y.push_back(best);
          } else {
            y.push_back(sum / static_cast<double>(c.count_include_pad ? inside_padded : inside));
          }
        }
      }
    }
  }
  return y;
}

class PoolReferenceTest : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolReferenceTest, MatchesFloat64Reference) {
  const PoolCase& c = GetParam();
  const std::string what = Describe(c);
  const Tensor x = RandomTensor(Shape::FromDims(c.x_dims).value(), 5);
  OpTest test(c.op, c.opset);
  test.Input("x").Attr("kernel_shape", IntsAttr(c.kernel));
  if (!c.strides.empty()) test.Attr("strides", IntsAttr(c.strides));
  if (!c.dilations.empty()) test.Attr("dilations", IntsAttr(c.dilations));
  if (!c.pads.empty()) test.Attr("pads", IntsAttr(c.pads));
  if (!c.auto_pad.empty()) test.Attr("auto_pad", StringAttr(c.auto_pad));
  if (c.ceil_mode) test.Attr("ceil_mode", IntAttr(1));
  if (c.count_include_pad) test.Attr("count_include_pad", IntAttr(1));
  auto op = test.Build(RegisterPoolOps);
  ASSERT_TRUE(op.ok()) << what << ": " << op.status();
  Shape y_shape;
  const std::vector<double> expected = ReferencePool(c, x, &y_shape);
  std::vector<Tensor> outputs;
  ASSERT_TRUE(test.Run(**op, {&x}, &outputs).ok()) << what;
  ExpectAllClose(outputs[0], y_shape, expected, 1e-5, what);
}

std::vector<PoolCase> PoolCases() {
  const std::string kMax = "MaxPool", kAvg = "AveragePool";
  return {
      Case("Max2x2Stride2", kMax, {1, 3, 8, 8}, {2, 2}).Strides({2, 2}),
      Case("Max2x2Stride2OddInput", kMax, {2, 3, 9, 11}, {2, 2}).Strides({2, 2}),
      Case("Max3x3Stride1Wide", kMax, {1, 2, 5, 40}, {3, 3}).Pads({1, 1, 1, 1}),
      Case("Max3x3Stride2Wide", kMax, {2, 2, 12, 37}, {3, 3}).Strides({2, 2}).Pads({1, 1, 1, 1}),
      Case("Max3x3Stride2Pad1", kMax, {2, 5, 9, 7}, {3, 3}).Strides({2, 2}).Pads({1, 1, 1, 1}),
      Case("MaxCeilMode", kMax, {1, 3, 7, 7}, {2, 2}).Strides({2, 2}).Ceil(),
      Case("MaxCeilModeDropsLastWindow", kMax, {1, 2, 5, 5}, {2, 2}).Strides({2, 2}).Pads({1, 1, 1, 1}).Ceil(),
      Case("MaxDilated", kMax, {1, 2, 11, 10}, {3, 3}).Dilations({2, 2}).Pads({2, 1, 1, 2}),
      Case("MaxNonSquare", kMax, {1, 3, 9, 10}, {3, 2}).Strides({1, 2}),
      Case("MaxSameUpper", kMax, {1, 3, 9, 10}, {4, 3}).Strides({2, 2}).AutoPad("SAME_UPPER"),
      Case("MaxSameLower", kMax, {1, 3, 9, 10}, {4, 3}).Strides({2, 2}).AutoPad("SAME_LOWER"),
      Case("MaxValid", kMax, {1, 3, 10, 7}, {3, 3}).Strides({2, 2}).AutoPad("VALID"),
      Case("MaxValidCeilModeIgnored", kMax, {1, 1, 5, 5}, {2, 2}).Strides({2, 2}).AutoPad("VALID").Ceil(),
      Case("Max1D", kMax, {2, 3, 13}, {3}).Strides({2}).Pads({1, 1}),
      Case("Max1DCeilDilated", kMax, {1, 2, 12}, {2}).Strides({3}).Dilations({2}).Ceil(),
      Case("MaxOpset8", kMax, {1, 2, 6, 6}, {2, 2}).Strides({2, 2}).Opset(8),
      Case("Avg3x3Pad1", kAvg, {1, 3, 7, 6}, {3, 3}).Pads({1, 1, 1, 1}),
      Case("Avg3x3Pad1IncludePad", kAvg, {1, 3, 7, 6}, {3, 3}).Pads({1, 1, 1, 1}).IncludePad(),
      Case("AvgCeilIncludePad", kAvg, {1, 2, 6, 6}, {3, 3}).Strides({2, 2}).Pads({1, 1, 1, 1}).Ceil().IncludePad(),
      Case("AvgCeilExcludePad", kAvg, {1, 2, 6, 6}, {3, 3}).Strides({2, 2}).Pads({1, 1, 1, 1}).Ceil(),
      Case("AvgAsymmetricPads", kAvg, {2, 3, 8, 9}, {2, 3}).Strides({2, 1}).Pads({0, 2, 1, 1}).IncludePad(),
      Case("AvgSameLowerIncludePad", kAvg, {1, 3, 7, 8}, {3, 4}).Strides({2, 3}).AutoPad("SAME_LOWER").IncludePad(),
      Case("AvgSameUpper", kAvg, {1, 3, 7, 8}, {3, 4}).Strides({2, 3}).AutoPad("SAME_UPPER"),
      Case("Avg1D", kAvg, {2, 3, 11}, {4}).Strides({3}).Pads({2, 1}).IncludePad(),
      Case("AvgDilatedOpset19", kAvg, {1, 2, 10, 9}, {2, 3}).Dilations({3, 2}).Pads({1, 1, 1, 1}).Opset(19),
      Case("AvgOpset7", kAvg, {1, 2, 6, 6}, {2, 2}).Strides({2, 2}).Opset(7),
      Case("Max3D", kMax, {2, 3, 5, 7, 6}, {3, 3, 3}).Strides({2, 2, 2}).Pads({1, 1, 1, 1, 1, 1}),
      Case("Max3DTemporal2x2x2", kMax, {1, 2, 4, 8, 8}, {2, 2, 2}).Strides({2, 2, 2}),
      Case("Max3DSpatialOnly", kMax, {1, 3, 3, 9, 9}, {1, 3, 3}).Strides({1, 2, 2}).Pads({0, 1, 1, 0, 1, 1}),
      Case("Max3DCeilDilated", kMax, {1, 2, 7, 6, 8}, {2, 2, 3}).Strides({2, 1, 2}).Dilations({2, 1, 1}).Ceil(),
      Case("Max3DSameUpper", kMax, {1, 2, 5, 6, 7}, {2, 3, 2}).Strides({2, 2, 3}).AutoPad("SAME_UPPER"),
      Case("Avg3D", kAvg, {2, 3, 5, 6, 7}, {3, 3, 3}).Strides({2, 2, 2}).Pads({1, 1, 1, 1, 1, 1}),
      Case("Avg3DIncludePad", kAvg, {1, 3, 4, 6, 5}, {3, 2, 3})
          .Strides({1, 2, 1})
          .Pads({1, 0, 1, 1, 1, 1})
          .IncludePad(),
      Case("Avg3DCeilIncludePad", kAvg, {1, 2, 5, 6, 6}, {2, 3, 3})
          .Strides({2, 2, 2})
          .Pads({1, 1, 1, 0, 1, 1})
          .Ceil()
          .IncludePad(),
      Case("Avg3DSameLower", kAvg, {1, 2, 5, 7, 6}, {2, 3, 4}).Strides({2, 2, 3}).AutoPad("SAME_LOWER"),
      Case("Avg3DDilatedOpset19", kAvg, {1, 2, 7, 6, 6}, {2, 2, 2})
          .Dilations({3, 2, 1})
          .Pads({1, 1, 1, 1, 1, 1})
          .Opset(19),
  };
}

INSTANTIATE_TEST_SUITE_P(Pool, PoolReferenceTest, ::testing::ValuesIn(PoolCases()),
                         [](const ::testing::TestParamInfo<PoolCase>& info) { return info.param.name; });

TEST(GlobalAveragePoolTest, MatchesFloat64MeanForRanks3To5) {
  for (const Shape& shape : {Shape{2, 3, 5, 7}, Shape{1, 4, 9}, Shape{1, 2, 3, 4, 5}, Shape{3, 1, 1, 1}}) {
    const Tensor x = RandomTensor(shape, 9);
    OpTest test("GlobalAveragePool");
    test.Input("x");
    auto op = test.Build(RegisterPoolOps);
    ASSERT_TRUE(op.ok());
    const int64_t planes = shape[0] * shape[1], spatial = shape.NumElements() / planes;
    std::vector<double> expected;
    for (int64_t p = 0; p < planes; ++p) {
      double sum = 0;
      for (int64_t i = 0; i < spatial; ++i) sum += x.data[p * spatial + i];
      expected.push_back(sum / spatial);
    }
    Shape y_shape = shape;
    for (int i = 2; i < shape.rank(); ++i) y_shape[i] = 1;
    std::vector<Tensor> outputs;
    ASSERT_TRUE(test.Run(**op, {&x}, &outputs).ok()) << shape.ToString();
    ExpectAllClose(outputs[0], y_shape, expected, 1e-6, absl::StrCat("GlobalAveragePool X ", shape.ToString()));
  }
}

// --- Errors -----------------------------------------------------------------

absl::Status BuildStatus(OpTest& test) { return test.Build(RegisterPoolOps).status(); }

TEST(PoolErrorTest, IndicesOutputIsUnimplemented) {
  OpTest test("MaxPool");
  test.Name("pool1").Input("x").Outputs({"y", "indices"}).Attr("kernel_shape", IntsAttr({2, 2}));
  const absl::Status s = BuildStatus(test);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(s.message()), HasSubstr("MaxPool node 'pool1' (opset 13): output Indices"));
}

TEST(PoolErrorTest, MissingInput) {
  for (const char* op_type : {"MaxPool", "AveragePool", "GlobalAveragePool"}) {
    OpTest test(op_type);
    test.Attr("kernel_shape", IntsAttr({2, 2}));
    const absl::Status s = BuildStatus(test);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << op_type;
    EXPECT_THAT(std::string(s.message()), HasSubstr("input X (#0) expected")) << op_type;
  }
}

TEST(PoolErrorTest, MissingKernelShape) {
  OpTest test("AveragePool");
  test.Input("x");
  EXPECT_EQ(BuildStatus(test).code(), absl::StatusCode::kInvalidArgument);
}

TEST(PoolErrorTest, AttributesBeforeTheirOpset) {
  {
    OpTest test("MaxPool", 9);
    test.Input("x").Attr("kernel_shape", IntsAttr({2, 2})).Attr("ceil_mode", IntAttr(1));
    const absl::Status s = BuildStatus(test);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr("ceil_mode expected only from opset 10, got opset 9"));
  }
  {
    OpTest test("AveragePool", 13);
    test.Input("x").Attr("kernel_shape", IntsAttr({2, 2})).Attr("dilations", IntsAttr({2, 2}));
    EXPECT_EQ(BuildStatus(test).code(), absl::StatusCode::kInvalidArgument);
  }
  {
    OpTest test("AveragePool", 6);
    test.Input("x").Attr("kernel_shape", IntsAttr({2, 2})).Attr("count_include_pad", IntAttr(1));
    EXPECT_EQ(BuildStatus(test).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(PoolErrorTest, UnsupportedOrBadAttributes) {
  {
    OpTest test("MaxPool");
    test.Input("x").Attr("kernel_shape", IntsAttr({2, 2, 2, 2}));
    EXPECT_EQ(BuildStatus(test).code(), absl::StatusCode::kUnimplemented);
  }
  {
    OpTest test("AveragePool");
    test.Input("x").Attr("kernel_shape", IntsAttr({2, 2, 2})).Attr("pads", IntsAttr({0, 0, 0, 2, 0, 0}));
    const absl::Status s = BuildStatus(test);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr("pads [0,0,0,2,0,0] expected smaller"));
  }
  {
    OpTest test("MaxPool");
    test.Input("x").Attr("kernel_shape", IntsAttr({2, 2})).Attr("pads", IntsAttr({2, 0, 0, 0}));
    const absl::Status s = BuildStatus(test);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr("pads [2,0,0,0] expected smaller"));
  }
  {
    OpTest test("AveragePool");
    test.Input("x").Attr("kernel_shape", IntsAttr({2, 2})).Attr("count_include_pad", IntAttr(2));
    EXPECT_EQ(BuildStatus(test).code(), absl::StatusCode::kInvalidArgument);
  }
  {
    OpTest test("MaxPool");
    test.Input("x").Attr("kernel_shape", IntsAttr({2, 2})).Attr("ceil_mode", IntAttr(3));
    EXPECT_EQ(BuildStatus(test).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(PoolErrorTest, WrongRankAndTooSmallInput) {
  OpTest test("MaxPool");
  test.Name("pool1").Input("x").Attr("kernel_shape", IntsAttr({3, 3}));
  auto op = test.Build(RegisterPoolOps);
  ASSERT_TRUE(op.ok());
  std::vector<Tensor> outputs;
  const Tensor rank3 = RandomTensor(Shape{1, 3, 8}, 1);
  absl::Status s = test.Run(**op, {&rank3}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "MaxPool node 'pool1' (opset 13): input X expected rank 4 [N,C,H,W], got [1,3,8]");
  const Tensor small = RandomTensor(Shape{1, 3, 2, 8}, 1);
  s = test.Run(**op, {&small}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("[1,3,2,8]"));
}

TEST(PoolErrorTest, GlobalAveragePoolNeedsSpatialDims) {
  OpTest test("GlobalAveragePool");
  test.Input("x");
  auto op = test.Build(RegisterPoolOps);
  ASSERT_TRUE(op.ok());
  std::vector<Tensor> outputs;
  for (const Shape& shape : {Shape{2, 3}, Shape{1, 2, 0}}) {
    const Tensor x = RandomTensor(shape, 1);
    const absl::Status s = test.Run(**op, {&x}, &outputs);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << shape.ToString();
    EXPECT_THAT(std::string(s.message()), HasSubstr(shape.ToString()));
  }
}

}  // namespace
}  // namespace bnserve
