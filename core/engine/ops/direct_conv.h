// DirectConv: a 2-D (or 1-D, as height 1, or 3-D, with a depth axis)
// convolution of any kernel size, stride, dilation, padding and group count,
// computed per group (and output depth slice) as one window GEMM
// (core/engine/kernels/conv_kernel.h) over a prepared copy of the input.
//
// The prepared input holds, per channel, the zero-padded image split into
// its stride phases: phase (a, b) is the sub-image of padded pixels (i * sh
// + a, j * sw + b). In it, every filter tap of a stride-s convolution reads a
// window that moves by one float per output pixel, as in a stride-1 one.
// Each phase plane is out_w + (widest tap column) floats wide, so a tap's
// window for the output pixels of one row never leaves that row. The GEMM
// writes Y directly, one output row at a time, when out_w rounded up to
// whole vectors is no wider than a phase row (32, 16, 112) and a row is more
// than one vector (a 1-vector GEMM tile runs at half speed); otherwise it
// computes over "flat" pixel rows of the phase width (a few garbage columns
// per row, fewer wasted lanes than whole vectors per row for 28, 14, 7) and
// they are compacted into Y afterwards, unless the widths agree (1x1
// kernels), when the flat rows are Y. Phases no tap reads (e.g. three of
// four for a 1x1 stride-2 kernel) are not built.
//
// 3-D: each phase is a stack of phase planes (depth phases too, so a depth
// stride is a phase split like the others), and a tap's offset includes its
// depth. Output depth slice d is the 2-D GEMM above with B moved by d planes:
// the taps of every depth are rows of the same GEMM, so a 3x3x3 kernel is one
// product of depth C * 27, not three of C * 9 added afterwards.
//
// Immutable after construction; Run is const and thread-safe (all per-run
// memory is the caller's scratch).
#pragma once

#include <cstdint>
#include <vector>

#include "core/engine/kernels/conv_kernel.h"
#include "core/engine/ops/conv_geometry.h"
#include "core/engine/ops/fused_activation.h"
#include "core/util/thread_pool.h"

namespace bnserve {

class DirectConv {
 public:
  // `weights` is [out_channels, in_channels / group, depth.kernel,
  // kernel[0], kernel[1]] row-major, `bias` [out_channels] or null; kernel,
  // stride and dilation are [height, width] (height 1 for 1-D), `depth` the
  // depth axis (its pads are unused: they come with each run's geometry).
  // Packs the weights for `kernels`.
  DirectConv(const float* weights, const float* bias, int64_t out_channels, int64_t in_channels, int64_t group,
             const int64_t kernel[2], const int64_t stride[2], const int64_t dilation[2], const AxisWindow& depth,
             FusedActivation activation,
             const conv_internal::ConvKernels& kernels = conv_internal::SelectedConvKernels());

  // Scratch floats Run needs for one image of geometry g.
  int64_t ScratchFloats(const WindowGeometry& g) const;

  // One image: x is [in_channels, g.depth_in, g.in], y is [out_channels,
  // g.depth_out, g.out].
  // `scratch` holds ScratchFloats(g) floats. `pool` may be null.
  void Run(const float* x, const WindowGeometry& g, float* y, float* scratch, ThreadPool* pool) const;

 private:
  // Per-run layout of the prepared input and the GEMM output.
  struct Layout {
    int64_t phase_d = 0;               // planes of a phase
    int64_t phase_h = 0, phase_w = 0;  // rows and row width of a phase plane
    int64_t phase_plane = 0;           // phase_h * phase_w
    int64_t phase_stride = 0;          // phase_d * phase_plane
    int64_t channel_stride = 0;        // phases * phase_stride
    int64_t input_floats = 0;          // prepared input, slack included
    enum class Output { kRows, kFlatIsY, kFlatCompacted };
    Output output = Output::kRows;
    int64_t flat_cols = 0;  // out_h * phase_w: the GEMM's columns in the flat forms, per depth slice
  };
  Layout ComputeLayout(const WindowGeometry& g) const;
  // Writes channel c's phase planes (layout l) to dst.
  void PrepareChannel(const float* x, const WindowGeometry& g, const Layout& l, float* dst) const;

  // Where one filter tap reads in a channel's phase planes, relative to
  // the output pixel: phase * phase_stride + depth * phase_plane + row *
  // phase_w + col.
  struct Tap {
    int64_t phase, depth, row, col;
  };

  const conv_internal::ConvKernels& kernels_;
  int64_t out_channels_;
  int64_t in_channels_;
  int64_t group_;
  int64_t stride_[2];
  int64_t depth_stride_;
  std::vector<int64_t> depth_phases_;  // distinct (kd * dilation) % stride, ascending
  std::vector<int64_t> row_phases_;    // the same for kh
  std::vector<int64_t> col_phases_;
  std::vector<Tap> taps_;      // in weight order (kd, kh, kw)
  int64_t max_tap_depth_ = 0;  // largest Tap::depth
  int64_t max_tap_row_ = 0;
  int64_t max_tap_col_ = 0;
  std::vector<float> packed_weights_;  // per group, PackGemmA of its [M/group, C/group * taps]
  int64_t packed_group_size_ = 0;
  std::vector<float> bias_;  // [out_channels], or empty
  FusedActivation activation_;
};

}  // namespace bnserve
