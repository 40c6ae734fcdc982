// Matching a request's tensors to a model's declared inputs. Clients may send
// a batch (the declared rank, batch dim first) or one instance (the batch dim
// left out); this is where the two are told apart and where a mismatch gets
// an error message that shows both accepted shapes.
#pragma once

#include <string>

#include "absl/types/span.h"
#include "core/graph/graph.h"
#include "core/graph/tensor.h"
#include "core/util/status.h"

namespace bnserve {

enum class BatchForm {
  kBatch,           // every tensor carries the batch dim
  kSingleInstance,  // every tensor lacks it; a leading 1 was added
};

// Checks `inputs` against graph.inputs: the count, the names (`names` is
// empty or parallel to `inputs`; an empty name is not checked), the rank and
// every fixed dim. With `allow_single_instance`, tensors one dim short are
// single instances: their shapes get a leading 1 in place. All inputs must
// use the same form. An input declared without a shape is taken as is.
// INVALID_ARGUMENT naming the field, e.g.
//   "inputs[0].shape: expected [batch,1,8,8] or [1,8,8], got [3,8]".
absl::StatusOr<BatchForm> ResolveBatchForm(const Graph& graph, absl::Span<const std::string> names,
                                           absl::Span<TensorView> inputs, bool allow_single_instance);

}  // namespace bnserve
