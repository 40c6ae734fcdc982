// Data-movement ops: Flatten, Reshape, Transpose, Concat, Identity, Dropout
// (inference form). Outputs never alias inputs (OpContext contract), so even
// the pure reshapes copy their data.
#include <algorithm>
#include <array>
#include <cstdint>
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

void CopyWithShape(const TensorView& x, const Shape& shape, Tensor* y) {
  y->Resize(shape);
  std::copy(x.data, x.data + x.size(), y->data.begin());
}

// Flatten: [prod(dims < axis), prod(dims >= axis)]. Immutable; thread-safe.
class FlattenOp final : public Op {
 public:
  FlattenOp(std::string node, int64_t axis) : node_(std::move(node)), axis_(axis) {}

  absl::Status Run(const OpContext& ctx) const override {
    BN_RETURN_IF_ERROR(RequireInput(ctx, 0, "input", node_));
    const TensorView& x = ctx.input(0);
    const int rank = x.shape.rank();
    BN_ASSIGN_OR_RETURN(const int axis, NormalizeAxis(axis_, rank, /*allow_rank=*/true, node_));
    CopyWithShape(x, Shape{x.shape.Product(0, axis), x.shape.Product(axis, rank)}, ctx.output(0));
    return absl::OkStatus();
  }

 private:
  const std::string node_;
  const int64_t axis_;
};

// Reshape to a target fixed when the model is loaded: 0 copies the input's
// dimension at that position (unless allowzero), one -1 is inferred.
// Immutable; thread-safe.
class ReshapeOp final : public Op {
 public:
  ReshapeOp(std::string node, std::vector<int64_t> target, bool allow_zero)
      : node_(std::move(node)), target_(std::move(target)), allow_zero_(allow_zero) {}

  absl::Status Run(const OpContext& ctx) const override {
    BN_RETURN_IF_ERROR(RequireInput(ctx, 0, "data", node_));
    const TensorView& x = ctx.input(0);
    Shape shape;
    int inferred = -1;
    int64_t known = 1;  // product of every output dim but the inferred one
    for (size_t i = 0; i < target_.size(); ++i) {
      int64_t d = target_[i];
      if (d == -1) {
        inferred = static_cast<int>(i);
        d = 1;
      } else if (d == 0 && !allow_zero_) {
        if (static_cast<int>(i) >= x.shape.rank()) {
          return Mismatch(x.shape,
                          absl::StrCat("the 0 at position ", i, " copies an input dimension that does not exist"));
        }
        d = x.shape[static_cast<int>(i)];
        known *= d;
      } else {
        known *= d;
      }
      shape.push_back(d);
    }
    const int64_t total = x.size();
    if (inferred >= 0) {
      if (known == 0 || total % known != 0) {
        return Mismatch(x.shape,
                        absl::StrCat("the -1 cannot be inferred: ", total, " elements are not a multiple of ", known));
      }
      shape[inferred] = total / known;
    }
    if (shape.NumElements() != total) {
      return Mismatch(x.shape, absl::StrCat("expected ", total, " elements, the target has ", shape.NumElements()));
    }
    CopyWithShape(x, shape, ctx.output(0));
    return absl::OkStatus();
  }

 private:
  absl::Status Mismatch(const Shape& input, const std::string& why) const {
    return absl::InvalidArgumentError(absl::StrCat(node_, ": cannot reshape input of shape ", input.ToString(), " to [",
                                                   absl::StrJoin(target_, ","), "]: ", why));
  }

  const std::string node_;
  const std::vector<int64_t> target_;
  const bool allow_zero_;
};

// Transpose: output dim i is input dim perm[i]; no perm means reversed dims.
// Immutable; thread-safe.
class TransposeOp final : public Op {
 public:
  // `perm` empty: reverse the dimensions of whatever rank arrives.
  TransposeOp(std::string node, const std::vector<int64_t>& perm)
      : node_(std::move(node)), perm_rank_(perm.empty() ? -1 : static_cast<int>(perm.size())) {
    for (size_t i = 0; i < perm.size(); ++i) perm_[i] = static_cast<int>(perm[i]);
  }

  absl::Status Run(const OpContext& ctx) const override {
    BN_RETURN_IF_ERROR(RequireInput(ctx, 0, "data", node_));
    const TensorView& x = ctx.input(0);
    const int rank = x.shape.rank();
    if (perm_rank_ >= 0 && perm_rank_ != rank) {
      return absl::InvalidArgumentError(absl::StrCat(node_, ": attribute perm has ", perm_rank_,
                                                     " entries, so expected an input of rank ", perm_rank_,
                                                     ", got shape ", x.shape.ToString()));
    }
    std::array<int64_t, Shape::kMaxRank> in_strides{};
    int64_t stride = 1;
    for (int d = rank - 1; d >= 0; --d) {
      in_strides[d] = stride;
      stride *= x.shape[d];
    }
    Shape out_shape;
    std::array<int64_t, Shape::kMaxRank> src_strides{};  // input stride of each output dim
    for (int i = 0; i < rank; ++i) {
      const int p = perm_rank_ >= 0 ? perm_[i] : rank - 1 - i;
      out_shape.push_back(x.shape[p]);
      src_strides[i] = in_strides[p];
    }
    Tensor* y = ctx.output(0);
    y->Resize(out_shape);
    if (rank == 0) {
      y->data[0] = x.data[0];
      return absl::OkStatus();
    }
    // Walk the output contiguously, gathering each innermost row with a stride.
    const int inner = rank - 1;
    const int64_t n = out_shape[inner];
    const int64_t outer = out_shape.Product(0, inner);
    const int64_t step = src_strides[inner];
    std::array<int64_t, Shape::kMaxRank> index{};
    int64_t src = 0;
    float* out = y->data.data();
    for (int64_t o = 0; o < outer; ++o, out += n) {
      for (int64_t i = 0; i < n; ++i) out[i] = x.data[src + i * step];
      for (int d = inner - 1; d >= 0; --d) {
        src += src_strides[d];
        if (++index[d] < out_shape[d]) break;
        src -= src_strides[d] * out_shape[d];
        index[d] = 0;
      }
    }
    return absl::OkStatus();
  }

 private:
  const std::string node_;
  std::array<int, Shape::kMaxRank> perm_{};
  const int perm_rank_;
};

// Concat along `axis`: every input has the same rank and the same dims off
// that axis. Immutable; thread-safe.
class ConcatOp final : public Op {
 public:
  ConcatOp(std::string node, int64_t axis) : node_(std::move(node)), axis_(axis) {}

  absl::Status Run(const OpContext& ctx) const override {
    const int num = ctx.num_inputs();
    if (num == 0) return absl::InvalidArgumentError(absl::StrCat(node_, ": expected at least 1 input, got 0"));
    for (int k = 0; k < num; ++k) BN_RETURN_IF_ERROR(RequireInput(ctx, k, "inputs", node_));
    const Shape& first = ctx.input(0).shape;
    const int rank = first.rank();
    BN_ASSIGN_OR_RETURN(const int axis, NormalizeAxis(axis_, rank, /*allow_rank=*/false, node_));
    Shape out_shape = first;
    out_shape[axis] = 0;
    for (int k = 0; k < num; ++k) {
      const Shape& s = ctx.input(k).shape;
      BN_RETURN_IF_ERROR(CheckCompatible(first, s, k, axis));
      out_shape[axis] += s[axis];
    }
    Tensor* y = ctx.output(0);
    y->Resize(out_shape);
    const int64_t outer = first.Product(0, axis);
    const int64_t inner = first.Product(axis + 1, rank);
    float* out = y->data.data();
    for (int64_t o = 0; o < outer; ++o) {
      for (int k = 0; k < num; ++k) {
        const TensorView& x = ctx.input(k);
        const int64_t chunk = x.shape[axis] * inner;
        const float* src = x.data + o * chunk;
        out = std::copy(src, src + chunk, out);
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status CheckCompatible(const Shape& first, const Shape& s, int k, int axis) const {
    if (s.rank() != first.rank()) {
      return absl::InvalidArgumentError(absl::StrCat(node_, ": input ", k, ": expected rank ", first.rank(),
                                                     " like input 0 ", first.ToString(), ", got rank ", s.rank(), " ",
                                                     s.ToString()));
    }
    for (int d = 0; d < first.rank(); ++d) {
      if (d != axis && s[d] != first[d]) {
        return absl::InvalidArgumentError(absl::StrCat(node_, ": input ", k, ": expected dimension ", d, " of size ",
                                                       first[d], " like input 0 ", first.ToString(), " (only axis ",
                                                       axis, " may differ), got ", s[d], " in ", s.ToString()));
      }
    }
    return absl::OkStatus();
  }

  const std::string node_;
  const int64_t axis_;
};

// Identity, and Dropout in inference form (also the identity; its optional
// float `mask` output, opsets 7-9 only, is all ones). A runtime
// training_mode input (opset 12+) is checked on every run.
// Immutable; thread-safe.
class IdentityOp final : public Op {
 public:
  static constexpr int kNoInput = -1;

  IdentityOp(std::string node, bool write_mask, int training_mode_input)
      : node_(std::move(node)), write_mask_(write_mask), training_mode_input_(training_mode_input) {}

  absl::Status Run(const OpContext& ctx) const override {
    BN_RETURN_IF_ERROR(RequireInput(ctx, 0, "input", node_));
    if (training_mode_input_ != kNoInput && InputGiven(ctx, training_mode_input_)) {
      const TensorView& mode = ctx.input(training_mode_input_);
      if (mode.size() > 0 && mode.data[0] != 0.0f) {
        return absl::UnimplementedError(
            absl::StrCat(node_, ": training_mode=true is not supported; bnserve runs Dropout in inference form only"));
      }
    }
    const TensorView& x = ctx.input(0);
    CopyWithShape(x, x.shape, ctx.output(0));
    if (write_mask_ && ctx.num_outputs() > 1 && ctx.output(1) != nullptr) {
      Tensor* mask = ctx.output(1);
      mask->Resize(x.shape);
      std::fill(mask->data.begin(), mask->data.end(), 1.0f);
    }
    return absl::OkStatus();
  }

 private:
  const std::string node_;
  const bool write_mask_;
  const int training_mode_input_;
};

absl::StatusOr<std::unique_ptr<Op>> MakeFlatten(const OpBuildContext& ctx) {
  const int64_t axis = ctx.node.GetInt("axis", 1);
  BN_RETURN_IF_ERROR(CheckAxisSign(axis, ctx.graph.opset, ctx.Describe()));
  return std::unique_ptr<Op>(new FlattenOp(ctx.Describe(), axis));
}

// Checks the constant target of a Reshape: rank <= kMaxRank, entries >= -1,
// at most one -1, no 0 next to a -1 when allowzero, a finite element count.
absl::Status ValidateReshapeTarget(const OpBuildContext& ctx, const std::vector<int64_t>& target, bool allow_zero) {
  const std::string shape_str = absl::StrCat("[", absl::StrJoin(target, ","), "]");
  if (target.size() > static_cast<size_t>(Shape::kMaxRank)) {
    return absl::UnimplementedError(absl::StrCat(ctx.Describe(), ": input shape ", shape_str,
                                                 ": expected rank at most ", Shape::kMaxRank, ", got ", target.size()));
  }
  int minus_ones = 0;
  bool has_zero = false;
  std::vector<int64_t> literal;  // the dims fixed by the target alone
  for (int64_t d : target) {
    if (d < -1) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx.Describe(), ": input shape ", shape_str, ": expected entries >= -1, got ", d));
    }
    minus_ones += d == -1;
    has_zero |= d == 0;
    if (d > 0) literal.push_back(d);
  }
  if (minus_ones > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.Describe(), ": input shape ", shape_str, ": expected at most one -1, got ", minus_ones));
  }
  if (allow_zero && has_zero && minus_ones == 1) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": input shape ", shape_str,
                                                   ": with allowzero=1 a shape may not contain both 0 and -1"));
  }
  return Shape::FromDims(literal, absl::StrCat(ctx.Describe(), ": input shape ", shape_str)).status();
}

// Reshape-5/13 (kAllowZeroAttr false) and Reshape-14+ (reads `allowzero`).
template <bool kAllowZeroAttr>
absl::StatusOr<std::unique_ptr<Op>> MakeReshape(const OpBuildContext& ctx) {
  if (!ctx.node.HasInput(1)) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": expected input 1 (shape), got none"));
  }
  const ConstantTensor* shape = ctx.ConstantInput(1);
  if (shape == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat(ctx.Describe(), ": input shape ('", ctx.node.inputs[1],
                     "') is computed at run time; bnserve supports only a constant (initializer) shape. Re-export with "
                     "static shapes or constant-fold the graph (e.g. onnx-simplifier)"));
  }
  if (shape->dtype != DataType::kInt64 || shape->shape.rank() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        ctx.Describe(), ": input shape ('", ctx.node.inputs[1], "'): expected a 1-D int64 tensor, got a ",
        shape->dtype == DataType::kInt64 ? "int64" : "float", " tensor of shape ", shape->shape.ToString()));
  }
  const int64_t allow_zero = kAllowZeroAttr ? ctx.node.GetInt("allowzero", 0) : 0;
  if (allow_zero != 0 && allow_zero != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.Describe(), ": attribute allowzero: expected 0 or 1, got ", allow_zero));
  }
  BN_RETURN_IF_ERROR(ValidateReshapeTarget(ctx, shape->ints, allow_zero == 1));
  return std::unique_ptr<Op>(new ReshapeOp(ctx.Describe(), shape->ints, allow_zero == 1));
}

absl::StatusOr<std::unique_ptr<Op>> MakeTranspose(const OpBuildContext& ctx) {
  const std::vector<int64_t> perm = ctx.node.GetInts("perm", {});
  const std::string perm_str = absl::StrCat("[", absl::StrJoin(perm, ","), "]");
  if (perm.size() > static_cast<size_t>(Shape::kMaxRank)) {
    return absl::UnimplementedError(absl::StrCat(ctx.Describe(), ": attribute perm ", perm_str, ": expected at most ",
                                                 Shape::kMaxRank, " entries, got ", perm.size()));
  }
  std::array<bool, Shape::kMaxRank> seen{};
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(perm.size()) || seen[p]) {
      return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": attribute perm ", perm_str,
                                                     ": expected a permutation of 0..", perm.size() - 1, ", got entry ",
                                                     p));
    }
    seen[p] = true;
  }
  return std::unique_ptr<Op>(new TransposeOp(ctx.Describe(), perm));
}

absl::StatusOr<std::unique_ptr<Op>> MakeConcat(const OpBuildContext& ctx) {
  if (ctx.node.FindAttribute("axis") == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.Describe(), ": expected attribute axis, got none"));
  }
  const int64_t axis = ctx.node.GetInt("axis", 0);
  BN_RETURN_IF_ERROR(CheckAxisSign(axis, ctx.graph.opset, ctx.Describe()));
  return std::unique_ptr<Op>(new ConcatOp(ctx.Describe(), axis));
}

absl::StatusOr<std::unique_ptr<Op>> MakeIdentity(const OpBuildContext& ctx) {
  return std::unique_ptr<Op>(new IdentityOp(ctx.Describe(), /*write_mask=*/false, IdentityOp::kNoInput));
}

bool WantsMask(const Node& node) { return node.outputs.size() > 1 && !node.outputs[1].empty(); }

// Dropout-7..9: `ratio` attribute (irrelevant at inference); `mask` is float.
absl::StatusOr<std::unique_ptr<Op>> MakeDropoutWithFloatMask(const OpBuildContext& ctx) {
  return std::unique_ptr<Op>(new IdentityOp(ctx.Describe(), WantsMask(ctx.node), IdentityOp::kNoInput));
}

// Dropout-10+: `mask` became a bool tensor, which bnserve's float32 outputs
// cannot hold. From 12 (kHasModeInputs), ratio and training_mode are
// optional inputs instead of the `ratio` attribute.
template <bool kHasModeInputs>
absl::StatusOr<std::unique_ptr<Op>> MakeDropoutWithBoolMask(const OpBuildContext& ctx) {
  if (WantsMask(ctx.node)) {
    return absl::UnimplementedError(absl::StrCat(
        ctx.Describe(), ": output mask ('", ctx.node.outputs[1],
        "') is a bool tensor, which bnserve does not produce; export the model in eval mode without the mask"));
  }
  int training_mode_input = IdentityOp::kNoInput;
  constexpr size_t kTrainingMode = 2;
  if (kHasModeInputs && ctx.node.HasInput(kTrainingMode)) {
    const ConstantTensor* mode = ctx.ConstantInput(kTrainingMode);
    if (mode == nullptr) {
      training_mode_input = static_cast<int>(kTrainingMode);
    } else if ((!mode->ints.empty() && mode->ints[0] != 0) || (!mode->floats.empty() && mode->floats[0] != 0.0f)) {
      return absl::UnimplementedError(absl::StrCat(
          ctx.Describe(), ": training_mode=true is not supported; bnserve runs Dropout in inference form only"));
    }
  }
  return std::unique_ptr<Op>(new IdentityOp(ctx.Describe(), /*write_mask=*/false, training_mode_input));
}

}  // namespace

void RegisterShapeOps(OpRegistry* registry) {
  registry->Register("", "Flatten", 1, kMaxSupportedOpset, MakeFlatten);  // negative axis from 11
  registry->Register("", "Reshape", 5, 13, MakeReshape<false>);
  registry->Register("", "Reshape", 14, kMaxSupportedOpset, MakeReshape<true>);
  registry->Register("", "Transpose", 1, kMaxSupportedOpset, MakeTranspose);
  registry->Register("", "Concat", 4, kMaxSupportedOpset, MakeConcat);  // negative axis from 11
  registry->Register("", "Identity", 1, kMaxSupportedOpset, MakeIdentity);
  registry->Register("", "Dropout", 7, 9, MakeDropoutWithFloatMask);
  registry->Register("", "Dropout", 10, 11, MakeDropoutWithBoolMask<false>);
  registry->Register("", "Dropout", 12, kMaxSupportedOpset, MakeDropoutWithBoolMask<true>);
}

}  // namespace bnserve
