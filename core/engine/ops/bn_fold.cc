#include "core/engine/ops/bn_fold.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace bnserve {

absl::StatusOr<ChannelAffineParams> FoldBatchNorm(absl::Span<const double> gamma, absl::Span<const double> beta,
                                                  absl::Span<const double> mean, absl::Span<const double> var,
                                                  double epsilon, absl::string_view what) {
  ChannelAffineParams params;
  params.scale.resize(gamma.size());
  params.shift.resize(gamma.size());
  params.exact_scale.resize(gamma.size());
  params.exact_shift.resize(gamma.size());
  for (size_t c = 0; c < gamma.size(); ++c) {
    const double denom = var[c] + epsilon;
    if (!std::isfinite(denom) || !(denom > 0.0)) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, " channel ", c, ": expected running variance + epsilon finite and > 0, got ", var[c], " + ", epsilon));
    }
    const double scale = gamma[c] / std::sqrt(denom);
    const double shift = beta[c] - mean[c] * scale;
    params.exact_scale[c] = scale;
    params.exact_shift[c] = shift;
    params.scale[c] = static_cast<float>(scale);
    params.shift[c] = static_cast<float>(shift);
    // Checked after rounding: a finite double may still overflow float32.
    if (!std::isfinite(params.scale[c]) || !std::isfinite(params.shift[c])) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, " channel ", c, ": expected a folded scale and shift finite in float32, got scale ", scale,
          " and shift ", shift, " (scale ", gamma[c], ", B ", beta[c], ", mean ", mean[c], ", var ", var[c], ")"));
    }
  }
  return params;
}

}  // namespace bnserve
