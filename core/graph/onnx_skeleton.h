// ONNX skeleton: a ModelProto without the payloads the Graph already holds.
// A loaded Model keeps the protobuf only for export (core/model/onnx_export.h);
// keeping it whole would hold every weight twice (protobuf bytes and Graph
// floats). The skeleton drops the raw_data of inline FLOAT initializers,
// whose float32 values the Graph keeps bit for bit, and export puts them
// back from the Graph: the restored protobuf equals the original.
// Other tensors (external data, DOUBLE/FLOAT16, typed fields, Constant
// nodes) stay as they are: rare, small or not exactly re-encodable.
// Stateless free functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/util/status.h"
#include "onnx/onnx_pb.h"

namespace bnserve {

// Clears the raw_data of every initializer of `proto` that `graph` (loaded
// from it) holds exactly, and returns their names.
std::vector<std::string> StripInitializerPayloads(const Graph& graph, onnx::ModelProto* proto);

// Puts back the raw_data of the initializers `names` (from
// StripInitializerPayloads) from `graph`. INTERNAL if one is missing (a
// skeleton and graph that do not belong together).
absl::Status RestoreInitializerPayloads(const Graph& graph, const std::vector<std::string>& names,
                                        onnx::ModelProto* proto);

}  // namespace bnserve
