// ONNX loader: turns an ONNX model file into bnserve's Graph IR.
//
// What it does (and what it leaves to later stages):
// - Parses the protobuf defensively: corrupt or truncated bytes give an error
//   (DATA_LOSS), never a crash.
// - Reads the opset of the default domain ("" or "ai.onnx"); graph inputs
//   exclude initializers (IR < 4 lists them as inputs too); input/output dims
//   keep symbolic dimensions (e.g. the batch) as Dim{-1, "batch"}.
// - Decodes initializers (core/graph/onnx_tensor.h), resolving external data
//   relative to the model's directory.
// - Folds constant producers into initializers and drops them from the
//   nodes: every Constant node, and every Identity node whose input is an
//   initializer (torch.onnx deduplicates equal initializers, e.g. a fresh
//   BN's running_var and weight, and re-creates the second name with an
//   Identity node). An Identity that produces a graph output is kept.
// - Names unnamed nodes "<op_type>_<index>" (index in the file's node list)
//   and makes names unique (Node::name_derived marks both cases).
// - Sorts nodes topologically (stable: a sorted file keeps its order).
// - Rejects what the IR cannot express: subgraph attributes (If/Loop/Scan),
//   sparse initializers, unsupported attribute or tensor types.
// It does NOT check whether operators are supported; plan building does that
// against the OpRegistry.
//
// Stateless free functions; thread-safe.
#pragma once

#include <memory>
#include <string>

#include "core/graph/graph.h"
#include "core/util/status.h"
#include "onnx/onnx_pb.h"

namespace bnserve {

struct LoadedOnnx {
  Graph graph;
  // The parsed file, unmodified (external data still external). Model keeps
  // it, stripped of the payloads `graph` holds (core/graph/onnx_skeleton.h), for
  // the exporter (core/model/onnx_export.h).
  std::shared_ptr<onnx::ModelProto> proto;
};

// Reads and parses `path`; external data is resolved relative to the file's
// directory. A missing file is NOT_FOUND naming the path.
absl::StatusOr<LoadedOnnx> LoadOnnxFile(const std::string& path);

// Parses serialized ModelProto bytes; external data locations are relative to
// `base_dir` ("" = the current directory).
absl::StatusOr<LoadedOnnx> ParseOnnxModel(const std::string& bytes, const std::string& base_dir);

}  // namespace bnserve
