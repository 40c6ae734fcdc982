#include "core/engine/run_cost.h"

#include <algorithm>
#include <limits>

namespace bnserve {
namespace {

constexpr int64_t kMaxPicos = std::numeric_limits<int64_t>::max() / 8;

}  // namespace

void RunCost::Record(int64_t elements, int64_t nanos) {
  elements = std::max<int64_t>(elements, 1);
  nanos = std::max<int64_t>(nanos, 0);
  // ps per element, saturated so that the average below cannot overflow.
  const int64_t sample = nanos >= kMaxPicos / 1000 ? kMaxPicos : std::min(nanos * 1000 / elements, kMaxPicos);
  const int64_t old = ps_per_element_.load(std::memory_order_relaxed);
  const int64_t updated = old < 0 ? sample : old + (sample - old) / 8;
  ps_per_element_.store(updated, std::memory_order_relaxed);
}

int64_t RunCost::EstimateNanos(int64_t elements) const {
  const int64_t ps = ps_per_element_.load(std::memory_order_relaxed);
  if (ps < 0) return -1;
  elements = std::max<int64_t>(elements, 1);
  // ps * elements / 1000 without overflow: a huge estimate only has to be huge.
  if (ps > 0 && elements > std::numeric_limits<int64_t>::max() / ps) return std::numeric_limits<int64_t>::max();
  return ps * elements / 1000;
}

}  // namespace bnserve
