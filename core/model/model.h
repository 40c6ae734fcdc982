// Model: one loaded ONNX model, immutable after Load and shared (via
// shared_ptr<const Model>) by every request and every plan built from it.
// Holds the parsed graph with its shape computations folded into constants
// (core/model/shape_folding.h), the original protobuf without the weights the
// graph already holds (core/graph/onnx_skeleton.h; for export), the BN layer
// descriptions and the statistics the file carries (version 1). Whether the
// engine can run it is the engine's question: ModelEntry checks the operators
// (OpRegistry::CheckGraph) and builds the plan before a model serves.
//
// Thread-safety: all methods are const and safe to call concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/stats/bn_layer.h"
#include "core/stats/stats_snapshot.h"
#include "core/util/status.h"

namespace onnx {
class ModelProto;
}

namespace bnserve {

class Model {
 public:
  // `path` is an .onnx file; external data is resolved next to it.
  static absl::StatusOr<std::shared_ptr<const Model>> LoadFromFile(const std::string& path);
  static absl::StatusOr<std::shared_ptr<const Model>> LoadFromBytes(const std::string& bytes,
                                                                    const std::string& base_dir);

  // The graph the plans run: as loaded, shape computations folded.
  const Graph& graph() const { return graph_; }
  // The original protobuf, as loaded (weights restored from the graph): the
  // input of ExportOnnxWithStats. Costs one copy of the weights while held.
  absl::StatusOr<onnx::ModelProto> RestoreProto() const;
  const std::string& base_dir() const { return base_dir_; }
  const std::vector<BnLayerInfo>& bn_layers() const { return bn_layers_; }
  // Index into bn_layers() of the layer named `name`, or -1.
  int FindBnLayer(const std::string& name) const;
  // Version 1: the running statistics stored in the ONNX file.
  const std::shared_ptr<const StatsSnapshot>& file_stats() const { return file_stats_; }

 private:
  Model() = default;
  static absl::StatusOr<std::shared_ptr<const Model>> FromLoaded(Graph graph, std::shared_ptr<onnx::ModelProto> proto,
                                                                 std::string base_dir);

  Graph graph_;
  std::shared_ptr<const onnx::ModelProto> skeleton_;
  std::vector<std::string> stripped_;  // initializers whose payload skeleton_ lacks
  std::string base_dir_;
  std::vector<BnLayerInfo> bn_layers_;
  std::shared_ptr<const StatsSnapshot> file_stats_;
};

}  // namespace bnserve
