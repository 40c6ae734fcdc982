// ModelState: where one model of the repository is in its lifecycle, and
// ModelStatus, the value snapshot of it that List and Describe report.
#pragma once

#include <cstdint>
#include <string>

namespace bnserve {

enum class ModelState {
  // Folder found, model.onnx being parsed, its statistics store opened and
  // its plan built. Requests get UNAVAILABLE.
  kLoading,
  // A serving bundle is installed; every request is accepted. A reload stays
  // here (the old bundle serving) until the new bundle replaces it.
  kAvailable,
  // Being unloaded: the bundle is released, new requests are refused;
  // requests already running finish on the bundle they hold.
  kUnloading,
  // Unloaded on request. The folder (and its committed statistics) stays in
  // the repository; Load brings the model back.
  kUnloaded,
  // The last load failed; ModelStatus::error keeps the reason. Load or
  // Reload retries.
  kError,
};

const char* ModelStateName(ModelState state);

struct ModelStatus {
  std::string name;
  ModelState state = ModelState::kLoading;
  std::string error;              // the load error in kError, else empty
  int64_t version = 0;            // statistics version served; 0 unless kAvailable
  int active_recalibrations = 0;  // Recalibrate streams open on the model
};

}  // namespace bnserve
