// Axis attributes (Flatten, Softmax, Concat): ONNX allows negative values,
// counted from the back, only from opset 11; before that the accepted range
// starts at 0. The sign is known when the op is built, the rank only when it
// runs, so the check is split in two.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/util/status.h"

namespace bnserve {

// First opset in which Flatten, Softmax and Concat accept a negative axis.
inline constexpr int64_t kNegativeAxisOpset = 11;

// Build time: INVALID_ARGUMENT naming `node` (an OpBuildContext::Describe()
// string) when `axis` is negative but `opset` predates negative axes.
absl::Status CheckAxisSign(int64_t axis, int64_t opset, absl::string_view node);

// Run time: maps `axis` into [0, rank), or [0, rank] when `allow_rank` (the
// axis of Flatten may equal the rank), counting negative values from the
// back. INVALID_ARGUMENT naming `node`, the accepted range and the axis when
// it is out of range.
absl::StatusOr<int> NormalizeAxis(int64_t axis, int rank, bool allow_rank, absl::string_view node);

}  // namespace bnserve
