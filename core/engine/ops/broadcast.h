// BroadcastPlan: how a binary element-wise op walks its two operands under
// ONNX multidirectional (numpy) broadcasting.
//
// Output dimensions of size 1 are dropped and adjacent dimensions along which
// each operand is broadcast the same way are merged. The iteration space left
// over is a few outer dimensions around an innermost row that is contiguous
// in both operands or contiguous in one and a single repeated value in the
// other, which is what makes the hot cases tight, vectorizable loops:
//   same shape                        -> one row of N elements
//   scalar operand                    -> one row, the scalar repeated
//   per-channel [C,1,1] vs [N,C,H,W]  -> N*C rows of H*W, the channel's value repeated
//
// A plain value type, small enough to build on the stack on every run.
#pragma once

#include <array>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/graph/shape.h"
#include "core/util/status.h"

namespace bnserve {

struct BroadcastPlan {
  Shape output;  // the broadcast result shape, uncollapsed
  // Collapsed iteration space; rank 0 means a single element.
  int rank = 0;
  std::array<int64_t, Shape::kMaxRank> dims{};
  std::array<int64_t, Shape::kMaxRank> a_strides{};  // in elements; 0 where `a` is broadcast
  std::array<int64_t, Shape::kMaxRank> b_strides{};
};

// INVALID_ARGUMENT naming `node` (an OpBuildContext::Describe() string), both
// shapes and the offending dimension when they cannot be broadcast together.
absl::StatusOr<BroadcastPlan> PlanBroadcast(const Shape& a, const Shape& b, absl::string_view node);

// Calls row(a_row, a_stride, b_row, b_stride, out_row, n) for every innermost
// row, in output order; each stride is 1 (contiguous) or 0 (one value
// repeated). `out` must hold plan.output.NumElements() floats.
template <typename RowFn>
void ForEachBroadcastRow(const BroadcastPlan& plan, const float* a, const float* b, float* out, RowFn&& row) {
  if (plan.rank == 0) {
    row(a, int64_t{0}, b, int64_t{0}, out, int64_t{1});
    return;
  }
  const int inner = plan.rank - 1;
  const int64_t n = plan.dims[inner];
  int64_t outer = 1;
  for (int d = 0; d < inner; ++d) outer *= plan.dims[d];
  std::array<int64_t, Shape::kMaxRank> index{};
  int64_t a_offset = 0;
  int64_t b_offset = 0;
  for (int64_t o = 0; o < outer; ++o) {
    row(a + a_offset, plan.a_strides[inner], b + b_offset, plan.b_strides[inner], out + o * n, n);
    // Odometer increment over the outer dimensions, last one fastest.
    for (int d = inner - 1; d >= 0; --d) {
      a_offset += plan.a_strides[d];
      b_offset += plan.b_strides[d];
      if (++index[d] < plan.dims[d]) break;
      a_offset -= plan.a_strides[d] * plan.dims[d];
      b_offset -= plan.b_strides[d] * plan.dims[d];
      index[d] = 0;
    }
  }
}

}  // namespace bnserve
