// Resize (ONNX opsets 10-19) and Upsample (7-9), float32: nearest and linear
// (1-D, bilinear, trilinear: every resized axis interpolated on its own)
// interpolation of the spatial axes of an [N, C, ...] tensor, the scales or
// output sizes given as constants. Segmentation networks end with one
// (F.interpolate back to the input size); their sizes come out of a Shape
// subgraph that is folded into a constant before ops are built.
//
// The interpolation is separable: one pass per resized axis, each reading an
// index/weight table with one entry per output position (two source indices
// and two weights), so the inner loops are plain blends of contiguous rows
// (vectorizable) except along the last axis, where they gather. Axes are
// resized shrinking ones first (least work for the later passes), and on a
// tie the last axis first, because its gathering pass then runs over the
// fewest rows. The tables depend only on the input's spatial size; they cost
// one entry per output row or column, computed per run.
//
// Coordinates follow the ONNX spec (computed in float64): half_pixel,
// pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nearest,
// half_pixel_symmetric (19+). Linear clamps the source coordinate to
// [0, in - 1], as PyTorch and ONNX Runtime do. The batch and channel axes
// pass through unchanged (the spec's tf_half_pixel_for_nearest formula taken
// literally would shift even an unscaled axis). Resize-10 and Upsample use
// asymmetric coordinates and, for nearest, ONNX Runtime's rule for them
// (floor, or ceil when the axis shrinks).
//
// Not supported (UNIMPLEMENTED at build, naming the attribute or input):
// cubic, tf_crop_and_resize, antialias, axes, keep_aspect_ratio_policy other
// than stretch, exclude_outside, runtime scales or sizes, and resizing the
// batch or channel axis.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/engine/ops/ops.h"
#include "core/engine/ops/required_inputs.h"
#include "core/util/thread_pool.h"

namespace bnserve {
namespace {

enum class InterpolationMode { kNearest, kLinear };

enum class CoordinateMode {
  kHalfPixel,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNearest,
  kHalfPixelSymmetric,
};

// kSimple: Resize-10 and Upsample (floor, ceil on a shrinking axis).
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

// One output position of one axis: y = w0 * x[lo] + w1 * x[hi].
struct AxisEntry {
  int64_t lo = 0;
  int64_t hi = 0;
  float w0 = 1.0f;
  float w1 = 0.0f;
};

struct ResizeConfig {
  InterpolationMode mode = InterpolationMode::kNearest;
  CoordinateMode coordinates = CoordinateMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  std::vector<double> scales;  // per axis; empty when `sizes` is given
  std::vector<int64_t> sizes;  // per axis; empty when `scales` is given
};

// The source coordinate of output position `j` on an axis of `in` inputs,
// `out` outputs and scale `scale` (ONNX Resize, coordinate_transformation_mode).
double SourceCoordinate(CoordinateMode mode, int64_t j, int64_t in, int64_t out, double scale) {
  const double x = static_cast<double>(j);
  switch (mode) {
    case CoordinateMode::kHalfPixel:
      return (x + 0.5) / scale - 0.5;
    case CoordinateMode::kPytorchHalfPixel:
      return out > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case CoordinateMode::kAlignCorners:
      return out == 1 ? 0.0 : x * static_cast<double>(in - 1) / static_cast<double>(out - 1);
    case CoordinateMode::kAsymmetric:
      return x / scale;
    case CoordinateMode::kTfHalfPixelForNearest:
      return (x + 0.5) / scale;
    case CoordinateMode::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(out) / (scale * static_cast<double>(in));
      const double center = static_cast<double>(in) / 2.0;
      return center * (1.0 - adjustment) + (x + 0.5) / scale - 0.5;
    }
  }
  return x;
}

int64_t RoundNearest(NearestMode mode, double x, bool shrinking) {
  const double lower = std::floor(x);
  switch (mode) {
    case NearestMode::kRoundPreferFloor:
      return static_cast<int64_t>(x - lower == 0.5 ? lower : std::round(x));
    case NearestMode::kRoundPreferCeil:
      return static_cast<int64_t>(x - lower == 0.5 ? lower + 1.0 : std::round(x));
    case NearestMode::kFloor:
      return static_cast<int64_t>(lower);
    case NearestMode::kCeil:
      return static_cast<int64_t>(std::ceil(x));
    case NearestMode::kSimple:
      return static_cast<int64_t>(shrinking ? std::ceil(x) : lower);
  }
  return static_cast<int64_t>(lower);
}

// The table of one axis. Returns true when it is the identity (nothing to do).
bool BuildAxisTable(const ResizeConfig& c, int64_t in, int64_t out, double scale, AxisEntry* table) {
  bool identity = in == out;
  for (int64_t j = 0; j < out; ++j) {
    const double x = SourceCoordinate(c.coordinates, j, in, out, scale);
    AxisEntry e;
    if (c.mode == InterpolationMode::kNearest) {
      e.lo = e.hi = std::clamp<int64_t>(RoundNearest(c.nearest, x, out < in), 0, in - 1);
    } else {
      const double clamped = std::clamp(x, 0.0, static_cast<double>(in - 1));
      e.lo = static_cast<int64_t>(std::floor(clamped));
      e.hi = std::min(e.lo + 1, in - 1);
      const double frac = clamped - static_cast<double>(e.lo);
      e.w0 = static_cast<float>(1.0 - frac);
      e.w1 = static_cast<float>(frac);
      if (e.hi == e.lo || e.w1 == 0.0f) {  // one source: an exact copy
        e.hi = e.lo;
        e.w0 = 1.0f;
        e.w1 = 0.0f;
      }
    }
    identity = identity && e.lo == j && e.w1 == 0.0f;
    table[j] = e;
  }
  return identity;
}

// Resizes axis `axis` of `x` (dims `in_dims`) into `y`, whose dims are the
// same but `out` on that axis.
void ResizeAxis(const float* x, const Shape& in_dims, int axis, int64_t out, const AxisEntry* table, float* y,
                ThreadPool* pool) {
  const int64_t outer = in_dims.Product(0, axis);
  const int64_t in = in_dims[axis];
  const int64_t inner = in_dims.Product(axis + 1, in_dims.rank());
  if (inner == 1) {  // the last axis: a gather per output element
    ParallelFor(pool, outer, GrainFor(pool, outer, 16), [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        const float* src = x + o * in;
        float* dst = y + o * out;
        for (int64_t j = 0; j < out; ++j) {
          const AxisEntry& e = table[j];
          dst[j] = e.w0 * src[e.lo] + e.w1 * src[e.hi];
        }
      }
    });
    return;
  }
  const int64_t rows = outer * out;
  ParallelFor(pool, rows, GrainFor(pool, rows, 1), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t o = r / out, j = r % out;
      const AxisEntry& e = table[j];
      const float* a = x + (o * in + e.lo) * inner;
      float* dst = y + r * inner;
      if (e.w1 == 0.0f) {
        std::memcpy(dst, a, static_cast<size_t>(inner) * sizeof(float));
        continue;
      }
      const float* b = x + (o * in + e.hi) * inner;
      const float w0 = e.w0, w1 = e.w1;
      for (int64_t i = 0; i < inner; ++i) dst[i] = w0 * a[i] + w1 * b[i];
    }
  });
}

class ResizeOp final : public Op {
 public:
  ResizeOp(std::string describe, ResizeConfig config) : describe_(std::move(describe)), config_(std::move(config)) {}

  // Scales and sizes are copied into the config at build time.
  bool KeepsConstantInputs() const override { return true; }

  absl::Status Run(const OpContext& ctx) const override {
    const TensorView& x = ctx.input(0);
    const int rank = x.shape.rank();
    const size_t expected = config_.scales.empty() ? config_.sizes.size() : config_.scales.size();
    if (static_cast<size_t>(rank) != expected || rank < 2) {
      return absl::InvalidArgumentError(absl::StrCat(describe_, ": input X expected rank ", expected,
                                                     " (one per entry of scales or sizes), got ", x.shape.ToString()));
    }
    Shape y_shape = x.shape;
    for (int a = 0; a < rank; ++a) {
      const int64_t in = x.shape[a];
      // Checked before the conversion: a huge scale must not overflow it.
      const double scaled = std::floor(static_cast<double>(in) * (config_.scales.empty() ? 1.0 : config_.scales[a]));
      if (scaled > static_cast<double>(Shape::kMaxElements)) {
        return absl::InvalidArgumentError(absl::StrCat(describe_, ": input X ", x.shape.ToString(),
                                                       ": output size on axis ", a, " expected at most ",
                                                       Shape::kMaxElements, ", got ", scaled));
      }
      const int64_t out = config_.scales.empty() ? config_.sizes[a] : static_cast<int64_t>(scaled);
      if (a < 2 && out != in) {
        return absl::InvalidArgumentError(absl::StrCat(describe_, ": input X ", x.shape.ToString(),
                                                       ": the output's batch and channel dims expected equal to the "
                                                       "input's, got size ",
                                                       out, " on axis ", a));
      }
      if (in < 1 || out < 1) {
        return absl::InvalidArgumentError(absl::StrCat(describe_, ": input X ", x.shape.ToString(),
                                                       ": expected input and output dims >= 1, got output size ", out,
                                                       " on axis ", a));
      }
      y_shape[a] = out;
    }
    if (auto checked = Shape::FromDims(y_shape.dims(), "output Y"); !checked.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(describe_, ": input X ", x.shape.ToString(), ": ", checked.status().message()));
    }

    // Tables of the resized axes, in a per-thread buffer that only grows.
    thread_local std::vector<AxisEntry> tables;
    int64_t table_size = 0;
    for (int a = 2; a < rank; ++a) table_size += y_shape[a];
    if (tables.size() < static_cast<size_t>(table_size)) tables.resize(static_cast<size_t>(table_size));
    int axes[Shape::kMaxRank];
    int64_t offsets[Shape::kMaxRank] = {};
    int num_axes = 0;
    int64_t offset = 0;
    for (int a = 2; a < rank; ++a) {
      const int64_t in = x.shape[a], out = y_shape[a];
      const double scale =
          config_.scales.empty() ? static_cast<double>(out) / static_cast<double>(in) : config_.scales[a];
      if (!BuildAxisTable(config_, in, out, scale, tables.data() + offset)) {
        offsets[a] = offset;
        axes[num_axes++] = a;
      }
      offset += out;
    }
    // Shrinking axes first; on a tie, the later axis first (an insertion
    // sort: at most Shape::kMaxRank - 2 entries).
    auto before = [&](int a, int b) {
      const double ra = static_cast<double>(y_shape[a]) / static_cast<double>(x.shape[a]);
      const double rb = static_cast<double>(y_shape[b]) / static_cast<double>(x.shape[b]);
      return ra != rb ? ra < rb : a > b;
    };
    for (int i = 1; i < num_axes; ++i) {
      for (int k = i; k > 0 && before(axes[k], axes[k - 1]); --k) std::swap(axes[k], axes[k - 1]);
    }

    Tensor* y = ctx.output(0);
    y->Resize(y_shape);
    if (num_axes == 0) {
      std::copy_n(x.data, x.shape.NumElements(), y->data.data());
      return absl::OkStatus();
    }
    // Intermediate results alternate between two halves of the scratch.
    Shape dims = x.shape;
    int64_t largest = 0;
    for (int i = 0; i + 1 < num_axes; ++i) {
      dims[axes[i]] = y_shape[axes[i]];
      largest = std::max(largest, dims.NumElements());
    }
    std::vector<float>* scratch = ctx.scratch();
    if (scratch->size() < static_cast<size_t>(2 * largest)) scratch->resize(static_cast<size_t>(2 * largest));
    dims = x.shape;
    const float* src = x.data;
    for (int i = 0; i < num_axes; ++i) {
      const int a = axes[i];
      float* dst = i + 1 == num_axes ? y->data.data() : scratch->data() + (i % 2) * largest;
      ResizeAxis(src, dims, a, y_shape[a], tables.data() + offsets[a], dst, ctx.thread_pool());
      dims[a] = y_shape[a];
      src = dst;
    }
    return absl::OkStatus();
  }

 private:
  std::string describe_;
  ResizeConfig config_;
};

absl::Status Unimplemented(const OpBuildContext& ctx, const std::string& what) {
  return absl::UnimplementedError(absl::StrCat(ctx.Describe(), ": ", what));
}

// Reads the mode attribute ("nearest" or "linear").
absl::StatusOr<InterpolationMode> ReadMode(const OpBuildContext& ctx) {
  const std::string mode = ctx.node.GetString("mode", "nearest");
  if (mode == "nearest") return InterpolationMode::kNearest;
  if (mode == "linear") return InterpolationMode::kLinear;
  return Unimplemented(ctx, absl::StrCat("attribute mode '", mode, "' is not supported; expected nearest or linear"));
}

// A scales input or attribute: one float >= 0 per axis, the batch and channel
// axes unscaled.
absl::StatusOr<std::vector<double>> CheckScales(const OpBuildContext& ctx, const std::vector<float>& values) {
  std::vector<double> scales(values.begin(), values.end());
  for (size_t a = 0; a < scales.size(); ++a) {
    if (!(scales[a] > 0.0) || !std::isfinite(scales[a])) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx.Describe(), ": scales expected finite values > 0, got [", absl::StrJoin(values, ","), "]"));
    }
    if (a < 2 && scales[a] != 1.0) {
      return Unimplemented(ctx, absl::StrCat("scales [", absl::StrJoin(values, ","),
                                             "] resize the batch or channel axis; expected 1 on axes 0 and 1"));
    }
  }
  if (scales.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(),
                                                   ": scales expected one value per axis of an [N,C,...] input, got [",
                                                   absl::StrJoin(values, ","), "]"));
  }
  return scales;
}

// The constant float input `index` (named `name`), or an error naming it.
absl::StatusOr<const ConstantTensor*> ConstantFloatInput(const OpBuildContext& ctx, size_t index, const char* name) {
  const ConstantTensor* t = ctx.ConstantInput(index);
  if (t == nullptr) {
    return Unimplemented(ctx, absl::StrCat("input ", name, " ('", ctx.node.inputs[index],
                                           "') expected a constant initializer, got a runtime value"));
  }
  if (t->dtype != DataType::kFloat || t->shape.rank() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.Describe(), ": input ", name, " expected a 1-D float tensor, got ", t->shape.ToString()));
  }
  return t;
}

absl::StatusOr<std::unique_ptr<Op>> MakeUpsample(const OpBuildContext& ctx) {
  BN_RETURN_IF_ERROR(RequireInputs(ctx, {"X"}));
  ResizeConfig config;
  BN_ASSIGN_OR_RETURN(config.mode, ReadMode(ctx));
  config.coordinates = CoordinateMode::kAsymmetric;
  config.nearest = NearestMode::kSimple;
  if (ctx.graph.opset < 9) {
    const Attribute* scales = ctx.node.FindAttribute("scales");
    if (scales == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": attribute scales expected, got none"));
    }
    BN_ASSIGN_OR_RETURN(config.scales, CheckScales(ctx, scales->floats));
  } else {
    BN_RETURN_IF_ERROR(RequireInputs(ctx, {"X", "scales"}));
    BN_ASSIGN_OR_RETURN(const ConstantTensor* scales, ConstantFloatInput(ctx, 1, "scales"));
    BN_ASSIGN_OR_RETURN(config.scales, CheckScales(ctx, scales->floats));
  }
  return std::unique_ptr<Op>(std::make_unique<ResizeOp>(ctx.Describe(), std::move(config)));
}

absl::StatusOr<CoordinateMode> ReadCoordinateMode(const OpBuildContext& ctx) {
  const std::string mode = ctx.node.GetString("coordinate_transformation_mode", "half_pixel");
  if (mode == "half_pixel") return CoordinateMode::kHalfPixel;
  if (mode == "pytorch_half_pixel") return CoordinateMode::kPytorchHalfPixel;
  if (mode == "align_corners") return CoordinateMode::kAlignCorners;
  if (mode == "asymmetric") return CoordinateMode::kAsymmetric;
  if (mode == "tf_half_pixel_for_nearest") return CoordinateMode::kTfHalfPixelForNearest;
  if (mode == "half_pixel_symmetric" && ctx.graph.opset >= 19) return CoordinateMode::kHalfPixelSymmetric;
  return Unimplemented(ctx, absl::StrCat("attribute coordinate_transformation_mode '", mode,
                                         "' is not supported; expected half_pixel, pytorch_half_pixel, "
                                         "align_corners, asymmetric, tf_half_pixel_for_nearest",
                                         ctx.graph.opset >= 19 ? " or half_pixel_symmetric" : ""));
}

absl::StatusOr<NearestMode> ReadNearestMode(const OpBuildContext& ctx) {
  const std::string mode = ctx.node.GetString("nearest_mode", "round_prefer_floor");
  if (mode == "round_prefer_floor") return NearestMode::kRoundPreferFloor;
  if (mode == "round_prefer_ceil") return NearestMode::kRoundPreferCeil;
  if (mode == "floor") return NearestMode::kFloor;
  if (mode == "ceil") return NearestMode::kCeil;
  return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": attribute nearest_mode expected ",
                                                 "round_prefer_floor, round_prefer_ceil, floor or ceil, got '", mode,
                                                 "'"));
}

absl::StatusOr<std::unique_ptr<Op>> MakeResize(const OpBuildContext& ctx) {
  const Node& node = ctx.node;
  const int64_t opset = ctx.graph.opset;
  BN_RETURN_IF_ERROR(RequireInputs(ctx, {"X"}));
  ResizeConfig config;
  BN_ASSIGN_OR_RETURN(config.mode, ReadMode(ctx));
  if (opset < 11) {
    // Resize-10: X and scales only, asymmetric coordinates (as Upsample).
    BN_RETURN_IF_ERROR(RequireInputs(ctx, {"X", "scales"}));
    config.coordinates = CoordinateMode::kAsymmetric;
    config.nearest = NearestMode::kSimple;
    BN_ASSIGN_OR_RETURN(const ConstantTensor* scales, ConstantFloatInput(ctx, 1, "scales"));
    BN_ASSIGN_OR_RETURN(config.scales, CheckScales(ctx, scales->floats));
    return std::unique_ptr<Op>(std::make_unique<ResizeOp>(ctx.Describe(), std::move(config)));
  }
  BN_ASSIGN_OR_RETURN(config.coordinates, ReadCoordinateMode(ctx));
  BN_ASSIGN_OR_RETURN(config.nearest, ReadNearestMode(ctx));
  if (const int64_t v = node.GetInt("exclude_outside", 0); v != 0) {
    return Unimplemented(ctx, absl::StrCat("attribute exclude_outside ", v, " is not supported; expected 0"));
  }
  if (const int64_t v = node.GetInt("antialias", 0); v != 0) {
    return Unimplemented(ctx, absl::StrCat("attribute antialias ", v, " is not supported; expected 0"));
  }
  if (node.FindAttribute("axes") != nullptr) {
    return Unimplemented(ctx, absl::StrCat("attribute axes [", absl::StrJoin(node.GetInts("axes", {}), ","),
                                           "] is not supported; expected scales or sizes for every axis"));
  }
  if (const std::string v = node.GetString("keep_aspect_ratio_policy", "stretch"); v != "stretch") {
    return Unimplemented(
        ctx, absl::StrCat("attribute keep_aspect_ratio_policy '", v, "' is not supported; expected stretch"));
  }
  // Inputs: X, roi, scales, sizes. roi matters only for tf_crop_and_resize,
  // rejected above; an empty scales tensor means "use sizes" (opsets 11-12).
  const ConstantTensor* scales = nullptr;
  if (node.HasInput(2)) {
    BN_ASSIGN_OR_RETURN(scales, ConstantFloatInput(ctx, 2, "scales"));
    if (scales->shape[0] == 0) scales = nullptr;
  }
  const ConstantTensor* sizes = nullptr;
  if (node.HasInput(3)) {
    sizes = ctx.ConstantInput(3);
    if (sizes == nullptr) {
      return Unimplemented(ctx, absl::StrCat("input sizes ('", node.inputs[3],
                                             "') expected a constant initializer, got a runtime value"));
    }
    if (sizes->dtype != DataType::kInt64 || sizes->shape.rank() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx.Describe(), ": input sizes expected a 1-D int64 tensor, got ", sizes->shape.ToString()));
    }
  }
  if ((scales == nullptr) == (sizes == nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": expected exactly one of the inputs scales and ",
                                                   "sizes (a non-empty tensor), got ",
                                                   scales == nullptr ? "neither" : "both"));
  }
  if (scales != nullptr) {
    BN_ASSIGN_OR_RETURN(config.scales, CheckScales(ctx, scales->floats));
  } else {
    config.sizes = sizes->ints;
    if (config.sizes.size() < 2) {
      return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(),
                                                     ": sizes expected one value per axis of an [N,C,...] input, got [",
                                                     absl::StrJoin(config.sizes, ","), "]"));
    }
    for (int64_t s : config.sizes) {
      if (s < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(ctx.Describe(), ": sizes expected values >= 1, got [", absl::StrJoin(config.sizes, ","), "]"));
      }
    }
  }
  return std::unique_ptr<Op>(std::make_unique<ResizeOp>(ctx.Describe(), std::move(config)));
}

}  // namespace

void RegisterResizeOps(OpRegistry* registry) {
  // Resize-10: scales only; 11: roi, sizes, coordinate modes; 13: optional
  // roi and scales; 18: antialias, axes, keep_aspect_ratio_policy; 19:
  // half_pixel_symmetric.
  registry->Register("", "Resize", 10, 19, MakeResize);
  // Upsample-7: scales attribute; 9: scales input; deprecated from 10.
  registry->Register("", "Upsample", 7, 9, MakeUpsample);
}

}  // namespace bnserve
