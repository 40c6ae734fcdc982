// The BatchNormalization op of a statistics pass (core/engine/statistics_plan.h):
// it records the per-channel moments of its input (count, mean, M2 in
// float64) into the run's BatchStatsSink, then normalizes as the forward mode
// says (docs/bn-semantics.md):
//   kTrain: with the batch's own statistics (biased variance), as PyTorch
//           does in train mode and update_bn relies on;
//   kEval:  with the snapshot's frozen statistics, as at inference time.
#pragma once

#include <memory>

#include "core/engine/op.h"
#include "core/engine/ops/bn_fold.h"
#include "core/engine/ops/fused_activation.h"
#include "core/stats/batch_stats_sink.h"
#include "core/stats/bn_layer.h"

namespace bnserve {

enum class ForwardMode { kTrain, kEval };
const char* ForwardModeName(ForwardMode mode);

// The op of BN layer number `layer` (its index in the model's bn_layers(),
// the sink's slot). REQUIRES: `frozen` is a validated snapshot's layer,
// folded (FoldBatchNorm); `activation` is the Relu/Clip fused into the node.
std::unique_ptr<Op> MakeBatchNormStatisticsOp(int layer, const BnLayerInfo& info, ChannelAffineParams frozen,
                                              ForwardMode mode, FusedActivation activation);

}  // namespace bnserve
