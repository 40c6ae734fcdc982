#include "core/model/drift_config.h"

#include <cmath>
#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace bnserve {
namespace {

using Setter = std::function<absl::Status(const nlohmann::json& value)>;

absl::Status RangeError(const std::string& path, const std::string& key, const std::string& expected,
                        const nlohmann::json& value) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": drift.", key, ": expected ", expected, ", got ", value.dump()));
}

Setter Number(const std::string& path, const std::string& key, double min, double max, double* out) {
  return [=](const nlohmann::json& value) {
    const std::string expected = absl::StrCat("a number in [", min, ", ", max, "]");
    if (!value.is_number()) return RangeError(path, key, expected, value);
    const double v = value.get<double>();
    if (!std::isfinite(v) || v < min || v > max) return RangeError(path, key, expected, value);
    *out = v;
    return absl::OkStatus();
  };
}

Setter Integer(const std::string& path, const std::string& key, int64_t min, int64_t max, int64_t* out) {
  return [=](const nlohmann::json& value) {
    const std::string expected = absl::StrCat("an integer in [", min, ", ", max, "]");
    if (!value.is_number_integer()) return RangeError(path, key, expected, value);
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(max)) {
      return RangeError(path, key, expected, value);
    }
    const int64_t v = value.get<int64_t>();
    if (v < min || v > max) return RangeError(path, key, expected, value);
    *out = v;
    return absl::OkStatus();
  };
}

}  // namespace

absl::StatusOr<DriftConfig> ParseDriftConfig(const std::string& json_text, const std::string& path,
                                             DriftConfig defaults) {
  const nlohmann::json config = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": drift: expected a JSON object, got ", json_text));
  }
  DriftConfig out = std::move(defaults);
  std::map<std::string, Setter> setters = {
      {"sample_rate", Number(path, "sample_rate", 0.0, 1.0, &out.sample_rate)},
      {"window_samples", Integer(path, "window_samples", 8, 1 << 20, &out.window_samples)},
      {"window_seconds", Number(path, "window_seconds", 0.0, 86400.0 * 365, &out.window_seconds)},
      {"reference_windows", Integer(path, "reference_windows", 2, 1024, &out.reference_windows)},
      {"false_alarm_rate", Number(path, "false_alarm_rate", 0.001, 0.5, &out.false_alarm_rate)},
      {"alarm_windows", Integer(path, "alarm_windows", 1, 1024, &out.alarm_windows)},
      {"prior_strength", Number(path, "prior_strength", 0.0, 1e9, &out.prior_strength)},
      {"candidate_samples", Integer(path, "candidate_samples", 16, 1 << 20, &out.candidate_samples)},
      {"shadow_samples", Integer(path, "shadow_samples", 8, 1 << 20, &out.shadow_samples)},
      {"entropy_margin", Number(path, "entropy_margin", 0.0, 100.0, &out.entropy_margin)},
      {"max_class_share", Number(path, "max_class_share", 0.0, 1.0, &out.max_class_share)},
      {"auto_adapt",
       [&](const nlohmann::json& value) {
         if (!value.is_boolean()) return RangeError(path, "auto_adapt", "true or false", value);
         out.auto_adapt = value.get<bool>();
         return absl::OkStatus();
       }},
      {"adapt_mode",
       [&](const nlohmann::json& value) {
         if (!value.is_string() || (value.get<std::string>() != "cumulative" && value.get<std::string>() != "prior")) {
           return RangeError(path, "adapt_mode", "\"cumulative\" or \"prior\"", value);
         }
         out.adapt_mode = value.get<std::string>();
         return absl::OkStatus();
       }},
  };
  for (const auto& [key, value] : config.items()) {
    const auto setter = setters.find(key);
    if (setter == setters.end()) {
      std::vector<std::string> keys;
      for (const auto& [known, unused] : setters) keys.push_back(known);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": drift: unknown key \"", key, "\"; expected one of ", absl::StrJoin(keys, ", ")));
    }
    BN_RETURN_IF_ERROR(setter->second(value));
  }
  return out;
}

}  // namespace bnserve
