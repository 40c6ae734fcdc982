// FusedActivation: an element-wise activation that the plan builder folded
// into the op producing its input (Conv/Gemm/MatMul/Add/ChannelAffine/
// BatchNormalization), so the activation runs while the output is still in
// cache instead of as a separate pass. Encoded on the node as internal
// attributes: "_bnserve_activation" = "Relu" | "LeakyRelu" | "Clip" |
// "Sigmoid" | "HardSigmoid" | "HardSwish" | "SiLU", with "_bnserve_alpha"
// (LeakyRelu, HardSigmoid, HardSwish), "_bnserve_beta" (HardSigmoid,
// HardSwish) or "_bnserve_min"/"_bnserve_max" (Clip).
//
// The gated forms x * gate(x) (HardSwish = x * HardSigmoid(x), SiLU =
// x * Sigmoid(x)) are what exporters write as a gate op and a Mul; the plan
// builder recognizes that pair (core/engine/graph_rewrites.h), so
// squeeze-excitation and MobileNetV3/EfficientNet blocks run one pass.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/graph/graph.h"
#include "core/util/status.h"

namespace bnserve {

struct FusedActivation {
  enum class Kind { kNone, kRelu, kLeakyRelu, kClip, kSigmoid, kHardSigmoid, kHardSwish, kSiLU };
  Kind kind = Kind::kNone;
  float alpha = 0.01f;  // LeakyRelu slope; HardSigmoid/HardSwish slope (ONNX default 0.2, HardSwish 1/6)
  float beta = 0.5f;    // HardSigmoid/HardSwish offset
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
      case Kind::kSigmoid:
        return Sigmoid(v);
      case Kind::kHardSigmoid:
        return HardSigmoid(v);
      case Kind::kHardSwish:
        return v * HardSigmoid(v);
      case Kind::kSiLU:
        return v * Sigmoid(v);
    }
    return v;
  }

  // Never exponentiates a positive number, so neither branch overflows.
  static float Sigmoid(float v) {
    if (v >= 0.0f) return 1.0f / (1.0f + std::exp(-v));
    const float e = std::exp(v);
    return e / (1.0f + e);
  }
  // max(0, min(1, alpha * v + beta)); NaN propagates.
  float HardSigmoid(float v) const {
    const float t = alpha * v + beta;
    return t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
  }
  void Apply(float* data, int64_t n) const;
};

inline constexpr char kFusedActivationAttr[] = "_bnserve_activation";
inline constexpr char kFusedAlphaAttr[] = "_bnserve_alpha";
inline constexpr char kFusedBetaAttr[] = "_bnserve_beta";
inline constexpr char kFusedMinAttr[] = "_bnserve_min";
inline constexpr char kFusedMaxAttr[] = "_bnserve_max";

}  // namespace bnserve
