#include "core/model/bn_layers.h"

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace bnserve {
namespace {

constexpr char kExportHint[] =
    "its running statistics are computed by the graph, not stored; export with model.eval() and "
    "TrainingMode.PRESERVE";
constexpr char kMeanSuffix[] = ".running_mean";

enum InputSlot { kX = 0, kScale = 1, kBias = 2, kMean = 3, kVar = 4, kNumInputs = 5 };
const char* const kInputNames[kNumInputs] = {"X", "scale", "B", "mean", "var"};

std::string Describe(const Node& node) { return absl::StrCat("BatchNormalization node '", node.name, "'"); }

bool IsBatchNorm(const Node& node) {
  return node.op_type == "BatchNormalization" && (node.domain.empty() || node.domain == "ai.onnx");
}

// Every (node index, input slot) reading each value.
using ReadMap = std::map<std::string, std::vector<std::pair<size_t, size_t>>>;

ReadMap CollectReads(const Graph& graph) {
  ReadMap reads;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const std::vector<std::string>& inputs = graph.nodes[i].inputs;
    for (size_t slot = 0; slot < inputs.size(); ++slot) {
      if (!inputs[slot].empty()) reads[inputs[slot]].emplace_back(i, slot);
    }
  }
  return reads;
}

absl::StatusOr<double> FloatAttribute(const Node& node, const std::string& key, float fallback) {
  const Attribute* a = node.FindAttribute(key);
  if (a == nullptr) return static_cast<double>(fallback);
  if (a->kind != Attribute::Kind::kFloat || !std::isfinite(a->f)) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(node), ": attribute '", key, "' must be a finite FLOAT"));
  }
  return static_cast<double>(a->f);
}

absl::StatusOr<int64_t> IntAttribute(const Node& node, const std::string& key, int64_t fallback) {
  const Attribute* a = node.FindAttribute(key);
  if (a == nullptr) return fallback;
  if (a->kind != Attribute::Kind::kInt) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(node), ": attribute '", key, "' must be an INT"));
  }
  return a->i;
}

// Rejects the training forms, which compute statistics from the batch
// instead of using stored ones (bn-semantics.md §5.2).
absl::Status CheckInferenceForm(const Node& node) {
  if (node.inputs.size() != kNumInputs) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(node), ": expected 5 inputs (X, scale, B, mean, var), got ", node.inputs.size()));
  }
  for (int slot = 0; slot < kNumInputs; ++slot) {
    if (node.inputs[slot].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(Describe(node), ": input ", kInputNames[slot], " is missing"));
    }
  }
  BN_ASSIGN_OR_RETURN(int64_t spatial, IntAttribute(node, "spatial", 1));
  if (spatial == 0) {
    return absl::UnimplementedError(
        absl::StrCat(Describe(node), ": spatial=0 (per-activation statistics, opset < 9) is not supported"));
  }
  BN_ASSIGN_OR_RETURN(int64_t training_mode, IntAttribute(node, "training_mode", 0));
  if (training_mode != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(Describe(node), ": training_mode=", training_mode, " (expected 0); ", kExportHint));
  }
  int outputs = 0;
  for (const std::string& output : node.outputs) outputs += !output.empty();
  if (node.outputs.empty() || node.outputs[0].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(node), ": output Y is missing"));
  }
  if (outputs > 1) {
    return absl::FailedPreconditionError(absl::StrCat(Describe(node), ": has ", outputs,
                                                      " outputs (expected 1; the extra ones are training outputs); ",
                                                      kExportHint));
  }
  return absl::OkStatus();
}

absl::StatusOr<const ConstantTensor*> ConstantParameter(const Graph& graph, const Node& node, int slot) {
  const std::string& name = node.inputs[slot];
  const ConstantTensor* t = graph.FindInitializer(name);
  if (t == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(Describe(node), ": input ", kInputNames[slot], " '", name,
                                                      "' is not a constant initializer; ", kExportHint));
  }
  if (t->dtype != DataType::kFloat || t->shape.rank() != 1 || t->shape[0] < 1) {
    return absl::FailedPreconditionError(absl::StrCat(Describe(node), ": input ", kInputNames[slot], " '", name,
                                                      "' must be a non-empty 1-D float tensor of length C, got shape ",
                                                      t->shape.ToString(),
                                                      t->dtype == DataType::kFloat ? "" : " of integers"));
  }
  return t;
}

// A running statistic must be read by this node only: recalibrating the
// layer rewrites it, which must not change any other node's input.
absl::Status CheckOwnedStatistic(const ReadMap& reads, const Graph& graph, size_t node_index, int slot) {
  const Node& node = graph.nodes[node_index];
  for (const auto& [reader, reader_slot] : reads.at(node.inputs[slot])) {
    if (reader == node_index && reader_slot == static_cast<size_t>(slot)) continue;
    const Node& other = graph.nodes[reader];
    return absl::FailedPreconditionError(absl::StrCat(
        Describe(node), ": running ", kInputNames[slot], " '", node.inputs[slot], "' is also read by ", other.op_type,
        " node '", other.name, "' (input ", reader_slot, "); each BN layer needs its own statistics initializers"));
  }
  return absl::OkStatus();
}

std::vector<double> Widen(const std::vector<float>& values) { return {values.begin(), values.end()}; }

std::string LayerName(const Node& node, const std::string& mean_name, size_t ordinal) {
  if (!node.name_derived) return node.name;
  if (absl::EndsWith(mean_name, kMeanSuffix) && mean_name.size() > sizeof(kMeanSuffix) - 1) {
    return mean_name.substr(0, mean_name.size() - (sizeof(kMeanSuffix) - 1));
  }
  return absl::StrCat("BatchNormalization_", ordinal);
}

absl::StatusOr<BnLayerInfo> DescribeLayer(const Graph& graph, const ReadMap& reads, size_t node_index, size_t ordinal) {
  const Node& node = graph.nodes[node_index];
  BN_RETURN_IF_ERROR(CheckInferenceForm(node));
  const ConstantTensor* params[kNumInputs] = {nullptr};
  for (int slot = kScale; slot <= kVar; ++slot) {
    BN_ASSIGN_OR_RETURN(params[slot], ConstantParameter(graph, node, slot));
  }
  const int64_t channels = params[kMean]->shape[0];
  for (int slot = kScale; slot <= kVar; ++slot) {
    if (params[slot]->shape[0] != channels) {
      return absl::FailedPreconditionError(absl::StrCat(Describe(node), ": expected scale, B, mean and var of length ",
                                                        channels, " (the mean's), got ", kInputNames[slot],
                                                        " of length ", params[slot]->shape[0]));
    }
  }
  BN_RETURN_IF_ERROR(CheckOwnedStatistic(reads, graph, node_index, kMean));
  BN_RETURN_IF_ERROR(CheckOwnedStatistic(reads, graph, node_index, kVar));

  BnLayerInfo info;
  info.name = LayerName(node, node.inputs[kMean], ordinal);
  info.node_index = static_cast<int>(node_index);
  info.input_name = node.inputs[kX];
  info.scale_name = node.inputs[kScale];
  info.bias_name = node.inputs[kBias];
  info.mean_name = node.inputs[kMean];
  info.var_name = node.inputs[kVar];
  info.channels = channels;
  // Defaults are the schema's float32 attribute values, widened like stored ones.
  BN_ASSIGN_OR_RETURN(info.epsilon, FloatAttribute(node, "epsilon", 1e-5f));
  BN_ASSIGN_OR_RETURN(info.onnx_momentum, FloatAttribute(node, "momentum", 0.9f));
  if (info.epsilon < 0) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(node), ": epsilon must be >= 0, got ", info.epsilon));
  }
  if (info.onnx_momentum != 1.0) info.torch_momentum = 1.0 - info.onnx_momentum;
  info.gamma = Widen(params[kScale]->floats);
  info.beta = Widen(params[kBias]->floats);
  bool identity = true;
  for (int64_t c = 0; c < channels; ++c) identity = identity && info.gamma[c] == 1.0 && info.beta[c] == 0.0;
  info.has_affine = !identity;
  return info;
}

absl::StatusOr<std::vector<double>> ReadStatistic(const Graph& graph, const BnLayerInfo& info, const std::string& name,
                                                  const char* what) {
  const ConstantTensor* t = graph.FindInitializer(name);
  if (t == nullptr || t->dtype != DataType::kFloat || t->shape.NumElements() != info.channels) {
    return absl::FailedPreconditionError(absl::StrCat("BN layer '", info.name, "': running ", what, " '", name,
                                                      "' is not a float initializer of length ", info.channels,
                                                      " in this graph (layers from another model?)"));
  }
  return Widen(t->floats);
}

}  // namespace

absl::StatusOr<std::vector<BnLayerInfo>> DiscoverBnLayers(const Graph& graph) {
  const ReadMap reads = CollectReads(graph);
  std::vector<BnLayerInfo> layers;
  std::set<std::string> used_names;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (!IsBatchNorm(graph.nodes[i])) continue;
    BN_ASSIGN_OR_RETURN(BnLayerInfo info, DescribeLayer(graph, reads, i, layers.size()));
    // Node names are unique, but a name derived from the running mean may
    // equal another node's name.
    const std::string base = info.name;
    for (int k = 1; !used_names.insert(info.name).second; ++k) info.name = absl::StrCat(base, "_", k);
    layers.push_back(std::move(info));
  }
  return layers;
}

absl::StatusOr<StatsSnapshot> SnapshotFromGraph(const Graph& graph, const std::vector<BnLayerInfo>& layers) {
  StatsSnapshot snapshot;
  snapshot.version = 1;
  for (const BnLayerInfo& info : layers) {
    LayerStats stats;
    BN_ASSIGN_OR_RETURN(stats.mean, ReadStatistic(graph, info, info.mean_name, "mean"));
    BN_ASSIGN_OR_RETURN(stats.var, ReadStatistic(graph, info, info.var_name, "var"));
    snapshot.layers.push_back(std::move(stats));
  }
  return snapshot;
}

}  // namespace bnserve
