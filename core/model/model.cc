#include "core/model/model.h"

#include "absl/strings/str_cat.h"
#include "core/graph/onnx_loader.h"
#include "core/graph/onnx_skeleton.h"
#include "core/model/bn_layers.h"
#include "core/model/shape_folding.h"
#include "onnx/onnx_pb.h"

namespace bnserve {

absl::StatusOr<std::shared_ptr<const Model>> Model::LoadFromFile(const std::string& path) {
  BN_ASSIGN_OR_RETURN(LoadedOnnx loaded, LoadOnnxFile(path));
  const size_t slash = path.find_last_of('/');
  std::string base_dir = slash == std::string::npos ? "." : path.substr(0, slash);
  return FromLoaded(std::move(loaded.graph), std::move(loaded.proto), std::move(base_dir));
}

absl::StatusOr<std::shared_ptr<const Model>> Model::LoadFromBytes(const std::string& bytes,
                                                                  const std::string& base_dir) {
  BN_ASSIGN_OR_RETURN(LoadedOnnx loaded, ParseOnnxModel(bytes, base_dir));
  return FromLoaded(std::move(loaded.graph), std::move(loaded.proto), base_dir);
}

absl::StatusOr<std::shared_ptr<const Model>> Model::FromLoaded(Graph graph, std::shared_ptr<onnx::ModelProto> proto,
                                                               std::string base_dir) {
  std::shared_ptr<Model> model(new Model());
  // Before BN discovery, whose node indices must be those of the graph the
  // plans see; the skeleton keeps the original nodes for export.
  BN_RETURN_IF_ERROR(FoldShapeComputations(&graph));
  BN_ASSIGN_OR_RETURN(model->bn_layers_, DiscoverBnLayers(graph));
  BN_ASSIGN_OR_RETURN(StatsSnapshot stats, SnapshotFromGraph(graph, model->bn_layers_));
  stats.version = 1;
  model->graph_ = std::move(graph);
  model->stripped_ = StripInitializerPayloads(model->graph_, proto.get());
  model->skeleton_ = std::move(proto);
  model->base_dir_ = std::move(base_dir);
  model->file_stats_ = std::make_shared<const StatsSnapshot>(std::move(stats));
  return std::shared_ptr<const Model>(std::move(model));
}

absl::StatusOr<onnx::ModelProto> Model::RestoreProto() const {
  onnx::ModelProto proto = *skeleton_;
  BN_RETURN_IF_ERROR(RestoreInitializerPayloads(graph_, stripped_, &proto));
  return proto;
}

int Model::FindBnLayer(const std::string& name) const {
  for (size_t i = 0; i < bn_layers_.size(); ++i) {
    if (bn_layers_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace bnserve
