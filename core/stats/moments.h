// ComputeMoments: tf.nn.moments for a float32 tensor and any set of axes --
// the mean and the BIASED variance (M2 / n) over the reduced axes, in float64.
// Stateless and thread-safe; reads `x` once (core/stats/moment_reduction.h).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "core/graph/shape.h"
#include "core/graph/tensor.h"
#include "core/util/status.h"

namespace bnserve {

struct MomentsResult {
  // The reduced shape: reduced axes removed, or kept as size 1 with keep_dims.
  Shape shape;
  std::vector<double> mean;      // row-major over `shape`
  std::vector<double> variance;  // biased: M2 / n, as tf.nn.moments returns
};

// Reduces `x` over `axes` (python style: -1 is the last axis; any order).
// Empty `axes` reduce nothing: mean = x and variance = 0. INVALID_ARGUMENT
// when an axis is out of [-rank, rank), repeats another, or names an axis of
// size 0 (an empty reduction has no mean).
absl::StatusOr<MomentsResult> ComputeMoments(const TensorView& x, absl::Span<const int64_t> axes, bool keep_dims);

}  // namespace bnserve
