#include "client/bnctl/drift_view.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/bnctl/format.h"
#include "client/bnctl/plot.h"
#include "client/bnctl/table.h"

namespace bnserve::client {
namespace {

constexpr double kNoScore = std::numeric_limits<double>::quiet_NaN();

std::string Header(const v1::GetDriftResponse& drift) {
  const v1::DriftConfig& config = drift.config();
  const v1::DriftCalibration& calibration = drift.calibration();
  std::string out = absl::StrCat(drift.model(), ": drift of statistics version ", drift.statistics_version(),
                                 " (policy ", drift.policy_state(), ", auto-adapt ", config.auto_adapt() ? "on" : "off",
                                 ")\n");
  absl::StrAppend(&out, "alarm      ", drift.alarm() ? "ON " : "off", "  ", drift.alarm_reason(), "\n");
  if (calibration.threshold() > 0) {
    absl::StrAppend(&out, "threshold  ", FormatNumber(calibration.threshold()), " on the window score, for ",
                    FormatNumber(calibration.false_alarm_rate() * 100), "% false alarms per window; ",
                    calibration.alarm_windows(), " windows in a row raise or clear the alarm (",
                    calibration.reference_windows(), " reference windows)\n");
  } else {
    absl::StrAppend(&out, "threshold  not calibrated yet: ", calibration.reference_windows(), " of ",
                    calibration.reference_windows_needed(), " reference windows (false-alarm rate ",
                    FormatNumber(calibration.false_alarm_rate() * 100), "% per window)\n");
  }
  absl::StrAppend(&out, "samples    ", drift.samples_offered(), " offered, ", drift.samples_sampled(), " sampled (rate ",
                  FormatNumber(config.sample_rate()), "), ", drift.samples_dropped(), " dropped, ",
                  drift.samples_processed(), " processed; windows of ", config.window_samples(), " samples",
                  config.window_seconds() > 0 ? absl::StrCat(" or ", FormatNumber(config.window_seconds()), " s") : "",
                  "\n");
  return out;
}

// The score of `window` as a sparkline draws it: none for reference windows.
double DrawnScore(const v1::DriftWindow& window, double score) { return window.reference() ? kNoScore : score; }

// The score of layer `name` in `window`; NaN when the window lacks it.
double LayerScore(const v1::DriftWindow& window, const std::string& name) {
  for (const v1::LayerDriftScore& layer : window.layers()) {
    if (layer.name() == name) return DrawnScore(window, layer.score());
  }
  return kNoScore;
}

std::string LayersText(const v1::GetDriftResponse& drift) {
  if (drift.windows_size() == 0) return "no window has closed yet\n";
  const v1::DriftWindow& last = *drift.windows().rbegin();
  const double threshold = drift.calibration().threshold();
  // One scale for every row: the largest score shown.
  double top = threshold;
  for (const v1::DriftWindow& window : drift.windows()) {
    if (!window.reference()) top = std::max(top, window.score());
  }
  std::vector<double> window_scores;
  for (const v1::DriftWindow& window : drift.windows()) window_scores.push_back(DrawnScore(window, window.score()));
  const std::string score_header =
      last.reference() ? "score" : absl::StrCat("score (window ", last.index(), ")");
  Table table({"layer", score_header, "mean |shift|", "mean KL",
               absl::StrCat("last ", drift.windows_size(), " windows")});
  table.AddRow({"window (max of layers)", last.reference() ? "-" : FormatNumber(last.score()), "", "",
                ThresholdSparkline(window_scores, threshold, top)});
  for (const v1::LayerDriftScore& layer : last.layers()) {
    std::vector<double> scores;
    for (const v1::DriftWindow& window : drift.windows()) scores.push_back(LayerScore(window, layer.name()));
    table.AddRow({layer.name(), last.reference() ? "-" : FormatNumber(layer.score()),
                  FormatNumber(layer.mean_abs_shift()), FormatNumber(layer.mean_kl()),
                  ThresholdSparkline(scores, threshold, top)});
  }
  const int64_t above = std::count_if(drift.windows().begin(), drift.windows().end(),
                                      [](const v1::DriftWindow& w) { return w.above_threshold(); });
  return absl::StrCat(table.Render(), "scores: ▁▂▃▄ at or below the threshold, ▅▆▇█ above it (", above, " of these ",
                      drift.windows_size(), " windows), · a reference window\n");
}

std::string CandidatesText(const v1::GetDriftResponse& drift) {
  if (drift.candidates_size() == 0) return "no staged candidates\n";
  Table table({"candidate", "base", "source", "mode", "samples", "created", "shadowed", "top-1 agreement",
               "entropy served → candidate", "top-1 prob served → candidate", "max class share"});
  for (const v1::Candidate& c : drift.candidates()) {
    const v1::ShadowEvaluation& s = c.shadow();
    const bool shadowed = s.samples() > 0;
    table.AddRow({absl::StrCat(c.candidate_id()), absl::StrCat(c.base_version()), c.source(), c.mode(),
                  absl::StrCat(c.samples()), FormatUnixMs(c.created_unix_ms()), absl::StrCat(s.samples()),
                  shadowed ? FormatNumber(s.top1_agreement()) : "-",
                  shadowed ? absl::StrCat(FormatNumber(s.served_entropy()), " → ", FormatNumber(s.candidate_entropy()))
                           : "-",
                  shadowed ? absl::StrCat(FormatNumber(s.served_top1_probability()), " → ",
                                          FormatNumber(s.candidate_top1_probability()))
                           : "-",
                  shadowed ? FormatNumber(s.candidate_max_class_share()) : "-"});
  }
  return table.Render();
}

std::string EventsText(const v1::GetDriftResponse& drift) {
  if (drift.events_size() == 0) return "no events yet\n";
  const int first = std::max(0, drift.events_size() - kDriftEventsShown);
  Table table({"time", "kind", "version", "candidate", "reason"});
  for (int i = first; i < drift.events_size(); ++i) {
    const v1::DriftEvent& e = drift.events(i);
    table.AddRow({FormatUnixMs(e.unix_ms()), e.kind(),
                  e.statistics_version() > 0 ? absl::StrCat(e.statistics_version()) : "-",
                  e.candidate_id() > 0 ? absl::StrCat(e.candidate_id()) : "-", e.reason()});
  }
  const std::string title = first > 0 ? absl::StrCat("events (the last ", drift.events_size() - first, " of ",
                                                     drift.events_size(), "; --json has all)\n")
                                      : "events\n";
  return absl::StrCat(title, table.Render());
}

}  // namespace

std::string DriftText(const v1::GetDriftResponse& drift) {
  return absl::StrCat(Header(drift), "\n", LayersText(drift), "\n", CandidatesText(drift), "\n", EventsText(drift));
}

}  // namespace bnserve::client
