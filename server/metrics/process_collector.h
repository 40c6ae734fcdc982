// ProcessCollector: the standard process_* metrics every Prometheus client
// exports (resident and virtual memory, CPU seconds, open file descriptors,
// start time), read from /proc/self at scrape time; prometheus-cpp has none.
// On a system without /proc the scrape simply has no process_* series.
//
// Thread-safe (stateless).
#pragma once

#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace bnserve {

class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace bnserve
