// DriftConfig: how one model's live traffic is watched for drift and
// whether the server may adapt its statistics on its own (docs/drift.md).
// The server's flags give the defaults; the "drift" object of the model's
// config.json (core/model/model_limits.h) overrides them key by key:
//
//   "drift": {
//     "sample_rate": 0.1,          // share of predicted samples monitored; 0 = off
//     "window_samples": 64,        // images per window
//     "window_seconds": 60,        // a window also closes after this long (0 = never)
//     "reference_windows": 8,      // windows after each commit that calibrate the alarm
//     "false_alarm_rate": 0.01,    // per window, on traffic like the reference
//     "alarm_windows": 2,          // consecutive windows above threshold that raise it
//     "auto_adapt": false,         // build, shadow, promote and roll back without a call
//     "adapt_mode": "cumulative",  // "cumulative" (from reset, as update_bn) or "prior"
//     "prior_strength": 16,        // adapt_mode "prior": N
//     "candidate_samples": 256,    // samples a candidate is built from
//     "shadow_samples": 128,       // samples a candidate is shadowed on before deciding
//     "entropy_margin": 0.05,      // nats the candidate's mean entropy must be below the served one's
//     "max_class_share": 0.4       // no predicted class above this share of any window
//   }
//
// Unknown keys, wrong types and values out of range fail the model's load
// with INVALID_ARGUMENT naming the file, the key, the expected range and the
// value, like every key of config.json.
#pragma once

#include <cstdint>
#include <string>

#include "core/util/status.h"

namespace bnserve {

struct DriftConfig {
  double sample_rate = 0.0;
  int64_t window_samples = 64;
  double window_seconds = 60.0;
  int64_t reference_windows = 8;
  double false_alarm_rate = 0.01;
  int64_t alarm_windows = 2;
  bool auto_adapt = false;
  std::string adapt_mode = "cumulative";
  double prior_strength = 16.0;
  int64_t candidate_samples = 256;
  int64_t shadow_samples = 128;
  double entropy_margin = 0.05;
  double max_class_share = 0.4;

  bool enabled() const { return sample_rate > 0.0; }
};

// `defaults` with the keys of the JSON object `json_text` applied; `path`
// names config.json in errors.
absl::StatusOr<DriftConfig> ParseDriftConfig(const std::string& json_text, const std::string& path,
                                             DriftConfig defaults);

}  // namespace bnserve
