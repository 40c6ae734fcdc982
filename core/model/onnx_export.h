// ONNX export: writes a model back out with the running statistics of a
// StatsSnapshot, e.g. after a recalibration, so it can be served elsewhere or
// reloaded by bnserve. Stateless free function; thread-safe.
//
// The export is a copy of the original ModelProto in which only these things
// change:
// - Each layer's running mean and var hold the snapshot values, as raw_data
//   in the tensor's original data type (FLOAT normally; DOUBLE or FLOAT16 if
//   the file used them). The value is written where the file defines it: the
//   initializer, or the Constant node producing it. When the file re-creates
//   it with an Identity of another constant (torch.onnx's deduplication of
//   equal initializers), that Identity node becomes a Constant node holding
//   the new values, so the shared source tensor keeps its value. Conversely,
//   Identity nodes that read a statistic become Constant nodes holding its
//   old value, so they keep theirs.
// - All external data is inlined: the export is one self-contained file.
// - metadata_props gets these entries (decimal strings; an existing entry
//   with the same key is overwritten in place):
//     "bnserve.stats_version"               StatsSnapshot::version
//     "bnserve.num_batches_tracked.<layer>"  LayerStats::num_batches_tracked of
//                                           the layer named <layer> (BnLayerInfo::name)
#pragma once

#include <string>
#include <vector>

#include "core/stats/bn_layer.h"
#include "core/stats/stats_snapshot.h"
#include "core/util/status.h"
#include "onnx/onnx_pb.h"

namespace bnserve {

inline constexpr char kStatsVersionMetadataKey[] = "bnserve.stats_version";
inline constexpr char kNumBatchesTrackedMetadataPrefix[] = "bnserve.num_batches_tracked.";

// Returns the serialized bytes of `original` (taken by value: callers that
// are done with theirs move it in) with `snapshot` written into it.
// `layers` must come from DiscoverBnLayers on the graph loaded from
// `original`; `base_dir` is the directory its external data is relative to
// (as given to ParseOnnxModel). The snapshot is checked with
// ValidateSnapshot first (FAILED_PRECONDITION); a value that does not fit the
// tensor's data type (e.g. above 65504 for FLOAT16) is FAILED_PRECONDITION.
absl::StatusOr<std::string> ExportOnnxWithStats(onnx::ModelProto original, const std::vector<BnLayerInfo>& layers,
                                                const StatsSnapshot& snapshot, const std::string& base_dir);

}  // namespace bnserve
