// MaxPool, AveragePool (1-D, 2-D and 3-D windows) and GlobalAveragePool (any
// rank >= 3), float32 NCHW, ONNX opsets 1-22.
//
// 3-D windows are separable along depth: a maximum is the maximum over the
// window's input planes (combined elementwise) of the 2-D window maximum, and
// an average is the 2-D average of the planes' sum divided by the depth taps'
// count too (both counts are per-axis products, with or without padding).
//
// Window attributes by opset: count_include_pad from 7, ceil_mode from 10,
// dilations from 10 (MaxPool) and 19 (AveragePool); an attribute given before
// its opset is an invalid model. MaxPool's optional Indices output (opset 8+)
// is not supported. Padding never contributes to a maximum; for averages it
// counts in the divisor only with count_include_pad, and then only the
// declared padding does (not the extra cells ceil_mode may add), as in
// PyTorch and ONNX Runtime.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/engine/ops/conv_geometry.h"
#include "core/engine/ops/ops.h"
#include "core/engine/ops/required_inputs.h"
#include "core/util/thread_pool.h"

namespace bnserve {
namespace {

enum class PoolKind { kMax, kAverage };

// Rejects `attribute` when present below `since_opset`.
absl::Status CheckAttributeOpset(const OpBuildContext& ctx, const char* attribute, int64_t since_opset) {
  if (ctx.node.FindAttribute(attribute) != nullptr && ctx.graph.opset < since_opset) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": attribute ", attribute,
                                                   " expected only from opset ", since_opset, ", got opset ",
                                                   ctx.graph.opset));
  }
  return absl::OkStatus();
}

// out[w] = max(prev[w], a[w], b[w]) for w < width, compared in that order
// as `v > best ? v : best` starting from -inf; prev and b may be null.
void MaxOfRows(const float* prev, const float* a, const float* b, int64_t width, float* out) {
  constexpr float kLowest = -std::numeric_limits<float>::infinity();
  if (prev == nullptr && b == nullptr) {
    for (int64_t w = 0; w < width; ++w) out[w] = a[w] > kLowest ? a[w] : kLowest;
  } else if (prev == nullptr) {
    for (int64_t w = 0; w < width; ++w) {
      const float best = a[w] > kLowest ? a[w] : kLowest;
      out[w] = b[w] > best ? b[w] : best;
    }
  } else if (b == nullptr) {
    for (int64_t w = 0; w < width; ++w) out[w] = a[w] > prev[w] ? a[w] : prev[w];
  } else {
    for (int64_t w = 0; w < width; ++w) {
      const float best = a[w] > prev[w] ? a[w] : prev[w];
      out[w] = b[w] > best ? b[w] : best;
    }
  }
}

// out[o] = max of the kKernel consecutive values at row + o * kStride, for
// o < count: the common window shapes with compile-time sizes, so the loop
// vectorizes.
template <int kKernel, int kStride>
void RowWindowMax(const float* row, int64_t count, float* out) {
  for (int64_t o = 0; o < count; ++o) {
    float best = -std::numeric_limits<float>::infinity();
    for (int j = 0; j < kKernel; ++j) best = row[o * kStride + j] > best ? row[o * kStride + j] : best;
    out[o] = best;
  }
}

class PoolOp final : public Op {
 public:
  static absl::StatusOr<std::unique_ptr<Op>> Create(const OpBuildContext& ctx, PoolKind kind);
  absl::Status Run(const OpContext& ctx) const override;

 private:
  PoolOp() = default;
  // One [H, W] plane into one [OH, OW] plane.
  // `column_max` is scratch for one input row.
  void MaxPlane(const float* x, const WindowGeometry& g, float* column_max, float* y) const;
  // Divides each window's sum by its count times `depth_count`.
  void AveragePlane(const float* x, const WindowGeometry& g, int64_t depth_count, float* y) const;
  // One [D, H, W] volume into one [OD, OH, OW] volume; `scratch` holds
  // in_plane() + in[1] floats.
  void PoolVolume(const float* x, const WindowGeometry& g, float* scratch, float* y) const;

  std::string describe_;
  PoolKind kind_ = PoolKind::kMax;
  WindowAttributes window_;
  bool count_include_pad_ = false;
};

absl::StatusOr<std::unique_ptr<Op>> PoolOp::Create(const OpBuildContext& ctx, PoolKind kind) {
  const Node& node = ctx.node;
  BN_RETURN_IF_ERROR(RequireInputs(ctx, {"X"}));
  if (kind == PoolKind::kMax && node.outputs.size() > 1 && !node.outputs[1].empty()) {
    return absl::UnimplementedError(absl::StrCat(ctx.Describe(), ": output Indices ('", node.outputs[1],
                                                 "') is not supported; expected only output Y"));
  }
  const Attribute* kernel = node.FindAttribute("kernel_shape");
  if (kernel == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": attribute kernel_shape expected, got none"));
  }
  BN_RETURN_IF_ERROR(CheckAttributeOpset(ctx, "ceil_mode", 10));
  BN_RETURN_IF_ERROR(CheckAttributeOpset(ctx, "dilations", kind == PoolKind::kMax ? 10 : 19));
  auto op = std::unique_ptr<PoolOp>(new PoolOp());
  op->describe_ = ctx.Describe();
  op->kind_ = kind;
  BN_ASSIGN_OR_RETURN(op->window_, ReadWindowAttributes(ctx, kernel->ints, /*read_ceil_mode=*/true));
  if (kind == PoolKind::kAverage) {
    BN_RETURN_IF_ERROR(CheckAttributeOpset(ctx, "count_include_pad", 7));
    const int64_t include = node.GetInt("count_include_pad", 0);
    if (include != 0 && include != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx.Describe(), ": attribute count_include_pad expected 0 or 1, got ", include));
    }
    op->count_include_pad_ = include == 1;
  }
  // A pad as wide as the window would allow windows made of padding alone,
  // whose max or mean is undefined; PyTorch never exports one.
  const WindowAttributes& w = op->window_;
  for (int axis = 0; axis < 3; ++axis) {
    const AxisWindow a =
        axis < 2 ? AxisWindow{w.kernel[axis], w.stride[axis], w.dilation[axis], w.pad_begin[axis], w.pad_end[axis]}
                 : w.depth;
    const int64_t extent = (a.kernel - 1) * a.dilation + 1;
    if (a.pad_begin >= extent || a.pad_end >= extent) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx.Describe(), ": attribute pads [", absl::StrJoin(node.GetInts("pads", {}), ","),
                       "] expected smaller than the (dilated) kernel [", absl::StrJoin(kernel->ints, ","), "]"));
    }
  }
  return std::unique_ptr<Op>(std::move(op));
}

absl::Status PoolOp::Run(const OpContext& ctx) const {
  const TensorView& x = ctx.input(0);
  const int rank = window_.spatial_rank + 2;
  if (x.shape.rank() != rank) {
    return absl::InvalidArgumentError(absl::StrCat(describe_, ": input X expected rank ", rank,
                                                   rank == 3   ? " [N,C,L]"
                                                   : rank == 4 ? " [N,C,H,W]"
                                                               : " [N,C,D,H,W]",
                                                   ", got ", x.shape.ToString()));
  }
  WindowGeometry g;
  if (absl::Status s = ComputeWindowGeometry(window_, x.shape.dims().subspan(2), &g); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(describe_, ": input X ", x.shape.ToString(), ": ", s.message()));
  }
  Shape y_shape{x.shape[0], x.shape[1]};
  if (rank == 5) y_shape.push_back(g.depth_out);
  if (rank >= 4) y_shape.push_back(g.out[0]);
  y_shape.push_back(g.out[1]);
  Tensor* y = ctx.output(0);
  y->Resize(y_shape);
  const int64_t planes = x.shape[0] * x.shape[1];
  const float* x_data = x.data;
  float* y_data = y->data.data();
  ThreadPool* pool = ctx.thread_pool();
  const int64_t grain = GrainFor(pool, planes, 1);
  if (rank == 5) {
    std::vector<float>* scratch = ctx.scratch();
    const int64_t slot_floats = g.in_plane() + g.in[1];
    const size_t needed = static_cast<size_t>(NumSlots(pool) * slot_floats);
    if (scratch->size() < needed) scratch->resize(needed);
    ParallelForWithSlot(pool, planes, grain, [&](int slot, int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        PoolVolume(x_data + p * g.in_size(), g, scratch->data() + slot * slot_floats, y_data + p * g.out_size());
      }
    });
    return absl::OkStatus();
  }
  if (kind_ == PoolKind::kMax) {
    std::vector<float>* scratch = ctx.scratch();
    const size_t needed = static_cast<size_t>(NumSlots(pool) * g.in[1]);
    if (scratch->size() < needed) scratch->resize(needed);
    ParallelForWithSlot(pool, planes, grain, [&](int slot, int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        MaxPlane(x_data + p * g.in_size(), g, scratch->data() + slot * g.in[1], y_data + p * g.out_size());
      }
    });
  } else {
    ParallelFor(pool, planes, grain, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) AveragePlane(x_data + p * g.in_size(), g, 1, y_data + p * g.out_size());
    });
  }
  return absl::OkStatus();
}

void PoolOp::MaxPlane(const float* x, const WindowGeometry& g, float* column_max, float* y) const {
  // Separable: per output row, the maximum down each input column over the
  // window's rows, then across each window's columns. A maximum does not
  // depend on the order of its comparisons (every one is `v > best ? v :
  // best` from -inf, so NaN is skipped as in the one-pass form), and the
  // column pass is a plain vectorizable loop over the row.
  const int64_t height = g.in[0], width = g.in[1];
  if (g.kernel[0] == 2 && g.kernel[1] == 2 && g.stride[0] == 2 && g.stride[1] == 2 && g.dilation[0] == 1 &&
      g.dilation[1] == 1 && g.pad_begin[0] == 0 && g.pad_begin[1] == 0 && 2 * g.out[0] <= height &&
      2 * g.out[1] <= width) {
    // MaxPool2d(2) with every window inside the image, by far the most
    // common pool: one fused pass instead of the separable two.
    for (int64_t oh = 0; oh < g.out[0]; ++oh) {
      const float* r0 = x + 2 * oh * width;
      const float* r1 = r0 + width;
      float* out = y + oh * g.out[1];
      for (int64_t ow = 0; ow < g.out[1]; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        best = r0[2 * ow] > best ? r0[2 * ow] : best;
        best = r0[2 * ow + 1] > best ? r0[2 * ow + 1] : best;
        best = r1[2 * ow] > best ? r1[2 * ow] : best;
        out[ow] = r1[2 * ow + 1] > best ? r1[2 * ow + 1] : best;
      }
    }
    return;
  }
  const int64_t kernel_w = g.kernel[1], stride_w = g.stride[1], dilation_w = g.dilation[1];
  // Output columns [ow_lo, ow_hi) have every tap inside the row.
  const int64_t extent_w = (kernel_w - 1) * dilation_w;
  const int64_t ow_lo = std::min(g.out[1], (g.pad_begin[1] + stride_w - 1) / stride_w);
  const int64_t last_start = width - 1 - extent_w + g.pad_begin[1];  // of an inside window, times stride
  const int64_t ow_hi = last_start < 0 ? ow_lo : std::max(ow_lo, std::min(g.out[1], last_start / stride_w + 1));
  for (int64_t oh = 0; oh < g.out[0]; ++oh) {
    const int64_t h0 = oh * g.stride[0] - g.pad_begin[0];
    int64_t i_lo, i_hi;
    TapRange(h0, g.dilation[0], g.kernel[0], 0, height, &i_lo, &i_hi);
    // Up to two input rows per pass over column_max, so it is loaded and
    // stored once per two rows.
    const int64_t row_step = g.dilation[0] * width;
    const float* row = x + (h0 + i_lo * g.dilation[0]) * width;
    for (int64_t i = i_lo; i < i_hi; i += 2, row += 2 * row_step) {
      MaxOfRows(i == i_lo ? nullptr : column_max, row, i + 1 < i_hi ? row + row_step : nullptr, width, column_max);
    }
    if (i_hi <= i_lo) std::fill_n(column_max, width, -std::numeric_limits<float>::infinity());
    float* out = y + oh * g.out[1];
    auto window_max = [&](int64_t ow) {
      const int64_t w0 = ow * stride_w - g.pad_begin[1];
      int64_t j_lo, j_hi;
      TapRange(w0, dilation_w, kernel_w, 0, width, &j_lo, &j_hi);
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t j = j_lo; j < j_hi; ++j) {
        const float v = column_max[w0 + j * dilation_w];
        best = v > best ? v : best;
      }
      return best;
    };
    for (int64_t ow = 0; ow < ow_lo; ++ow) out[ow] = window_max(ow);
    const float* first_window = column_max + ow_lo * stride_w - g.pad_begin[1];
    if (kernel_w == 3 && stride_w == 2 && dilation_w == 1) {
      RowWindowMax<3, 2>(first_window, ow_hi - ow_lo, out + ow_lo);
    } else if (kernel_w == 3 && stride_w == 1 && dilation_w == 1) {
      RowWindowMax<3, 1>(first_window, ow_hi - ow_lo, out + ow_lo);
    } else {
      for (int64_t ow = ow_lo; ow < ow_hi; ++ow) {
        const float* window = column_max + ow * stride_w - g.pad_begin[1];
        float best = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < kernel_w; ++j) best = window[j * dilation_w] > best ? window[j * dilation_w] : best;
        out[ow] = best;
      }
    }
    for (int64_t ow = ow_hi; ow < g.out[1]; ++ow) out[ow] = window_max(ow);
  }
}

void PoolOp::PoolVolume(const float* x, const WindowGeometry& g, float* scratch, float* y) const {
  const int64_t in_plane = g.in_plane();
  float* combined = scratch;  // the window's planes, max or sum
  float* column_max = scratch + in_plane;
  const AxisWindow& d = g.depth;
  for (int64_t od = 0; od < g.depth_out; ++od) {
    const int64_t d0 = od * d.stride - d.pad_begin;
    int64_t k_lo, k_hi, pk_lo, pk_hi;
    TapRange(d0, d.dilation, d.kernel, 0, g.depth_in, &k_lo, &k_hi);
    TapRange(d0, d.dilation, d.kernel, -d.pad_begin, g.depth_in + d.pad_end, &pk_lo, &pk_hi);
    float* y_slice = y + od * g.out_plane();
    if (kind_ == PoolKind::kMax) {
      // A dilated window can fall between the input planes: -inf, as the 2-D path.
      if (k_hi <= k_lo) std::fill_n(combined, in_plane, -std::numeric_limits<float>::infinity());
      for (int64_t k = k_lo; k < k_hi; ++k) {
        MaxOfRows(k == k_lo ? nullptr : combined, x + (d0 + k * d.dilation) * in_plane, nullptr, in_plane, combined);
      }
      MaxPlane(combined, g, column_max, y_slice);
    } else {
      std::fill_n(combined, in_plane, 0.0f);
      for (int64_t k = k_lo; k < k_hi; ++k) {
        const float* plane = x + (d0 + k * d.dilation) * in_plane;
        for (int64_t i = 0; i < in_plane; ++i) combined[i] += plane[i];
      }
      AveragePlane(combined, g, count_include_pad_ ? pk_hi - pk_lo : k_hi - k_lo, y_slice);
    }
  }
}

void PoolOp::AveragePlane(const float* x, const WindowGeometry& g, int64_t depth_count, float* y) const {
  const int64_t height = g.in[0], width = g.in[1];
  for (int64_t oh = 0; oh < g.out[0]; ++oh) {
    const int64_t h0 = oh * g.stride[0] - g.pad_begin[0];
    int64_t i_lo, i_hi, pi_lo, pi_hi;
    TapRange(h0, g.dilation[0], g.kernel[0], 0, height, &i_lo, &i_hi);
    TapRange(h0, g.dilation[0], g.kernel[0], -g.pad_begin[0], height + g.pad_end[0], &pi_lo, &pi_hi);
    for (int64_t ow = 0; ow < g.out[1]; ++ow) {
      const int64_t w0 = ow * g.stride[1] - g.pad_begin[1];
      int64_t j_lo, j_hi, pj_lo, pj_hi;
      TapRange(w0, g.dilation[1], g.kernel[1], 0, width, &j_lo, &j_hi);
      TapRange(w0, g.dilation[1], g.kernel[1], -g.pad_begin[1], width + g.pad_end[1], &pj_lo, &pj_hi);
      float sum = 0.0f;
      for (int64_t i = i_lo; i < i_hi; ++i) {
        const float* row = x + (h0 + i * g.dilation[0]) * width;
        for (int64_t j = j_lo; j < j_hi; ++j) sum += row[w0 + j * g.dilation[1]];
      }
      const int64_t count =
          depth_count * (count_include_pad_ ? (pi_hi - pi_lo) * (pj_hi - pj_lo) : (i_hi - i_lo) * (j_hi - j_lo));
      y[oh * g.out[1] + ow] = sum / static_cast<float>(count);
    }
  }
}

// GlobalAveragePool: the mean of each [N, C] plane over all spatial dims.
class GlobalAveragePoolOp final : public Op {
 public:
  explicit GlobalAveragePoolOp(std::string describe) : describe_(std::move(describe)) {}

  absl::Status Run(const OpContext& ctx) const override {
    const TensorView& x = ctx.input(0);
    const int rank = x.shape.rank();
    const int64_t spatial = rank >= 3 ? x.shape.Product(2, rank) : 0;
    if (rank < 3 || spatial < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          describe_, ": input X expected [N,C,D1,...] with rank >= 3 and spatial dims >= 1, got ", x.shape.ToString()));
    }
    Shape y_shape = x.shape;
    for (int i = 2; i < rank; ++i) y_shape[i] = 1;
    Tensor* y = ctx.output(0);
    y->Resize(y_shape);
    const int64_t planes = x.shape[0] * x.shape[1];
    for (int64_t p = 0; p < planes; ++p) {
      // float64 accumulation: planes can be large (e.g. 112x112) and this is
      // the whole computation, so exactness is nearly free.
      const float* plane = x.data + p * spatial;
      double sum = 0.0;
      for (int64_t i = 0; i < spatial; ++i) sum += plane[i];
      y->data[p] = static_cast<float>(sum / static_cast<double>(spatial));
    }
    return absl::OkStatus();
  }

 private:
  std::string describe_;
};

}  // namespace

void RegisterPoolOps(OpRegistry* registry) {
  registry->Register("", "MaxPool", 1, 22,
                     [](const OpBuildContext& ctx) { return PoolOp::Create(ctx, PoolKind::kMax); });
  registry->Register("", "AveragePool", 1, 22,
                     [](const OpBuildContext& ctx) { return PoolOp::Create(ctx, PoolKind::kAverage); });
  registry->Register("", "GlobalAveragePool", 1, 22,
                     [](const OpBuildContext& ctx) -> absl::StatusOr<std::unique_ptr<Op>> {
                       BN_RETURN_IF_ERROR(RequireInputs(ctx, {"X"}));
                       return std::make_unique<GlobalAveragePoolOp>(ctx.Describe());
                     });
}

}  // namespace bnserve
