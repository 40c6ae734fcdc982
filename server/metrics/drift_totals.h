// DriftTotals: counters of what a model's drift monitor did - the windows it
// closed and its events by kind - made monotonic from the recent windows and
// events its reports keep (the last kDriftWindowsKept and kDriftEventsKept,
// core/adapt/drift_monitor.h: a count of what a report holds would fall once
// the log is full, and a counter must not).
//
// Each Update adds what is new since the model's previous Update: the
// windows after the last one seen and the events after the last one seen.
// When that one is no longer in the report (more than the kept number came
// since, or a reloaded model's new monitor started afresh), every window or
// event of the report counts as new. So a total never decreases; it
// undercounts only when more than the kept number happen between two
// scrapes.
//
// Thread-safe (concurrent scrapes).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/adapt/drift_report.h"

namespace bnserve {

class DriftTotals {
 public:
  struct Totals {
    int64_t windows = 0;
    std::map<std::string, int64_t> events;  // by DriftEventReport::kind
  };

  // `report` must hold all the windows its monitor keeps (Report(kDriftWindowsKept)).
  Totals Update(const DriftReport& report);

 private:
  // A window's identity: the version it served, its index since that
  // version's restart, and when it closed.
  struct WindowKey {
    int64_t statistics_version = 0;
    int64_t index = 0;
    int64_t closed_unix_ms = 0;
    bool operator==(const WindowKey& other) const {
      return statistics_version == other.statistics_version && index == other.index &&
             closed_unix_ms == other.closed_unix_ms;
    }
  };
  struct Seen {
    Totals totals;
    std::optional<WindowKey> last_window;
    std::optional<DriftEventReport> last_event;
  };

  std::mutex mu_;
  std::map<std::string, Seen> models_;  // guarded by mu_
};

}  // namespace bnserve
