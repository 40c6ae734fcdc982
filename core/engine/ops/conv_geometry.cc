#include "core/engine/ops/conv_geometry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bnserve {
namespace {

absl::StatusOr<AutoPad> ParseAutoPad(const OpBuildContext& ctx) {
  const std::string value = ctx.node.GetString("auto_pad", "NOTSET");
  if (value == "NOTSET" || value.empty()) return AutoPad::kNotSet;
  if (value == "SAME_UPPER") return AutoPad::kSameUpper;
  if (value == "SAME_LOWER") return AutoPad::kSameLower;
  if (value == "VALID") return AutoPad::kValid;
  return absl::InvalidArgumentError(absl::StrCat(
      ctx.Describe(), ": attribute auto_pad expected NOTSET, SAME_UPPER, SAME_LOWER or VALID, got '", value, "'"));
}

// Reads an ints attribute of `count` entries, each >= `min_value`, into `out`
// (left unchanged when the attribute is absent).
absl::Status ReadPerAxis(const OpBuildContext& ctx, const char* name, size_t count, int64_t min_value, int64_t* out) {
  const Attribute* attr = ctx.node.FindAttribute(name);
  if (attr == nullptr) return absl::OkStatus();
  if (attr->ints.size() != count) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": attribute ", name, " expected ", count,
                                                   " values, got [", absl::StrJoin(attr->ints, ","), "]"));
  }
  for (size_t i = 0; i < count; ++i) {
    if (attr->ints[i] < min_value) {
      return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": attribute ", name, " expected values >= ",
                                                     min_value, ", got [", absl::StrJoin(attr->ints, ","), "]"));
    }
    out[i] = attr->ints[i];
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<WindowAttributes> ReadWindowAttributes(const OpBuildContext& ctx, absl::Span<const int64_t> kernel,
                                                      bool read_ceil_mode) {
  const int rank = static_cast<int>(kernel.size());
  if (rank < 1 || rank > 3) {
    return absl::UnimplementedError(absl::StrCat(ctx.Describe(), ": expected a 1-D, 2-D or 3-D window, got ", rank,
                                                 " spatial dimensions (kernel [", absl::StrJoin(kernel, ","), "])"));
  }
  for (int i = 0; i < rank; ++i) {
    if (kernel[i] < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx.Describe(), ": kernel size expected >= 1, got [", absl::StrJoin(kernel, ","), "]"));
    }
  }
  // Per-axis values in ONNX order (depth first for 3-D), then placed: the
  // last two axes are [height, width] (1-D: width only), a third is depth.
  int64_t strides[3] = {1, 1, 1};
  int64_t dilations[3] = {1, 1, 1};
  int64_t pads[6] = {0, 0, 0, 0, 0, 0};
  WindowAttributes attrs;
  attrs.spatial_rank = rank;
  BN_ASSIGN_OR_RETURN(attrs.auto_pad, ParseAutoPad(ctx));
  BN_RETURN_IF_ERROR(ReadPerAxis(ctx, "strides", rank, 1, strides));
  BN_RETURN_IF_ERROR(ReadPerAxis(ctx, "dilations", rank, 1, dilations));
  BN_RETURN_IF_ERROR(ReadPerAxis(ctx, "pads", 2 * rank, 0, pads));
  bool any_pad = false;
  for (int i = 0; i < 2 * rank; ++i) any_pad = any_pad || pads[i] != 0;
  const int plane_first = rank == 3 ? 1 : 0;    // ONNX index of the first plane axis
  const int offset = 2 - (rank - plane_first);  // 1-D lives on the width axis
  for (int i = plane_first; i < rank; ++i) {
    const int axis = offset + i - plane_first;
    attrs.kernel[axis] = kernel[i];
    attrs.stride[axis] = strides[i];
    attrs.dilation[axis] = dilations[i];
    attrs.pad_begin[axis] = pads[i];
    attrs.pad_end[axis] = pads[rank + i];
  }
  if (rank == 3) {
    attrs.depth.kernel = kernel[0];
    attrs.depth.stride = strides[0];
    attrs.depth.dilation = dilations[0];
    attrs.depth.pad_begin = pads[0];
    attrs.depth.pad_end = pads[rank];
  }
  if (any_pad && attrs.auto_pad != AutoPad::kNotSet) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.Describe(), ": explicit pads [", absl::StrJoin(ctx.node.GetInts("pads", {}), ","),
                     "] expected only with auto_pad NOTSET, got auto_pad ", ctx.node.GetString("auto_pad", "")));
  }
  if (read_ceil_mode) {
    const int64_t ceil_mode = ctx.node.GetInt("ceil_mode", 0);
    if (ceil_mode != 0 && ceil_mode != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx.Describe(), ": attribute ceil_mode expected 0 or 1, got ", ceil_mode));
    }
    attrs.ceil_mode = ceil_mode == 1;
  }
  return attrs;
}

bool WindowGeometry::IsPointwise() const {
  for (int i = 0; i < 2; ++i) {
    if (kernel[i] != 1 || stride[i] != 1 || pad_begin[i] != 0 || pad_end[i] != 0) return false;
  }
  return depth.kernel == 1 && depth.stride == 1 && depth.pad_begin == 0 && depth.pad_end == 0;
}

namespace {

// One axis of ComputeWindowGeometry: `window` holds the attributes on entry
// (pads explicit) and the effective padding on return. `index` is the ONNX
// spatial index, for the error message.
absl::Status ComputeAxis(const WindowAttributes& attrs, int64_t in, int index, AxisWindow* window, int64_t* out) {
  const int64_t stride = window->stride;
  const int64_t extent = (window->kernel - 1) * window->dilation + 1;
  if (in < 1) return absl::InvalidArgumentError(absl::StrCat("spatial dimension ", index, " expected >= 1, got ", in));
  if (attrs.auto_pad == AutoPad::kSameUpper || attrs.auto_pad == AutoPad::kSameLower) {
    *out = (in + stride - 1) / stride;
    const int64_t total = (*out - 1) * stride + extent - in;
    const int64_t pad = total > 0 ? total : 0;
    window->pad_begin = attrs.auto_pad == AutoPad::kSameUpper ? pad / 2 : pad - pad / 2;
    window->pad_end = pad - window->pad_begin;
    return absl::OkStatus();
  }
  if (attrs.auto_pad != AutoPad::kNotSet) window->pad_begin = window->pad_end = 0;
  const int64_t pad_begin = window->pad_begin, pad_end = window->pad_end;
  const int64_t span = in + pad_begin + pad_end - extent;
  if (span < 0) {
    return absl::InvalidArgumentError(absl::StrCat("spatial dimension ", index,
                                                   " expected >= ", extent - pad_begin - pad_end, " (dilated kernel ",
                                                   extent, " minus padding ", pad_begin + pad_end, "), got ", in));
  }
  // ceil_mode applies to explicit padding only; the spec's VALID formula
  // ceil((in - extent + 1) / stride) equals the floor form below.
  if (attrs.ceil_mode && attrs.auto_pad == AutoPad::kNotSet) {
    *out = (span + stride - 1) / stride + 1;
    // A window that would start inside the end padding is dropped.
    if ((*out - 1) * stride >= in + pad_begin) --*out;
  } else {
    *out = span / stride + 1;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ComputeWindowGeometry(const WindowAttributes& attrs, absl::Span<const int64_t> spatial_dims,
                                   WindowGeometry* g) {
  const int rank = attrs.spatial_rank;
  const int plane_rank = rank == 3 ? 2 : rank;
  const int offset = 2 - plane_rank;
  for (int axis = 0; axis < 2; ++axis) {
    const int index = axis - offset + (rank - plane_rank);
    const int64_t in = axis < offset ? 1 : spatial_dims[index];
    AxisWindow window{attrs.kernel[axis], attrs.stride[axis], attrs.dilation[axis], attrs.pad_begin[axis],
                      attrs.pad_end[axis]};
    BN_RETURN_IF_ERROR(ComputeAxis(attrs, in, index, &window, &g->out[axis]));
    g->in[axis] = in;
    g->kernel[axis] = window.kernel;
    g->stride[axis] = window.stride;
    g->dilation[axis] = window.dilation;
    g->pad_begin[axis] = window.pad_begin;
    g->pad_end[axis] = window.pad_end;
  }
  g->depth = attrs.depth;
  g->depth_in = rank == 3 ? spatial_dims[0] : 1;
  return ComputeAxis(attrs, g->depth_in, 0, &g->depth, &g->depth_out);
}

}  // namespace bnserve
