// Sufficient statistics of one channel: count, mean and M2 = sum((x-mean)^2),
// in float64. Mergeable with Chan et al.'s parallel formula, which is how the
// "exact" recalibration mode pools every sample it has seen, and how batch
// statistics sent in several messages are combined. Never E[x^2]-E[x]^2: see
// docs/bn-semantics.md section 7 (catastrophic cancellation).
#pragma once

#include <cstdint>
#include <vector>

#include "core/graph/tensor.h"

namespace bnserve {

struct ChannelMoments {
  int64_t count = 0;
  double mean = 0.0;
  double m2 = 0.0;

  // Chan's update: combines two disjoint sample sets exactly.
  void Merge(const ChannelMoments& other);
  double VarBiased() const { return count > 0 ? m2 / static_cast<double>(count) : 0.0; }
  // REQUIRES: count >= 2 (callers reject smaller batches first).
  double VarUnbiased() const { return m2 / static_cast<double>(count - 1); }
};

// Per-channel moments of `x` with the channel on axis 1 and every other axis
// reduced (ONNX/PyTorch BatchNorm semantics; a rank-1 tensor is one channel).
// One read of the data, float64 shifted sums per block merged with Chan's
// formula (core/stats/moment_reduction.h). Resizes `out` to the channel count; a
// channel with no elements (N == 0) gets count 0.
void ComputeChannelMoments(const TensorView& x, std::vector<ChannelMoments>* out);

}  // namespace bnserve
