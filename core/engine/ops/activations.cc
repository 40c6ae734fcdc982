// Element-wise activations (Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid,
// HardSwish, Tanh) and Softmax. All but Tanh evaluate a FusedActivation, the
// functor the plan builder folds into producers, so a graph computes the same
// values whether or not an activation was fused.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/engine/ops/axis.h"
#include "core/engine/ops/fused_activation.h"
#include "core/engine/ops/op_checks.h"
#include "core/engine/ops/ops.h"
#include "core/engine/ops/opset.h"

namespace bnserve {
namespace {

// y = activation(x) for every activation a FusedActivation can hold. For
// Clip from opset 11 a bound may be a runtime input, read on every run;
// constant bounds are baked into `activation_`. Immutable after
// construction; Run is thread-safe.
class ActivationOp final : public Op {
 public:
  static constexpr int kNoInput = -1;

  ActivationOp(std::string node, FusedActivation activation, int min_input = kNoInput, int max_input = kNoInput)
      : node_(std::move(node)), activation_(activation), min_input_(min_input), max_input_(max_input) {}

  absl::Status Run(const OpContext& ctx) const override {
    BN_RETURN_IF_ERROR(RequireInput(ctx, 0, "X", node_));
    FusedActivation activation = activation_;
    if (min_input_ != kNoInput) {
      BN_ASSIGN_OR_RETURN(activation.min, ReadBound(ctx, min_input_, "min"));
    }
    if (max_input_ != kNoInput) {
      BN_ASSIGN_OR_RETURN(activation.max, ReadBound(ctx, max_input_, "max"));
    }
    const TensorView& x = ctx.input(0);
    Tensor* y = ctx.output(0);
    y->Resize(x.shape);
    std::copy(x.data, x.data + x.size(), y->data.begin());
    activation.Apply(y->data.data(), y->size());
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<float> ReadBound(const OpContext& ctx, int index, const char* name) const {
    BN_RETURN_IF_ERROR(RequireInput(ctx, index, name, node_));
    const TensorView& bound = ctx.input(index);
    if (bound.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(node_, ": input ", name, ": expected a scalar, got shape ", bound.shape.ToString()));
    }
    return bound.data[0];
  }

  const std::string node_;
  const FusedActivation activation_;
  const int min_input_;
  const int max_input_;
};

// Tanh: y = fn(x). Stateless; Run is thread-safe.
template <typename Fn>
class UnaryOp final : public Op {
 public:
  explicit UnaryOp(std::string node) : node_(std::move(node)) {}

  absl::Status Run(const OpContext& ctx) const override {
    BN_RETURN_IF_ERROR(RequireInput(ctx, 0, "X", node_));
    const TensorView& x = ctx.input(0);
    Tensor* y = ctx.output(0);
    y->Resize(x.shape);
    const Fn fn;
    float* out = y->data.data();
    const int64_t n = x.size();
    for (int64_t i = 0; i < n; ++i) out[i] = fn(x.data[i]);
    return absl::OkStatus();
  }

 private:
  const std::string node_;
};

struct TanhFn {
  float operator()(float v) const { return std::tanh(v); }
};

// Softmax over the `n` elements x[0], x[stride], ..., x[(n-1)*stride].
// Subtracting the maximum keeps exp() from overflowing; the sum is float64.
void SoftmaxLine(const float* x, float* y, int64_t n, int64_t stride) {
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i * stride]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float e = std::exp(x[i * stride] - max);
    y[i * stride] = e;
    sum += e;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) y[i * stride] *= inv;
}

// Softmax. Before opset 13 the input is coerced to 2-D
// [prod(dims < axis), prod(dims >= axis)] and each row normalized; from 13 it
// is normalized along the single axis `axis`. Immutable; Run is thread-safe.
class SoftmaxOp final : public Op {
 public:
  SoftmaxOp(std::string node, int64_t axis, bool coerce_2d)
      : node_(std::move(node)), axis_(axis), coerce_2d_(coerce_2d) {}

  absl::Status Run(const OpContext& ctx) const override {
    BN_RETURN_IF_ERROR(RequireInput(ctx, 0, "input", node_));
    const TensorView& x = ctx.input(0);
    const int rank = x.shape.rank();
    BN_ASSIGN_OR_RETURN(const int axis, NormalizeAxis(axis_, rank, /*allow_rank=*/false, node_));
    const int64_t outer = x.shape.Product(0, axis);
    const int64_t n = coerce_2d_ ? x.shape.Product(axis, rank) : x.shape[axis];
    const int64_t inner = coerce_2d_ ? 1 : x.shape.Product(axis + 1, rank);
    Tensor* y = ctx.output(0);
    y->Resize(x.shape);
    for (int64_t o = 0; o < outer; ++o) {
      const int64_t base = o * n * inner;
      for (int64_t j = 0; j < inner; ++j) SoftmaxLine(x.data + base + j, y->data.data() + base + j, n, inner);
    }
    return absl::OkStatus();
  }

 private:
  const std::string node_;
  const int64_t axis_;
  const bool coerce_2d_;
};

absl::StatusOr<std::unique_ptr<Op>> MakeRelu(const OpBuildContext& ctx) {
  FusedActivation relu;
  relu.kind = FusedActivation::Kind::kRelu;
  return std::unique_ptr<Op>(new ActivationOp(ctx.Describe(), relu));
}

absl::StatusOr<std::unique_ptr<Op>> MakeSigmoid(const OpBuildContext& ctx) {
  FusedActivation sigmoid;
  sigmoid.kind = FusedActivation::Kind::kSigmoid;
  return std::unique_ptr<Op>(new ActivationOp(ctx.Describe(), sigmoid));
}

// HardSigmoid-6+: max(0, min(1, alpha*x + beta)), alpha 0.2 and beta 0.5 by
// default. HardSwish-14+: x * HardSigmoid(x) with alpha 1/6, beta 0.5 fixed.
template <FusedActivation::Kind kKind>
absl::StatusOr<std::unique_ptr<Op>> MakeHardActivation(const OpBuildContext& ctx) {
  FusedActivation act;
  act.kind = kKind;
  if (kKind == FusedActivation::Kind::kHardSigmoid) {
    act.alpha = ctx.node.GetFloat("alpha", 0.2f);
    act.beta = ctx.node.GetFloat("beta", 0.5f);
  } else {
    act.alpha = 1.0f / 6.0f;
    act.beta = 0.5f;
  }
  return std::unique_ptr<Op>(new ActivationOp(ctx.Describe(), act));
}

absl::StatusOr<std::unique_ptr<Op>> MakeLeakyRelu(const OpBuildContext& ctx) {
  FusedActivation leaky;
  leaky.kind = FusedActivation::Kind::kLeakyRelu;
  leaky.alpha = ctx.node.GetFloat("alpha", 0.01f);
  return std::unique_ptr<Op>(new ActivationOp(ctx.Describe(), leaky));
}

// Clip-6: bounds are attributes whose defaults are the finite float range
// (so, unlike "no bound", they clamp infinities).
absl::StatusOr<std::unique_ptr<Op>> MakeClipWithAttributes(const OpBuildContext& ctx) {
  FusedActivation clip;
  clip.kind = FusedActivation::Kind::kClip;
  clip.min = ctx.node.GetFloat("min", std::numeric_limits<float>::lowest());
  clip.max = ctx.node.GetFloat("max", std::numeric_limits<float>::max());
  return std::unique_ptr<Op>(new ActivationOp(ctx.Describe(), clip));
}

// Clip-11+: optional scalar inputs; an absent one means no bound. Constant
// bounds are read now, runtime ones on every run (the inner loop is the same).
absl::StatusOr<std::unique_ptr<Op>> MakeClipWithInputs(const OpBuildContext& ctx) {
  FusedActivation clip;
  clip.kind = FusedActivation::Kind::kClip;
  int runtime_input[2] = {ActivationOp::kNoInput, ActivationOp::kNoInput};
  float* bound[2] = {&clip.min, &clip.max};
  const char* name[2] = {"min", "max"};
  for (int k = 0; k < 2; ++k) {
    const size_t index = static_cast<size_t>(k) + 1;
    if (!ctx.node.HasInput(index)) continue;
    const ConstantTensor* constant = ctx.ConstantInput(index);
    if (constant == nullptr) {
      runtime_input[k] = static_cast<int>(index);
      continue;
    }
    if (constant->dtype != DataType::kFloat || constant->floats.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          ctx.Describe(), ": input ", name[k], ": expected a float scalar, got a ",
          constant->dtype == DataType::kFloat ? "float" : "int64", " tensor of shape ", constant->shape.ToString()));
    }
    *bound[k] = constant->floats[0];
  }
  return std::unique_ptr<Op>(new ActivationOp(ctx.Describe(), clip, runtime_input[0], runtime_input[1]));
}

template <typename Fn>
absl::StatusOr<std::unique_ptr<Op>> MakeUnary(const OpBuildContext& ctx) {
  return std::unique_ptr<Op>(new UnaryOp<Fn>(ctx.Describe()));
}

// Softmax-1/11 (kCoerce2D, axis default 1) and Softmax-13 (axis default -1).
template <bool kCoerce2D>
absl::StatusOr<std::unique_ptr<Op>> MakeSoftmax(const OpBuildContext& ctx) {
  const int64_t axis = ctx.node.GetInt("axis", kCoerce2D ? 1 : -1);
  BN_RETURN_IF_ERROR(CheckAxisSign(axis, ctx.graph.opset, ctx.Describe()));
  return std::unique_ptr<Op>(new SoftmaxOp(ctx.Describe(), axis, kCoerce2D));
}

}  // namespace

void RegisterActivationOps(OpRegistry* registry) {
  // Schemas from opset 6 on differ only in the types they admit, except for
  // Clip (bounds became inputs in 11) and Softmax (new semantics in 13).
  registry->Register("", "Relu", 6, kMaxSupportedOpset, MakeRelu);
  registry->Register("", "LeakyRelu", 6, kMaxSupportedOpset, MakeLeakyRelu);
  registry->Register("", "Sigmoid", 6, kMaxSupportedOpset, MakeSigmoid);
  registry->Register("", "HardSigmoid", 6, kMaxSupportedOpset18Ops,
                     MakeHardActivation<FusedActivation::Kind::kHardSigmoid>);
  registry->Register("", "HardSwish", 14, kMaxSupportedOpset18Ops,
                     MakeHardActivation<FusedActivation::Kind::kHardSwish>);
  registry->Register("", "Tanh", 6, kMaxSupportedOpset, MakeUnary<TanhFn>);
  registry->Register("", "Clip", 6, 10, MakeClipWithAttributes);
  registry->Register("", "Clip", 11, kMaxSupportedOpset, MakeClipWithInputs);
  registry->Register("", "Softmax", 1, 12, MakeSoftmax<true>);
  registry->Register("", "Softmax", 13, kMaxSupportedOpset, MakeSoftmax<false>);
}

}  // namespace bnserve
