#include "core/model/onnx_export.h"

#include <climits>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/graph/onnx_tensor.h"

namespace bnserve {
namespace {

bool IsDefaultDomain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

bool IsDefaultOp(const onnx::NodeProto& node, const char* op_type) {
  return node.op_type() == op_type && IsDefaultDomain(node.domain());
}

onnx::NodeProto* FindProducer(onnx::GraphProto* graph, const std::string& name) {
  for (onnx::NodeProto& node : *graph->mutable_node()) {
    for (const std::string& output : node.output()) {
      if (output == name) return &node;
    }
  }
  return nullptr;
}

onnx::TensorProto* FindInitializer(onnx::GraphProto* graph, const std::string& name) {
  for (onnx::TensorProto& t : *graph->mutable_initializer()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

// A copy, named `name`, of the constant tensor `name` resolves to: an
// initializer or Constant node, possibly behind Identity nodes.
absl::StatusOr<onnx::TensorProto> ResolveConstant(onnx::GraphProto* graph, const std::string& name,
                                                  const std::string& what) {
  std::string current = name;
  for (int hops = 0; hops <= graph->node_size(); ++hops) {
    onnx::TensorProto out;
    if (const onnx::TensorProto* t = FindInitializer(graph, current)) {
      out = *t;
    } else {
      const onnx::NodeProto* producer = FindProducer(graph, current);
      if (producer != nullptr && IsDefaultOp(*producer, "Identity") && producer->input_size() == 1) {
        current = producer->input(0);
        continue;
      }
      if (producer == nullptr || !IsDefaultOp(*producer, "Constant") || producer->attribute_size() != 1) break;
      const onnx::AttributeProto& a = producer->attribute(0);
      if (a.name() == "value") {
        out = a.t();
      } else if (a.name() == "value_floats") {
        out.set_data_type(onnx::TensorProto::FLOAT);
        out.add_dims(a.floats_size());
        *out.mutable_float_data() = a.floats();
      } else {
        break;
      }
    }
    out.set_name(name);
    return out;
  }
  return absl::FailedPreconditionError(
      absl::StrCat(what, ": cannot trace it back to a constant through '", current, "'"));
}

// Makes `node` a Constant node producing `value` (keeping its name).
void MakeConstantNode(onnx::TensorProto value, onnx::NodeProto* node) {
  node->set_op_type("Constant");
  node->clear_domain();
  node->clear_input();
  node->clear_attribute();
  onnx::AttributeProto* attr = node->add_attribute();
  attr->set_name("value");
  attr->set_type(onnx::AttributeProto::TENSOR);
  *attr->mutable_t() = std::move(value);
}

absl::Status CheckFitsFloat(const std::vector<double>& values, const std::string& what) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i]) || std::fabs(values[i]) > std::numeric_limits<float>::max()) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": value ", values[i], " at index ", i, " is not finite as FLOAT"));
    }
  }
  return absl::OkStatus();
}

// Writes into a Constant node, keeping its attribute form. (value_float is a
// scalar, never a BN statistic.)
absl::Status WriteConstantNode(const std::vector<double>& values, const std::string& what, onnx::NodeProto* node) {
  for (onnx::AttributeProto& a : *node->mutable_attribute()) {
    if (a.name() == "value") return EncodeFloatValues(values, what, a.mutable_t());
    if (a.name() != "value_floats") continue;
    if (values.size() != static_cast<size_t>(a.floats_size())) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": expected ", a.floats_size(), " values, got ", values.size()));
    }
    BN_RETURN_IF_ERROR(CheckFitsFloat(values, what));
    a.clear_floats();
    for (double v : values) a.add_floats(static_cast<float>(v));
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat(what, ": Constant node '", node->name(), "' has no value or value_floats attribute"));
}

// Turns `node` (an Identity of a constant) into a Constant node holding
// `values` in the source constant's type and dims.
absl::Status ReplaceIdentityWithConstant(const std::vector<double>& values, const std::string& what,
                                         onnx::GraphProto* graph, onnx::NodeProto* node) {
  BN_ASSIGN_OR_RETURN(onnx::TensorProto value, ResolveConstant(graph, node->output(0), what));
  BN_RETURN_IF_ERROR(EncodeFloatValues(values, what, &value));
  MakeConstantNode(std::move(value), node);
  return absl::OkStatus();
}

// Identity nodes reading `name` were folded into constants by the loader, so
// the layer looked like the only reader; they must keep the old value (e.g.
// torch made bn.weight = Identity(bn.running_var) because both were ones).
// Turns each into a Constant node holding a copy of that value.
absl::Status FreezeIdentityReaders(const std::string& name, const std::string& what, onnx::GraphProto* graph) {
  for (onnx::NodeProto& node : *graph->mutable_node()) {
    if (!IsDefaultOp(node, "Identity") || node.input_size() != 1 || node.input(0) != name || node.output_size() != 1) {
      continue;
    }
    BN_ASSIGN_OR_RETURN(onnx::TensorProto value, ResolveConstant(graph, name, what));
    value.set_name(node.output(0));
    MakeConstantNode(std::move(value), &node);
  }
  return absl::OkStatus();
}

absl::Status WriteStatistic(const std::string& name, const std::vector<double>& values, const std::string& what,
                            onnx::GraphProto* graph) {
  BN_RETURN_IF_ERROR(FreezeIdentityReaders(name, what, graph));
  if (onnx::TensorProto* t = FindInitializer(graph, name)) return EncodeFloatValues(values, what, t);
  onnx::NodeProto* producer = FindProducer(graph, name);
  if (producer == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": no initializer or node of this model defines it (layers from another model?)"));
  }
  if (IsDefaultOp(*producer, "Constant")) return WriteConstantNode(values, what, producer);
  if (IsDefaultOp(*producer, "Identity") && producer->input_size() == 1 && producer->output_size() == 1) {
    return ReplaceIdentityWithConstant(values, what, graph, producer);
  }
  return absl::FailedPreconditionError(
      absl::StrCat(what, ": produced by ", producer->op_type(), " node '", producer->name(), "', not a constant"));
}

absl::Status InlineAllExternalData(const std::string& base_dir, onnx::GraphProto* graph) {
  for (onnx::TensorProto& t : *graph->mutable_initializer()) {
    BN_RETURN_IF_ERROR(InlineExternalData(absl::StrCat("initializer '", t.name(), "'"), base_dir, &t));
  }
  for (onnx::NodeProto& node : *graph->mutable_node()) {
    for (onnx::AttributeProto& a : *node.mutable_attribute()) {
      const std::string what = absl::StrCat("node '", node.name(), "' attribute '", a.name(), "'");
      if (a.has_t()) BN_RETURN_IF_ERROR(InlineExternalData(what, base_dir, a.mutable_t()));
      for (onnx::TensorProto& t : *a.mutable_tensors()) BN_RETURN_IF_ERROR(InlineExternalData(what, base_dir, &t));
    }
  }
  return absl::OkStatus();
}

void SetMetadata(const std::string& key, const std::string& value, onnx::ModelProto* model) {
  for (onnx::StringStringEntryProto& entry : *model->mutable_metadata_props()) {
    if (entry.key() == key) {
      entry.set_value(value);
      return;
    }
  }
  onnx::StringStringEntryProto* entry = model->add_metadata_props();
  entry->set_key(key);
  entry->set_value(value);
}

}  // namespace

absl::StatusOr<std::string> ExportOnnxWithStats(onnx::ModelProto original, const std::vector<BnLayerInfo>& layers,
                                                const StatsSnapshot& snapshot, const std::string& base_dir) {
  BN_RETURN_IF_ERROR(ValidateSnapshot(layers, snapshot));
  onnx::ModelProto model = std::move(original);
  onnx::GraphProto* graph = model.mutable_graph();
  SetMetadata(kStatsVersionMetadataKey, absl::StrCat(snapshot.version), &model);
  for (size_t l = 0; l < layers.size(); ++l) {
    const BnLayerInfo& info = layers[l];
    const LayerStats& stats = snapshot.layers[l];
    BN_RETURN_IF_ERROR(WriteStatistic(info.mean_name, stats.mean,
                                      absl::StrCat("BN layer '", info.name, "' running mean '", info.mean_name, "'"),
                                      graph));
    BN_RETURN_IF_ERROR(WriteStatistic(
        info.var_name, stats.var, absl::StrCat("BN layer '", info.name, "' running var '", info.var_name, "'"), graph));
    SetMetadata(absl::StrCat(kNumBatchesTrackedMetadataPrefix, info.name), absl::StrCat(stats.num_batches_tracked),
                &model);
  }
  // After the statistics: tensors just overwritten are inline already and
  // need not be read from disk.
  BN_RETURN_IF_ERROR(InlineAllExternalData(base_dir, graph));

  const size_t size = model.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the exported model would be ", size, " bytes; a self-contained ONNX file is limited to 2 GiB"));
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) {
    return absl::FailedPreconditionError("serializing the exported model failed");
  }
  return bytes;
}

}  // namespace bnserve
