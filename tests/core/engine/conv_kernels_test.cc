// The convolution algorithms below the Conv op (core/engine/ops/direct_conv.h), on
// every instruction-set variant this CPU supports (the op tests only reach
// the selected one), against the float64 reference convolution: odd channel
// counts, strides, dilations, asymmetric padding, groups, 1-D, sizes that
// leave partial register tiles, and weights larger than the input (the
// other tile order). Also: a thread pool changes no bit of the result.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/engine/kernels/conv_kernel.h"
#include "core/engine/ops/conv_geometry.h"
#include "core/engine/ops/direct_conv.h"
#include "core/engine/ops/winograd_conv.h"
#include "core/util/thread_pool.h"
#include "gtest/gtest.h"
#include "tests/test_util/op_test_util.h"

namespace bnserve {
namespace {

using ::bnserve::testing::ExpectAllClose;
using ::bnserve::testing::RandomTensor;
using ::bnserve::testing::RandomValues;
using ::bnserve::testing::ReferenceConv;

struct Geometry {
  int64_t channels, out_channels, group;
  int64_t height, width;  // height 1 with kernel height 1: a 1-D convolution
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w;
  int64_t dilation_h, dilation_w;
  int64_t pad_top, pad_left, pad_bottom, pad_right;
  FusedActivation::Kind activation;
};

std::string Describe(const Geometry& c, const char* isa) {
  return absl::StrCat(isa, ": C ", c.channels, " M ", c.out_channels, " group ", c.group, " in ", c.height, "x",
                      c.width, " kernel ", c.kernel_h, "x", c.kernel_w, " stride ", c.stride_h, "x", c.stride_w,
                      " dilation ", c.dilation_h, "x", c.dilation_w, " pads ", c.pad_top, ",", c.pad_left, ",",
                      c.pad_bottom, ",", c.pad_right, " activation ", static_cast<int>(c.activation));
}

const std::vector<Geometry>& Geometries() {
  using K = FusedActivation::Kind;
  static const std::vector<Geometry> cases = {
      {3, 32, 1, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, K::kRelu},      // CIFAR first layer
      {32, 32, 1, 17, 19, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, K::kNone},     // odd sizes
      {5, 7, 1, 9, 11, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, K::kRelu},        // no padding, partial tiles
      {6, 9, 3, 10, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, K::kNone},       // groups, stride 2
      {3, 16, 1, 23, 29, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, K::kRelu},      // resnet stem shape
      {8, 12, 1, 15, 14, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, K::kNone},      // 1x1 stride 2 (direct to Y)
      {16, 20, 1, 7, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, K::kRelu},       // pointwise
      {4, 5, 1, 12, 16, 3, 2, 1, 3, 2, 1, 2, 0, 1, 2, K::kLeakyRelu},  // dilation, asymmetric pads
      {7, 3, 1, 11, 10, 2, 4, 3, 2, 2, 2, 1, 2, 0, 1, K::kClip},       // stride 3x2, dilation 2
      {2, 4, 2, 1, 40, 1, 5, 1, 3, 1, 2, 0, 3, 0, 1, K::kRelu},        // 1-D, grouped, strided
      {96, 80, 1, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, K::kRelu},       // weights > input
      {24, 16, 1, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, K::kRelu},       // resnet layer 4: 1-vector rows go flat
      {8, 8, 1, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, K::kNone},         // 8-wide rows (one AVX2 vector)
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, K::kNone},         // one pixel
      {4, 6, 1, 3, 3, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, K::kNone},         // kernel larger than the image
      {2, 3, 1, 6, 6, 9, 9, 1, 1, 1, 1, 4, 4, 4, 4, K::kNone},         // 81 taps (heap offsets)
  };
  return cases;
}

enum class Algorithm { kDirect, kWinograd };

// Runs `algorithm` with `kernels` on a seeded batch-1 input; also returns
// the float64 reference (activation applied) through *expected.
Tensor RunConv(Algorithm algorithm, const Geometry& c, const conv_internal::ConvKernels& kernels, ThreadPool* pool,
               std::vector<double>* expected, Shape* y_shape) {
  const Tensor x = RandomTensor(Shape{1, c.channels, c.height, c.width}, 1);
  const Tensor w = RandomTensor(Shape{c.out_channels, c.channels / c.group, c.kernel_h, c.kernel_w}, 2);
  const std::vector<float> bias = RandomValues(c.out_channels, 3);
  FusedActivation activation;
  activation.kind = c.activation;
  activation.alpha = 0.1f;
  activation.min = -0.5f;
  activation.max = 0.75f;

  WindowAttributes attrs;
  attrs.kernel[0] = c.kernel_h;
  attrs.kernel[1] = c.kernel_w;
  attrs.stride[0] = c.stride_h;
  attrs.stride[1] = c.stride_w;
  attrs.dilation[0] = c.dilation_h;
  attrs.dilation[1] = c.dilation_w;
  attrs.pad_begin[0] = c.pad_top;
  attrs.pad_begin[1] = c.pad_left;
  attrs.pad_end[0] = c.pad_bottom;
  attrs.pad_end[1] = c.pad_right;
  WindowGeometry g;
  const int64_t in_dims[2] = {c.height, c.width};
  EXPECT_TRUE(ComputeWindowGeometry(attrs, in_dims, &g).ok());

  *expected = ReferenceConv(x, w, bias, {c.stride_h, c.stride_w}, {c.dilation_h, c.dilation_w},
                            {c.pad_top, c.pad_left, c.pad_bottom, c.pad_right}, c.group, y_shape);
  for (double& v : *expected) {
    switch (c.activation) {
      case FusedActivation::Kind::kNone:
        break;
      case FusedActivation::Kind::kRelu:
        v = v < 0 ? 0 : v;
        break;
      case FusedActivation::Kind::kLeakyRelu:
        v = v < 0 ? 0.1 * v : v;
        break;
      case FusedActivation::Kind::kClip:
        v = std::min(std::max(v, -0.5), 0.75);
        break;
    }
  }

  Tensor y(*y_shape, std::vector<float>(static_cast<size_t>(y_shape->NumElements()), -3.0f));
  std::vector<float> scratch;
  if (algorithm == Algorithm::kDirect) {
    const DirectConv conv(w.data.data(), bias.data(), c.out_channels, c.channels, c.group, attrs.kernel, attrs.stride,
                          attrs.dilation, attrs.depth, activation, kernels);
    scratch.assign(static_cast<size_t>(conv.ScratchFloats(g)), -7.0f);  // stale scratch must not leak
    conv.Run(x.data.data(), g, y.data.data(), scratch.data(), pool);
  } else {
    const WinogradConv conv(w.data.data(), bias.data(), c.out_channels, c.channels, activation, kernels);
    scratch.assign(static_cast<size_t>(conv.ScratchFloats(g, NumSlots(pool))), -7.0f);
    conv.Run(x.data.data(), g, y.data.data(), scratch.data(), pool);
  }
  return y;
}

class DirectConvTest : public ::testing::TestWithParam<int> {
 protected:
  const conv_internal::ConvKernels* Table() const {
    const conv_internal::ConvKernels* tables[3];
    int count = 0;
    conv_internal::SupportedConvKernels(tables, &count);
    return GetParam() < count ? tables[GetParam()] : nullptr;
  }
};

TEST_P(DirectConvTest, MatchesFloat64Reference) {
  const conv_internal::ConvKernels* kernels = Table();
  if (kernels == nullptr) GTEST_SKIP() << "variant not supported on this CPU";
  for (const Geometry& c : Geometries()) {
    std::vector<double> expected;
    Shape y_shape;
    const Tensor y = RunConv(Algorithm::kDirect, c, *kernels, nullptr, &expected, &y_shape);
    ExpectAllClose(y, y_shape, expected, 1e-4, Describe(c, kernels->isa));
  }
}

TEST_P(DirectConvTest, ThreadPoolGivesIdenticalResults) {
  const conv_internal::ConvKernels* kernels = Table();
  if (kernels == nullptr) GTEST_SKIP() << "variant not supported on this CPU";
  ThreadPool pool(3);
  for (const Geometry& c : Geometries()) {
    std::vector<double> expected;
    Shape y_shape;
    const Tensor alone = RunConv(Algorithm::kDirect, c, *kernels, nullptr, &expected, &y_shape);
    const Tensor pooled = RunConv(Algorithm::kDirect, c, *kernels, &pool, &expected, &y_shape);
    EXPECT_EQ(alone.data, pooled.data) << Describe(c, kernels->isa);
  }
}

// 3-D: each output depth slice is one window GEMM whose taps span the
// depth too, on every table, with and without threads. Shapes of the video
// networks (3x3x3, (1,k,k), (k,1,1), 1x1x1 stride 2) and awkward ones.
TEST_P(DirectConvTest, ThreeDimensionalMatchesFloat64Reference) {
  const conv_internal::ConvKernels* kernels = Table();
  if (kernels == nullptr) GTEST_SKIP() << "variant not supported on this CPU";
  struct Case3D {
    int64_t channels, out_channels, group;
    int64_t in[3], kernel[3], stride[3], dilation[3], pads[6];
  };
  const std::vector<Case3D> cases = {
      {8, 16, 1, {4, 9, 10}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}},
      {3, 8, 1, {5, 14, 13}, {3, 7, 7}, {1, 2, 2}, {1, 1, 1}, {1, 3, 3, 1, 3, 3}},
      {6, 5, 1, {4, 8, 8}, {1, 3, 3}, {1, 2, 2}, {1, 1, 1}, {0, 1, 1, 0, 1, 1}},
      {5, 7, 1, {6, 5, 4}, {3, 1, 1}, {2, 1, 1}, {1, 1, 1}, {1, 0, 0, 1, 0, 0}},
      {16, 12, 1, {4, 7, 7}, {1, 1, 1}, {2, 2, 2}, {1, 1, 1}, {0, 0, 0, 0, 0, 0}},
      {4, 6, 2, {7, 6, 9}, {2, 3, 2}, {2, 1, 3}, {3, 2, 1}, {1, 2, 0, 2, 0, 1}},
  };
  ThreadPool pool(3);
  for (const Case3D& c : cases) {
    const std::string what = absl::StrCat(kernels->isa, ": 3-D C ", c.channels, " M ", c.out_channels, " in ",
                                          absl::StrJoin(c.in, "x"), " kernel ", absl::StrJoin(c.kernel, "x"));
    const Tensor x = RandomTensor(Shape{1, c.channels, c.in[0], c.in[1], c.in[2]}, 1);
    const Tensor w =
        RandomTensor(Shape{c.out_channels, c.channels / c.group, c.kernel[0], c.kernel[1], c.kernel[2]}, 2);
    const std::vector<float> bias = RandomValues(c.out_channels, 3);
    WindowAttributes attrs;
    attrs.spatial_rank = 3;
    attrs.depth = AxisWindow{c.kernel[0], c.stride[0], c.dilation[0], c.pads[0], c.pads[3]};
    for (int a = 0; a < 2; ++a) {
      attrs.kernel[a] = c.kernel[a + 1];
      attrs.stride[a] = c.stride[a + 1];
      attrs.dilation[a] = c.dilation[a + 1];
      attrs.pad_begin[a] = c.pads[a + 1];
      attrs.pad_end[a] = c.pads[a + 4];
    }
    WindowGeometry g;
    ASSERT_TRUE(ComputeWindowGeometry(attrs, c.in, &g).ok()) << what;
    Shape y_shape;
    const std::vector<double> expected = ReferenceConv(
        x, w, bias, {c.stride[0], c.stride[1], c.stride[2]}, {c.dilation[0], c.dilation[1], c.dilation[2]},
        {c.pads[0], c.pads[1], c.pads[2], c.pads[3], c.pads[4], c.pads[5]}, c.group, &y_shape);
    const DirectConv conv(w.data.data(), bias.data(), c.out_channels, c.channels, c.group, attrs.kernel, attrs.stride,
                          attrs.dilation, attrs.depth, FusedActivation{}, *kernels);
    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
      Tensor y(y_shape, std::vector<float>(static_cast<size_t>(y_shape.NumElements()), -3.0f));
      std::vector<float> scratch(static_cast<size_t>(conv.ScratchFloats(g)), -7.0f);
      conv.Run(x.data.data(), g, y.data.data(), scratch.data(), p);
      ExpectAllClose(y, y_shape, expected, 1e-4, what + (p == nullptr ? "" : " (pool)"));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, DirectConvTest, ::testing::Values(0, 1, 2));

// 3x3 stride-1 geometries: odd output sizes (partial 2x2 patches), all
// paddings from 0 to 2 and asymmetric ones, tile counts around the vector
// widths, and enough tiles for several blocks.
const std::vector<Geometry>& WinogradGeometries() {
  using K = FusedActivation::Kind;
  static const std::vector<Geometry> cases = {
      {32, 32, 1, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, K::kRelu},   // CIFAR 32 -> 32
      {3, 5, 1, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, K::kNone},       // odd everything
      {9, 17, 1, 16, 16, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, K::kRelu},    // no padding: 14x14
      {6, 4, 1, 5, 6, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, K::kLeakyRelu},  // pads 2: 7x8
      {5, 6, 1, 9, 8, 3, 3, 1, 1, 1, 1, 0, 1, 2, 0, K::kClip},       // asymmetric pads
      {16, 24, 1, 67, 45, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, K::kRelu},   // 782 tiles: several blocks
      {1, 1, 1, 3, 3, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, K::kNone},       // one output pixel
      {64, 64, 1, 1, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, K::kNone},    // one row
      {130, 70, 1, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, K::kRelu},    // deep, 16 tiles
  };
  return cases;
}

TEST_P(DirectConvTest, WinogradMatchesFloat64Reference) {
  const conv_internal::ConvKernels* kernels = Table();
  if (kernels == nullptr) GTEST_SKIP() << "variant not supported on this CPU";
  if (!WinogradConv::Supported(*kernels)) GTEST_SKIP() << kernels->isa << " has no Winograd transforms";
  ThreadPool pool(3);
  for (const Geometry& c : WinogradGeometries()) {
    std::vector<double> expected;
    Shape y_shape;
    const Tensor y = RunConv(Algorithm::kWinograd, c, *kernels, nullptr, &expected, &y_shape);
    // The same tolerance as the direct path: F(2x2, 3x3) loses no accuracy.
    ExpectAllClose(y, y_shape, expected, 1e-4, Describe(c, kernels->isa) + " (Winograd)");
    const Tensor pooled = RunConv(Algorithm::kWinograd, c, *kernels, &pool, &expected, &y_shape);
    EXPECT_EQ(y.data, pooled.data) << Describe(c, kernels->isa) << " (Winograd, pool)";
  }
}

TEST(ConvKernelsTest, PackGemmAPadsTheLastBlockWithZeros) {
  // A = [[1 2 3], [4 5 6], [7 8 9]] with lda 4, blocks of 2 rows.
  const std::vector<float> a = {1, 2, 3, -1, 4, 5, 6, -1, 7, 8, 9, -1};
  std::vector<float> packed(static_cast<size_t>(conv_internal::PackedGemmASize(3, 3, 2)));
  conv_internal::PackGemmA(a.data(), 3, 3, 4, 2, packed.data());
  EXPECT_EQ(packed, (std::vector<float>{1, 4, 2, 5, 3, 6, 7, 0, 8, 0, 9, 0}));
}

// Largest error of y against the float64 reference, relative to each value
// with the same floor as ExpectAllClose (1% of the largest magnitude).
double MaxRelativeError(const Tensor& y, const std::vector<double>& expected) {
  double max_abs = 0.0;
  for (double e : expected) max_abs = std::max(max_abs, std::fabs(e));
  double error = 0.0;
  for (size_t i = 0; i < expected.size(); ++i) {
    error = std::max(error, std::fabs(y.data[i] - expected[i]) / std::max(std::fabs(expected[i]), max_abs * 1e-2));
  }
  return error;
}

TEST(WinogradConvTest, AsAccurateAsDirect) {
  // F(2x2, 3x3) adds a few roundings per tile (measured: 0.5x to 2.4x the
  // direct error on these cases, both around 1e-5 at worst); F(4x4, 3x3)
  // would fail this.
  const conv_internal::ConvKernels& kernels = conv_internal::SelectedConvKernels();
  if (!WinogradConv::Supported(kernels)) GTEST_SKIP() << kernels.isa << " has no Winograd transforms";
  for (const Geometry& c : WinogradGeometries()) {
    std::vector<double> expected;
    Shape y_shape;
    const double direct =
        MaxRelativeError(RunConv(Algorithm::kDirect, c, kernels, nullptr, &expected, &y_shape), expected);
    const double winograd =
        MaxRelativeError(RunConv(Algorithm::kWinograd, c, kernels, nullptr, &expected, &y_shape), expected);
    EXPECT_LE(winograd, 3.0 * direct + 2e-6) << Describe(c, kernels.isa) << ": direct error " << direct;
  }
}

}  // namespace
}  // namespace bnserve
