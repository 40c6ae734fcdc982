// RequireInputs: the build-time check that a node has its mandatory inputs,
// so Run() can read them without bounds checks. Shared by op factories.
#pragma once

#include <initializer_list>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/engine/op.h"
#include "core/util/status.h"

namespace bnserve {

// INVALID_ARGUMENT naming the node and the first missing input unless inputs
// 0 .. names.size() - 1 are all present; `names` are their ONNX names.
inline absl::Status RequireInputs(const OpBuildContext& ctx, std::initializer_list<const char*> names) {
  size_t index = 0;
  for (const char* name : names) {
    if (!ctx.node.HasInput(index)) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx.Describe(), ": input ", name, " (#", index, ") expected, got none"));
    }
    ++index;
  }
  return absl::OkStatus();
}

}  // namespace bnserve
