// FusedActivation: an element-wise activation that the plan builder folded
// into the op producing its input (Conv/Gemm/MatMul/Add/ChannelAffine/
// BatchNormalization), so the activation runs while the output is still in
// cache instead of as a separate pass. Encoded on the node as internal
// attributes: "_bnserve_activation" = "Relu" | "LeakyRelu" | "Clip", with
// "_bnserve_alpha" (LeakyRelu) or "_bnserve_min"/"_bnserve_max" (Clip).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "core/graph/graph.h"
#include "core/util/status.h"

namespace bnserve {

struct FusedActivation {
  enum class Kind { kNone, kRelu, kLeakyRelu, kClip };
  Kind kind = Kind::kNone;
  float alpha = 0.01f;
  float min = -std::numeric_limits<float>::infinity();
  float max = std::numeric_limits<float>::infinity();

  static absl::StatusOr<FusedActivation> FromNode(const Node& node);

  inline float operator()(float v) const {
    switch (kind) {
      case Kind::kNone:
        return v;
      case Kind::kRelu:
        return v < 0.0f ? 0.0f : v;  // NaN propagates, as in PyTorch
      case Kind::kLeakyRelu:
        return v >= 0.0f ? v : v * alpha;
      case Kind::kClip:
        return std::min(std::max(v, min), max);
    }
    return v;
  }
  void Apply(float* data, int64_t n) const;
};

inline constexpr char kFusedActivationAttr[] = "_bnserve_activation";
inline constexpr char kFusedAlphaAttr[] = "_bnserve_alpha";
inline constexpr char kFusedMinAttr[] = "_bnserve_min";
inline constexpr char kFusedMaxAttr[] = "_bnserve_max";

}  // namespace bnserve
