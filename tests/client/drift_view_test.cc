// bnctl drift's text and JSON views of a GetDriftResponse built by hand:
// what each part of the report becomes on the terminal.
#include "client/bnctl/drift_view.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

#include "client/bnctl/json_views.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bnserve::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The last line of `text` that starts with `prefix` (after the padding of a
// right-aligned first column), its cells split on runs of two or more
// spaces (the table's gaps); empty when there is none.
std::vector<std::string> Row(const std::string& text, const std::string& prefix) {
  std::vector<std::string> cells;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), prefix)) continue;
    cells.clear();
    for (absl::string_view cell : absl::StrSplit(line, "  ", absl::SkipWhitespace())) {
      cells.emplace_back(absl::StripAsciiWhitespace(cell));
    }
  }
  return cells;
}

v1::DriftWindow* AddWindow(v1::GetDriftResponse& drift, int64_t index, bool reference, double bn1, double bn2,
                           double threshold) {
  v1::DriftWindow* window = drift.add_windows();
  window->set_index(index);
  window->set_samples(64);
  window->set_statistics_version(1);
  window->set_reference(reference);
  window->set_score(reference ? 0.0 : std::max(bn1, bn2));
  window->set_above_threshold(!reference && window->score() > threshold);
  v1::LayerDriftScore* l1 = window->add_layers();
  l1->set_name("bn1");
  l1->set_score(bn1);
  l1->set_mean_abs_shift(0.25);
  l1->set_mean_kl(0.125);
  v1::LayerDriftScore* l2 = window->add_layers();
  l2->set_name("bn2");
  l2->set_score(bn2);
  l2->set_mean_abs_shift(0.5);
  l2->set_mean_kl(0.0625);
  return window;
}

v1::GetDriftResponse Alarmed() {
  v1::GetDriftResponse drift;
  drift.set_model("digits");
  drift.set_statistics_version(1);
  drift.mutable_config()->set_enabled(true);
  drift.mutable_config()->set_sample_rate(1.0);
  drift.mutable_config()->set_window_samples(64);
  drift.mutable_config()->set_window_seconds(60);
  drift.mutable_calibration()->set_reference_windows(2);
  drift.mutable_calibration()->set_reference_windows_needed(2);
  drift.mutable_calibration()->set_threshold(4.0);
  drift.mutable_calibration()->set_false_alarm_rate(0.01);
  drift.mutable_calibration()->set_alarm_windows(2);
  drift.set_alarm(true);
  drift.set_alarm_reason("2 windows in a row above the threshold");
  drift.set_policy_state("monitoring");
  drift.set_samples_offered(384);
  drift.set_samples_sampled(384);
  drift.set_samples_processed(384);
  AddWindow(drift, 1, true, 0.5, 0.5, 4);
  AddWindow(drift, 2, true, 0.5, 0.5, 4);
  AddWindow(drift, 3, false, 1.0, 0.5, 4);
  AddWindow(drift, 4, false, 3.5, 0.5, 4);
  AddWindow(drift, 5, false, 7.0, 1.0, 4);
  AddWindow(drift, 6, false, 64.0, 2.0, 4);
  return drift;
}

TEST(DriftViewTest, HeaderSaysTheAlarmItsReasonTheThresholdAndTheSamples) {
  const std::string text = DriftText(Alarmed());
  EXPECT_THAT(text, HasSubstr("digits: drift of statistics version 1 (policy monitoring, auto-adapt off)\n"));
  EXPECT_THAT(text, HasSubstr("alarm      ON   2 windows in a row above the threshold\n"));
  EXPECT_THAT(text, HasSubstr("threshold  4 on the window score, for 1% false alarms per window"));
  EXPECT_THAT(text, HasSubstr("384 offered, 384 sampled (rate 1), 0 dropped, 384 processed; windows of 64 samples"));
}

TEST(DriftViewTest, LayersShowTheLastScoresAndSparklinesOnTheThresholdScale) {
  const std::string text = DriftText(Alarmed());
  // Reference windows are dots; bn1 crosses the threshold in windows 5 and 6
  // (top 64: 7 is less than one doubling of the threshold 4, the lowest high
  // level; 64 the highest).
  EXPECT_THAT(text, HasSubstr("score (window 6)"));
  EXPECT_THAT(Row(text, "window (max of layers)"),
              ::testing::ElementsAre("window (max of layers)", "64", "··▁▄▅█"));
  EXPECT_THAT(Row(text, "bn1"), ::testing::ElementsAre("bn1", "64", "0.25", "0.125", "··▁▄▅█"));
  EXPECT_THAT(Row(text, "bn2"), ::testing::ElementsAre("bn2", "2", "0.5", "0.0625", "··▁▁▁▂"));
  EXPECT_THAT(text, HasSubstr("(2 of these 6 windows)"));
}

TEST(DriftViewTest, BeforeCalibrationEveryWindowIsADot) {
  v1::GetDriftResponse drift = Alarmed();
  drift.mutable_calibration()->set_threshold(0);
  drift.mutable_calibration()->set_reference_windows(1);
  drift.mutable_windows()->DeleteSubrange(1, 5);
  const std::string text = DriftText(drift);
  EXPECT_THAT(text, HasSubstr("threshold  not calibrated yet: 1 of 2 reference windows"));
  EXPECT_THAT(Row(text, "bn1"), ::testing::ElementsAre("bn1", "-", "0.25", "0.125", "·"));
  drift.clear_windows();
  EXPECT_THAT(DriftText(drift), HasSubstr("no window has closed yet"));
}

TEST(DriftViewTest, CandidatesWithTheirShadowAndTheLastEvents) {
  v1::GetDriftResponse drift = Alarmed();
  EXPECT_THAT(DriftText(drift), HasSubstr("no staged candidates"));
  v1::Candidate* candidate = drift.add_candidates();
  candidate->set_candidate_id(3);
  candidate->set_base_version(1);
  candidate->set_source("client");
  candidate->set_mode("cumulative");
  candidate->set_samples(300);
  v1::ShadowEvaluation* shadow = candidate->mutable_shadow();
  shadow->set_samples(200);
  shadow->set_top1_agreement(0.125);
  shadow->set_served_entropy(1.5);
  shadow->set_candidate_entropy(0.25);
  shadow->set_served_top1_probability(0.5);
  shadow->set_candidate_top1_probability(0.875);
  shadow->set_candidate_max_class_share(0.1875);
  for (int i = 1; i <= kDriftEventsShown + 2; ++i) {
    v1::DriftEvent* event = drift.add_events();
    event->set_kind(i == kDriftEventsShown + 2 ? "candidate" : "alarm");
    event->set_statistics_version(1);
    event->set_candidate_id(i == kDriftEventsShown + 2 ? 3 : 0);
    event->set_reason("reason " + std::to_string(i));
  }
  const std::string text = DriftText(drift);
  EXPECT_THAT(text, HasSubstr("1.5 → 0.25"));
  EXPECT_THAT(text, HasSubstr("0.5 → 0.875"));
  EXPECT_THAT(Row(text, "3 "), ::testing::ElementsAre("3", "1", "client", "cumulative", "300", "-", "200", "0.125",
                                                       "1.5 → 0.25", "0.5 → 0.875", "0.1875"));
  EXPECT_THAT(text, HasSubstr("events (the last 10 of 12; --json has all)"));
  EXPECT_THAT(text, Not(HasSubstr("reason 2\n")));
  EXPECT_THAT(text, HasSubstr("reason 3\n"));
  EXPECT_THAT(Row(text, "- "), ::testing::ElementsAre("-", "candidate", "1", "3", "reason 12"));

  const nlohmann::ordered_json json = DriftJson(drift);
  EXPECT_EQ(json["events"].size(), 12u);
  EXPECT_EQ(json["candidates"][0]["shadow"]["samples"], 200);
  EXPECT_EQ(json["windows"][5]["layers"][0]["score"], 64.0);
  EXPECT_EQ(json["calibration"]["threshold"], 4.0);
  EXPECT_EQ(json["alarm"], true);
}

}  // namespace
}  // namespace bnserve::client
