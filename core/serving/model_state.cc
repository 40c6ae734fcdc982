#include "core/serving/model_state.h"

namespace bnserve {

const char* ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kLoading:
      return "loading";
    case ModelState::kAvailable:
      return "available";
    case ModelState::kUnloading:
      return "unloading";
    case ModelState::kUnloaded:
      return "unloaded";
    case ModelState::kError:
      return "error";
  }
  return "unknown";
}

}  // namespace bnserve
