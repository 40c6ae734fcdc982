#include "core/engine/ops/fused_activation.h"

#include "absl/strings/str_cat.h"

namespace bnserve {

absl::StatusOr<FusedActivation> FusedActivation::FromNode(const Node& node) {
  FusedActivation act;
  const Attribute* a = node.FindAttribute(kFusedActivationAttr);
  if (a == nullptr) return act;
  if (a->s == "Relu") {
    act.kind = Kind::kRelu;
  } else if (a->s == "LeakyRelu") {
    act.kind = Kind::kLeakyRelu;
    act.alpha = node.GetFloat(kFusedAlphaAttr, 0.01f);
  } else if (a->s == "Clip") {
    act.kind = Kind::kClip;
    act.min = node.GetFloat(kFusedMinAttr, act.min);
    act.max = node.GetFloat(kFusedMaxAttr, act.max);
  } else if (a->s == "Sigmoid") {
    act.kind = Kind::kSigmoid;
  } else if (a->s == "HardSigmoid" || a->s == "HardSwish") {
    act.kind = a->s == "HardSigmoid" ? Kind::kHardSigmoid : Kind::kHardSwish;
    act.alpha = node.GetFloat(kFusedAlphaAttr, 0.2f);
    act.beta = node.GetFloat(kFusedBetaAttr, 0.5f);
  } else if (a->s == "SiLU") {
    act.kind = Kind::kSiLU;
  } else {
    return absl::InternalError(absl::StrCat("node '", node.name, "': unknown fused activation '", a->s, "'"));
  }
  return act;
}

void FusedActivation::Apply(float* data, int64_t n) const {
  switch (kind) {
    case Kind::kNone:
      return;
    case Kind::kRelu:
      for (int64_t i = 0; i < n; ++i) data[i] = data[i] < 0.0f ? 0.0f : data[i];
      return;
    // One loop per kind, so each is a straight line the compiler can vectorize.
    case Kind::kHardSigmoid:
      for (int64_t i = 0; i < n; ++i) data[i] = HardSigmoid(data[i]);
      return;
    case Kind::kHardSwish:
      for (int64_t i = 0; i < n; ++i) data[i] *= HardSigmoid(data[i]);
      return;
    case Kind::kSigmoid:
      for (int64_t i = 0; i < n; ++i) data[i] = Sigmoid(data[i]);
      return;
    case Kind::kSiLU:
      for (int64_t i = 0; i < n; ++i) data[i] *= Sigmoid(data[i]);
      return;
    default:
      for (int64_t i = 0; i < n; ++i) data[i] = (*this)(data[i]);
      return;
  }
}

}  // namespace bnserve
