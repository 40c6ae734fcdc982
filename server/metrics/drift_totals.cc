#include "server/metrics/drift_totals.h"

#include <vector>

namespace bnserve {
namespace {

bool SameEvent(const DriftEventReport& a, const DriftEventReport& b) {
  return a.unix_ms == b.unix_ms && a.kind == b.kind && a.statistics_version == b.statistics_version &&
         a.candidate_id == b.candidate_id && a.reason == b.reason;
}

// The position after the last element equal to `seen` (searching from the
// end: it is usually near it), or 0 when none is.
template <typename T, typename Same>
size_t FirstNew(const std::vector<T>& log, const Same& same) {
  for (size_t i = log.size(); i > 0; --i) {
    if (same(log[i - 1])) return i;
  }
  return 0;
}

}  // namespace

DriftTotals::Totals DriftTotals::Update(const DriftReport& report) {
  std::lock_guard<std::mutex> lock(mu_);
  Seen& seen = models_[report.model];
  const auto key = [](const DriftWindowReport& w) { return WindowKey{w.statistics_version, w.index, w.closed_unix_ms}; };
  const size_t first_window =
      seen.last_window ? FirstNew(report.windows, [&](const DriftWindowReport& w) { return key(w) == *seen.last_window; })
                       : 0;
  seen.totals.windows += static_cast<int64_t>(report.windows.size() - first_window);
  if (!report.windows.empty()) seen.last_window = key(report.windows.back());

  const size_t first_event =
      seen.last_event ? FirstNew(report.events, [&](const DriftEventReport& e) { return SameEvent(e, *seen.last_event); })
                      : 0;
  for (size_t i = first_event; i < report.events.size(); ++i) ++seen.totals.events[report.events[i].kind];
  if (!report.events.empty()) seen.last_event = report.events.back();
  return seen.totals;
}

}  // namespace bnserve
