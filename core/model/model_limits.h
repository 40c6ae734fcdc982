// ModelLimits: what one model allows its recalibration clients - how many
// streams at once, how many samples per batch, how many bytes per batch
// message - so that one heavy client of one model cannot take the server
// from everyone else. The server's flags give the defaults; an optional
// <model dir>/config.json overrides them for that model:
//
//   {
//     "max_recalibration_streams": 1,
//     "max_recalibration_batch_samples": 512,
//     "max_recalibration_message_bytes": 1048576,
//     "drift": { ... }   (core/model/drift_config.h)
//   }
//
// Every key is optional; any other key, a value that is not an integer, or
// one out of range fails the model's load with INVALID_ARGUMENT naming the
// file, the key, what was expected and what was found (a typo must not
// silently leave a limit off). Read at Load and Reload. A value type.
#pragma once

#include <cstdint>
#include <string>

#include "core/model/drift_config.h"
#include "core/util/file_system.h"
#include "core/util/status.h"

namespace bnserve {

inline constexpr char kModelConfigFile[] = "config.json";

struct ModelLimits {
  // Concurrent Recalibrate streams (>= 1).
  int max_recalibration_streams = 2;
  // Samples (batch dim) of one recalibration batch; 0 = no limit.
  int64_t max_recalibration_batch_samples = 0;
  // Serialized bytes of one Recalibrate batch message; 0 = only the server's
  // --max-message-mb applies (which gRPC enforces first, for every model).
  int64_t max_recalibration_message_bytes = 0;
  // The config.json the values came from; empty when the model has none.
  std::string config_file;
  // Whether max_recalibration_streams came from config_file (else the flag).
  bool streams_from_config = false;
  // The "drift" object: monitoring and adaptation (core/model/drift_config.h).
  DriftConfig drift;

  // Where a limit was set, for error messages: config_file, or the server
  // flag for the stream limit when the file does not set it.
  std::string SourceOf(const char* key) const;
};

// `defaults` with the overrides of <model_dir>/config.json applied, when the
// file exists (see the header comment for the keys and the errors).
absl::StatusOr<ModelLimits> ReadModelLimits(FileSystem* fs, const std::string& model_dir, ModelLimits defaults);

// Parses config.json's text; `path` only names the file in errors.
absl::StatusOr<ModelLimits> ParseModelLimits(const std::string& text, const std::string& path, ModelLimits defaults);

}  // namespace bnserve
