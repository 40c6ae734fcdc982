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
    default:
      for (int64_t i = 0; i < n; ++i) data[i] = (*this)(data[i]);
      return;
  }
}

}  // namespace bnserve
