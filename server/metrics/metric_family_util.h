// Building prometheus::MetricFamily values by hand, for the collectors that
// read their values at scrape time instead of keeping metric objects.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"

namespace bnserve {

inline prometheus::MetricFamily GaugeFamily(std::string name, std::string help) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  return family;
}

inline prometheus::MetricFamily CounterFamily(std::string name, std::string help) {
  prometheus::MetricFamily family = GaugeFamily(std::move(name), std::move(help));
  family.type = prometheus::MetricType::Counter;
  return family;
}

inline void AddSample(prometheus::MetricFamily& family, std::vector<prometheus::ClientMetric::Label> labels,
                      double value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  if (family.type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
}

}  // namespace bnserve
