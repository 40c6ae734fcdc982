// Folding BatchNormalization's inference form into a per-channel affine map
// (docs/bn-semantics.md section 2, "folded form"):
//   y = gamma*(x - mean)/sqrt(var + eps) + beta = x*scale + shift
//   scale = gamma/sqrt(var + eps),  shift = beta - mean*scale
// computed in float64 and rounded once to float32, so the float32 kernel is a
// single multiply-add per element.
#pragma once

#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/util/status.h"

namespace bnserve {

struct ChannelAffineParams {
  std::vector<float> scale;  // per channel
  std::vector<float> shift;
  // The same in float64, before rounding: what graph rewrites keep so that
  // folding into a Conv/Gemm rounds the final weights once.
  std::vector<double> exact_scale;
  std::vector<double> exact_shift;
};

// REQUIRES: gamma, beta, mean and var have the same size (the channel count).
// FAILED_PRECONDITION naming `what` (e.g. a node description) and the channel
// when var + epsilon is not finite and > 0, or when the folded scale or shift
// is not finite. Bad statistics are rejected, never repaired.
absl::StatusOr<ChannelAffineParams> FoldBatchNorm(absl::Span<const double> gamma, absl::Span<const double> beta,
                                                  absl::Span<const double> mean, absl::Span<const double> var,
                                                  double epsilon, absl::string_view what);

}  // namespace bnserve
