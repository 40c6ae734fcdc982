#include "core/stats/channel_moments.h"

#include "core/stats/moment_reduction.h"

namespace bnserve {

void ChannelMoments::Merge(const ChannelMoments& other) {
  if (other.count == 0) return;
  if (count == 0) {
    *this = other;
    return;
  }
  const double n_a = static_cast<double>(count);
  const double n_b = static_cast<double>(other.count);
  const double n = n_a + n_b;
  const double delta = other.mean - mean;
  mean += delta * (n_b / n);
  m2 += other.m2 + delta * delta * (n_a * (n_b / n));
  count += other.count;
}

void ComputeChannelMoments(const TensorView& x, std::vector<ChannelMoments>* out) {
  // Channel axis 1; every other axis reduced. Rank 0 and 1 are one channel.
  const int rank = x.shape.rank();
  const uint32_t all_axes = (1u << rank) - 1u;
  const uint32_t reduced_axes = rank >= 2 ? all_axes & ~(1u << 1) : all_axes;
  ReduceMoments(x, reduced_axes, out);
}

}  // namespace bnserve
