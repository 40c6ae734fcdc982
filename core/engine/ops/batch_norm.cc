// BatchNormalization (inference form, frozen statistics) and the internal
// bnserve::ChannelAffine that graph rewrites create. Both run the same
// kernel, y[n,c,...] = x*scale[c] + shift[c] followed by an optional fused
// activation; BatchNormalization folds its constant statistics into scale
// and shift once, when the op is built (bn_fold.h).
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/engine/ops/bn_fold.h"
#include "core/engine/ops/fused_activation.h"
#include "core/engine/ops/op_checks.h"
#include "core/engine/ops/ops.h"
#include "core/engine/ops/opset.h"

namespace bnserve {
namespace {

// Per-channel affine map over axis 1 of an [N, C, ...] tensor; a rank-1
// input is a single channel (ONNX BatchNormalization semantics). Owns its
// float32 scale/shift; immutable after construction, so Run is thread-safe.
class ChannelAffineOp final : public Op {
 public:
  ChannelAffineOp(std::string node, ChannelAffineParams params, FusedActivation activation)
      : node_(std::move(node)), params_(std::move(params)), activation_(activation) {}

  absl::Status Run(const OpContext& ctx) const override {
    BN_RETURN_IF_ERROR(RequireInput(ctx, 0, "X", node_));
    const TensorView& x = ctx.input(0);
    const int rank = x.shape.rank();
    const int64_t channels = static_cast<int64_t>(params_.scale.size());
    const int64_t received = rank >= 2 ? x.shape[1] : 1;
    if (rank == 0 || received != channels) {
      return absl::InvalidArgumentError(absl::StrCat(node_, ": input X: expected shape [N,", channels,
                                                     ",...] (channels on axis 1; a rank-1 input is one channel), got ",
                                                     x.shape.ToString()));
    }
    const int64_t outer = rank >= 2 ? x.shape[0] : 1;
    const int64_t inner = rank >= 2 ? x.shape.Product(2, rank) : x.shape[0];
    Tensor* y = ctx.output(0);
    y->Resize(x.shape);
    const float* in = x.data;
    float* out = y->data.data();
    for (int64_t n = 0; n < outer; ++n) {
      for (int64_t c = 0; c < channels; ++c, in += inner, out += inner) {
        const float scale = params_.scale[c];
        const float shift = params_.shift[c];
        for (int64_t i = 0; i < inner; ++i) out[i] = in[i] * scale + shift;
        activation_.Apply(out, inner);  // while the channel is still in cache
      }
    }
    return absl::OkStatus();
  }

 private:
  const std::string node_;
  const ChannelAffineParams params_;
  const FusedActivation activation_;
};

// The constant float vector feeding input `index` (called `name`), widened to
// float64. UNIMPLEMENTED when it is a runtime value, since the kernel needs
// it at load time (`hint` tells the user what to do about it).
// INVALID_ARGUMENT when it is not 1-D float or its length differs from
// `channels` (-1: any).
absl::StatusOr<std::vector<double>> ChannelVector(const OpBuildContext& ctx, size_t index, const char* name,
                                                  int64_t channels, absl::string_view hint) {
  if (!ctx.node.HasInput(index)) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.Describe(), ": expected input ", index, " (", name, "), got none"));
  }
  const ConstantTensor* constant = ctx.ConstantInput(index);
  if (constant == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat(ctx.Describe(), ": input ", name, " ('", ctx.node.inputs[index],
                     "') is computed at run time; bnserve needs it as a constant initializer", hint));
  }
  if (constant->dtype != DataType::kFloat || constant->shape.rank() != 1 ||
      (channels >= 0 && constant->shape[0] != channels)) {
    return absl::InvalidArgumentError(absl::StrCat(
        ctx.Describe(), ": input ", name, " ('", ctx.node.inputs[index], "'): expected a float tensor of shape [",
        channels >= 0 ? absl::StrCat(channels) : "C", "], got a ",
        constant->dtype == DataType::kFloat ? "float" : "int64", " tensor of shape ", constant->shape.ToString()));
  }
  return std::vector<double>(constant->floats.begin(), constant->floats.end());
}

absl::Status RejectTraining(const OpBuildContext& ctx, const std::string& what) {
  return absl::UnimplementedError(absl::StrCat(
      ctx.Describe(), ": ", what,
      ": bnserve runs BatchNormalization only in inference form with its stored running statistics; export the "
      "model after model.eval() with torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE)"));
}

// What differs between the BatchNormalization schemas bnserve accepts.
enum class BnSchema {
  kOpset7,   // `spatial` attribute (only spatial=1 is per-channel BN)
  kOpset9,   // no mode attribute: more than one output means training
  kOpset14,  // `training_mode` attribute; 15 only decouples the input types
};

template <BnSchema kSchema>
absl::StatusOr<std::unique_ptr<Op>> MakeBatchNorm(const OpBuildContext& ctx) {
  const Node& node = ctx.node;
  if (kSchema == BnSchema::kOpset7 && node.GetInt("spatial", 1) != 1) {
    return absl::UnimplementedError(absl::StrCat(
        ctx.Describe(), ": attribute spatial: only spatial=1 is supported, got ", node.GetInt("spatial", 1)));
  }
  if (kSchema == BnSchema::kOpset14 && node.GetInt("training_mode", 0) != 0) {
    return RejectTraining(ctx, absl::StrCat("training_mode=", node.GetInt("training_mode", 0)));
  }
  for (size_t k = 1; k < node.outputs.size(); ++k) {
    if (!node.outputs[k].empty()) {
      return RejectTraining(ctx, absl::StrCat("output ", k, " ('", node.outputs[k],
                                              "') requested (running or saved statistics exist only in training)"));
    }
  }
  constexpr absl::string_view kHint =
      " (export the model after model.eval() with torch.onnx.TrainingMode.PRESERVE; BatchNorm with "
      "track_running_stats=False, which always uses batch statistics, is not supported)";
  BN_ASSIGN_OR_RETURN(const std::vector<double> gamma, ChannelVector(ctx, 1, "scale", -1, kHint));
  const int64_t channels = static_cast<int64_t>(gamma.size());
  BN_ASSIGN_OR_RETURN(const std::vector<double> beta, ChannelVector(ctx, 2, "B", channels, kHint));
  BN_ASSIGN_OR_RETURN(const std::vector<double> mean, ChannelVector(ctx, 3, "mean", channels, kHint));
  BN_ASSIGN_OR_RETURN(const std::vector<double> var, ChannelVector(ctx, 4, "var", channels, kHint));
  // The attribute is float32 in the file; widening keeps its exact value
  // (e.g. 9.999999747378752e-06 for 1e-5), which is what PyTorch adds too.
  const double epsilon = node.GetFloat("epsilon", 1e-5f);
  BN_ASSIGN_OR_RETURN(ChannelAffineParams params, FoldBatchNorm(gamma, beta, mean, var, epsilon, ctx.Describe()));
  BN_ASSIGN_OR_RETURN(const FusedActivation activation, FusedActivation::FromNode(node));
  return std::unique_ptr<Op>(new ChannelAffineOp(ctx.Describe(), std::move(params), activation));
}

// bnserve::ChannelAffine(X, scale, shift): scale and shift are float
// initializers of equal length, already folded by whoever created the node.
absl::StatusOr<std::unique_ptr<Op>> MakeChannelAffine(const OpBuildContext& ctx) {
  constexpr absl::string_view kHint = " (the graph rewrite that created this node must add them)";
  BN_ASSIGN_OR_RETURN(const std::vector<double> scale, ChannelVector(ctx, 1, "scale", -1, kHint));
  BN_ASSIGN_OR_RETURN(const std::vector<double> shift,
                      ChannelVector(ctx, 2, "shift", static_cast<int64_t>(scale.size()), kHint));
  ChannelAffineParams params;
  // Exact round trip: the values were float32 in the initializers.
  params.scale.assign(scale.begin(), scale.end());
  params.shift.assign(shift.begin(), shift.end());
  BN_ASSIGN_OR_RETURN(const FusedActivation activation, FusedActivation::FromNode(ctx.node));
  return std::unique_ptr<Op>(new ChannelAffineOp(ctx.Describe(), std::move(params), activation));
}

}  // namespace

void RegisterBatchNormOps(OpRegistry* registry) {
  registry->Register("", "BatchNormalization", 7, 8, MakeBatchNorm<BnSchema::kOpset7>);
  registry->Register("", "BatchNormalization", 9, 13, MakeBatchNorm<BnSchema::kOpset9>);
  registry->Register("", "BatchNormalization", 14, kMaxSupportedOpset, MakeBatchNorm<BnSchema::kOpset14>);
  // Internal op: valid whatever the default-domain opset of the model.
  registry->Register(kBnserveDomain, "ChannelAffine", 0, std::numeric_limits<int64_t>::max(), MakeChannelAffine);
}

}  // namespace bnserve
