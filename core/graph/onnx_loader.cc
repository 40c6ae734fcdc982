#include "core/graph/onnx_loader.h"

#include <climits>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/graph/onnx_tensor.h"

namespace bnserve {
namespace {

using AttrProto = onnx::AttributeProto;

bool IsDefaultDomain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

std::string Describe(const Node& node) { return absl::StrCat(node.op_type, " node '", node.name, "'"); }

absl::StatusOr<onnx::ModelProto> ParseModelProto(const std::string& bytes) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat("model is ", bytes.size(),
                                                   " bytes; protobuf cannot parse more than 2 GiB, store the "
                                                   "weights as external data"));
  }
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat("not a valid ONNX model (protobuf parse failed on ", bytes.size(),
                                            " bytes: the file is truncated, corrupt or not an ONNX model)"));
  }
  return model;
}

absl::StatusOr<int64_t> DefaultDomainOpset(const onnx::ModelProto& model) {
  for (const onnx::OperatorSetIdProto& opset : model.opset_import()) {
    if (IsDefaultDomain(opset.domain())) {
      if (opset.version() <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("opset_import of the default domain has version ", opset.version(), ", expected >= 1"));
      }
      return opset.version();
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("opset_import has no entry for the default domain (\"\" or \"ai.onnx\"); got ",
                   model.opset_import_size(), " entries for other domains"));
}

ValueInfo ConvertValueInfo(const onnx::ValueInfoProto& info) {
  ValueInfo out;
  out.name = info.name();
  if (!info.type().has_tensor_type() || !info.type().tensor_type().has_shape()) return out;
  for (const onnx::TensorShapeProto::Dimension& d : info.type().tensor_type().shape().dim()) {
    Dim dim;
    if (d.has_dim_value() && d.dim_value() >= 0) {
      dim.size = d.dim_value();
    } else if (d.has_dim_param()) {
      dim.param = d.dim_param();
    }
    out.dims.push_back(std::move(dim));
  }
  return out;
}

// Old files (IR version 1) may leave `type` unset; infer it from the field set.
AttrProto::AttributeType AttributeKind(const onnx::AttributeProto& a) {
  if (a.type() != AttrProto::UNDEFINED) return a.type();
  if (a.has_f()) return AttrProto::FLOAT;
  if (a.has_i()) return AttrProto::INT;
  if (a.has_s()) return AttrProto::STRING;
  if (a.has_t()) return AttrProto::TENSOR;
  if (a.has_g()) return AttrProto::GRAPH;
  if (a.floats_size() > 0) return AttrProto::FLOATS;
  if (a.ints_size() > 0) return AttrProto::INTS;
  if (a.strings_size() > 0) return AttrProto::STRINGS;
  if (a.tensors_size() > 0) return AttrProto::TENSORS;
  if (a.graphs_size() > 0) return AttrProto::GRAPHS;
  return AttrProto::UNDEFINED;
}

absl::StatusOr<Attribute> ConvertAttribute(const onnx::AttributeProto& a, const std::string& node_desc,
                                           const std::string& base_dir) {
  const std::string what = absl::StrCat(node_desc, " attribute '", a.name(), "'");
  Attribute out;
  switch (AttributeKind(a)) {
    case AttrProto::INT:
      out.kind = Attribute::Kind::kInt;
      out.i = a.i();
      break;
    case AttrProto::FLOAT:
      out.kind = Attribute::Kind::kFloat;
      out.f = a.f();
      break;
    case AttrProto::STRING:
      out.kind = Attribute::Kind::kString;
      out.s = a.s();
      break;
    case AttrProto::INTS:
      out.kind = Attribute::Kind::kInts;
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case AttrProto::FLOATS:
      out.kind = Attribute::Kind::kFloats;
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case AttrProto::TENSOR: {
      out.kind = Attribute::Kind::kTensor;
      BN_ASSIGN_OR_RETURN(ConstantTensor tensor, DecodeTensorProto(a.t(), what, base_dir));
      out.tensor = std::make_shared<const ConstantTensor>(std::move(tensor));
      break;
    }
    case AttrProto::GRAPH:
    case AttrProto::GRAPHS:
      return absl::UnimplementedError(absl::StrCat(
          what, " is a subgraph; control flow (If, Loop, Scan) and other subgraph operators are not supported"));
    case AttrProto::UNDEFINED:
      return absl::InvalidArgumentError(absl::StrCat(what, " has no type and no value"));
    default:
      return absl::UnimplementedError(absl::StrCat(what, " has type ", AttrProto::AttributeType_Name(a.type()),
                                                   ", expected INT, FLOAT, STRING, INTS, FLOATS or TENSOR"));
  }
  return out;
}

// Names every node: the file's name when present and not taken by an earlier
// node, else "<op_type>_<index>" (or "<name>_<k>" for a repeated name), made
// unique. File-provided names are reserved first so a derived name never
// steals one. Returns (name, derived) per node.
std::vector<std::pair<std::string, bool>> AssignNodeNames(const onnx::GraphProto& g) {
  std::set<std::string> used;
  std::vector<std::pair<std::string, bool>> names(g.node_size(), {"", true});
  for (int i = 0; i < g.node_size(); ++i) {
    const std::string& name = g.node(i).name();
    if (!name.empty() && used.insert(name).second) names[i] = {name, false};
  }
  for (int i = 0; i < g.node_size(); ++i) {
    if (!names[i].second) continue;
    const std::string& name = g.node(i).name();
    const std::string base = name.empty() ? absl::StrCat(g.node(i).op_type(), "_", i) : name;
    std::string candidate = base;
    for (int k = 1; !used.insert(candidate).second; ++k) candidate = absl::StrCat(base, "_", k);
    names[i].first = candidate;
  }
  return names;
}

// The value of a default-domain Constant node.
absl::StatusOr<ConstantTensor> ConstantNodeValue(const Node& node) {
  if (node.outputs.size() != 1 || node.outputs[0].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(node), ": expected 1 output, got ", node.outputs.size()));
  }
  if (node.attributes.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(node),
                                                   ": expected exactly one value attribute (value, value_float, "
                                                   "value_floats, value_int or value_ints), got ",
                                                   node.attributes.size()));
  }
  const auto& [key, attr] = *node.attributes.begin();
  ConstantTensor out;
  using Kind = Attribute::Kind;
  if (key == "value" && attr.kind == Kind::kTensor) {
    out = *attr.tensor;
  } else if (key == "value_float" && attr.kind == Kind::kFloat) {
    out.floats = {attr.f};
  } else if (key == "value_floats" && attr.kind == Kind::kFloats) {
    out.shape = Shape{static_cast<int64_t>(attr.floats.size())};
    out.floats = attr.floats;
  } else if (key == "value_int" && attr.kind == Kind::kInt) {
    out.dtype = DataType::kInt64;
    out.ints = {attr.i};
  } else if (key == "value_ints" && attr.kind == Kind::kInts) {
    out.dtype = DataType::kInt64;
    out.shape = Shape{static_cast<int64_t>(attr.ints.size())};
    out.ints = attr.ints;
  } else {
    return absl::UnimplementedError(absl::StrCat(Describe(node), ": attribute '", key,
                                                 "' is not supported (expected value, value_float, value_floats, "
                                                 "value_int or value_ints)"));
  }
  return out;
}

// Builds a Graph from a GraphProto. One instance per conversion.
class GraphConverter {
 public:
  explicit GraphConverter(std::string base_dir) : base_dir_(std::move(base_dir)) {}

  absl::StatusOr<Graph> Convert(const onnx::ModelProto& model) {
    if (!model.has_graph()) return absl::InvalidArgumentError("the model has no graph");
    BN_ASSIGN_OR_RETURN(graph_.opset, DefaultDomainOpset(model));
    graph_.producer = model.producer_name();
    if (!model.producer_version().empty()) absl::StrAppend(&graph_.producer, " ", model.producer_version());
    const onnx::GraphProto& g = model.graph();
    if (g.sparse_initializer_size() > 0) {
      return absl::UnimplementedError(
          absl::StrCat("sparse initializers are not supported ('", g.sparse_initializer(0).values().name(), "')"));
    }
    BN_RETURN_IF_ERROR(AddInitializers(g));
    BN_RETURN_IF_ERROR(AddInputsAndOutputs(g));
    BN_RETURN_IF_ERROR(AddNodes(g));
    BN_RETURN_IF_ERROR(SortNodes());
    FoldIdentityOfInitializers();
    return std::move(graph_);
  }

 private:
  // Records that `name` is defined by `who`; every value has one definition.
  absl::Status Define(const std::string& name, const std::string& who) {
    auto [it, inserted] = definers_.emplace(name, who);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("value '", name, "' is defined twice: by ", it->second, " and by ", who));
    }
    return absl::OkStatus();
  }

  absl::Status AddInitializers(const onnx::GraphProto& g) {
    for (const onnx::TensorProto& t : g.initializer()) {
      const std::string what = absl::StrCat("initializer '", t.name(), "'");
      if (t.name().empty()) return absl::InvalidArgumentError("an initializer has an empty name");
      BN_RETURN_IF_ERROR(Define(t.name(), what));
      BN_ASSIGN_OR_RETURN(ConstantTensor value, DecodeTensorProto(t, what, base_dir_));
      graph_.SetInitializer(t.name(), std::move(value));
    }
    return absl::OkStatus();
  }

  absl::Status AddInputsAndOutputs(const onnx::GraphProto& g) {
    for (const onnx::ValueInfoProto& info : g.input()) {
      if (info.name().empty()) return absl::InvalidArgumentError("a graph input has an empty name");
      // IR < 4 lists every initializer as a graph input too; those are constants.
      if (graph_.initializers.count(info.name())) continue;
      BN_RETURN_IF_ERROR(Define(info.name(), absl::StrCat("graph input '", info.name(), "'")));
      graph_.inputs.push_back(ConvertValueInfo(info));
    }
    if (g.output_size() == 0) return absl::InvalidArgumentError("the graph has no outputs");
    for (const onnx::ValueInfoProto& info : g.output()) {
      if (info.name().empty()) return absl::InvalidArgumentError("a graph output has an empty name");
      graph_.outputs.push_back(ConvertValueInfo(info));
    }
    return absl::OkStatus();
  }

  absl::Status AddNodes(const onnx::GraphProto& g) {
    const auto names = AssignNodeNames(g);
    for (int i = 0; i < g.node_size(); ++i) {
      const onnx::NodeProto& proto = g.node(i);
      Node node;
      node.name = names[i].first;
      node.name_derived = names[i].second;
      node.op_type = proto.op_type();
      node.domain = IsDefaultDomain(proto.domain()) ? "" : proto.domain();
      if (node.op_type.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("node '", node.name, "' has no op_type"));
      }
      node.inputs.assign(proto.input().begin(), proto.input().end());
      node.outputs.assign(proto.output().begin(), proto.output().end());
      for (const onnx::AttributeProto& a : proto.attribute()) {
        BN_ASSIGN_OR_RETURN(node.attributes[a.name()], ConvertAttribute(a, Describe(node), base_dir_));
      }
      for (const std::string& output : node.outputs) {
        if (!output.empty()) BN_RETURN_IF_ERROR(Define(output, Describe(node)));
      }
      if (node.op_type == "Constant" && node.domain.empty()) {
        BN_ASSIGN_OR_RETURN(ConstantTensor value, ConstantNodeValue(node));
        graph_.SetInitializer(node.outputs[0], std::move(value));
      } else {
        graph_.nodes.push_back(std::move(node));
      }
    }
    for (const ValueInfo& output : graph_.outputs) {
      if (!definers_.count(output.name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("graph output '", output.name, "' is produced by no node, initializer or graph input"));
      }
    }
    return absl::OkStatus();
  }

  // Kahn's algorithm, always taking the lowest original index that is ready,
  // so an already sorted graph keeps its order.
  absl::Status SortNodes() {
    std::vector<Node>& nodes = graph_.nodes;
    std::map<std::string, size_t> producer;
    for (size_t i = 0; i < nodes.size(); ++i) {
      for (const std::string& output : nodes[i].outputs) {
        if (!output.empty()) producer[output] = i;
      }
    }
    std::vector<std::vector<size_t>> consumers(nodes.size());
    std::vector<int> pending(nodes.size(), 0);
    for (size_t i = 0; i < nodes.size(); ++i) {
      for (const std::string& input : nodes[i].inputs) {
        if (input.empty()) continue;
        auto it = producer.find(input);
        if (it != producer.end()) {
          consumers[it->second].push_back(i);
          ++pending[i];
        } else if (!definers_.count(input)) {
          return absl::InvalidArgumentError(absl::StrCat(Describe(nodes[i]), " input '", input,
                                                         "' is produced by no node and is neither a graph input "
                                                         "nor an initializer"));
        }
      }
    }
    std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (pending[i] == 0) ready.push(i);
    }
    std::vector<size_t> order;
    while (!ready.empty()) {
      const size_t i = ready.top();
      ready.pop();
      order.push_back(i);
      for (size_t c : consumers[i]) {
        if (--pending[c] == 0) ready.push(c);
      }
    }
    if (order.size() < nodes.size()) return CycleError(producer, pending);
    std::vector<Node> sorted;
    sorted.reserve(nodes.size());
    for (size_t i : order) sorted.push_back(std::move(nodes[i]));
    nodes = std::move(sorted);
    return absl::OkStatus();
  }

  // Names one node left unsorted and the input that waits on another one.
  absl::Status CycleError(const std::map<std::string, size_t>& producer, const std::vector<int>& pending) const {
    for (size_t i = 0; i < graph_.nodes.size(); ++i) {
      if (pending[i] == 0) continue;
      for (const std::string& input : graph_.nodes[i].inputs) {
        auto it = producer.find(input);
        if (it != producer.end() && pending[it->second] > 0) {
          return absl::InvalidArgumentError(absl::StrCat("the graph has a cycle: ", Describe(graph_.nodes[i]),
                                                         " input '", input, "' is produced by ",
                                                         Describe(graph_.nodes[it->second]), ", which depends on it"));
        }
      }
    }
    return absl::InvalidArgumentError("the graph has a cycle");
  }

  // An Identity of a constant is a constant under another name (how
  // torch.onnx re-creates deduplicated initializers). Runs on sorted nodes so
  // chains of Identity fold too.
  void FoldIdentityOfInitializers() {
    std::set<std::string> graph_outputs;
    for (const ValueInfo& output : graph_.outputs) graph_outputs.insert(output.name);
    std::vector<Node> kept;
    kept.reserve(graph_.nodes.size());
    for (Node& node : graph_.nodes) {
      if (node.op_type == "Identity" && node.domain.empty() && node.inputs.size() == 1 && node.outputs.size() == 1 &&
          !graph_outputs.count(node.outputs[0])) {
        auto source = graph_.initializers.find(node.inputs[0]);
        if (source != graph_.initializers.end()) {
          // The same immutable tensor under a second name: no copy.
          graph_.initializers.emplace(node.outputs[0], source->second);
          continue;
        }
      }
      kept.push_back(std::move(node));
    }
    graph_.nodes = std::move(kept);
  }

  std::string base_dir_;
  Graph graph_;
  std::map<std::string, std::string> definers_;  // value name -> what defines it, for messages
};

absl::StatusOr<LoadedOnnx> ParseLabeled(const std::string& bytes, const std::string& base_dir,
                                        const std::string& label) {
  auto prefixed = [&label](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(label, ": ", s.message()));
  };
  absl::StatusOr<onnx::ModelProto> model = ParseModelProto(bytes);
  if (!model.ok()) return prefixed(model.status());
  absl::StatusOr<Graph> graph = GraphConverter(base_dir).Convert(*model);
  if (!graph.ok()) return prefixed(graph.status());
  LoadedOnnx loaded;
  loaded.graph = std::move(graph).value();
  loaded.proto = std::make_shared<onnx::ModelProto>(std::move(model).value());
  return loaded;
}

}  // namespace

absl::StatusOr<LoadedOnnx> ParseOnnxModel(const std::string& bytes, const std::string& base_dir) {
  return ParseLabeled(bytes, base_dir, "ONNX model");
}

absl::StatusOr<LoadedOnnx> LoadOnnxFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": model file not found"));
  }
  std::ifstream in(path, std::ios::binary);
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (!in || size < 0) return absl::NotFoundError(absl::StrCat(path, ": model file cannot be read"));
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  in.read(bytes.data(), size);
  if (!in) return absl::DataLossError(absl::StrCat(path, ": reading the model file failed"));
  return ParseLabeled(bytes, std::filesystem::path(path).parent_path().string(), path);
}

}  // namespace bnserve
