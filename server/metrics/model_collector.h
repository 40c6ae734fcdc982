// ModelCollector: the per-model gauges, read from the ModelManager at scrape
// time so they can never disagree with what the server reports over gRPC:
// the model's state, the statistics version it serves and when that version
// was committed, and its open Recalibrate streams.
//
// Thread-safe (the ModelManager is); the manager must outlive the collector.
#pragma once

#include <vector>

#include "core/serving/model_manager.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace bnserve {

class ModelCollector : public prometheus::Collectable {
 public:
  explicit ModelCollector(const ModelManager* manager) : manager_(manager) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const ModelManager* manager_;
};

}  // namespace bnserve
