#include "core/engine/ops/axis.h"

#include "absl/strings/str_cat.h"

namespace bnserve {

absl::Status CheckAxisSign(int64_t axis, int64_t opset, absl::string_view node) {
  if (axis >= 0 || opset >= kNegativeAxisOpset) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(node, ": attribute axis: expected a value >= 0 before opset ", kNegativeAxisOpset, ", got ", axis));
}

absl::StatusOr<int> NormalizeAxis(int64_t axis, int rank, bool allow_rank, absl::string_view node) {
  const int64_t upper = allow_rank ? rank : rank - 1;
  if (axis < -static_cast<int64_t>(rank) || axis > upper) {
    return absl::InvalidArgumentError(absl::StrCat(node, ": attribute axis: expected a value in [", -rank, ", ", upper,
                                                   "] for an input of rank ", rank, ", got ", axis));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

}  // namespace bnserve
