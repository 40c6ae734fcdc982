// The drift monitor's state as plain values: what GetDrift answers and
// WatchDrift streams (proto/bnserve/v1/drift.proto documents each field).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model/drift_config.h"

namespace bnserve {

struct LayerDriftScore {
  std::string name;
  double score = 0.0;           // calibrated, against the reference (DriftReference)
  double mean_abs_shift = 0.0;  // against the served running statistics
  double mean_kl = 0.0;
};

struct DriftWindowReport {
  int64_t index = 0;
  int64_t samples = 0;
  int64_t closed_unix_ms = 0;
  int64_t statistics_version = 0;
  double score = 0.0;
  bool above_threshold = false;
  bool reference = false;
  std::vector<LayerDriftScore> layers;
};

struct DriftEventReport {
  int64_t unix_ms = 0;
  std::string kind;
  int64_t statistics_version = 0;
  int64_t candidate_id = 0;
  std::string reason;
};

struct ShadowReport {
  int64_t samples = 0;
  double top1_agreement = 0.0;
  double served_entropy = 0.0;
  double candidate_entropy = 0.0;
  double served_top1_probability = 0.0;
  double candidate_top1_probability = 0.0;
  double candidate_max_class_share = 0.0;
};

struct CandidateReport {
  int64_t candidate_id = 0;
  int64_t base_version = 0;
  std::string source;  // "monitor" or "client"
  std::string mode;
  int64_t samples = 0;
  int64_t created_unix_ms = 0;
  ShadowReport shadow;
};

struct DriftReport {
  std::string model;
  DriftConfig config;
  int64_t statistics_version = 0;
  int64_t reference_windows = 0;
  int64_t reference_windows_needed = 0;
  double threshold = 0.0;
  bool alarm = false;
  std::string alarm_reason;
  std::string policy_state;
  int64_t samples_offered = 0;
  int64_t samples_sampled = 0;
  int64_t samples_dropped = 0;
  int64_t samples_processed = 0;
  std::vector<DriftWindowReport> windows;  // most recent last
  std::vector<CandidateReport> candidates;
  std::vector<DriftEventReport> events;  // most recent last
};

}  // namespace bnserve
