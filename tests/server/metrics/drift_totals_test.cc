// DriftTotals: monotonic window and event counts from the capped logs of
// successive drift reports.
#include "server/metrics/drift_totals.h"

#include <string>

#include "gtest/gtest.h"

namespace bnserve {
namespace {

DriftWindowReport Window(int64_t version, int64_t index) {
  DriftWindowReport window;
  window.statistics_version = version;
  window.index = index;
  window.closed_unix_ms = 1000 * version + index;
  return window;
}

DriftEventReport Event(int64_t unix_ms, const std::string& kind) {
  return DriftEventReport{unix_ms, kind, 1, 0, kind + " at " + std::to_string(unix_ms)};
}

TEST(DriftTotalsTest, CountsOnlyWhatIsNewSinceTheLastReport) {
  DriftTotals totals;
  DriftReport report;
  report.model = "digits";
  for (int i = 1; i <= 3; ++i) report.windows.push_back(Window(1, i));
  report.events = {Event(1, "reference")};
  DriftTotals::Totals t = totals.Update(report);
  EXPECT_EQ(t.windows, 3);
  EXPECT_EQ(t.events["reference"], 1);

  // The same report again adds nothing.
  t = totals.Update(report);
  EXPECT_EQ(t.windows, 3);
  EXPECT_EQ(t.events["reference"], 1);

  report.windows.push_back(Window(1, 4));
  report.events.push_back(Event(2, "alarm"));
  report.events.push_back(Event(3, "candidate"));
  t = totals.Update(report);
  EXPECT_EQ(t.windows, 4);
  EXPECT_EQ(t.events["reference"], 1);
  EXPECT_EQ(t.events["alarm"], 1);
  EXPECT_EQ(t.events["candidate"], 1);
}

TEST(DriftTotalsTest, NeverDecreasesWhenTheLogIsFullOrTheVersionChanges) {
  DriftTotals totals;
  DriftReport report;
  report.model = "digits";
  for (int i = 1; i <= 4; ++i) report.windows.push_back(Window(1, i));
  EXPECT_EQ(totals.Update(report).windows, 4);
  // A full log drops its oldest: 2 new windows, the kept number unchanged.
  report.windows.erase(report.windows.begin(), report.windows.begin() + 2);
  report.windows.push_back(Window(1, 5));
  report.windows.push_back(Window(1, 6));
  EXPECT_EQ(totals.Update(report).windows, 6);
  // A new served version numbers its windows from 1 again.
  report.windows.push_back(Window(2, 1));
  report.windows.push_back(Window(2, 2));
  EXPECT_EQ(totals.Update(report).windows, 8);
  // The last one seen fell out of the log: everything kept is new.
  report.windows = {Window(2, 10), Window(2, 11)};
  EXPECT_EQ(totals.Update(report).windows, 10);
  // A reloaded model's new monitor: an empty log adds nothing, then counts afresh.
  report.windows.clear();
  EXPECT_EQ(totals.Update(report).windows, 10);
  report.windows = {Window(2, 1)};
  EXPECT_EQ(totals.Update(report).windows, 11);
}

TEST(DriftTotalsTest, KeepsModelsApart) {
  DriftTotals totals;
  DriftReport a;
  a.model = "a";
  a.windows = {Window(1, 1)};
  a.events = {Event(5, "alarm")};
  DriftReport b = a;
  b.model = "b";
  EXPECT_EQ(totals.Update(a).windows, 1);
  EXPECT_EQ(totals.Update(b).windows, 1);
  EXPECT_EQ(totals.Update(b).events["alarm"], 1);
}

}  // namespace
}  // namespace bnserve
