// BN layer discovery: finds the BatchNormalization nodes of a loaded Graph
// whose running statistics bnserve can serve, query and recalibrate, and
// reads the statistics the file carries. Stateless free functions;
// thread-safe.
#pragma once

#include <vector>

#include "core/graph/graph.h"
#include "core/stats/bn_layer.h"
#include "core/stats/stats_snapshot.h"
#include "core/util/status.h"

namespace bnserve {

// One BnLayerInfo per default-domain BatchNormalization node, in graph node
// order (see core/stats/bn_layer.h for naming and momentum conventions). Every node
// must be an inference-form BN (opset 9-13: one output; opset 14+:
// training_mode 0 and one output) whose scale, B, mean and var are constant
// float initializers of the same length C >= 1, with the mean and var read by
// no other node. Otherwise FAILED_PRECONDITION naming the node (spatial=0 of
// opsets < 9 is UNIMPLEMENTED).
absl::StatusOr<std::vector<BnLayerInfo>> DiscoverBnLayers(const Graph& graph);

// Version 1 of the statistics: the running mean/var initializers of `layers`
// widened to double, num_batches_tracked and sample_count 0. FAILED_PRECONDITION
// if `layers` do not match `graph`. The values are not validated (use
// ValidateSnapshot), so a model with bad stored statistics can still be loaded
// and recalibrated.
absl::StatusOr<StatsSnapshot> SnapshotFromGraph(const Graph& graph, const std::vector<BnLayerInfo>& layers);

}  // namespace bnserve
