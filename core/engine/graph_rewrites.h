// Graph rewrites that turn a model graph plus one statistics snapshot into
// the graph the folded inference plan runs. Each is a pure Graph -> Graph
// step, testable on its own:
//   1. ReplaceBatchNorms: every BatchNormalization becomes a
//      bnserve::ChannelAffine with scale = gamma/sqrt(var+eps) and
//      shift = beta - mean*scale computed in float64 (bn-semantics §2).
//   2. FoldAffineIntoProducers: a ChannelAffine whose input comes from a Conv
//      or Gemm that nobody else reads is folded into that op's weights and
//      bias (exact; weights recomputed in float64, rounded once to float32).
//   3. RemoveIdentities: Identity and single-output Dropout vanish.
//   4. FuseGatedActivations: Mul(x, HardSigmoid(x)) and Mul(x, Sigmoid(x)),
//      how exporters write hardswish and SiLU, become a fused HardSwish or
//      SiLU of x's producer when x has no other reader and that producer
//      could take a fused activation (as in 5).
//   5. FuseActivations: Relu / LeakyRelu / constant Clip / Sigmoid /
//      HardSigmoid / HardSwish directly after a Conv, Gemm, MatMul, Add,
//      ChannelAffine or BatchNormalization (left only in the statistics
//      passes' graphs) whose output has no other reader becomes a fused
//      activation of that op.
// FoldPads (before all of these in both plans) merges a constant-zero Pad
// into the Conv or AveragePool that alone reads it, where the result is
// identical, and drops a Pad that pads nothing.
#pragma once

#include <vector>

#include "core/graph/graph.h"
#include "core/stats/bn_layer.h"
#include "core/stats/stats_snapshot.h"
#include "core/util/status.h"

namespace bnserve {

// REQUIRES: ValidateSnapshot(layers, snapshot) is OK.
absl::Status ReplaceBatchNorms(const std::vector<BnLayerInfo>& layers, const StatsSnapshot& snapshot, Graph* graph);
void FoldAffineIntoProducers(Graph* graph);
void RemoveIdentities(Graph* graph);
void FoldPads(Graph* graph);
void FuseGatedActivations(Graph* graph);
void FuseActivations(Graph* graph);
// Drops the float64 values that ReplaceBatchNorms and folding keep next to
// their float32 results (ConstantTensor::exact): needed only while rewrites
// run, they would double the folded weights' memory in a plan.
void DropExactValues(Graph* graph);

// Initializer names of the float64 per-channel scale/shift that
// ReplaceBatchNorms creates for a layer (stored as float32 initializers; the
// folding step recomputes from float64 values kept alongside).
struct AffineNames {
  std::string scale;
  std::string shift;
};
AffineNames AffineInitializerNames(const std::string& layer_name);

}  // namespace bnserve
