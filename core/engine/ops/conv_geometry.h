// Sliding-window geometry shared by Conv, MaxPool and AveragePool: the
// spatial attributes (kernel, strides, dilations, pads, auto_pad, ceil_mode),
// read and validated once when the op is built, and the output size and
// effective padding computed per run from the input's spatial size.
//
// 1-D windows are stored as 2-D ones whose height axis is a dummy of size 1
// (kernel 1, stride 1, no padding), so every kernel has a single 2-D code path.
#pragma once

#include <cstdint>
#include <string>

#include "absl/types/span.h"
#include "core/engine/op.h"
#include "core/util/status.h"

namespace bnserve {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

// Validated window attributes. Arrays are indexed [0] = height, [1] = width.
struct WindowAttributes {
  int spatial_rank = 2;  // 1 or 2
  AutoPad auto_pad = AutoPad::kNotSet;
  bool ceil_mode = false;
  int64_t kernel[2] = {1, 1};
  int64_t stride[2] = {1, 1};
  int64_t dilation[2] = {1, 1};
  int64_t pad_begin[2] = {0, 0};  // explicit pads; used only with kNotSet
  int64_t pad_end[2] = {0, 0};
};

// Reads auto_pad, strides, dilations, pads (and ceil_mode when
// `read_ceil_mode`) from the node. `kernel` holds the spatial kernel size (1
// or 2 entries; its size is the spatial rank). Errors are INVALID_ARGUMENT
// naming the node and attribute; a spatial rank other than 1 or 2 is
// UNIMPLEMENTED.
absl::StatusOr<WindowAttributes> ReadWindowAttributes(const OpBuildContext& ctx, absl::Span<const int64_t> kernel,
                                                      bool read_ceil_mode);

// The window placement for one input size, arrays indexed as above.
struct WindowGeometry {
  int64_t in[2] = {1, 1};
  int64_t out[2] = {1, 1};
  int64_t kernel[2] = {1, 1};
  int64_t stride[2] = {1, 1};
  int64_t dilation[2] = {1, 1};
  int64_t pad_begin[2] = {0, 0};  // effective, after auto_pad
  int64_t pad_end[2] = {0, 0};

  int64_t in_size() const { return in[0] * in[1]; }
  int64_t out_size() const { return out[0] * out[1]; }
  bool IsPointwise() const;  // 1x1 kernel, stride 1, no padding: output == input grid
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
