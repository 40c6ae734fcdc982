#include "server/metrics/drift_collector.h"

#include "server/metrics/metric_family_util.h"

namespace bnserve {

std::vector<prometheus::MetricFamily> DriftCollector::Collect() const {
  prometheus::MetricFamily score = GaugeFamily(
      "bnserve_drift_score", "The last closed window's drift score (max over BN layers; 0 for a reference window)");
  prometheus::MetricFamily layer_score =
      GaugeFamily("bnserve_drift_layer_score", "The last closed window's calibrated drift score of each BN layer");
  prometheus::MetricFamily threshold =
      GaugeFamily("bnserve_drift_threshold", "The calibrated alarm threshold on the window score; 0 until calibrated");
  prometheus::MetricFamily alarm = GaugeFamily("bnserve_drift_alarm", "1 while the drift alarm is raised, else 0");
  prometheus::MetricFamily samples = CounterFamily(
      "bnserve_drift_samples_total",
      "Predicted samples the drift monitor took (sampled), dropped because its queue was full, and processed");
  prometheus::MetricFamily windows = CounterFamily("bnserve_drift_windows_total", "Drift windows closed");
  prometheus::MetricFamily decisions = CounterFamily(
      "bnserve_adapt_decisions_total", "Events of the drift monitor and the adaptation policy, by kind (alarm, "
                                       "clear, candidate, promote, refuse, rollback, ...)");
  prometheus::MetricFamily candidates =
      GaugeFamily("bnserve_candidates_staged", "Candidate statistics staged (built, not served)");
  for (const DriftReport& report : adapt_->MonitoredReports(static_cast<int>(kDriftWindowsKept))) {
    const std::vector<prometheus::ClientMetric::Label> model = {{"model", report.model}};
    if (!report.windows.empty()) {
      const DriftWindowReport& last = report.windows.back();
      AddSample(score, model, last.score);
      for (const LayerDriftScore& layer : last.layers) {
        AddSample(layer_score, {{"model", report.model}, {"layer", layer.name}}, layer.score);
      }
    }
    AddSample(threshold, model, report.threshold);
    AddSample(alarm, model, report.alarm ? 1.0 : 0.0);
    AddSample(samples, {{"model", report.model}, {"outcome", "sampled"}},
              static_cast<double>(report.samples_sampled));
    AddSample(samples, {{"model", report.model}, {"outcome", "dropped"}},
              static_cast<double>(report.samples_dropped));
    AddSample(samples, {{"model", report.model}, {"outcome", "processed"}},
              static_cast<double>(report.samples_processed));
    const DriftTotals::Totals totals = totals_.Update(report);
    AddSample(windows, model, static_cast<double>(totals.windows));
    for (const auto& [kind, count] : totals.events) {
      AddSample(decisions, {{"model", report.model}, {"kind", kind}}, static_cast<double>(count));
    }
    AddSample(candidates, model, static_cast<double>(report.candidates.size()));
  }
  return {std::move(score),   std::move(layer_score), std::move(threshold), std::move(alarm),
          std::move(samples), std::move(windows),     std::move(decisions), std::move(candidates)};
}

}  // namespace bnserve
