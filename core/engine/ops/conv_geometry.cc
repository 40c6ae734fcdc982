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
  if (rank != 1 && rank != 2) {
    return absl::UnimplementedError(absl::StrCat(ctx.Describe(), ": expected a 1-D or 2-D window, got ", rank,
                                                 " spatial dimensions (kernel [", absl::StrJoin(kernel, ","), "])"));
  }
  WindowAttributes attrs;
  attrs.spatial_rank = rank;
  const int offset = 2 - rank;  // 1-D lives on the width axis
  for (int i = 0; i < rank; ++i) {
    if (kernel[i] < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx.Describe(), ": kernel size expected >= 1, got [", absl::StrJoin(kernel, ","), "]"));
    }
    attrs.kernel[offset + i] = kernel[i];
  }
  BN_ASSIGN_OR_RETURN(attrs.auto_pad, ParseAutoPad(ctx));
  BN_RETURN_IF_ERROR(ReadPerAxis(ctx, "strides", rank, 1, attrs.stride + offset));
  BN_RETURN_IF_ERROR(ReadPerAxis(ctx, "dilations", rank, 1, attrs.dilation + offset));
  int64_t pads[4] = {0, 0, 0, 0};
  BN_RETURN_IF_ERROR(ReadPerAxis(ctx, "pads", 2 * rank, 0, pads));
  bool any_pad = false;
  for (int i = 0; i < rank; ++i) {
    attrs.pad_begin[offset + i] = pads[i];
    attrs.pad_end[offset + i] = pads[rank + i];
    any_pad = any_pad || pads[i] != 0 || pads[rank + i] != 0;
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
  return true;
}

absl::Status ComputeWindowGeometry(const WindowAttributes& attrs, absl::Span<const int64_t> spatial_dims,
                                   WindowGeometry* g) {
  const int offset = 2 - attrs.spatial_rank;
  for (int axis = 0; axis < 2; ++axis) {
    const int64_t in = axis < offset ? 1 : spatial_dims[axis - offset];
    const int64_t kernel = attrs.kernel[axis];
    const int64_t stride = attrs.stride[axis];
    const int64_t dilation = attrs.dilation[axis];
    const int64_t extent = (kernel - 1) * dilation + 1;
    if (in < 1) {
      return absl::InvalidArgumentError(absl::StrCat("spatial dimension ", axis - offset, " expected >= 1, got ", in));
    }
    int64_t pad_begin = 0;
    int64_t pad_end = 0;
    int64_t out = 0;
    if (attrs.auto_pad == AutoPad::kSameUpper || attrs.auto_pad == AutoPad::kSameLower) {
      out = (in + stride - 1) / stride;
      const int64_t total = (out - 1) * stride + extent - in;
      const int64_t pad = total > 0 ? total : 0;
      pad_begin = attrs.auto_pad == AutoPad::kSameUpper ? pad / 2 : pad - pad / 2;
      pad_end = pad - pad_begin;
    } else {
      if (attrs.auto_pad == AutoPad::kNotSet) {
        pad_begin = attrs.pad_begin[axis];
        pad_end = attrs.pad_end[axis];
      }
      const int64_t span = in + pad_begin + pad_end - extent;
      if (span < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("spatial dimension ", axis - offset, " expected >= ", extent - pad_begin - pad_end,
                         " (dilated kernel ", extent, " minus padding ", pad_begin + pad_end, "), got ", in));
      }
      // ceil_mode applies to explicit padding only; the spec's VALID formula
      // ceil((in - extent + 1) / stride) equals the floor form below.
      if (attrs.ceil_mode && attrs.auto_pad == AutoPad::kNotSet) {
        out = (span + stride - 1) / stride + 1;
        // A window that would start inside the end padding is dropped.
        if ((out - 1) * stride >= in + pad_begin) --out;
      } else {
        out = span / stride + 1;
      }
    }
    g->in[axis] = in;
    g->out[axis] = out;
    g->kernel[axis] = kernel;
    g->stride[axis] = stride;
    g->dilation[axis] = dilation;
    g->pad_begin[axis] = pad_begin;
    g->pad_end[axis] = pad_end;
  }
  return absl::OkStatus();
}

}  // namespace bnserve
