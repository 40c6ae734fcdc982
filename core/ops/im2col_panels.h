// Im2colPanels: the im2col matrix of a convolution, produced on demand for
// SgemmImplicitB instead of being stored (see core/ops/sgemm.h).
#pragma once

#include <cstdint>

#include "core/ops/conv_geometry.h"
#include "core/ops/sgemm.h"

namespace bnserve {

// The im2col matrix of one image and group, [C/group * kH * kW, OH * OW]
// (row (c, ki, kj), column (oh, ow) holds the input under tap (ki, kj) of
// the window at (oh, ow), or 0 in the padding), served panel by panel to
// SgemmImplicitB so it is never stored. Lives for one product on one thread.
class Im2colPanels final : public SgemmPanelSource {
 public:
  // `x` is [C/group, H, W] laid out as `g` describes; both must outlive this.
  Im2colPanels(const float* x, const WindowGeometry& g);

  void WritePanel(int64_t k0, int64_t depth, int64_t n0, int64_t width, float* dst) const override;

 private:
  static constexpr int64_t kMaxPanelWidth = 64;

  // WritePanel for columns [n0, n0 + width), width <= kMaxPanelWidth, with
  // patch row kk at dst + kk * dst_stride.
  void WriteColumns(int64_t k0, int64_t depth, int64_t n0, int64_t width, float* dst, int64_t dst_stride) const;

  // Tap ranges are cached for kernels up to this size (larger ones, e.g.
  // long 1-D kernels, recompute them per row of the panel).
  static constexpr int64_t kCachedTaps = 16;

  // Output rows [lo, hi) whose tap row ki lies inside the input.
  void ComputeRowRange(int64_t ki, int64_t* lo, int64_t* hi) const;
  // Output columns [lo, hi) whose tap column kj lies inside the input.
  void ComputeColRange(int64_t kj, int64_t* lo, int64_t* hi) const;

  const float* x_;
  const WindowGeometry& g_;
  int64_t oh_lo_[kCachedTaps], oh_hi_[kCachedTaps], ow_lo_[kCachedTaps], ow_hi_[kCachedTaps];
};

}  // namespace bnserve
