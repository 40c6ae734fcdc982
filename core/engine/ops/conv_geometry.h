// Sliding-window geometry shared by Conv, MaxPool and AveragePool: the
// spatial attributes (kernel, strides, dilations, pads, auto_pad, ceil_mode),
// read and validated once when the op is built, and the output size and
// effective padding computed per run from the input's spatial size.
//
// 1-D windows are stored as 2-D ones whose height axis is a dummy of size 1
// (kernel 1, stride 1, no padding), so every kernel has a single 2-D code path.
// 3-D windows (video: [D, H, W]) add a depth axis in front of that plane,
// which 1-D and 2-D windows have as a dummy of size 1: a 3-D kernel is a
// stack of 2-D ones, and its code loops over depth around the 2-D paths.
#pragma once

#include <cstdint>
#include <string>

#include "absl/types/span.h"
#include "core/engine/op.h"
#include "core/util/status.h"

namespace bnserve {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

// The window along one axis: the attributes, and the effective padding once
// the geometry is known. The defaults are a dummy axis (the depth of 1-D and
// 2-D windows).
struct AxisWindow {
  int64_t kernel = 1;
  int64_t stride = 1;
  int64_t dilation = 1;
  int64_t pad_begin = 0;
  int64_t pad_end = 0;
};

// Validated window attributes. Arrays are indexed [0] = height, [1] = width.
struct WindowAttributes {
  int spatial_rank = 2;  // 1, 2 or 3
  AutoPad auto_pad = AutoPad::kNotSet;
  bool ceil_mode = false;
  int64_t kernel[2] = {1, 1};
  int64_t stride[2] = {1, 1};
  int64_t dilation[2] = {1, 1};
  int64_t pad_begin[2] = {0, 0};  // explicit pads; used only with kNotSet
  int64_t pad_end[2] = {0, 0};
  AxisWindow depth;  // 3-D windows; its pads, like the arrays', used only with kNotSet
};

// Reads auto_pad, strides, dilations, pads (and ceil_mode when
// `read_ceil_mode`) from the node. `kernel` holds the spatial kernel size (1,
// 2 or 3 entries; its size is the spatial rank). Errors are INVALID_ARGUMENT
// naming the node and attribute; a spatial rank other than 1, 2 or 3 is
// UNIMPLEMENTED.
absl::StatusOr<WindowAttributes> ReadWindowAttributes(const OpBuildContext& ctx, absl::Span<const int64_t> kernel,
                                                      bool read_ceil_mode);

// The window placement for one input size, arrays indexed as above; the
// depth axis apart (in and out 1 for 1-D and 2-D windows).
struct WindowGeometry {
  int64_t in[2] = {1, 1};
  int64_t out[2] = {1, 1};
  int64_t kernel[2] = {1, 1};
  int64_t stride[2] = {1, 1};
  int64_t dilation[2] = {1, 1};
  int64_t pad_begin[2] = {0, 0};  // effective, after auto_pad
  int64_t pad_end[2] = {0, 0};
  int64_t depth_in = 1;
  int64_t depth_out = 1;
  AxisWindow depth;  // effective, after auto_pad

  // One [H, W] plane, and one channel's whole [D, H, W] volume.
  int64_t in_plane() const { return in[0] * in[1]; }
  int64_t out_plane() const { return out[0] * out[1]; }
  int64_t in_size() const { return depth_in * in_plane(); }
  int64_t out_size() const { return depth_out * out_plane(); }
  bool IsPointwise() const;  // 1x1(x1) kernel, stride 1, no padding: output == input grid
};

// Computes the geometry for an input whose spatial dimensions are
// `spatial_dims` (spatial_rank entries), following the ONNX output-shape rules:
//   NOTSET: out = floor((in + pads - dilated_kernel) / stride) + 1 (ceil with
//           ceil_mode, dropping a last window that would start in the end
//           padding, as the ONNX spec and PyTorch do);
//   VALID:  the floor form with no padding (ceil_mode does not apply);
//   SAME_*: out = ceil(in / stride), padding split evenly with the odd unit
//           at the end (SAME_UPPER) or the beginning (SAME_LOWER).
// Fails with INVALID_ARGUMENT (message without the node prefix, which the
// caller adds) when an input dimension is 0 or smaller than the window allows.
absl::Status ComputeWindowGeometry(const WindowAttributes& attrs, absl::Span<const int64_t> spatial_dims,
                                   WindowGeometry* geometry);

// For a window starting at `start` with taps at start + t * dilation,
// t in [0, taps): the range [*first, *last) of taps whose position lies in
// [low, high). Empty ranges come back as first == last.
inline void TapRange(int64_t start, int64_t dilation, int64_t taps, int64_t low, int64_t high, int64_t* first,
                     int64_t* last) {
  if (dilation == 1) {  // the common case, without divisions
    int64_t f = low - start > 0 ? low - start : 0;
    int64_t l = high - start < taps ? high - start : taps;
    if (l < 0) l = 0;
    if (f > l) f = l;
    *first = f;
    *last = l;
    return;
  }
  // first = ceil((low - start) / dilation) clamped to >= 0.
  int64_t f = 0;
  if (start < low) f = (low - start + dilation - 1) / dilation;
  // last = number of taps with start + t * dilation < high.
  int64_t l = 0;
  if (start < high) l = (high - start + dilation - 1) / dilation;
  if (l > taps) l = taps;
  if (f > l) f = l;
  *first = f;
  *last = l;
}

}  // namespace bnserve
