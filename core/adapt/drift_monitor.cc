#include "core/adapt/drift_monitor.h"

#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/adapt/adaptation_policy.h"
#include "core/engine/ops/batch_norm_statistics.h"
#include "core/serving/prediction.h"
#include "core/stats/drift.h"
#include "core/util/thread_priority.h"
#include "spdlog/spdlog.h"

namespace bnserve {
namespace {

// The worker's nice value: it must yield the cores to predictions.
constexpr int kMonitorNice = 10;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A per-thread generator for the sampling draw: no lock, no shared state.
uint64_t NextRandom() {
  thread_local uint64_t state = 0x2545f4914f6cdd1dull ^ reinterpret_cast<uintptr_t>(&state);
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

const char* PolicyName(bool enabled, bool calibrated, int policy) {
  if (!enabled) return "off";
  switch (policy) {
    case 1: return "collecting";
    case 2: return "shadowing";
    case 3: return "watching";
    default: return calibrated ? "monitoring" : "calibrating";
  }
}

}  // namespace

DriftMonitor::DriftMonitor(std::string name, std::shared_ptr<ModelEntry> entry, std::shared_ptr<const Model> model,
                           DriftConfig config)
    : name_(std::move(name)), entry_(std::move(entry)), model_(std::move(model)), config_(std::move(config)) {
  if (config_.enabled()) worker_ = std::thread([this] { Run(); });
}

DriftMonitor::~DriftMonitor() { Stop(); }

void DriftMonitor::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
}

void DriftMonitor::Stop() {
  RequestStop();
  if (worker_.joinable()) worker_.join();
}

std::vector<int64_t> DriftMonitor::Channels() const {
  std::vector<int64_t> channels;
  for (const BnLayerInfo& layer : model_->bn_layers()) channels.push_back(layer.channels);
  return channels;
}

void DriftMonitor::Offer(const std::shared_ptr<const ServingBundle>& bundle, absl::Span<const TensorView> inputs) {
  if (!config_.enabled() || inputs.empty() || inputs[0].shape.rank() < 1) return;
  const int64_t rows = inputs[0].shape[0];
  offered_.fetch_add(rows, std::memory_order_relaxed);
  // rate * 2^64, so that a draw below it happens with probability rate.
  const uint64_t cut = config_.sample_rate >= 1.0 ? UINT64_MAX : static_cast<uint64_t>(config_.sample_rate * 18446744073709551616.0);
  for (int64_t row = 0; row < rows; ++row) {
    if (NextRandom() > cut) continue;
    sampled_.fetch_add(1, std::memory_order_relaxed);
    QueuedSample sample{bundle, {}};
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      if (queue_.size() >= kDriftQueueSamples) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
    }
    for (const TensorView& input : inputs) {
      Shape shape = input.shape;
      shape[0] = 1;
      const int64_t row_size = input.size() / std::max<int64_t>(1, rows);
      Tensor copy(shape);
      std::memcpy(copy.data.data(), input.data + row * row_size, sizeof(float) * row_size);
      sample.inputs.push_back(std::move(copy));
    }
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      queue_.push_back(std::move(sample));
    }
    queue_cv_.notify_one();
  }
}

void DriftMonitor::Run() {
  LowerCurrentThreadPriority(kMonitorNice);
  while (true) {
    QueuedSample sample;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      const bool got = queue_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      if (!got) {
        lock.unlock();
        // A window also closes by time, once it holds at least half its
        // images (the threshold is calibrated for full windows).
        if (window_ && config_.window_seconds > 0 && window_->images() * 2 >= config_.window_samples &&
            NowMs() - window_opened_ms_ >= static_cast<int64_t>(config_.window_seconds * 1000)) {
          CloseWindow();
        }
        continue;
      }
      sample = std::move(queue_.front());
      queue_.pop_front();
    }
    Process(std::move(sample));
  }
}

void DriftMonitor::Restart(int64_t version) {
  window_.reset();
  reference_rows_.clear();
  reference_.reset();
  above_run_ = 0;
  std::lock_guard<std::mutex> lock(mu_);
  version_ = version;
  window_index_ = 0;
  reference_windows_ = 0;
  threshold_ = 0.0;
  alarm_ = false;
  alarm_reason_ = absl::StrCat("calibrating: collecting ", config_.reference_windows,
                               " reference windows of statistics version ", version);
  if (policy_ == Policy::kCollecting) policy_ = Policy::kMonitoring;
  pool_.clear();
}

void DriftMonitor::Process(QueuedSample sample) {
  ProcessSample(std::move(sample));
  // Counted once everything the sample causes is done (windows, shadow,
  // decisions), stale or failed samples included: samples_processed +
  // samples_dropped == samples_sampled then means the monitor is idle.
  processed_.fetch_add(1, std::memory_order_relaxed);
}

void DriftMonitor::ProcessSample(QueuedSample sample) {
  // Versions only grow (a rollback commits a copy as a new one): a sample
  // served by an older version than the monitored one is stale.
  const int64_t version = sample.bundle->info.version;
  int64_t monitored = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    monitored = version_;
  }
  if (version < monitored) return;
  if (version > monitored) Restart(version);

  absl::StatusOr<std::shared_ptr<const StatisticsPlan>> plan = sample.bundle->StatisticsPlanFor(ForwardMode::kEval);
  std::vector<TensorView> views;
  for (const Tensor& t : sample.inputs) views.push_back(t.view());
  BatchStatsSink sink;
  absl::Status run = plan.ok() ? (*plan)->Run(views, &sink) : plan.status();
  if (!run.ok()) {
    // Served traffic passed validation, so this is a statistics-pass failure
    // of this model: say it once per window rather than per sample.
    spdlog::warn("event=drift_sample_failed model={} error=\"{}\"", name_, std::string(run.message()));
    return;
  }
  if (!window_) {
    window_.emplace(Channels());
    window_opened_ms_ = NowMs();
  }
  window_->AddImage(sink);
  if (reference_ == nullptr) reference_rows_.push_back(ImageMeanRow(sink));
  ShadowSample(sample);
  if (config_.auto_adapt) {
    bool collecting;
    {
      std::lock_guard<std::mutex> lock(mu_);
      collecting = policy_ == Policy::kCollecting;
    }
    if (collecting) {
      pool_.push_back(sample.inputs);
      if (static_cast<int64_t>(pool_.size()) >= config_.candidate_samples) BuildCandidateFromPool();
    }
  }
  if (window_->images() >= config_.window_samples) CloseWindow();
}

void DriftMonitor::CloseWindow() {
  if (!window_ || window_->images() == 0) return;
  DriftWindowAccumulator window = std::move(*window_);
  window_.reset();
  DriftWindowReport report;
  report.samples = window.images();
  report.closed_unix_ms = NowMs();
  const std::vector<BnLayerInfo>& layers = model_->bn_layers();
  std::shared_ptr<const StatsSnapshot> served;
  {
    std::lock_guard<std::mutex> lock(mu_);
    report.index = ++window_index_;
    report.statistics_version = version_;
  }
  // The descriptive scores need the served statistics of the window's version.
  absl::StatusOr<std::shared_ptr<const ServingBundle>> bundle = entry_->Acquire(VersionRequest::Current());
  if (bundle.ok() && (*bundle)->info.version == report.statistics_version) served = (*bundle)->stats;

  std::vector<double> calibrated;
  bool calibrated_now = false;
  if (reference_ == nullptr) {
    report.reference = true;
    if (static_cast<int64_t>(reference_rows_.size()) >= config_.reference_windows * config_.window_samples) {
      reference_ = DriftReference::Build(Channels(), reference_rows_, config_.window_samples,
                                         config_.false_alarm_rate, seed_++);
      reference_rows_.clear();
      calibrated_now = true;
    }
  } else {
    calibrated = reference_->LayerScores(window.image_means());
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    LayerDriftScore score;
    score.name = layers[l].name;
    if (l < calibrated.size()) score.score = calibrated[l];
    if (served != nullptr && l < window.pooled().size()) {
      const LayerDrift drift = ComputeLayerDrift(static_cast<int>(l), layers[l], served->layers[l], window.pooled()[l]);
      score.mean_abs_shift = drift.mean_abs_shift;
      score.mean_kl = drift.mean_kl;
    }
    report.score = std::max(report.score, score.score);
    report.layers.push_back(std::move(score));
  }
  bool alarmed_window = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (report.reference) {
      ++reference_windows_;
    } else {
      report.above_threshold = report.score > reference_->threshold();
      alarmed_window = report.above_threshold;
    }
    if (calibrated_now) {
      threshold_ = reference_->threshold();
      alarm_reason_ = absl::StrFormat(
          "no alarm: calibrated on %d images of %d windows; threshold %.4g for a false-alarm rate of %g per window",
          reference_->images(), reference_windows_, reference_->threshold(), config_.false_alarm_rate);
      AddEvent("reference", report.statistics_version, 0, alarm_reason_);
    }
    if (!report.reference) {
      // Alarm after alarm_windows consecutive windows above the threshold;
      // clear after as many below.
      above_run_ = (alarmed_window != alarm_) ? above_run_ + 1 : 0;
      const std::string numbers = absl::StrFormat("window %d: score %.4g (layer %s) vs threshold %.4g",
                                                  report.index, report.score,
                                                  [&] {
                                                    size_t worst = 0;
                                                    for (size_t l = 1; l < report.layers.size(); ++l) {
                                                      if (report.layers[l].score > report.layers[worst].score) worst = l;
                                                    }
                                                    return report.layers.empty() ? std::string() : report.layers[worst].name;
                                                  }(),
                                                  reference_->threshold());
      if (above_run_ >= config_.alarm_windows) {
        alarm_ = !alarm_;
        above_run_ = 0;
        alarm_reason_ = absl::StrCat(alarm_ ? "alarm: " : "no alarm: ", config_.alarm_windows,
                                     alarm_ ? " consecutive windows above the threshold; " : " consecutive windows below it; ",
                                     numbers);
        AddEvent(alarm_ ? "alarm" : "clear", report.statistics_version, 0, alarm_reason_);
        spdlog::info("event=drift_{} model={} reason=\"{}\"", alarm_ ? "alarm" : "clear", name_, alarm_reason_);
      } else if (!alarm_) {
        alarm_reason_ = absl::StrCat("no alarm: ", numbers);
      }
    }
    windows_.push_back(report);
    while (windows_.size() > kDriftWindowsKept) windows_.pop_front();
  }
  if (config_.auto_adapt) StepPolicyAfterWindow();
  NotifySubscribers();
}

void DriftMonitor::StepPolicyAfterWindow() {
  std::lock_guard<std::mutex> lock(mu_);
  if (cooldown_windows_ > 0) --cooldown_windows_;
  if (policy_ != Policy::kMonitoring || !alarm_ || cooldown_windows_ > 0) return;
  // Only samples from after the alarm: the windows that raised it may
  // straddle the change, and a candidate computed over a mixture of the old
  // and the new inputs fits neither.
  pool_.clear();
  policy_ = Policy::kCollecting;
  AddEvent("collect", version_, 0,
           absl::StrCat("alarm raised: collecting the next ", config_.candidate_samples, " samples for a candidate"));
}

void DriftMonitor::BuildCandidateFromPool() {
  absl::StatusOr<std::shared_ptr<const ServingBundle>> base = entry_->Acquire(VersionRequest::Current());
  absl::StatusOr<BuiltCandidate> built =
      base.ok() ? BuildCandidate(*base, pool_, config_, seed_++) : absl::StatusOr<BuiltCandidate>(base.status());
  pool_.clear();
  if (!built.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    policy_ = Policy::kMonitoring;
    cooldown_windows_ = config_.reference_windows;
    AddEvent("refuse", version_, 0, absl::StrCat("building the candidate failed: ", built.status().message()));
    return;
  }
  const int64_t id = Stage(built->bundle, "monitor", built->mode, built->samples);
  std::lock_guard<std::mutex> lock(mu_);
  candidates_.at(id).auto_built = true;
  policy_ = Policy::kShadowing;
}

int64_t DriftMonitor::Stage(std::shared_ptr<const ServingBundle> bundle, std::string source, std::string mode,
                            int64_t samples) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t id = next_candidate_id_++;
  StagedCandidate candidate{CandidateReport{}, std::move(bundle), ShadowTally(config_.window_samples), false};
  candidate.report.candidate_id = id;
  candidate.report.base_version = candidate.bundle->info.version;
  candidate.report.source = std::move(source);
  candidate.report.mode = std::move(mode);
  candidate.report.samples = samples;
  candidate.report.created_unix_ms = NowMs();
  AddEvent("candidate", candidate.report.base_version, id,
           absl::StrCat("staged from ", candidate.report.source, ": ", candidate.report.mode, " over ", samples,
                        " samples, from statistics version ", candidate.report.base_version));
  candidates_.emplace(id, std::move(candidate));
  // The newest candidate is shadowed, unless the policy is deciding on its
  // own: a client's candidate must not take its shadow samples.
  if (policy_ != Policy::kShadowing) shadowed_candidate_ = id;
  return id;
}

void DriftMonitor::ShadowSample(const QueuedSample& sample) {
  std::shared_ptr<const ServingBundle> served = sample.bundle;
  std::shared_ptr<const ServingBundle> other;
  int64_t candidate_id = 0;
  bool watching = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (policy_ == Policy::kWatching && previous_ != nullptr && promoted_ != nullptr) {
      // Samples queued before the promotion still name the old version:
      // compare the two versions themselves, whatever served the sample.
      watching = true;
      served = promoted_;
      other = previous_;
    } else if (shadowed_candidate_ != 0) {
      candidate_id = shadowed_candidate_;
      other = candidates_.at(candidate_id).bundle;
    }
  }
  if (other == nullptr) return;
  std::vector<TensorView> views;
  for (const Tensor& t : sample.inputs) views.push_back(t.view());
  const auto assess = [&](std::shared_ptr<const ServingBundle> bundle) -> absl::StatusOr<OutputQuality> {
    std::vector<TensorView> inputs = views;
    BN_ASSIGN_OR_RETURN(Prediction prediction, RunPrediction(std::move(bundle), {}, absl::MakeSpan(inputs)));
    return AssessOutput(prediction.output(0));
  };
  absl::StatusOr<OutputQuality> served_quality = assess(served);
  absl::StatusOr<OutputQuality> other_quality = assess(other);
  if (!served_quality.ok() || !other_quality.ok()) return;  // not a classifier-like output: nothing to compare
  bool decide = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (watching) {
      // served = the previous version, candidate = the promoted one.
      if (!watch_tally_) watch_tally_.emplace(config_.window_samples);
      watch_tally_->Add(*other_quality, *served_quality);
      decide = watch_tally_->samples() >= config_.shadow_samples;
    } else {
      auto it = candidates_.find(candidate_id);
      if (it == candidates_.end()) return;
      it->second.tally.Add(*served_quality, *other_quality);
      decide = it->second.auto_built && policy_ == Policy::kShadowing &&
               it->second.tally.samples() >= config_.shadow_samples;
    }
  }
  if (decide && watching) DecideRollback();
  if (decide && !watching) DecidePromotion(candidate_id);
}

absl::StatusOr<VersionInfo> DriftMonitor::CommitCandidate(const StagedCandidate& candidate, const std::string& note) {
  VersionInfo meta;
  meta.origin = std::string(kOriginAdapt);
  meta.mode = candidate.report.mode;
  meta.batches = std::max<int64_t>(1, candidate.report.samples / kCandidateBatchSamples);
  meta.samples = candidate.report.samples;
  meta.note = note;
  StatsSnapshot stats = *candidate.bundle->stats;
  return entry_->Commit(*candidate.bundle, std::move(stats), std::move(meta), candidate.report.base_version);
}

void DriftMonitor::DecidePromotion(int64_t id) {
  StagedCandidate candidate{CandidateReport{}, nullptr, ShadowTally(1), false};
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = candidates_.find(id);
    if (it == candidates_.end()) return;
    candidate = it->second;
  }
  const PolicyVerdict verdict = JudgePromotion(candidate.tally, config_);
  std::shared_ptr<const ServingBundle> previous;
  std::shared_ptr<const ServingBundle> promoted;
  absl::StatusOr<VersionInfo> committed = absl::UnknownError("not promoted");
  if (verdict.accept) {
    absl::StatusOr<std::shared_ptr<const ServingBundle>> base = entry_->Acquire(VersionRequest::Current());
    if (base.ok()) previous = *base;
    committed = CommitCandidate(candidate, absl::StrCat("auto-adapt: promoted candidate ", id, ": ", verdict.reason));
    if (committed.ok()) {
      absl::StatusOr<std::shared_ptr<const ServingBundle>> now =
          entry_->Acquire(VersionRequest::Specific(committed->version));
      if (now.ok()) promoted = *now;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    candidates_.erase(id);
    if (shadowed_candidate_ == id) shadowed_candidate_ = 0;
    if (verdict.accept && committed.ok()) {
      AddEvent("promote", committed->version, id, verdict.reason);
      policy_ = previous != nullptr && promoted != nullptr ? Policy::kWatching : Policy::kMonitoring;
      previous_ = std::move(previous);
      promoted_ = std::move(promoted);
      watch_tally_.reset();
    } else {
      const std::string reason = verdict.accept ? absl::StrCat("commit failed: ", committed.status().message())
                                                : verdict.reason;
      AddEvent("refuse", candidate.report.base_version, id, reason);
      spdlog::info("event=adapt_refused model={} candidate={} reason=\"{}\"", name_, id, reason);
      policy_ = Policy::kMonitoring;
      cooldown_windows_ = config_.reference_windows;
    }
  }
  if (verdict.accept && committed.ok()) {
    spdlog::info("event=adapt_promoted model={} candidate={} version={} reason=\"{}\"", name_, id,
                 committed->version, verdict.reason);
  }
  NotifySubscribers();
}

void DriftMonitor::DecideRollback() {
  ShadowTally tally(1);
  std::shared_ptr<const ServingBundle> previous;
  int64_t promoted = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tally = *watch_tally_;
    previous = previous_;
    promoted = promoted_->info.version;
  }
  const PolicyVerdict verdict = JudgePromotionKept(tally, config_);
  absl::StatusOr<VersionInfo> rolled_back = absl::UnknownError("kept");
  if (!verdict.accept) rolled_back = entry_->Rollback(previous->info.version, promoted);
  {
    std::lock_guard<std::mutex> lock(mu_);
    policy_ = Policy::kMonitoring;
    previous_.reset();
    promoted_.reset();
    watch_tally_.reset();
    if (verdict.accept) {
      AddEvent("confirm", promoted, 0, verdict.reason);
    } else if (rolled_back.ok()) {
      AddEvent("rollback", rolled_back->version, 0,
               absl::StrCat("rolled back to version ", previous->info.version, ": ", verdict.reason));
      cooldown_windows_ = config_.reference_windows;
    } else {
      AddEvent("rollback", promoted, 0,
               absl::StrCat("rollback to version ", previous->info.version, " failed: ",
                            rolled_back.status().message(), "; ", verdict.reason));
    }
  }
  if (!verdict.accept) {
    spdlog::info("event=adapt_rollback model={} to={} ok={} reason=\"{}\"", name_, previous->info.version,
                 rolled_back.ok(), verdict.reason);
  }
  NotifySubscribers();
}

absl::StatusOr<std::shared_ptr<const ServingBundle>> DriftMonitor::Candidate(int64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = candidates_.find(id);
  if (it == candidates_.end()) {
    std::vector<int64_t> ids;
    for (const auto& [known, unused] : candidates_) ids.push_back(known);
    return absl::NotFoundError(absl::StrCat("model '", name_, "': candidate_id ", id, " is not staged (staged: ",
                                            ids.empty() ? "none" : absl::StrJoin(ids, ", "), ")"));
  }
  return it->second.bundle;
}

absl::StatusOr<VersionInfo> DriftMonitor::Promote(int64_t id, const std::string& note) {
  BN_RETURN_IF_ERROR(Candidate(id).status());
  StagedCandidate candidate{CandidateReport{}, nullptr, ShadowTally(1), false};
  {
    std::lock_guard<std::mutex> lock(mu_);
    candidate = candidates_.at(id);
  }
  BN_ASSIGN_OR_RETURN(VersionInfo info,
                      CommitCandidate(candidate, note.empty() ? absl::StrCat("promoted candidate ", id) : note));
  {
    std::lock_guard<std::mutex> lock(mu_);
    candidates_.erase(id);
    if (shadowed_candidate_ == id) shadowed_candidate_ = 0;
    AddEvent("promote", info.version, id, absl::StrCat("promoted by a client", note.empty() ? "" : ": ", note));
  }
  NotifySubscribers();
  return info;
}

absl::Status DriftMonitor::Discard(int64_t id) {
  BN_RETURN_IF_ERROR(Candidate(id).status());
  {
    std::lock_guard<std::mutex> lock(mu_);
    const bool auto_built = candidates_.at(id).auto_built;
    candidates_.erase(id);
    if (shadowed_candidate_ == id) shadowed_candidate_ = 0;
    if (auto_built && policy_ == Policy::kShadowing) {
      policy_ = Policy::kMonitoring;
      cooldown_windows_ = config_.reference_windows;
    }
    AddEvent("discard", version_, id, "discarded by a client");
  }
  NotifySubscribers();
  return absl::OkStatus();
}

void DriftMonitor::AddEvent(const std::string& kind, int64_t version, int64_t candidate_id,
                            const std::string& reason) {
  events_.push_back(DriftEventReport{NowMs(), kind, version, candidate_id, reason});
  while (events_.size() > kDriftEventsKept) events_.pop_front();
}

DriftReport DriftMonitor::Report(int windows) const {
  DriftReport report;
  report.model = name_;
  report.config = config_;
  report.samples_offered = offered_.load(std::memory_order_relaxed);
  report.samples_sampled = sampled_.load(std::memory_order_relaxed);
  report.samples_dropped = dropped_.load(std::memory_order_relaxed);
  report.samples_processed = processed_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  report.statistics_version = version_;
  report.reference_windows = reference_windows_;
  report.reference_windows_needed = config_.reference_windows;
  report.alarm = alarm_;
  report.alarm_reason = config_.enabled() ? alarm_reason_ : "monitoring is off (drift.sample_rate is 0)";
  const bool calibrated = reference_windows_ >= config_.reference_windows && version_ != 0;
  report.policy_state = PolicyName(config_.enabled(), calibrated, static_cast<int>(policy_));
  const size_t keep = std::min(windows_.size(), static_cast<size_t>(std::max(0, windows)));
  report.windows.assign(windows_.end() - keep, windows_.end());
  for (const auto& [id, candidate] : candidates_) {
    CandidateReport c = candidate.report;
    c.shadow.samples = candidate.tally.samples();
    c.shadow.top1_agreement = candidate.tally.top1_agreement();
    c.shadow.served_entropy = candidate.tally.served_entropy();
    c.shadow.candidate_entropy = candidate.tally.candidate_entropy();
    c.shadow.served_top1_probability = candidate.tally.served_top1_probability();
    c.shadow.candidate_top1_probability = candidate.tally.candidate_top1_probability();
    c.shadow.candidate_max_class_share = candidate.tally.candidate_max_class_share();
    report.candidates.push_back(std::move(c));
  }
  report.events.assign(events_.begin(), events_.end());
  report.threshold = threshold_;
  return report;
}

int64_t DriftMonitor::Subscribe(std::function<void()> callback) {
  std::lock_guard<std::mutex> lock(subscribers_mu_);
  const int64_t id = next_subscriber_++;
  subscribers_.emplace(id, std::move(callback));
  return id;
}

void DriftMonitor::Unsubscribe(int64_t id) {
  std::lock_guard<std::mutex> lock(subscribers_mu_);
  subscribers_.erase(id);
}

void DriftMonitor::NotifySubscribers() {
  std::lock_guard<std::mutex> lock(subscribers_mu_);
  for (const auto& [id, callback] : subscribers_) callback();
}

}  // namespace bnserve
