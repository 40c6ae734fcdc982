#include "core/stats/moments.h"

#include "absl/strings/str_cat.h"
#include "core/stats/channel_moments.h"
#include "core/stats/moment_reduction.h"

namespace bnserve {
namespace {

// Normalizes python-style axes to a bit set, rejecting what tf.nn.moments
// would reject.
absl::StatusOr<uint32_t> ReducedAxesMask(const Shape& shape, absl::Span<const int64_t> axes) {
  const int64_t rank = shape.rank();
  uint32_t mask = 0;
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t axis = axes[i];
    if (axis < -rank || axis >= rank) {
      return absl::InvalidArgumentError(absl::StrCat("axes[", i, "]: expected a value in [", -rank, ", ", rank - 1,
                                                     "] for an input of shape ", shape.ToString(), ", got ", axis));
    }
    const int64_t normalized = axis < 0 ? axis + rank : axis;
    if ((mask >> normalized) & 1u) {
      return absl::InvalidArgumentError(
          absl::StrCat("axes[", i, "]: expected each axis once, got ", axis, " which repeats axis ", normalized));
    }
    if (shape[normalized] == 0) {
      return absl::InvalidArgumentError(absl::StrCat("axes[", i, "]: expected a non-empty axis to reduce, got ", axis,
                                                     " of size 0 in input shape ", shape.ToString()));
    }
    mask |= 1u << normalized;
  }
  return mask;
}

Shape ReducedShape(const Shape& shape, uint32_t mask, bool keep_dims) {
  Shape out;
  for (int i = 0; i < shape.rank(); ++i) {
    if (!((mask >> i) & 1u)) {
      out.push_back(shape[i]);
    } else if (keep_dims) {
      out.push_back(1);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<MomentsResult> ComputeMoments(const TensorView& x, absl::Span<const int64_t> axes, bool keep_dims) {
  BN_ASSIGN_OR_RETURN(const uint32_t mask, ReducedAxesMask(x.shape, axes));
  MomentsResult result;
  result.shape = ReducedShape(x.shape, mask, keep_dims);
  const size_t outputs = static_cast<size_t>(result.shape.NumElements());
  if (mask == 0) {  // no reduction: every element is its own mean
    result.mean.assign(x.data, x.data + outputs);
    result.variance.assign(outputs, 0.0);
    return result;
  }
  std::vector<ChannelMoments> moments;
  ReduceMoments(x, mask, &moments);
  result.mean.resize(outputs);
  result.variance.resize(outputs);
  for (size_t i = 0; i < outputs; ++i) {
    result.mean[i] = moments[i].mean;
    result.variance[i] = moments[i].VarBiased();
  }
  return result;
}

}  // namespace bnserve
