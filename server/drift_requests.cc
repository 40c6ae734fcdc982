#include "absl/strings/str_cat.h"
#include "server/requests.h"

namespace bnserve {
namespace {

// GetDriftRequest.windows when unset.
constexpr int kDefaultDriftWindows = 32;

absl::Status CheckCandidateId(int64_t id) {
  if (id < 1) return absl::InvalidArgumentError(absl::StrCat("candidate_id: expected >= 1, got ", id));
  return absl::OkStatus();
}

}  // namespace

void DriftReportToProto(const DriftReport& report, v1::GetDriftResponse* out) {
  out->set_model(report.model);
  v1::DriftConfig* config = out->mutable_config();
  config->set_enabled(report.config.enabled());
  config->set_sample_rate(report.config.sample_rate);
  config->set_window_samples(report.config.window_samples);
  config->set_window_seconds(report.config.window_seconds);
  config->set_auto_adapt(report.config.auto_adapt);
  out->set_statistics_version(report.statistics_version);
  v1::DriftCalibration* calibration = out->mutable_calibration();
  calibration->set_reference_windows(report.reference_windows);
  calibration->set_reference_windows_needed(report.reference_windows_needed);
  calibration->set_threshold(report.threshold);
  calibration->set_false_alarm_rate(report.config.false_alarm_rate);
  calibration->set_alarm_windows(report.config.alarm_windows);
  out->set_alarm(report.alarm);
  out->set_alarm_reason(report.alarm_reason);
  out->set_policy_state(report.policy_state);
  out->set_samples_offered(report.samples_offered);
  out->set_samples_sampled(report.samples_sampled);
  out->set_samples_dropped(report.samples_dropped);
  out->set_samples_processed(report.samples_processed);
  for (const DriftWindowReport& window : report.windows) {
    v1::DriftWindow* w = out->add_windows();
    w->set_index(window.index);
    w->set_samples(window.samples);
    w->set_closed_unix_ms(window.closed_unix_ms);
    w->set_statistics_version(window.statistics_version);
    w->set_score(window.score);
    w->set_above_threshold(window.above_threshold);
    w->set_reference(window.reference);
    for (const LayerDriftScore& layer : window.layers) {
      v1::LayerDriftScore* l = w->add_layers();
      l->set_name(layer.name);
      l->set_score(layer.score);
      l->set_mean_abs_shift(layer.mean_abs_shift);
      l->set_mean_kl(layer.mean_kl);
    }
  }
  for (const CandidateReport& candidate : report.candidates) {
    v1::Candidate* c = out->add_candidates();
    c->set_candidate_id(candidate.candidate_id);
    c->set_base_version(candidate.base_version);
    c->set_source(candidate.source);
    c->set_mode(candidate.mode);
    c->set_samples(candidate.samples);
    c->set_created_unix_ms(candidate.created_unix_ms);
    v1::ShadowEvaluation* s = c->mutable_shadow();
    s->set_samples(candidate.shadow.samples);
    s->set_top1_agreement(candidate.shadow.top1_agreement);
    s->set_served_entropy(candidate.shadow.served_entropy);
    s->set_candidate_entropy(candidate.shadow.candidate_entropy);
    s->set_served_top1_probability(candidate.shadow.served_top1_probability);
    s->set_candidate_top1_probability(candidate.shadow.candidate_top1_probability);
    s->set_candidate_max_class_share(candidate.shadow.candidate_max_class_share);
  }
  for (const DriftEventReport& event : report.events) {
    v1::DriftEvent* e = out->add_events();
    e->set_unix_ms(event.unix_ms);
    e->set_kind(event.kind);
    e->set_statistics_version(event.statistics_version);
    e->set_candidate_id(event.candidate_id);
    e->set_reason(event.reason);
  }
}

absl::Status GetDriftImpl(AdaptationManager& adapt, const v1::GetDriftRequest& request, v1::GetDriftResponse* response) {
  if (request.windows() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("windows: expected 0 (the default, ", kDefaultDriftWindows, ") or more, got ", request.windows()));
  }
  BN_ASSIGN_OR_RETURN(DriftReport report,
                      adapt.Drift(request.model(), request.windows() == 0 ? kDefaultDriftWindows : request.windows()));
  DriftReportToProto(report, response);
  return absl::OkStatus();
}

absl::Status PromoteCandidateImpl(AdaptationManager& adapt, const v1::PromoteCandidateRequest& request,
                                  v1::PromoteCandidateResponse* response) {
  BN_RETURN_IF_ERROR(CheckCandidateId(request.candidate_id()));
  BN_ASSIGN_OR_RETURN(VersionInfo info, adapt.Promote(request.model(), request.candidate_id(), request.note()));
  response->set_model(request.model());
  response->set_statistics_version(info.version);
  return absl::OkStatus();
}

absl::Status DiscardCandidateImpl(AdaptationManager& adapt, const v1::DiscardCandidateRequest& request,
                                  v1::DiscardCandidateResponse* response) {
  BN_RETURN_IF_ERROR(CheckCandidateId(request.candidate_id()));
  return adapt.Discard(request.model(), request.candidate_id());
}

}  // namespace bnserve
