// FoldShapeComputations: turns the int64 shape arithmetic that exporters
// write around dynamic-batch graphs (Shape -> Gather -> Unsqueeze -> Concat ->
// Reshape; Shape -> Slice -> Concat -> Resize sizes; x.chunk's Slice bounds)
// into constant initializers, once, when a model loads, so that every plan
// built from the model sees only constant shapes.
//
// The pass walks the graph in order, inferring for every float tensor its
// dims, each a known size, the symbolic batch (dim 0 of a graph input whose
// dim 0 is symbolic) or unknown, and computing every int64 value that depends
// only on constants and shapes. Those nodes are then removed and each of their
// values a remaining node reads becomes an initializer. A value holding the
// batch symbol stays correct for any batch size only where the consumer can
// say "the batch" without a number:
//   - Reshape's shape: the batch entry becomes 0 (copy the input's dim) when
//     the input's dim at that position is the batch, otherwise -1;
//   - Resize's sizes: they become scales, 1 for the batch axis and
//     size / input size (rounded up to the next float, so that the op's
//     floor(input size * scale) is the size again) for the others.
// Anything else (a Shape of a tensor whose dims cannot be inferred, a value
// with an unknown element, the batch anywhere else) fails with UNIMPLEMENTED
// naming the node, so a model that would need run-time shapes is refused at
// load instead of failing on its first request.
//
// Graphs without int64 computations are returned unchanged.
#pragma once

#include "core/graph/graph.h"
#include "core/util/status.h"

namespace bnserve {

absl::Status FoldShapeComputations(Graph* graph);

}  // namespace bnserve
