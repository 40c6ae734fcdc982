// ReduceMean, ReduceSum and ReduceMax over any set of axes.
//
// Schema by opset: `axes` is an attribute up to ReduceSum-11 and
// ReduceMean/ReduceMax-17, then optional input 1 (int64, a constant
// initializer here), together with `noop_with_empty_axes`: no axes then means
// the identity instead of reducing every axis. `keepdims` (1) keeps reduced
// axes as size 1. Negative axes from opset 11. Sums and means accumulate in
// float64; a maximum propagates NaN (as PyTorch's amax). Over an empty axis
// the sum is 0, the mean NaN and the maximum -inf.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/engine/ops/axis.h"
#include "core/engine/ops/op_checks.h"
#include "core/engine/ops/ops.h"
#include "core/engine/ops/opset.h"

namespace bnserve {
namespace {

enum class ReduceKind { kMean, kSum, kMax };

// Axes and flags fixed when the model loads. Immutable; Run is thread-safe.
class ReduceOp final : public Op {
 public:
  ReduceOp(std::string node, ReduceKind kind, std::vector<int64_t> axes, bool keep_dims, bool noop_with_empty_axes)
      : node_(std::move(node)),
        kind_(kind),
        axes_(std::move(axes)),
        keep_dims_(keep_dims),
        noop_with_empty_axes_(noop_with_empty_axes) {}

  absl::Status Run(const OpContext& ctx) const override {
    BN_RETURN_IF_ERROR(RequireInput(ctx, 0, "data", node_));
    const TensorView& x = ctx.input(0);
    const int rank = x.shape.rank();
    Tensor* y = ctx.output(0);
    if (axes_.empty() && noop_with_empty_axes_) {
      y->Resize(x.shape);
      std::copy(x.data, x.data + x.size(), y->data.begin());
      return absl::OkStatus();
    }
    std::array<bool, Shape::kMaxRank> reduced{};
    for (int64_t a : axes_) {
      BN_ASSIGN_OR_RETURN(const int axis, NormalizeAxis(a, rank, /*allow_rank=*/false, node_));
      reduced[axis] = true;
    }
    if (axes_.empty()) std::fill(reduced.begin(), reduced.begin() + rank, true);

    Shape out_shape;
    for (int d = 0; d < rank; ++d) {
      if (!reduced[d]) {
        out_shape.push_back(x.shape[d]);
      } else if (keep_dims_) {
        out_shape.push_back(1);
      }
    }
    y->Resize(out_shape);
    const int64_t out_size = y->size();
    const int64_t in_size = x.size();
    // Output stride of each input axis (0 along reduced axes).
    std::array<int64_t, Shape::kMaxRank> out_strides{};
    int64_t stride = 1;
    for (int d = rank - 1; d >= 0; --d) {
      if (reduced[d]) continue;
      out_strides[d] = stride;
      stride *= x.shape[d];
    }
    const int64_t count = out_size == 0 ? 0 : in_size / out_size;
    if (kind_ == ReduceKind::kMax) {
      float* out = y->data.data();
      std::fill(out, out + out_size, -std::numeric_limits<float>::infinity());
      ForEachInput(x, out_strides, [out](int64_t o, float v) {
        // NaN wins and stays.
        if (!(v <= out[o])) out[o] = std::isnan(out[o]) ? out[o] : v;
      });
      return absl::OkStatus();
    }
    std::vector<double> sums(static_cast<size_t>(out_size), 0.0);
    ForEachInput(x, out_strides, [&sums](int64_t o, float v) { sums[o] += v; });
    const double divisor = kind_ == ReduceKind::kMean ? static_cast<double>(count) : 1.0;
    for (int64_t o = 0; o < out_size; ++o) {
      y->data[o] = static_cast<float>(kind_ == ReduceKind::kMean && count == 0 ? std::nan("") : sums[o] / divisor);
    }
    return absl::OkStatus();
  }

 private:
  // Calls fn(output offset, value) for every input element in memory order.
  template <typename Fn>
  static void ForEachInput(const TensorView& x, const std::array<int64_t, Shape::kMaxRank>& out_strides, Fn fn) {
    const int rank = x.shape.rank();
    const int64_t n = x.size();
    if (rank == 0) {
      if (n == 1) fn(0, x.data[0]);
      return;
    }
    const int inner = rank - 1;
    const int64_t row = x.shape[inner];
    const int64_t step = out_strides[inner];
    std::array<int64_t, Shape::kMaxRank> index{};
    int64_t base = 0;  // output offset of the row's first element
    for (int64_t start = 0; start < n; start += row) {
      for (int64_t i = 0; i < row; ++i) fn(base + i * step, x.data[start + i]);
      for (int d = inner - 1; d >= 0; --d) {
        base += out_strides[d];
        if (++index[d] < x.shape[d]) break;
        base -= out_strides[d] * x.shape[d];
        index[d] = 0;
      }
    }
  }

  const std::string node_;
  const ReduceKind kind_;
  const std::vector<int64_t> axes_;
  const bool keep_dims_;
  const bool noop_with_empty_axes_;
};

// Reduce with `axes` as an attribute (kAxesInput false) or as optional input
// 1 with noop_with_empty_axes (true).
template <ReduceKind kKind, bool kAxesInput>
absl::StatusOr<std::unique_ptr<Op>> MakeReduce(const OpBuildContext& ctx) {
  std::vector<int64_t> axes;
  int64_t noop = 0;
  if (!kAxesInput) {
    axes = ctx.node.GetInts("axes", {});
  } else {
    noop = ctx.node.GetInt("noop_with_empty_axes", 0);
    if (noop != 0 && noop != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx.Describe(), ": attribute noop_with_empty_axes: expected 0 or 1, got ", noop));
    }
    if (ctx.node.HasInput(1)) {
      const ConstantTensor* t = ctx.ConstantInput(1);
      if (t == nullptr) {
        return absl::UnimplementedError(absl::StrCat(ctx.Describe(), ": input axes ('", ctx.node.inputs[1],
                                                     "') is computed at run time; bnserve supports only constant "
                                                     "(initializer) axes"));
      }
      if (t->dtype != DataType::kInt64 || t->shape.rank() > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(ctx.Describe(), ": input axes: expected a 1-D int64 tensor, got a ",
                         t->dtype == DataType::kInt64 ? "int64" : "float", " tensor of shape ", t->shape.ToString()));
      }
      axes = t->ints;
    }
  }
  for (int64_t a : axes) BN_RETURN_IF_ERROR(CheckAxisSign(a, ctx.graph.opset, ctx.Describe()));
  std::vector<int64_t> sorted = axes;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.Describe(), ": axes [", absl::StrJoin(axes, ","), "]: expected distinct axes"));
  }
  const int64_t keep_dims = ctx.node.GetInt("keepdims", 1);
  if (keep_dims != 0 && keep_dims != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.Describe(), ": attribute keepdims: expected 0 or 1, got ", keep_dims));
  }
  return std::unique_ptr<Op>(new ReduceOp(ctx.Describe(), kKind, std::move(axes), keep_dims == 1, noop == 1));
}

}  // namespace

void RegisterReduceOps(OpRegistry* registry) {
  registry->Register("", "ReduceMean", 1, 17, MakeReduce<ReduceKind::kMean, false>);
  registry->Register("", "ReduceMean", 18, kMaxSupportedOpset18Ops, MakeReduce<ReduceKind::kMean, true>);
  registry->Register("", "ReduceMax", 1, 17, MakeReduce<ReduceKind::kMax, false>);
  registry->Register("", "ReduceMax", 18, kMaxSupportedOpset18Ops, MakeReduce<ReduceKind::kMax, true>);
  registry->Register("", "ReduceSum", 1, 12, MakeReduce<ReduceKind::kSum, false>);
  registry->Register("", "ReduceSum", 13, kMaxSupportedOpset18Ops, MakeReduce<ReduceKind::kSum, true>);
}

}  // namespace bnserve
