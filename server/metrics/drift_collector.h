// DriftCollector: each monitored model's drift as Prometheus series, read
// from the AdaptationManager at scrape time (MonitoredReports), so they say
// what GetDrift says: the last window's score and each layer's, the
// calibrated threshold, the alarm, the monitor's sample counts, closed
// windows, the adaptation's decisions by kind, and the staged candidates
// (docs/metrics.md). A model appears once its monitor exists: monitoring on
// and a prediction served since it was loaded.
//
// Thread-safe; the AdaptationManager must outlive the collector.
#pragma once

#include <vector>

#include "core/adapt/adaptation_manager.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/metrics/drift_totals.h"

namespace bnserve {

class DriftCollector : public prometheus::Collectable {
 public:
  explicit DriftCollector(const AdaptationManager* adapt) : adapt_(adapt) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const AdaptationManager* adapt_;
  // Collect is const for prometheus-cpp; the totals are its memory of what
  // it already counted.
  mutable DriftTotals totals_;
};

}  // namespace bnserve
