#include "core/engine/graph_rewrites.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/engine/op.h"
#include "core/engine/ops/bn_fold.h"
#include "core/engine/ops/fused_activation.h"

namespace bnserve {
namespace {

// How many nodes read each value, plus one for each graph output naming it.
std::map<std::string, int> CountReaders(const Graph& graph) {
  std::map<std::string, int> readers;
  for (const Node& node : graph.nodes) {
    for (const std::string& in : node.inputs) {
      if (!in.empty()) ++readers[in];
    }
  }
  for (const ValueInfo& out : graph.outputs) ++readers[out.name];
  return readers;
}

std::map<std::string, int> ProducerIndex(const Graph& graph) {
  std::map<std::string, int> producer;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    for (const std::string& out : graph.nodes[n].outputs) producer[out] = static_cast<int>(n);
  }
  return producer;
}

bool IsGraphOutput(const Graph& graph, const std::string& name) {
  for (const ValueInfo& out : graph.outputs) {
    if (out.name == name) return true;
  }
  return false;
}

// Makes `consumer_index`'s output name become the output of `producer_index`
// and drops the consumer. Readers of the consumer's output keep their names.
void SpliceOut(Graph* graph, int producer_index, int consumer_index) {
  graph->nodes[producer_index].outputs[0] = graph->nodes[consumer_index].outputs[0];
  graph->nodes.erase(graph->nodes.begin() + consumer_index);
}

std::vector<double> ExactValues(const ConstantTensor& t) {
  if (!t.exact.empty()) return t.exact;
  return std::vector<double>(t.floats.begin(), t.floats.end());
}

std::string FreshName(const Graph& graph, const std::string& base) {
  std::string name = base;
  for (int k = 1; graph.initializers.count(name) > 0; ++k) name = absl::StrCat(base, "_", k);
  return name;
}

ConstantTensor FloatConstant(const Shape& shape, const std::vector<double>& values) {
  ConstantTensor t;
  t.dtype = DataType::kFloat;
  t.shape = shape;
  t.exact = values;
  t.floats.assign(values.begin(), values.end());
  return t;
}

// Folds y = x*scale + shift into a Conv producing x: W'[o] = scale[o]*W[o],
// b'[o] = scale[o]*b[o] + shift[o].
bool FoldIntoConv(Graph* graph, Node* conv, const std::vector<double>& scale, const std::vector<double>& shift) {
  const ConstantTensor* w = graph->FindInitializer(conv->inputs.size() > 1 ? conv->inputs[1] : "");
  if (w == nullptr || w->dtype != DataType::kFloat || w->shape.rank() < 1 ||
      w->shape[0] != static_cast<int64_t>(scale.size())) {
    return false;
  }
  const ConstantTensor* b = conv->HasInput(2) ? graph->FindInitializer(conv->inputs[2]) : nullptr;
  if (conv->HasInput(2) && (b == nullptr || b->floats.size() != scale.size())) return false;

  const int64_t per_out = w->shape.NumElements() / w->shape[0];
  std::vector<double> w_values = ExactValues(*w);
  for (size_t o = 0; o < scale.size(); ++o) {
    for (int64_t k = 0; k < per_out; ++k) w_values[o * per_out + k] *= scale[o];
  }
  std::vector<double> b_values(scale.size(), 0.0);
  if (b != nullptr) b_values = ExactValues(*b);
  for (size_t o = 0; o < scale.size(); ++o) b_values[o] = scale[o] * b_values[o] + shift[o];

  const Shape w_shape = w->shape;
  const std::string w_name = FreshName(*graph, conv->inputs[1] + "/bn_folded");
  const std::string b_name = FreshName(*graph, conv->name + "/bn_folded_bias");
  graph->SetInitializer(w_name, FloatConstant(w_shape, w_values));
  graph->SetInitializer(b_name, FloatConstant(Shape{static_cast<int64_t>(scale.size())}, b_values));
  conv->inputs.resize(3);
  conv->inputs[1] = w_name;
  conv->inputs[2] = b_name;
  return true;
}

// Folds into a Gemm Y = alpha*A'*B' + beta*C: output column j of B' is scaled
// by scale[j]; the bias becomes C' = scale*C + shift/beta (or shift with
// beta = 1 when there was no C). Only a C of shape [N], [1,N] or a scalar is
// folded; other shapes leave the BN standalone.
bool FoldIntoGemm(Graph* graph, Node* gemm, const std::vector<double>& scale, const std::vector<double>& shift) {
  const ConstantTensor* b = gemm->HasInput(1) ? graph->FindInitializer(gemm->inputs[1]) : nullptr;
  if (b == nullptr || b->dtype != DataType::kFloat || b->shape.rank() != 2) return false;
  const bool trans_b = gemm->GetInt("transB", 0) != 0;
  const int64_t n = trans_b ? b->shape[0] : b->shape[1];
  const int64_t k = trans_b ? b->shape[1] : b->shape[0];
  if (n != static_cast<int64_t>(scale.size())) return false;
  const float beta = gemm->GetFloat("beta", 1.0f);

  std::vector<double> c_values(n, 0.0);
  if (gemm->HasInput(2)) {
    const ConstantTensor* c = graph->FindInitializer(gemm->inputs[2]);
    if (c == nullptr || c->dtype != DataType::kFloat) return false;
    const int64_t numel = c->shape.NumElements();
    const bool row = numel == n && (c->shape.rank() == 1 || (c->shape.rank() == 2 && c->shape[0] == 1));
    const bool scalar = numel == 1;
    if (!row && !scalar) return false;
    const std::vector<double> values = ExactValues(*c);
    for (int64_t j = 0; j < n; ++j) c_values[j] = static_cast<double>(beta) * (scalar ? values[0] : values[j]);
  }
  std::vector<double> b_values = ExactValues(*b);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i < k; ++i) b_values[trans_b ? j * k + i : i * n + j] *= scale[j];
  }
  for (int64_t j = 0; j < n; ++j) c_values[j] = scale[j] * c_values[j] + shift[j];

  const Shape b_shape = b->shape;
  const std::string b_name = FreshName(*graph, gemm->inputs[1] + "/bn_folded");
  const std::string c_name = FreshName(*graph, gemm->name + "/bn_folded_bias");
  graph->SetInitializer(b_name, FloatConstant(b_shape, b_values));
  graph->SetInitializer(c_name, FloatConstant(Shape{n}, c_values));
  gemm->inputs.resize(3);
  gemm->inputs[1] = b_name;
  gemm->inputs[2] = c_name;
  Attribute one;
  one.kind = Attribute::Kind::kFloat;
  one.f = 1.0f;
  gemm->attributes["beta"] = one;
  return true;
}

bool IsChannelAffine(const Node& node) { return node.domain == kBnserveDomain && node.op_type == "ChannelAffine"; }

}  // namespace

AffineNames AffineInitializerNames(const std::string& layer_name) {
  return AffineNames{layer_name + "/bn_scale", layer_name + "/bn_shift"};
}

absl::Status ReplaceBatchNorms(const std::vector<BnLayerInfo>& layers, const StatsSnapshot& snapshot, Graph* graph) {
  for (size_t l = 0; l < layers.size(); ++l) {
    const BnLayerInfo& info = layers[l];
    const LayerStats& stats = snapshot.layers[l];
    Node& node = graph->nodes[info.node_index];
    if (node.op_type != "BatchNormalization") {
      return absl::InternalError(absl::StrCat("BN layer '", info.name, "' does not point at a BN node"));
    }
    BN_ASSIGN_OR_RETURN(ChannelAffineParams folded,
                        FoldBatchNorm(info.gamma, info.beta, stats.mean, stats.var, info.epsilon,
                                      absl::StrCat("BN layer '", info.name, "'")));
    const AffineNames names = AffineInitializerNames(info.name);
    graph->SetInitializer(names.scale, FloatConstant(Shape{info.channels}, folded.exact_scale));
    graph->SetInitializer(names.shift, FloatConstant(Shape{info.channels}, folded.exact_shift));
    Node affine;
    affine.name = node.name;
    affine.op_type = "ChannelAffine";
    affine.domain = kBnserveDomain;
    affine.inputs = {node.inputs[0], names.scale, names.shift};
    affine.outputs = {node.outputs[0]};
    node = std::move(affine);
  }
  return absl::OkStatus();
}

void FoldAffineIntoProducers(Graph* graph) {
  for (size_t i = 0; i < graph->nodes.size(); ++i) {
    if (!IsChannelAffine(graph->nodes[i])) continue;
    const std::map<std::string, int> readers = CountReaders(*graph);
    const std::map<std::string, int> producer = ProducerIndex(*graph);
    const Node& affine = graph->nodes[i];
    auto p = producer.find(affine.inputs[0]);
    if (p == producer.end() || readers.at(affine.inputs[0]) != 1 || IsGraphOutput(*graph, affine.inputs[0])) {
      continue;
    }
    Node& prev = graph->nodes[p->second];
    if (!prev.domain.empty() || prev.outputs.size() != 1 || prev.FindAttribute(kFusedActivationAttr)) continue;
    const std::vector<double> scale = ExactValues(*graph->FindInitializer(affine.inputs[1]));
    const std::vector<double> shift = ExactValues(*graph->FindInitializer(affine.inputs[2]));
    bool folded = false;
    if (prev.op_type == "Conv") folded = FoldIntoConv(graph, &prev, scale, shift);
    if (prev.op_type == "Gemm") folded = FoldIntoGemm(graph, &prev, scale, shift);
    if (!folded) continue;
    SpliceOut(graph, p->second, static_cast<int>(i));
    --i;
  }
}

void RemoveIdentities(Graph* graph) {
  for (size_t i = 0; i < graph->nodes.size(); ++i) {
    const Node& node = graph->nodes[i];
    const bool identity =
        node.domain.empty() && (node.op_type == "Identity" || (node.op_type == "Dropout" && node.outputs.size() == 1));
    if (!identity || node.inputs.empty() || IsGraphOutput(*graph, node.outputs[0])) continue;
    const std::string from = node.outputs[0];
    const std::string to = node.inputs[0];
    graph->nodes.erase(graph->nodes.begin() + i);
    for (Node& other : graph->nodes) {
      for (std::string& in : other.inputs) {
        if (in == from) in = to;
      }
    }
    --i;
  }
}

namespace {

Attribute FloatAttribute(float f) {
  Attribute a;
  a.kind = Attribute::Kind::kFloat;
  a.f = f;
  return a;
}

// The fused-activation attributes (core/engine/ops/fused_activation.h) that
// stand for `act`, or an empty map when `act` is not an activation that can
// be fused (including a Clip with a runtime bound).
std::map<std::string, Attribute> FusedAttributesOf(const Graph& graph, const Node& act) {
  std::map<std::string, Attribute> attrs;
  // An activation without its data input is malformed; plan building
  // reports it, fusion must just not read past the inputs.
  if (!act.domain.empty() || act.inputs.empty() || act.inputs[0].empty()) return attrs;
  Attribute kind;
  kind.kind = Attribute::Kind::kString;
  if (act.op_type == "Relu" || act.op_type == "Sigmoid") {
    kind.s = act.op_type;
  } else if (act.op_type == "LeakyRelu") {
    kind.s = "LeakyRelu";
    attrs[kFusedAlphaAttr] = FloatAttribute(act.GetFloat("alpha", 0.01f));
  } else if (act.op_type == "HardSigmoid") {
    kind.s = "HardSigmoid";
    attrs[kFusedAlphaAttr] = FloatAttribute(act.GetFloat("alpha", 0.2f));
    attrs[kFusedBetaAttr] = FloatAttribute(act.GetFloat("beta", 0.5f));
  } else if (act.op_type == "HardSwish") {
    kind.s = "HardSwish";
    attrs[kFusedAlphaAttr] = FloatAttribute(1.0f / 6.0f);
    attrs[kFusedBetaAttr] = FloatAttribute(0.5f);
  } else if (act.op_type == "Clip") {
    kind.s = "Clip";
    Attribute lo = FloatAttribute(act.GetFloat("min", -INFINITY));
    Attribute hi = FloatAttribute(act.GetFloat("max", INFINITY));
    // From opset 11 the bounds are inputs; fuse only constant scalars.
    for (size_t b = 1; b < act.inputs.size() && b < 3; ++b) {
      if (act.inputs[b].empty()) continue;
      const ConstantTensor* c = graph.FindInitializer(act.inputs[b]);
      if (c == nullptr || c->dtype != DataType::kFloat || c->floats.size() != 1) return {};
      (b == 1 ? lo : hi).f = c->floats[0];
    }
    attrs[kFusedMinAttr] = lo;
    attrs[kFusedMaxAttr] = hi;
  } else {
    return {};
  }
  attrs[kFusedActivationAttr] = kind;
  return attrs;
}

// The producer of `value` when a fused activation may be added to it: a
// Conv, Gemm, MatMul, Add, ChannelAffine or BatchNormalization (left only in
// the statistics passes' graphs) with one output and no fused activation yet.
Node* FusableProducer(Graph* graph, const std::map<std::string, int>& producer, const std::string& value) {
  static const std::set<std::string> kFusableProducers = {"Conv", "Gemm", "MatMul", "Add", "BatchNormalization"};
  auto p = producer.find(value);
  if (p == producer.end()) return nullptr;
  Node& prev = graph->nodes[p->second];
  const bool fusable = (prev.domain.empty() && kFusableProducers.count(prev.op_type) > 0) || IsChannelAffine(prev);
  if (!fusable || prev.outputs.size() != 1 || prev.FindAttribute(kFusedActivationAttr)) return nullptr;
  return &prev;
}

void AddAttributes(const std::map<std::string, Attribute>& attrs, Node* node) {
  for (const auto& [key, value] : attrs) node->attributes[key] = value;
}

}  // namespace

namespace {

// The pads of a Pad node that fills with constant zeros over every axis
// (attribute or constant input), or false when the node is anything else.
bool ConstantZeroPads(const Graph& graph, const Node& pad, std::vector<int64_t>* pads) {
  if (!pad.domain.empty() || pad.op_type != "Pad" || pad.inputs.empty() || pad.outputs.size() != 1) return false;
  if (pad.GetString("mode", "constant") != "constant") return false;
  if (graph.opset < 11) {
    if (pad.FindAttribute("pads") == nullptr || pad.GetFloat("value", 0.0f) != 0.0f) return false;
    *pads = pad.GetInts("pads", {});
    return true;
  }
  if (pad.HasInput(3)) return false;  // axes (opset 18): left to the op
  const ConstantTensor* p = pad.HasInput(1) ? graph.FindInitializer(pad.inputs[1]) : nullptr;
  if (p == nullptr || p->dtype != DataType::kInt64 || p->shape.rank() != 1) return false;
  if (pad.HasInput(2)) {
    const ConstantTensor* v = graph.FindInitializer(pad.inputs[2]);
    if (v == nullptr || v->dtype != DataType::kFloat || v->floats.size() != 1 || v->floats[0] != 0.0f) return false;
  }
  *pads = p->ints;
  return true;
}

// Adds the spatial part of a Pad's `pads` (rank r: begin[0..r), end[0..r))
// to a Conv or AveragePool reading the padded tensor, when the result is the
// same: only spatial axes padded, by non-negative amounts; explicit padding
// (auto_pad NOTSET); for AveragePool no ceil_mode (it would drop windows
// starting in padding the Pad made real) and padding counted in the divisor
// (count_include_pad, or no padding of its own that would change meaning).
bool FoldPadIntoConsumer(const std::vector<int64_t>& pads, int64_t opset, Node* consumer) {
  const size_t rank = pads.size() / 2;
  if (rank < 3 || !consumer->domain.empty()) return false;
  const bool conv = consumer->op_type == "Conv";
  const bool average = consumer->op_type == "AveragePool";
  if (!conv && !average) return false;
  for (size_t d = 0; d < pads.size(); ++d) {
    if (pads[d] < 0 || ((d % rank) < 2 && pads[d] != 0)) return false;
  }
  const std::string auto_pad = consumer->GetString("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && !auto_pad.empty()) return false;
  const size_t spatial = rank - 2;
  std::vector<int64_t> own = consumer->GetInts("pads", std::vector<int64_t>(2 * spatial, 0));
  if (own.size() != 2 * spatial) return false;
  if (average) {
    if (opset < 7 || consumer->GetInt("ceil_mode", 0) != 0) return false;
    const bool own_padding = std::any_of(own.begin(), own.end(), [](int64_t v) { return v != 0; });
    if (own_padding && consumer->GetInt("count_include_pad", 0) != 1) return false;
    Attribute include;
    include.kind = Attribute::Kind::kInt;
    include.i = 1;
    consumer->attributes["count_include_pad"] = include;
  }
  for (size_t k = 0; k < spatial; ++k) {
    own[k] += pads[2 + k];
    own[spatial + k] += pads[rank + 2 + k];
  }
  Attribute merged;
  merged.kind = Attribute::Kind::kInts;
  merged.ints = std::move(own);
  consumer->attributes["pads"] = std::move(merged);
  return true;
}

}  // namespace

void FoldPads(Graph* graph) {
  for (size_t i = 0; i < graph->nodes.size(); ++i) {
    std::vector<int64_t> pads;
    if (!ConstantZeroPads(*graph, graph->nodes[i], &pads)) continue;
    const std::string from = graph->nodes[i].outputs[0];
    const std::string to = graph->nodes[i].inputs[0];
    if (IsGraphOutput(*graph, from) || to.empty()) continue;
    const bool nothing = std::all_of(pads.begin(), pads.end(), [](int64_t v) { return v == 0; });
    if (!nothing) {
      const std::map<std::string, int> readers = CountReaders(*graph);
      if (readers.at(from) != 1) continue;
      Node* consumer = nullptr;
      for (Node& node : graph->nodes) {
        if (!node.inputs.empty() && node.inputs[0] == from) consumer = &node;
      }
      if (consumer == nullptr || !FoldPadIntoConsumer(pads, graph->opset, consumer)) continue;
    }
    graph->nodes.erase(graph->nodes.begin() + i);
    for (Node& other : graph->nodes) {
      for (std::string& in : other.inputs) {
        if (in == from) in = to;
      }
    }
    --i;
  }
}

void FuseGatedActivations(Graph* graph) {
  size_t i = 0;
  for (size_t next = 0; next < graph->nodes.size(); i = next) {
    next = i + 1;
    const Node& mul = graph->nodes[i];
    if (!mul.domain.empty() || mul.op_type != "Mul" || mul.inputs.size() != 2 || mul.outputs.size() != 1 ||
        mul.FindAttribute(kFusedActivationAttr)) {
      continue;
    }
    const std::map<std::string, int> producer = ProducerIndex(*graph);
    const std::map<std::string, int> readers = CountReaders(*graph);
    for (int side = 0; side < 2; ++side) {
      const std::string& gate_out = mul.inputs[side];
      const std::string& x = mul.inputs[1 - side];
      auto g = producer.find(gate_out);
      if (g == producer.end() || readers.at(gate_out) != 1 || IsGraphOutput(*graph, gate_out)) continue;
      const Node& gate = graph->nodes[g->second];
      if (gate.outputs.size() != 1 || gate.inputs.empty() || gate.inputs[0] != x) continue;
      std::map<std::string, Attribute> attrs = FusedAttributesOf(*graph, gate);
      if (attrs.empty()) continue;
      Attribute& kind = attrs[kFusedActivationAttr];
      if (kind.s == "Sigmoid") {
        kind.s = "SiLU";
      } else if (kind.s == "HardSigmoid") {
        kind.s = "HardSwish";
      } else {
        continue;
      }
      // x feeds exactly the gate and the Mul, so its producer may compute
      // x * gate(x) in place of x.
      Node* prev = FusableProducer(graph, producer, x);
      if (prev == nullptr || readers.at(x) != 2 || IsGraphOutput(*graph, x)) continue;
      AddAttributes(attrs, prev);
      prev->outputs[0] = mul.outputs[0];
      const size_t gate_index = static_cast<size_t>(g->second);
      graph->nodes.erase(graph->nodes.begin() + std::max(i, gate_index));
      graph->nodes.erase(graph->nodes.begin() + std::min(i, gate_index));
      next = std::min(i, gate_index);  // the first node that moved
      break;
    }
  }
}

void FuseActivations(Graph* graph) {
  for (size_t i = 0; i < graph->nodes.size(); ++i) {
    const Node& act = graph->nodes[i];
    const std::map<std::string, Attribute> attrs = FusedAttributesOf(*graph, act);
    if (attrs.empty()) continue;
    const std::map<std::string, int> readers = CountReaders(*graph);
    const std::map<std::string, int> producer = ProducerIndex(*graph);
    if (readers.at(act.inputs[0]) != 1) continue;
    Node* prev = FusableProducer(graph, producer, act.inputs[0]);
    if (prev == nullptr) continue;
    AddAttributes(attrs, prev);
    SpliceOut(graph, producer.at(act.inputs[0]), static_cast<int>(i));
    --i;
  }
}

void DropExactValues(Graph* graph) {
  for (auto& [name, tensor] : graph->initializers) {
    if (tensor->exact.empty()) continue;
    ConstantTensor plain;
    plain.dtype = tensor->dtype;
    plain.shape = tensor->shape;
    plain.floats = tensor->floats;
    tensor = std::make_shared<const ConstantTensor>(std::move(plain));
  }
}

}  // namespace bnserve
