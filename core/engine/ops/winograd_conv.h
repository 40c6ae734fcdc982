// WinogradConv: a 3x3, stride-1, undilated, ungrouped convolution (any
// padding) by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2015). Each 2x2
// output patch costs 16 multiplies per (input, output) channel pair instead
// of 36: the image is cut into 4x4 input tiles, each transformed to
// V = B^T d B, multiplied point by point with the transformed filters
// U = G g G^T (summing over input channels: 16 GEMMs, run on the window GEMM
// kernel), and transformed back with Y = A^T M A.
//
// Accuracy: F(2x2, 3x3) transforms add and subtract (B and A hold only 0
// and +-1; G's halves are applied once, in float64, when U is built), so the
// result is as accurate as a direct float32 convolution. The larger
// F(4x4, 3x3) would save more multiplies but amplifies rounding error by its
// +-2, 4 and 8 coefficients, which the PyTorch parity tolerance does not
// leave room for.
//
// Tiles are processed in blocks sized so a block's transformed input and
// products stay in L2; blocks are spread over the thread pool, each thread
// with its own part of the scratch. Immutable after construction; Run is
// const and thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "core/engine/kernels/conv_kernel.h"
#include "core/engine/ops/conv_geometry.h"
#include "core/engine/ops/fused_activation.h"
#include "core/util/thread_pool.h"

namespace bnserve {

class WinogradConv {
 public:
  // True when `kernels` has the Winograd transforms.
  static bool Supported(const conv_internal::ConvKernels& kernels) {
    return kernels.winograd_input != nullptr && kernels.winograd_output != nullptr;
  }

  // `weights` is [out_channels, in_channels, 3, 3] row-major, `bias`
  // [out_channels] or null. Requires Supported(kernels).
  WinogradConv(const float* weights, const float* bias, int64_t out_channels, int64_t in_channels,
               FusedActivation activation,
               const conv_internal::ConvKernels& kernels = conv_internal::SelectedConvKernels());

  // Scratch floats Run needs for one image of geometry g (3x3 kernel,
  // stride 1, no dilation) with `slots` threads (NumSlots(pool)).
  int64_t ScratchFloats(const WindowGeometry& g, int slots) const;

  // One image: x is [in_channels, g.in], y is [out_channels, g.out];
  // `scratch` holds ScratchFloats(g, NumSlots(pool)) floats.
  void Run(const float* x, const WindowGeometry& g, float* y, float* scratch, ThreadPool* pool) const;

 private:
  struct Plan {
    int64_t tiles_h = 0, tiles_w = 0, tiles = 0;
    int64_t vectors = 0;                  // tiles / kTileAlign, rounded up
    int64_t block_tiles = 0, blocks = 0;  // block_tiles: the widest block's
    conv_internal::WinogradInputGeometry input;
    int64_t v_floats = 0;  // one block's V, slack included
    int64_t m_floats = 0;  // one block's M, slack included
  };
  Plan MakePlan(const WindowGeometry& g, int slots) const;

  const conv_internal::ConvKernels& kernels_;
  int64_t out_channels_;
  int64_t in_channels_;
  std::vector<float> packed_u_;  // 16 packed [out_channels, in_channels] matrices
  int64_t packed_u_size_ = 0;    // floats per point
  std::vector<float> bias_;      // [out_channels], or empty
  FusedActivation activation_;
};

}  // namespace bnserve
