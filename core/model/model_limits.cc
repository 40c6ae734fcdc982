#include "core/model/model_limits.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace bnserve {
namespace {

constexpr char kStreams[] = "max_recalibration_streams";
constexpr char kBatchSamples[] = "max_recalibration_batch_samples";
constexpr char kMessageBytes[] = "max_recalibration_message_bytes";
constexpr char kDrift[] = "drift";

// The integer at `key`, in [min, max]; INVALID_ARGUMENT naming the file, the
// key, the range and what was found otherwise.
absl::StatusOr<int64_t> ReadInt(const nlohmann::json& value, const std::string& path, const char* key, int64_t min,
                                int64_t max) {
  const auto error = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", key, ": expected an integer in [", min, ", ", max, "], got ", value.dump()));
  };
  if (!value.is_number_integer()) return error();
  // Unsigned JSON integers above INT64_MAX do not fit; report them as given.
  if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(max)) return error();
  const int64_t v = value.get<int64_t>();
  if (v < min || v > max) return error();
  return v;
}

}  // namespace

std::string ModelLimits::SourceOf(const char* key) const {
  if (std::string(key) == kStreams && !streams_from_config) return "--max-recalibration-streams";
  return config_file;
}

absl::StatusOr<ModelLimits> ParseModelLimits(const std::string& text, const std::string& path, ModelLimits defaults) {
  const nlohmann::json config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON object, got text that is not JSON"));
  }
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON object, got ", config.type_name()));
  }
  ModelLimits limits = std::move(defaults);
  limits.config_file = path;
  for (const auto& [key, value] : config.items()) {
    if (key == kStreams) {
      BN_ASSIGN_OR_RETURN(const int64_t v, ReadInt(value, path, kStreams, 1, 1 << 20));
      limits.max_recalibration_streams = static_cast<int>(v);
      limits.streams_from_config = true;
    } else if (key == kBatchSamples) {
      BN_ASSIGN_OR_RETURN(limits.max_recalibration_batch_samples,
                          ReadInt(value, path, kBatchSamples, 1, std::numeric_limits<int64_t>::max()));
    } else if (key == kMessageBytes) {
      BN_ASSIGN_OR_RETURN(limits.max_recalibration_message_bytes,
                          ReadInt(value, path, kMessageBytes, 1, std::numeric_limits<int32_t>::max()));
    } else if (key == kDrift) {
      BN_ASSIGN_OR_RETURN(limits.drift, ParseDriftConfig(value.dump(), path, std::move(limits.drift)));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(path, ": unknown key \"", key, "\"; expected ", kStreams, ", ",
                                                     kBatchSamples, ", ", kMessageBytes, " or ", kDrift));
    }
  }
  return limits;
}

absl::StatusOr<ModelLimits> ReadModelLimits(FileSystem* fs, const std::string& model_dir, ModelLimits defaults) {
  const std::string path = JoinPath(model_dir, kModelConfigFile);
  if (!fs->FileExists(path)) return defaults;
  BN_ASSIGN_OR_RETURN(const std::string text, fs->ReadFile(path));
  return ParseModelLimits(text, path, std::move(defaults));
}

}  // namespace bnserve
