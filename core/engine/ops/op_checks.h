// Small run-time checks shared by the kernels in core/engine/ops/.
#pragma once

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/engine/op.h"
#include "core/util/status.h"

namespace bnserve {

// Whether input `index` was given. Unlike OpContext::has_input, which tests
// data != nullptr, this also counts a zero-element tensor (whose buffer may
// have no storage) as given: an absent input is the only rank-0 view without
// data, since a rank-0 tensor holds one element.
inline bool InputGiven(const OpContext& ctx, int index) {
  return index < ctx.num_inputs() && (ctx.input(index).data != nullptr || ctx.input(index).shape.rank() > 0);
}

// INVALID_ARGUMENT naming `node` (an OpBuildContext::Describe() string) and
// the input when required input `index` (called `name` in the ONNX schema)
// was not given. Allocates only on the error path.
inline absl::Status RequireInput(const OpContext& ctx, int index, absl::string_view name, absl::string_view node) {
  if (InputGiven(ctx, index)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(node, ": expected input ", index, " (", name, ") to be given, got none"));
}

}  // namespace bnserve
