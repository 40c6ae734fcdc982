// Resize and Upsample against two independent references: a float64 loop
// written from the ONNX spec's formulas (every coordinate and nearest mode,
// each output element interpolated over all axes at once rather than axis by
// axis as the op does), and PyTorch's F.interpolate run by /usr/bin/python3
// for the modes PyTorch has (bilinear, trilinear, align_corners, nearest,
// nearest-exact). Plus the attributes and inputs that must be refused.
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/engine/ops/ops.h"
#include "core/util/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/op_test_util.h"
#include "tests/test_util/subprocess_util.h"

namespace bnserve {
namespace {

using ::bnserve::testing::ExpectAllClose;
using ::bnserve::testing::FloatConstant;
using ::bnserve::testing::IntConstant;
using ::bnserve::testing::IntsAttr;
using ::bnserve::testing::OpTest;
using ::bnserve::testing::RandomTensor;
using ::bnserve::testing::StringAttr;
using ::testing::HasSubstr;

struct ResizeCase {
  std::string name;
  std::vector<int64_t> x_dims;
  std::string mode = "nearest";
  std::string coordinates = "half_pixel";  // empty: attribute absent
  std::string nearest = "round_prefer_floor";
  std::vector<float> scales;  // one of scales and sizes
  std::vector<int64_t> sizes;
  int64_t opset = 13;

  ResizeCase& Mode(std::string v) {
    mode = std::move(v);
    return *this;
  }
  ResizeCase& Coordinates(std::string v) {
    coordinates = std::move(v);
    return *this;
  }
  ResizeCase& Nearest(std::string v) {
    nearest = std::move(v);
    return *this;
  }
  ResizeCase& Scales(std::vector<float> v) {
    scales = std::move(v);
    return *this;
  }
  ResizeCase& Sizes(std::vector<int64_t> v) {
    sizes = std::move(v);
    return *this;
  }
  ResizeCase& Opset(int64_t v) {
    opset = v;
    return *this;
  }
};

ResizeCase Case(std::string name, std::vector<int64_t> x_dims) {
  ResizeCase c;
  c.name = std::move(name);
  c.x_dims = std::move(x_dims);
  return c;
}

std::string Describe(const ResizeCase& c) {
  return absl::StrCat(c.name, ": X [", absl::StrJoin(c.x_dims, ","), "] mode ", c.mode, " coordinates '", c.coordinates,
                      "' nearest ", c.nearest, " scales [", absl::StrJoin(c.scales, ","), "] sizes [",
                      absl::StrJoin(c.sizes, ","), "] opset ", c.opset);
}

void PrintTo(const ResizeCase& c, std::ostream* os) { *os << Describe(c); }

// The spec, axis by axis: output size, and the source coordinate of output
// index j (Resize's coordinate_transformation_mode; Resize-10 and Upsample
// are asymmetric).
struct RefAxis {
  int64_t in = 1, out = 1;
  double scale = 1.0;
};

double RefSource(const std::string& mode, const RefAxis& a, int64_t j) {
  const double x = static_cast<double>(j), in = static_cast<double>(a.in), out = static_cast<double>(a.out);
  if (mode == "half_pixel") return (x + 0.5) / a.scale - 0.5;
  if (mode == "pytorch_half_pixel") return a.out > 1 ? (x + 0.5) / a.scale - 0.5 : 0.0;
  if (mode == "align_corners") return a.out == 1 ? 0.0 : x * (in - 1) / (out - 1);
  if (mode == "tf_half_pixel_for_nearest") return (x + 0.5) / a.scale;
  if (mode == "half_pixel_symmetric") {
    const double adjustment = out / (a.scale * in);
    return in / 2 * (1 - adjustment) + (x + 0.5) / a.scale - 0.5;
  }
  return x / a.scale;  // asymmetric
}

int64_t RefNearest(const std::string& mode, double x, bool shrinking) {
  const double f = std::floor(x), frac = x - f;
  int64_t i;
  if (mode == "floor") {
    i = static_cast<int64_t>(f);
  } else if (mode == "ceil") {
    i = static_cast<int64_t>(std::ceil(x));
  } else if (mode == "simple") {  // ONNX Runtime's rule for Resize-10 and Upsample
    i = static_cast<int64_t>(shrinking ? std::ceil(x) : f);
  } else if (frac == 0.5) {
    i = static_cast<int64_t>(mode == "round_prefer_ceil" ? f + 1 : f);
  } else {
    i = static_cast<int64_t>(frac < 0.5 ? f : f + 1);
  }
  return i;
}

// Interpolates every output element over all axes at once: the sum over the
// 2^k corners around the source point of the product of the axis weights.
std::vector<double> ReferenceResize(const ResizeCase& c, const Tensor& x, Shape* y_shape) {
  const int rank = x.shape.rank();
  const bool legacy = c.opset < 11;
  const std::string coordinates = legacy ? "asymmetric" : (c.coordinates.empty() ? "half_pixel" : c.coordinates);
  const std::string nearest = legacy ? "simple" : c.nearest;
  std::vector<RefAxis> axes(rank);
  std::vector<int64_t> out_dims(rank);
  for (int a = 0; a < rank; ++a) {
    axes[a].in = x.shape[a];
    if (!c.sizes.empty()) {
      axes[a].out = c.sizes[a];
      axes[a].scale = static_cast<double>(axes[a].out) / static_cast<double>(axes[a].in);
    } else {
      axes[a].scale = c.scales[a];
      axes[a].out = static_cast<int64_t>(std::floor(static_cast<double>(axes[a].in) * axes[a].scale));
    }
    out_dims[a] = axes[a].out;
  }
  *y_shape = Shape::FromDims(out_dims).value();
  std::vector<double> y(static_cast<size_t>(y_shape->NumElements()));
  for (int64_t flat = 0; flat < y_shape->NumElements(); ++flat) {
    const std::vector<int64_t> index = testing::Unravel(flat, *y_shape);
    // Per axis: up to two source indices and their weights.
    std::vector<std::array<int64_t, 2>> src(rank);
    std::vector<std::array<double, 2>> weight(rank);
    for (int a = 0; a < rank; ++a) {
      const RefAxis& ax = axes[a];
      if (a < 2) {  // batch and channel pass through (a literal tf_half_pixel_for_nearest would shift them)
        src[a] = {index[a], index[a]};
        weight[a] = {1.0, 0.0};
        continue;
      }
      const double s = RefSource(coordinates, ax, index[a]);
      if (c.mode == "nearest") {
        int64_t i = RefNearest(nearest, s, ax.out < ax.in);
        i = std::min(std::max<int64_t>(i, 0), ax.in - 1);
        src[a] = {i, i};
        weight[a] = {1.0, 0.0};
      } else {
        const double clamped = std::min(std::max(s, 0.0), static_cast<double>(ax.in - 1));
        const int64_t lo = static_cast<int64_t>(std::floor(clamped));
        src[a] = {lo, std::min(lo + 1, ax.in - 1)};
        weight[a] = {1.0 - (clamped - lo), clamped - lo};
      }
    }
    double sum = 0.0;
    for (int corner = 0; corner < (1 << rank); ++corner) {
      double w = 1.0;
      int64_t offset = 0;
      for (int a = 0; a < rank; ++a) {
        const int bit = (corner >> a) & 1;
        w *= weight[a][bit];
        offset = offset * axes[a].in + src[a][bit];
      }
      if (w != 0.0) sum += w * x.data[offset];
    }
    y[flat] = sum;
  }
  return y;
}

// Builds the Resize (or Upsample) node of a case.
OpTest MakeTest(const ResizeCase& c) {
  OpTest test("Resize", c.opset);
  test.Name("up").Input("x");
  if (!c.mode.empty()) test.Attr("mode", StringAttr(c.mode));
  if (c.opset < 11) {
    test.ConstantInput(FloatConstant(Shape{static_cast<int64_t>(c.scales.size())}, c.scales), "scales");
    return test;
  }
  if (!c.coordinates.empty()) test.Attr("coordinate_transformation_mode", StringAttr(c.coordinates));
  test.Attr("nearest_mode", StringAttr(c.nearest));
  test.AbsentInput();  // roi
  if (!c.sizes.empty()) {
    if (c.opset < 13) {
      test.ConstantInput(FloatConstant(Shape{0}, {}), "scales");  // empty, as PyTorch's opset 11 exports
    } else {
      test.AbsentInput();
    }
    test.ConstantInput(IntConstant(Shape{static_cast<int64_t>(c.sizes.size())}, c.sizes), "sizes");
  } else {
    test.ConstantInput(FloatConstant(Shape{static_cast<int64_t>(c.scales.size())}, c.scales), "scales");
  }
  return test;
}

class ResizeReferenceTest : public ::testing::TestWithParam<ResizeCase> {};

TEST_P(ResizeReferenceTest, MatchesFloat64Reference) {
  const ResizeCase& c = GetParam();
  const std::string what = Describe(c);
  const Tensor x = RandomTensor(Shape::FromDims(c.x_dims).value(), 7);
  const OpTest test = MakeTest(c);
  auto op = test.Build(RegisterResizeOps);
  ASSERT_TRUE(op.ok()) << what << ": " << op.status();
  Shape y_shape;
  const std::vector<double> expected = ReferenceResize(c, x, &y_shape);
  std::vector<float> scratch;
  for (int run = 0; run < 2; ++run) {  // the second on the first's scratch
    std::vector<Tensor> outputs;
    ASSERT_TRUE(test.Run(**op, {&x}, &outputs, &scratch).ok()) << what;
    ExpectAllClose(outputs[0], y_shape, expected, 1e-5, absl::StrCat(what, " run ", run));
  }
}

std::vector<ResizeCase> ResizeCases() {
  return {
      // Segmentation heads: bilinear back to the input size, scales and sizes.
      Case("BilinearHalfPixelScale8", {1, 3, 5, 6}).Mode("linear").Scales({1, 1, 8, 8}),
      Case("BilinearHalfPixelSizes", {2, 3, 7, 5}).Mode("linear").Sizes({2, 3, 33, 31}),
      Case("BilinearHalfPixelDownscale", {1, 2, 17, 13}).Mode("linear").Sizes({1, 2, 6, 5}),
      Case("BilinearAlignCorners", {1, 3, 5, 6}).Mode("linear").Coordinates("align_corners").Sizes({1, 3, 11, 9}),
      Case("BilinearAlignCornersToOne", {1, 2, 5, 6}).Mode("linear").Coordinates("align_corners").Sizes({1, 2, 1, 4}),
      Case("BilinearPytorchHalfPixel", {1, 2, 4, 6})
          .Mode("linear")
          .Coordinates("pytorch_half_pixel")
          .Sizes({1, 2, 1, 9}),
      Case("BilinearAsymmetric", {1, 2, 4, 5}).Mode("linear").Coordinates("asymmetric").Scales({1, 1, 2.5f, 1.5f}),
      Case("BilinearTfHalfPixel", {1, 2, 4, 5})
          .Mode("linear")
          .Coordinates("tf_half_pixel_for_nearest")
          .Scales({1, 1, 2, 3}),
      Case("BilinearOneAxis", {1, 3, 4, 5}).Mode("linear").Sizes({1, 3, 4, 12}),
      Case("Linear1D", {2, 3, 9}).Mode("linear").Scales({1, 1, 1.7f}),
      Case("Trilinear", {1, 2, 3, 4, 5}).Mode("linear").Scales({1, 1, 2, 1.5f, 3}),
      Case("TrilinearAlignCornersSizes", {1, 2, 4, 3, 5})
          .Mode("linear")
          .Coordinates("align_corners")
          .Sizes({1, 2, 3, 7, 8}),
      Case("IdentitySizes", {1, 2, 4, 5}).Mode("linear").Sizes({1, 2, 4, 5}),
      Case("Opset11EmptyScales", {1, 2, 4, 5}).Mode("linear").Sizes({1, 2, 9, 7}).Opset(11),
      Case("Opset18", {1, 2, 4, 5}).Mode("linear").Scales({1, 1, 2, 2}).Opset(18),
      Case("Opset19HalfPixelSymmetric", {1, 2, 4, 5})
          .Mode("linear")
          .Coordinates("half_pixel_symmetric")
          .Sizes({1, 2, 7, 9})
          .Opset(19),
      // Nearest: every rounding rule, up and down.
      Case("NearestAsymmetricFloor", {1, 3, 4, 5}).Coordinates("asymmetric").Nearest("floor").Scales({1, 1, 2, 2}),
      Case("NearestRoundPreferFloor", {1, 2, 5, 7}).Scales({1, 1, 2, 2}),
      Case("NearestRoundPreferCeil", {1, 2, 5, 7}).Nearest("round_prefer_ceil").Scales({1, 1, 2, 2}),
      Case("NearestCeil", {1, 2, 5, 7}).Nearest("ceil").Sizes({1, 2, 9, 11}),
      Case("NearestFloorDownscale", {1, 2, 9, 11}).Nearest("floor").Sizes({1, 2, 4, 5}),
      Case("NearestRoundDownscale", {1, 2, 9, 11}).Sizes({1, 2, 4, 5}),
      Case("NearestAlignCorners", {1, 2, 5, 4}).Coordinates("align_corners").Sizes({1, 2, 9, 7}),
      Case("NearestTfHalfPixel", {1, 2, 5, 4}).Coordinates("tf_half_pixel_for_nearest").Scales({1, 1, 1.5f, 2.5f}),
      Case("NearestPytorchHalfPixel", {1, 2, 5, 4}).Coordinates("pytorch_half_pixel").Scales({1, 1, 1.6f, 0.5f}),
      Case("Nearest3D", {1, 2, 3, 4, 5}).Coordinates("asymmetric").Nearest("floor").Scales({1, 1, 2, 2, 2}),
      Case("NearestCoordinatesDefault", {1, 2, 3, 5}).Coordinates("").Scales({1, 1, 3, 1.4f}),
      // Resize-10: X and scales, asymmetric coordinates.
      Case("Opset10Nearest", {1, 2, 3, 4}).Scales({1, 1, 2, 3}).Opset(10),
      Case("Opset10NearestDownscale", {1, 2, 9, 8}).Scales({1, 1, 0.5f, 0.75f}).Opset(10),
      Case("Opset10Linear", {1, 2, 3, 4}).Mode("linear").Scales({1, 1, 2, 2.5f}).Opset(10),
  };
}

INSTANTIATE_TEST_SUITE_P(Resize, ResizeReferenceTest, ::testing::ValuesIn(ResizeCases()),
                         [](const ::testing::TestParamInfo<ResizeCase>& info) { return info.param.name; });

TEST(ResizeTest, ThreadPoolGivesTheSameResult) {
  const ResizeCase c = Case("pool", {2, 5, 13, 11}).Mode("linear").Sizes({2, 5, 40, 37});
  const Tensor x = RandomTensor(Shape::FromDims(c.x_dims).value(), 3);
  OpTest test = MakeTest(c);
  auto op = test.Build(RegisterResizeOps);
  ASSERT_TRUE(op.ok()) << op.status();
  std::vector<Tensor> alone, pooled;
  ASSERT_TRUE(test.Run(**op, {&x}, &alone).ok());
  ThreadPool pool(2);
  test.WithThreadPool(&pool);
  ASSERT_TRUE(test.Run(**op, {&x}, &pooled).ok());
  EXPECT_EQ(alone[0].data, pooled[0].data);
}

TEST(ResizeTest, NoAllocationOnRerun) {
  const ResizeCase c = Case("rerun", {1, 3, 7, 9}).Mode("linear").Sizes({1, 3, 21, 30});
  const Tensor x = RandomTensor(Shape::FromDims(c.x_dims).value(), 3);
  const OpTest test = MakeTest(c);
  auto op = test.Build(RegisterResizeOps);
  ASSERT_TRUE(op.ok()) << op.status();
  std::vector<Tensor> outputs;
  absl::Status status;
  EXPECT_EQ(test.AllocationsOnRerun(**op, {&x}, &outputs, &status), 0) << status;
}

// --- Upsample ---------------------------------------------------------------

TEST(UpsampleTest, Opset7ScalesAttributeAndOpset9ScalesInput) {
  const Tensor x = RandomTensor(Shape{1, 2, 3, 4}, 4);
  for (const std::string mode : {"nearest", "linear"}) {
    ResizeCase c = Case("upsample", {1, 2, 3, 4}).Mode(mode).Scales({1, 1, 2, 1.5f}).Opset(10);  // same rules
    Shape y_shape;
    const std::vector<double> expected = ReferenceResize(c, x, &y_shape);

    OpTest v7("Upsample", 7);
    Attribute scales;
    scales.kind = Attribute::Kind::kFloats;
    scales.floats = c.scales;
    v7.Input("x").Attr("mode", StringAttr(mode)).Attr("scales", scales);
    auto out7 = v7.BuildAndRun(RegisterResizeOps, {x});
    ASSERT_TRUE(out7.ok()) << mode << ": " << out7.status();
    ExpectAllClose((*out7)[0], y_shape, expected, 1e-5, "Upsample-7 " + mode);

    OpTest v9("Upsample", 9);
    v9.Input("x").Attr("mode", StringAttr(mode)).ConstantInput(FloatConstant(Shape{4}, c.scales), "scales");
    auto out9 = v9.BuildAndRun(RegisterResizeOps, {x});
    ASSERT_TRUE(out9.ok()) << mode << ": " << out9.status();
    ExpectAllClose((*out9)[0], y_shape, expected, 1e-5, "Upsample-9 " + mode);
  }
}

TEST(UpsampleTest, IntegerNearestIsRepetition) {
  const Tensor x = RandomTensor(Shape{1, 1, 2, 3}, 4);
  OpTest test("Upsample", 9);
  test.Input("x").ConstantInput(FloatConstant(Shape{4}, {1, 1, 2, 2}), "scales");
  auto out = test.BuildAndRun(RegisterResizeOps, {x});
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<float> expected;
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t j = 0; j < 6; ++j) expected.push_back(x.data[(i / 2) * 3 + j / 2]);
  }
  EXPECT_TRUE(testing::TensorEq((*out)[0], Shape{1, 1, 4, 6}, expected));
}

// --- PyTorch ----------------------------------------------------------------

// F.interpolate in float64 by /usr/bin/python3 on `x`, or an empty vector
// (with a test failure) when Python cannot run it.
std::vector<double> TorchInterpolate(const Tensor& x, const std::string& arguments) {
  const std::string dir = testing::MakeTempDir("resize_torch");
  const std::string in_path = dir + "/x.bin", out_path = dir + "/y.bin";
  {
    std::ofstream out(in_path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(x.data.data()), static_cast<std::streamsize>(x.size() * sizeof(float)));
  }
  const std::string script = absl::StrCat(
      "import sys, numpy, torch, torch.nn.functional as F\n"
      "x = torch.from_numpy(numpy.fromfile(sys.argv[1], dtype=numpy.float32).astype(numpy.float64))"
      ".reshape([",
      absl::StrJoin(x.shape.dims(), ","), "])\n", "y = F.interpolate(x, ", arguments, ")\n",
      "y.numpy().astype(numpy.float64).tofile(sys.argv[2])\n");
  const testing::CommandOutput result = testing::RunCommand({"/usr/bin/python3", "-c", script, in_path, out_path}, dir);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  std::vector<double> y;
  std::ifstream in(out_path, std::ios::binary);
  double v;
  while (in.read(reinterpret_cast<char*>(&v), sizeof(v))) y.push_back(v);
  std::filesystem::remove_all(dir);
  return y;
}

TEST(ResizeTorchTest, MatchesFInterpolate) {
  struct TorchCase {
    ResizeCase resize;
    std::string arguments;  // of F.interpolate
  };
  const std::vector<TorchCase> cases = {
      {Case("bilinear", {1, 3, 5, 7}).Mode("linear").Sizes({1, 3, 37, 41}),
       "size=(37, 41), mode='bilinear', align_corners=False"},
      {Case("bilinear_down", {1, 2, 19, 17}).Mode("linear").Sizes({1, 2, 7, 6}),
       "size=(7, 6), mode='bilinear', align_corners=False"},
      {Case("bilinear_scale", {2, 2, 5, 6}).Mode("linear").Scales({1, 1, 2, 3}),
       "scale_factor=(2, 3), mode='bilinear', align_corners=False"},
      {Case("bilinear_align", {1, 3, 5, 7}).Mode("linear").Coordinates("align_corners").Sizes({1, 3, 12, 9}),
       "size=(12, 9), mode='bilinear', align_corners=True"},
      {Case("trilinear", {1, 2, 3, 4, 5}).Mode("linear").Sizes({1, 2, 5, 9, 7}),
       "size=(5, 9, 7), mode='trilinear', align_corners=False"},
      {Case("linear1d", {1, 2, 7}).Mode("linear").Coordinates("align_corners").Sizes({1, 2, 15}),
       "size=15, mode='linear', align_corners=True"},
      {Case("nearest", {1, 2, 5, 7}).Coordinates("asymmetric").Nearest("floor").Sizes({1, 2, 13, 10}),
       "size=(13, 10), mode='nearest'"},
      {Case("nearest_exact", {1, 2, 5, 7}).Nearest("round_prefer_ceil").Sizes({1, 2, 13, 10}),
       "size=(13, 10), mode='nearest-exact'"},
  };
  for (const TorchCase& c : cases) {
    const std::string what = Describe(c.resize);
    const Tensor x = RandomTensor(Shape::FromDims(c.resize.x_dims).value(), 9);
    const OpTest test = MakeTest(c.resize);
    auto out = test.BuildAndRun(RegisterResizeOps, {x});
    ASSERT_TRUE(out.ok()) << what << ": " << out.status();
    Shape y_shape;
    ReferenceResize(c.resize, x, &y_shape);  // for the shape only
    const std::vector<double> expected = TorchInterpolate(x, c.arguments);
    ExpectAllClose((*out)[0], y_shape, expected, 1e-5, what + " vs F.interpolate(" + c.arguments + ")");
  }
}

// --- Errors -----------------------------------------------------------------

absl::Status BuildStatus(const OpTest& test) { return test.Build(RegisterResizeOps).status(); }

TEST(ResizeErrorTest, UnsupportedAttributesAreUnimplementedAndNamed) {
  struct Bad {
    std::string key, value, fragment;
  };
  const std::vector<Bad> bad = {
      {"mode", "cubic", "mode 'cubic'"},
      {"coordinate_transformation_mode", "tf_crop_and_resize", "tf_crop_and_resize"},
      {"coordinate_transformation_mode", "half_pixel_symmetric", "half_pixel_symmetric"},  // only from 19
      {"keep_aspect_ratio_policy", "not_larger", "keep_aspect_ratio_policy 'not_larger'"},
  };
  for (const Bad& b : bad) {
    OpTest test = MakeTest(Case("bad", {1, 1, 2, 2}).Scales({1, 1, 2, 2}).Opset(18));
    test.Attr(b.key, StringAttr(b.value));
    const absl::Status s = BuildStatus(test);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << b.key;
    EXPECT_THAT(std::string(s.message()), HasSubstr("Resize node 'up' (opset 18)")) << b.key;
    EXPECT_THAT(std::string(s.message()), HasSubstr(b.fragment)) << b.key;
  }
  for (const std::string key : {"antialias", "exclude_outside"}) {
    OpTest test = MakeTest(Case("bad", {1, 1, 2, 2}).Scales({1, 1, 2, 2}).Opset(18));
    test.Attr(key, testing::IntAttr(1));
    const absl::Status s = BuildStatus(test);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << key;
    EXPECT_THAT(std::string(s.message()), HasSubstr(key + " 1")) << key;
  }
  OpTest axes = MakeTest(Case("bad", {1, 1, 2, 2}).Scales({2, 2}).Opset(18));
  axes.Attr("axes", IntsAttr({2, 3}));
  EXPECT_EQ(BuildStatus(axes).code(), absl::StatusCode::kUnimplemented);
}

TEST(ResizeErrorTest, BadNearestModeIsInvalid) {
  OpTest test = MakeTest(Case("bad", {1, 1, 2, 2}).Scales({1, 1, 2, 2}));
  test.Attr("nearest_mode", StringAttr("round"));
  EXPECT_EQ(BuildStatus(test).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ResizeErrorTest, RuntimeScalesOrSizesAreUnimplemented) {
  OpTest scales("Resize", 13);
  scales.Name("up").Input("x").AbsentInput().Input("scales");
  absl::Status s = BuildStatus(scales);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(s.message()), HasSubstr("input scales ('scales') expected a constant initializer"));
  OpTest sizes("Resize", 13);
  sizes.Name("up").Input("x").AbsentInput().AbsentInput().Input("sizes");
  s = BuildStatus(sizes);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(s.message()), HasSubstr("input sizes ('sizes')"));
}

TEST(ResizeErrorTest, BatchOrChannelScalingIsUnimplemented) {
  const absl::Status s = BuildStatus(MakeTest(Case("bad", {1, 1, 2, 2}).Scales({1, 2, 2, 2})));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(s.message()), HasSubstr("batch or channel"));
  // Sizes that change the channel count are found at run time.
  const OpTest test = MakeTest(Case("bad", {1, 2, 2, 2}).Sizes({1, 3, 4, 4}));
  const Tensor x = RandomTensor(Shape{1, 2, 2, 2}, 1);
  std::vector<Tensor> outputs;
  auto op = test.Build(RegisterResizeOps);
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_EQ(test.Run(**op, {&x}, &outputs).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ResizeErrorTest, ScalesAndSizesBothOrNeither) {
  OpTest both("Resize", 13);
  both.Input("x")
      .AbsentInput()
      .ConstantInput(FloatConstant(Shape{4}, {1, 1, 2, 2}), "scales")
      .ConstantInput(IntConstant(Shape{4}, {1, 1, 4, 4}), "sizes");
  EXPECT_EQ(BuildStatus(both).code(), absl::StatusCode::kInvalidArgument);
  OpTest neither("Resize", 13);
  neither.Input("x");
  EXPECT_EQ(BuildStatus(neither).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ResizeErrorTest, HugeScaleIsRefusedAtRunTime) {
  const OpTest test = MakeTest(Case("huge", {1, 1, 2, 2}).Scales({1, 1, 1e30f, 2}));
  auto op = test.Build(RegisterResizeOps);
  ASSERT_TRUE(op.ok()) << op.status();
  const Tensor x = RandomTensor(Shape{1, 1, 2, 2}, 1);
  std::vector<Tensor> outputs;
  const absl::Status s = test.Run(**op, {&x}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("output size on axis 2"));
}

TEST(ResizeErrorTest, RankMismatchAtRunTime) {
  const OpTest test = MakeTest(Case("bad", {1, 2, 2, 2}).Scales({1, 1, 2, 2}));
  auto op = test.Build(RegisterResizeOps);
  ASSERT_TRUE(op.ok()) << op.status();
  const Tensor x = RandomTensor(Shape{1, 2, 2}, 1);
  std::vector<Tensor> outputs;
  const absl::Status s = test.Run(**op, {&x}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("expected rank 4"));
}

}  // namespace
}  // namespace bnserve
