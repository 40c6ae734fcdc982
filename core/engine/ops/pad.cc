// Pad (opsets 2-18): constant, reflect and edge modes over any rank.
//
// Schema by opset: 2-10 read `pads` and `value` from attributes; from 11 pads
// is input 1 (int64, a constant initializer here: shapes are fixed when the
// model loads) and the fill value the optional scalar input 2 (constant or
// runtime); 18 adds the optional `axes` input 3 naming which axes the pads
// refer to. Negative pads crop. Reflect mirrors without repeating the edge
// (numpy's "reflect"), folding again for pads wider than the axis; edge
// repeats the border value. Opset 19's "wrap" mode is not registered.
//
// Most exported Pads are constant zeros in front of a Conv or AveragePool;
// the plan builder merges those into the consumer (FoldPads in
// core/engine/graph_rewrites.h), so this op runs only for the rest.
#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/engine/ops/op_checks.h"
#include "core/engine/ops/ops.h"
#include "core/engine/ops/opset.h"

namespace bnserve {
namespace {

enum class PadMode { kConstant, kReflect, kEdge };

// Maps output coordinate `o` of an axis of input size `n` padded by `begin`
// in front to the input coordinate it copies, or -1 (constant fill).
inline int64_t SourceIndex(int64_t o, int64_t begin, int64_t n, PadMode mode) {
  int64_t c = o - begin;
  if (c >= 0 && c < n) return c;
  switch (mode) {
    case PadMode::kConstant:
      return -1;
    case PadMode::kEdge:
      return c < 0 ? 0 : n - 1;
    case PadMode::kReflect:
      if (n == 1) return 0;
      // Mirror about 0 and n-1 until inside; period 2(n-1).
      c %= 2 * (n - 1);
      if (c < 0) c += 2 * (n - 1);
      return c < n ? c : 2 * (n - 1) - c;
  }
  return -1;
}

// Pads fixed when the model loads. Immutable; Run is thread-safe.
class PadOp final : public Op {
 public:
  static constexpr int kNoInput = -1;

  // `pads` holds begin values then end values for `axes` (empty: every axis,
  // in order). `value_input` is the runtime input holding the fill value, or
  // kNoInput to use `value`.
  PadOp(std::string node, PadMode mode, std::vector<int64_t> pads, std::vector<int64_t> axes, float value,
        int value_input)
      : node_(std::move(node)),
        mode_(mode),
        pads_(std::move(pads)),
        axes_(std::move(axes)),
        value_(value),
        value_input_(value_input) {}

  absl::Status Run(const OpContext& ctx) const override {
    BN_RETURN_IF_ERROR(RequireInput(ctx, 0, "data", node_));
    const TensorView& x = ctx.input(0);
    const int rank = x.shape.rank();
    float value = value_;
    if (value_input_ != kNoInput && InputGiven(ctx, value_input_)) {
      const TensorView& v = ctx.input(value_input_);
      if (v.size() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(node_, ": input constant_value: expected a scalar, got shape ", v.shape.ToString()));
      }
      value = v.data[0];
    }
    std::array<int64_t, Shape::kMaxRank> begin{}, end{};
    BN_RETURN_IF_ERROR(ResolvePads(rank, &begin, &end));
    Shape out_shape;
    for (int d = 0; d < rank; ++d) {
      const int64_t size = x.shape[d] + begin[d] + end[d];
      if (size < 0) {
        return absl::InvalidArgumentError(absl::StrCat(node_, ": pads [", absl::StrJoin(pads_, ","), "] crop axis ", d,
                                                       " of input ", x.shape.ToString(), " below zero (", size, ")"));
      }
      if ((size > 0 && x.shape[d] == 0 && mode_ != PadMode::kConstant)) {
        return absl::InvalidArgumentError(absl::StrCat(node_, ": cannot pad the empty axis ", d, " of input ",
                                                       x.shape.ToString(), " in reflect or edge mode"));
      }
      out_shape.push_back(size);
    }
    Tensor* y = ctx.output(0);
    y->Resize(out_shape);
    if (rank == 0) {
      y->data[0] = x.data[0];
      return absl::OkStatus();
    }
    const int inner = rank - 1;
    const int64_t row = out_shape[inner];
    const int64_t rows = out_shape.Product(0, inner);
    std::array<int64_t, Shape::kMaxRank> in_strides{};
    int64_t stride = 1;
    for (int d = rank - 1; d >= 0; --d) {
      in_strides[d] = stride;
      stride *= x.shape[d];
    }
    std::array<int64_t, Shape::kMaxRank> index{};  // output index of the current row, dims < inner
    float* out = y->data.data();
    const int64_t n = x.shape[inner];
    for (int64_t r = 0; r < rows; ++r, out += row) {
      int64_t src = 0;
      bool fill = false;
      for (int d = 0; d < inner; ++d) {
        const int64_t c = SourceIndex(index[d], begin[d], x.shape[d], mode_);
        if (c < 0) {
          fill = true;
          break;
        }
        src += c * in_strides[d];
      }
      if (fill) {
        std::fill(out, out + row, value);
      } else {
        const float* in = x.data + src;
        // The span of the row that is a plain copy, then the padded ends.
        const int64_t lo = std::max<int64_t>(0, begin[inner]);
        const int64_t hi = std::min<int64_t>(row, begin[inner] + n);
        if (hi > lo) std::copy(in + (lo - begin[inner]), in + (hi - begin[inner]), out + lo);
        for (int64_t o = 0; o < lo; ++o) {
          const int64_t c = SourceIndex(o, begin[inner], n, mode_);
          out[o] = c < 0 ? value : in[c];
        }
        for (int64_t o = std::max(hi, lo); o < row; ++o) {
          const int64_t c = SourceIndex(o, begin[inner], n, mode_);
          out[o] = c < 0 ? value : in[c];
        }
      }
      for (int d = inner - 1; d >= 0; --d) {
        if (++index[d] < out_shape[d]) break;
        index[d] = 0;
      }
    }
    return absl::OkStatus();
  }

 private:
  // Spreads pads_ over the input's axes.
  absl::Status ResolvePads(int rank, std::array<int64_t, Shape::kMaxRank>* begin,
                           std::array<int64_t, Shape::kMaxRank>* end) const {
    const size_t count = axes_.empty() ? static_cast<size_t>(rank) : axes_.size();
    if (pads_.size() != 2 * count) {
      return absl::InvalidArgumentError(absl::StrCat(
          node_, ": pads [", absl::StrJoin(pads_, ","), "]: expected ", 2 * count, " values for an input of rank ",
          rank, axes_.empty() ? "" : absl::StrCat(" and ", count, " axes"), ", got ", pads_.size()));
    }
    for (size_t k = 0; k < count; ++k) {
      int64_t axis = axes_.empty() ? static_cast<int64_t>(k) : axes_[k];
      if (axis < -rank || axis >= rank) {
        return absl::InvalidArgumentError(absl::StrCat(node_, ": input axes: expected values in [", -rank, ", ",
                                                       rank - 1, "] for an input of rank ", rank, ", got ", axis));
      }
      if (axis < 0) axis += rank;
      (*begin)[axis] = pads_[k];
      (*end)[axis] = pads_[k + count];
    }
    return absl::OkStatus();
  }

  const std::string node_;
  const PadMode mode_;
  const std::vector<int64_t> pads_;
  const std::vector<int64_t> axes_;
  const float value_;
  const int value_input_;
};

// The constant 1-D int64 tensor feeding input `index` (`name` in the
// schema); UNIMPLEMENTED when it is computed at run time.
absl::StatusOr<std::vector<int64_t>> ConstantInts(const OpBuildContext& ctx, size_t index, const char* name) {
  const ConstantTensor* t = ctx.ConstantInput(index);
  if (t == nullptr) {
    return absl::UnimplementedError(absl::StrCat(ctx.Describe(), ": input ", name, " ('", ctx.node.inputs[index],
                                                 "') is computed at run time; bnserve supports only a constant "
                                                 "(initializer) ",
                                                 name));
  }
  if (t->dtype != DataType::kInt64 || t->shape.rank() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.Describe(), ": input ", name, ": expected a 1-D int64 tensor, got a ",
                     t->dtype == DataType::kInt64 ? "int64" : "float", " tensor of shape ", t->shape.ToString()));
  }
  return t->ints;
}

// Pad-2 (kInputs false: attributes) and Pad-11/13/18 (inputs).
template <bool kInputs>
absl::StatusOr<std::unique_ptr<Op>> MakePad(const OpBuildContext& ctx) {
  const std::string mode_name = ctx.node.GetString("mode", "constant");
  PadMode mode;
  if (mode_name == "constant") {
    mode = PadMode::kConstant;
  } else if (mode_name == "reflect") {
    mode = PadMode::kReflect;
  } else if (mode_name == "edge") {
    mode = PadMode::kEdge;
  } else {
    return absl::UnimplementedError(absl::StrCat(ctx.Describe(), ": attribute mode '", mode_name,
                                                 "' is not supported; expected constant, reflect or edge"));
  }
  std::vector<int64_t> pads;
  std::vector<int64_t> axes;
  float value = 0.0f;
  int value_input = PadOp::kNoInput;
  if (!kInputs) {
    if (ctx.node.FindAttribute("pads") == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": expected attribute pads, got none"));
    }
    pads = ctx.node.GetInts("pads", {});
    value = ctx.node.GetFloat("value", 0.0f);
  } else {
    if (!ctx.node.HasInput(1)) {
      return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": expected input 1 (pads), got none"));
    }
    BN_ASSIGN_OR_RETURN(pads, ConstantInts(ctx, 1, "pads"));
    if (ctx.node.HasInput(2)) {
      const ConstantTensor* v = ctx.ConstantInput(2);
      if (v == nullptr) {
        value_input = 2;
      } else if (v->dtype != DataType::kFloat || v->floats.size() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(ctx.Describe(), ": input constant_value: expected a float ", "scalar, got a ",
                         v->dtype == DataType::kFloat ? "float" : "int64", " tensor of shape ", v->shape.ToString()));
      } else {
        value = v->floats[0];
      }
    }
    if (ctx.node.HasInput(3)) {
      if (ctx.graph.opset < 18) {
        return absl::InvalidArgumentError(
            absl::StrCat(ctx.Describe(), ": input axes expected only from opset 18, got opset ", ctx.graph.opset));
      }
      BN_ASSIGN_OR_RETURN(axes, ConstantInts(ctx, 3, "axes"));
    }
  }
  if (pads.size() % 2 != 0 || pads.size() > 2 * static_cast<size_t>(Shape::kMaxRank)) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": pads [", absl::StrJoin(pads, ","),
                                                   "]: expected an even count of at most ", 2 * Shape::kMaxRank,
                                                   " values, got ", pads.size()));
  }
  return std::unique_ptr<Op>(new PadOp(ctx.Describe(), mode, std::move(pads), std::move(axes), value, value_input));
}

}  // namespace

void RegisterPadOps(OpRegistry* registry) {
  // Pad-1 spelled its attribute `paddings`; no exporter in use writes it.
  registry->Register("", "Pad", 2, 10, MakePad<false>);
  registry->Register("", "Pad", 11, kMaxSupportedOpset18Ops, MakePad<true>);
}

}  // namespace bnserve
