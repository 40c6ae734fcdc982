// Slice (opsets 1-17) and Split (2-18) of float32 tensors, any rank.
//
// Their bounds are constants: attributes (Slice-1, Split-2/11) or inputs
// that are initializers when the model loads; exporters compute them from
// the input's shape (x.chunk(2, dim=1) in shufflenet), which the model's
// shape folding (core/model/shape_folding.h) turns into constants. Only the
// dims they cut are known at build time, so bounds are clamped per run, as
// the spec says: for a positive step start and end to [0, dim], for a
// negative one start to [0, dim - 1] and end to [-1, dim - 1].
#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/engine/ops/axis.h"
#include "core/engine/ops/op_checks.h"
#include "core/engine/ops/ops.h"
#include "core/engine/ops/opset.h"

namespace bnserve {
namespace {

// The int64 list an op reads from a constant input (newer opsets) or an
// attribute (older ones). `present` is false when neither is given.
absl::Status ReadConstantInts(const OpBuildContext& ctx, size_t input, const char* name, std::vector<int64_t>* out,
                              bool* present) {
  *present = false;
  if (!ctx.node.HasInput(input)) return absl::OkStatus();
  const ConstantTensor* t = ctx.ConstantInput(input);
  if (t == nullptr) {
    return absl::UnimplementedError(absl::StrCat(ctx.Describe(), ": input ", name, " ('", ctx.node.inputs[input],
                                                 "') is computed at run time; bnserve supports only a constant"));
  }
  if (t->dtype != DataType::kInt64 || t->shape.rank() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": input ", name, " ('", ctx.node.inputs[input],
                                                   "'): expected a 1-D int64 tensor, got shape ", t->shape.ToString()));
  }
  *out = t->ints;
  *present = true;
  return absl::OkStatus();
}

struct SliceAxis {
  int64_t axis;
  int64_t start;
  int64_t end;
  int64_t step;
};

// Immutable; Run is thread-safe.
class SliceOp final : public Op {
 public:
  SliceOp(std::string node, std::vector<SliceAxis> axes) : node_(std::move(node)), axes_(std::move(axes)) {}

  bool KeepsConstantInputs() const override { return true; }

  absl::Status Run(const OpContext& ctx) const override {
    BN_RETURN_IF_ERROR(RequireInput(ctx, 0, "data", node_));
    const TensorView& x = ctx.input(0);
    const int rank = x.shape.rank();
    std::array<int64_t, Shape::kMaxRank> start{}, step{};
    Shape y_shape = x.shape;
    for (int d = 0; d < rank; ++d) step[d] = 1;
    for (const SliceAxis& s : axes_) {
      BN_ASSIGN_OR_RETURN(const int d, NormalizeAxis(s.axis, rank, /*allow_rank=*/false, node_));
      const int64_t dim = x.shape[d];
      int64_t b = s.start < 0 ? s.start + dim : s.start;
      int64_t e = s.end < 0 ? s.end + dim : s.end;
      int64_t n = 0;
      if (s.step > 0) {
        b = std::clamp<int64_t>(b, 0, dim);
        e = std::clamp<int64_t>(e, 0, dim);
        n = e > b ? (e - b + s.step - 1) / s.step : 0;
      } else {
        b = std::clamp<int64_t>(b, 0, dim - 1);
        e = std::clamp<int64_t>(e, -1, dim - 1);
        n = b > e ? (b - e - s.step - 1) / -s.step : 0;
      }
      start[d] = b;
      step[d] = s.step;
      y_shape[d] = n;
    }
    Tensor* y = ctx.output(0);
    y->Resize(y_shape);
    if (y_shape.NumElements() == 0) return absl::OkStatus();
    std::array<int64_t, Shape::kMaxRank> stride{};
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; --d) {
      stride[d] = s;
      s *= x.shape[d];
    }
    float* out = y->data.data();
    Copy(x.data, y_shape, start, step, stride, 0, rank, &out);
    return absl::OkStatus();
  }

 private:
  // Writes the sliced block of axes [d, rank) of `src` to *out, advancing it.
  static void Copy(const float* src, const Shape& y_shape, const std::array<int64_t, Shape::kMaxRank>& start,
                   const std::array<int64_t, Shape::kMaxRank>& step, const std::array<int64_t, Shape::kMaxRank>& stride,
                   int d, int rank, float** out) {
    if (rank == 0) {
      *(*out)++ = *src;
      return;
    }
    const float* base = src + start[d] * stride[d];
    const int64_t n = y_shape[d];
    if (d == rank - 1) {
      if (step[d] == 1) {
        std::memcpy(*out, base, static_cast<size_t>(n) * sizeof(float));
        *out += n;
      } else {
        for (int64_t i = 0; i < n; ++i) *(*out)++ = base[i * step[d]];
      }
      return;
    }
    for (int64_t i = 0; i < n; ++i)
      Copy(base + i * step[d] * stride[d], y_shape, start, step, stride, d + 1, rank, out);
  }

  const std::string node_;
  const std::vector<SliceAxis> axes_;
};

// Slice-1..9 (kFromInputs false: starts, ends, axes attributes) and 10+
// (inputs starts, ends, axes, steps).
template <bool kFromInputs>
absl::StatusOr<std::unique_ptr<Op>> MakeSlice(const OpBuildContext& ctx) {
  std::vector<int64_t> starts, ends, axes, steps;
  bool has_axes = false, has_steps = false;
  if (kFromInputs) {
    bool present = false;
    BN_RETURN_IF_ERROR(ReadConstantInts(ctx, 1, "starts", &starts, &present));
    if (!present) return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": expected input starts, got none"));
    BN_RETURN_IF_ERROR(ReadConstantInts(ctx, 2, "ends", &ends, &present));
    if (!present) return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": expected input ends, got none"));
    BN_RETURN_IF_ERROR(ReadConstantInts(ctx, 3, "axes", &axes, &has_axes));
    BN_RETURN_IF_ERROR(ReadConstantInts(ctx, 4, "steps", &steps, &has_steps));
  } else {
    starts = ctx.node.GetInts("starts", {});
    ends = ctx.node.GetInts("ends", {});
    has_axes = ctx.node.FindAttribute("axes") != nullptr;
    axes = ctx.node.GetInts("axes", {});
  }
  if (!has_axes) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (!has_steps) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": starts, ends, axes and steps expected ",
                                                   "the same length, got ", starts.size(), ", ", ends.size(), ", ",
                                                   axes.size(), ", ", steps.size()));
  }
  std::vector<SliceAxis> slices;
  for (size_t i = 0; i < starts.size(); ++i) {
    if (steps[i] == 0) {
      return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": steps expected non-zero values, got 0"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (axes[j] == axes[i]) {
        return absl::InvalidArgumentError(
            absl::StrCat(ctx.Describe(), ": axes [", absl::StrJoin(axes, ","), "]: expected distinct axes"));
      }
    }
    slices.push_back({axes[i], starts[i], ends[i], steps[i]});
  }
  return std::unique_ptr<Op>(new SliceOp(ctx.Describe(), std::move(slices)));
}

// Immutable; Run is thread-safe. `split` empty: equal parts (the last
// smaller when the dim does not divide, as Split-18's num_outputs says).
class SplitOp final : public Op {
 public:
  SplitOp(std::string node, int64_t axis, std::vector<int64_t> split)
      : node_(std::move(node)), axis_(axis), split_(std::move(split)) {}

  bool KeepsConstantInputs() const override { return true; }

  absl::Status Run(const OpContext& ctx) const override {
    BN_RETURN_IF_ERROR(RequireInput(ctx, 0, "input", node_));
    const TensorView& x = ctx.input(0);
    BN_ASSIGN_OR_RETURN(const int axis, NormalizeAxis(axis_, x.shape.rank(), /*allow_rank=*/false, node_));
    const int64_t dim = x.shape[axis];
    const int64_t n = ctx.num_outputs();
    std::vector<int64_t> parts = split_;
    if (parts.empty()) {
      const int64_t part = (dim + n - 1) / n;
      for (int64_t i = 0; i < n; ++i) parts.push_back(std::max<int64_t>(0, std::min(part, dim - i * part)));
    }
    int64_t total = 0;
    for (int64_t p : parts) total += p;
    if (static_cast<int64_t>(parts.size()) != n || total != dim) {
      return absl::InvalidArgumentError(absl::StrCat(node_, ": split [", absl::StrJoin(parts, ","), "] into ", n,
                                                     " outputs expected to sum to dim ", axis, " of input ",
                                                     x.shape.ToString(), ", got ", total));
    }
    const int64_t outer = x.shape.Product(0, axis);
    const int64_t inner = x.shape.Product(axis + 1, x.shape.rank());
    int64_t offset = 0;
    for (int64_t k = 0; k < n; ++k) {
      Shape y_shape = x.shape;
      y_shape[axis] = parts[k];
      Tensor* y = ctx.output(static_cast<int>(k));
      if (y == nullptr) {
        offset += parts[k];
        continue;
      }
      y->Resize(y_shape);
      const int64_t block = parts[k] * inner;
      for (int64_t o = 0; o < outer && block > 0; ++o) {
        std::memcpy(y->data.data() + o * block, x.data + (o * dim + offset) * inner,
                    static_cast<size_t>(block) * sizeof(float));
      }
      offset += parts[k];
    }
    return absl::OkStatus();
  }

 private:
  const std::string node_;
  const int64_t axis_;
  const std::vector<int64_t> split_;
};

// Split-2/11 (kSplitInput false: `split` attribute), 13+ (`split` input),
// 18 (`num_outputs` attribute, checked against the outputs).
template <bool kSplitInput>
absl::StatusOr<std::unique_ptr<Op>> MakeSplit(const OpBuildContext& ctx) {
  const int64_t axis = ctx.node.GetInt("axis", 0);
  BN_RETURN_IF_ERROR(CheckAxisSign(axis, ctx.graph.opset, ctx.Describe()));
  std::vector<int64_t> split;
  if (kSplitInput) {
    bool present = false;
    BN_RETURN_IF_ERROR(ReadConstantInts(ctx, 1, "split", &split, &present));
  } else {
    split = ctx.node.GetInts("split", {});
  }
  const int64_t outputs = static_cast<int64_t>(ctx.node.outputs.size());
  if (!split.empty() && static_cast<int64_t>(split.size()) != outputs) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": split [", absl::StrJoin(split, ","),
                                                   "] expected one entry per output (", outputs, "), got ",
                                                   split.size()));
  }
  for (int64_t s : split) {
    if (s < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx.Describe(), ": split [", absl::StrJoin(split, ","), "] expected entries >= 0"));
    }
  }
  if (const Attribute* n = ctx.node.FindAttribute("num_outputs"); n != nullptr && n->i != outputs) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.Describe(), ": attribute num_outputs ", n->i, " expected equal to the outputs, ", outputs));
  }
  return std::unique_ptr<Op>(new SplitOp(ctx.Describe(), axis, std::move(split)));
}

}  // namespace

void RegisterSliceSplitOps(OpRegistry* registry) {
  registry->Register("", "Slice", 1, 9, MakeSlice<false>);
  registry->Register("", "Slice", 10, kMaxSupportedOpset, MakeSlice<true>);
  registry->Register("", "Split", 2, 12, MakeSplit<false>);
  registry->Register("", "Split", 13, kMaxSupportedOpset18Ops, MakeSplit<true>);
}

}  // namespace bnserve
