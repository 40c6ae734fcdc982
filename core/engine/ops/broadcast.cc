#include "core/engine/ops/broadcast.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace bnserve {

absl::StatusOr<BroadcastPlan> PlanBroadcast(const Shape& a, const Shape& b, absl::string_view node) {
  BroadcastPlan plan;
  const int rank = std::max(a.rank(), b.rank());
  // Which operand is broadcast along the current collapsed dimension.
  std::array<bool, Shape::kMaxRank> a_broadcast{};
  std::array<bool, Shape::kMaxRank> b_broadcast{};
  for (int i = 0; i < rank; ++i) {
    // Align from the right; missing leading dimensions act as 1.
    const int ai = i - (rank - a.rank());
    const int bi = i - (rank - b.rank());
    const int64_t ad = ai >= 0 ? a[ai] : 1;
    const int64_t bd = bi >= 0 ? b[bi] : 1;
    if (ad != bd && ad != 1 && bd != 1) {
      return absl::InvalidArgumentError(absl::StrCat(node, ": inputs of shapes ", a.ToString(), " and ", b.ToString(),
                                                     " cannot be broadcast together: at output dimension ", i,
                                                     " expected equal sizes or a 1, got ", ad, " and ", bd));
    }
    const int64_t od = ad == 1 ? bd : ad;
    plan.output.push_back(od);
    if (od == 1) continue;  // contributes nothing to the iteration
    const bool a_bc = ad == 1;
    const bool b_bc = bd == 1;
    if (plan.rank > 0 && a_broadcast[plan.rank - 1] == a_bc && b_broadcast[plan.rank - 1] == b_bc) {
      plan.dims[plan.rank - 1] *= od;
    } else {
      a_broadcast[plan.rank] = a_bc;
      b_broadcast[plan.rank] = b_bc;
      plan.dims[plan.rank++] = od;
    }
  }
  // Each operand is dense over the dimensions it is not broadcast along.
  int64_t a_stride = 1;
  int64_t b_stride = 1;
  for (int d = plan.rank - 1; d >= 0; --d) {
    plan.a_strides[d] = a_broadcast[d] ? 0 : a_stride;
    plan.b_strides[d] = b_broadcast[d] ? 0 : b_stride;
    if (!a_broadcast[d]) a_stride *= plan.dims[d];
    if (!b_broadcast[d]) b_stride *= plan.dims[d];
  }
  return plan;
}

}  // namespace bnserve
