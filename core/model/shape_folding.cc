#include "core/model/shape_folding.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bnserve {
namespace {

// A dimension or an int64 element: a known value or one of two symbols.
constexpr int64_t kBatch = std::numeric_limits<int64_t>::min();
constexpr int64_t kUnknown = std::numeric_limits<int64_t>::min() + 1;
bool Known(int64_t v) { return v != kBatch && v != kUnknown; }

using Dims = std::vector<int64_t>;

// The input index of an operand the op's opset takes as an attribute.
constexpr size_t kAttributeOnly = std::numeric_limits<size_t>::max();

// What the pass knows about one tensor: its dims (when the rank is known)
// and, for an int64 value computed at load, its elements (row-major).
struct ValueFacts {
  std::optional<Dims> dims;
  std::optional<std::vector<int64_t>> ints;
};

std::string DimString(int64_t d) {
  if (d == kBatch) return "batch";
  if (d == kUnknown) return "?";
  return std::to_string(d);
}

std::string DimsString(const std::vector<int64_t>& dims) {
  std::vector<std::string> parts;
  for (int64_t d : dims) parts.push_back(DimString(d));
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

std::string Describe(const Node& node) { return absl::StrCat(node.op_type, " node '", node.name, "'"); }

// Maps a possibly negative axis into [0, rank), or nullopt.
std::optional<int> Axis(int64_t axis, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) return std::nullopt;
  return static_cast<int>(axis < 0 ? axis + r : axis);
}

// Elementwise integer arithmetic on symbolic elements: the batch survives
// only the operations that leave it unchanged (b*1, b/1, b+0, b-0).
int64_t Arith(const std::string& op, int64_t a, int64_t b) {
  if (Known(a) && Known(b)) {
    if (op == "Add") return a + b;
    if (op == "Sub") return a - b;
    if (op == "Mul") return a * b;
    if (b == 0) return kUnknown;
    return a / b;  // ONNX integer Div truncates, as C++ does
  }
  if (a == kBatch && b == (op == "Add" || op == "Sub" ? 0 : 1)) return kBatch;
  if (b == kBatch && op == "Mul" && a == 1) return kBatch;
  if (b == kBatch && op == "Add" && a == 0) return kBatch;
  return kUnknown;
}

// Product of dims; the batch may appear once, times 1 only.
int64_t Product(const Dims& dims, size_t from, size_t to) {
  int64_t p = 1;
  bool batch = false;
  for (size_t i = from; i < to; ++i) {
    if (dims[i] == kBatch && !batch) {
      batch = true;
    } else if (!Known(dims[i])) {
      return kUnknown;
    } else {
      p *= dims[i];
    }
  }
  if (!batch) return p;
  return p == 1 ? kBatch : kUnknown;
}

// numpy broadcasting of two shapes.
Dims Broadcast(const Dims& a, const Dims& b) {
  const size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t x = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
    const int64_t y = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
    out[i] = x == 1 ? y : (y == 1 || x == y) ? x : kUnknown;
  }
  return out;
}

// Clamped [start, end) with step for one axis of known size (ONNX Slice).
int64_t SliceLength(int64_t size, int64_t start, int64_t end, int64_t step) {
  if (step == 0) return kUnknown;
  auto clamp = [&](int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); };
  if (start < 0) start += size;
  if (end < 0) end += size;
  if (step > 0) {
    start = clamp(start, 0, size);
    end = clamp(end, 0, size);
    return end > start ? (end - start + step - 1) / step : 0;
  }
  start = clamp(start, 0, size - 1);
  end = clamp(end, -1, size - 1);
  return start > end ? (start - end - step - 1) / -step : 0;
}

class ShapeFolder {
 public:
  explicit ShapeFolder(Graph* graph) : graph_(*graph) {}

  absl::Status Run() {
    for (const auto& [name, tensor] : graph_.initializers) {
      ValueFacts& f = facts_[name];
      f.dims = Dims(tensor->shape.begin(), tensor->shape.end());
      if (tensor->dtype == DataType::kInt64) f.ints = tensor->ints;
    }
    for (const ValueInfo& input : graph_.inputs) {
      Dims dims;
      for (size_t d = 0; d < input.dims.size(); ++d) {
        dims.push_back(!input.dims[d].symbolic() ? input.dims[d].size : d == 0 ? kBatch : kUnknown);
      }
      facts_[input.name].dims = dims;
    }
    bool any_computed = false;
    for (const Node& node : graph_.nodes) {
      BN_ASSIGN_OR_RETURN(const bool computed, Visit(node));
      if (computed) {
        folded_outputs_.insert(node.outputs.begin(), node.outputs.end());
        any_computed = true;
      }
    }
    if (!any_computed) return absl::OkStatus();
    return Rewrite();
  }

 private:
  const ValueFacts* Find(const std::string& name) const {
    auto it = facts_.find(name);
    return it == facts_.end() ? nullptr : &it->second;
  }
  const std::optional<Dims>& DimsOf(const Node& node, size_t i) const {
    static const std::optional<Dims> kNone;
    const ValueFacts* f = node.HasInput(i) ? Find(node.inputs[i]) : nullptr;
    return f ? f->dims : kNone;
  }
  const std::vector<int64_t>* IntsOf(const Node& node, size_t i) const {
    const ValueFacts* f = node.HasInput(i) ? Find(node.inputs[i]) : nullptr;
    return f && f->ints ? &*f->ints : nullptr;
  }
  // The int64 list an op takes from input `input` (newer opsets; pass
  // kAttributeOnly for older ones) or else from `attribute`: nullopt when the
  // input is not computed at load, empty when neither is given.
  std::optional<std::vector<int64_t>> ListOperand(const Node& node, size_t input, const std::string& attribute) const {
    if (node.HasInput(input)) {
      const std::vector<int64_t>* v = IntsOf(node, input);
      if (v == nullptr) return std::nullopt;
      return *v;
    }
    if (node.FindAttribute(attribute) != nullptr) return node.GetInts(attribute, {});
    return std::vector<int64_t>{};
  }
  bool AllInputsComputed(const Node& node) const {
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.HasInput(i) && IntsOf(node, i) == nullptr) return false;
    }
    return true;
  }
  void SetDims(const Node& node, size_t output, std::optional<Dims> dims) {
    if (output < node.outputs.size() && !node.outputs[output].empty()) facts_[node.outputs[output]].dims = dims;
  }
  void SetValue(const Node& node, Dims dims, std::vector<int64_t> ints) {
    ValueFacts& f = facts_[node.outputs[0]];
    f.dims = std::move(dims);
    f.ints = std::move(ints);
  }

  // Returns true when the node's int64 output was computed (the node will be
  // removed); otherwise infers its output dims where it can.
  absl::StatusOr<bool> Visit(const Node& node) {
    const std::string& op = node.op_type;
    if (!node.domain.empty() && node.domain != "ai.onnx") return false;
    if (op == "Shape") return VisitShape(node);
    static const std::set<std::string> kIntOps = {"Gather", "Unsqueeze", "Squeeze", "Concat", "Slice",   "Cast",
                                                  "Add",    "Sub",       "Mul",     "Div",    "Identity"};
    if (kIntOps.count(op) && !node.inputs.empty() && IntsOf(node, 0) != nullptr && AllInputsComputed(node)) {
      if (op != "Cast" || node.GetInt("to", 0) == 7 || node.GetInt("to", 0) == 6) return ComputeInts(node);
    }
    InferFloatDims(node);
    return false;
  }

  absl::StatusOr<bool> VisitShape(const Node& node) {
    const std::optional<Dims>& dims = DimsOf(node, 0);
    if (!dims) {
      return absl::UnimplementedError(
          absl::StrCat(Describe(node), ": the shape of input '", node.inputs[0], "' is not known when the model loads ",
                       "(bnserve folds shape computations at load and cannot infer the dims of this tensor)"));
    }
    const int64_t rank = static_cast<int64_t>(dims->size());
    int64_t start = node.GetInt("start", 0), end = node.GetInt("end", rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = std::clamp<int64_t>(start, 0, rank);
    end = std::clamp<int64_t>(end, start, rank);
    std::vector<int64_t> value(dims->begin() + start, dims->begin() + end);
    SetValue(node, {static_cast<int64_t>(value.size())}, value);
    return true;
  }

  absl::StatusOr<bool> ComputeInts(const Node& node) {
    const std::string& op = node.op_type;
    const Dims dims = DimsOf(node, 0).value_or(Dims{});
    const std::vector<int64_t>& x = *IntsOf(node, 0);
    auto cannot = [&](const std::string& why) {
      return absl::UnimplementedError(absl::StrCat(Describe(node), ": cannot compute this int64 value at load: ", why));
    };
    if (op == "Identity" || op == "Cast") {
      SetValue(node, dims, x);
    } else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
      const std::vector<int64_t>& y = *IntsOf(node, 1);
      const Dims ydims = DimsOf(node, 1).value_or(Dims{});
      if (x.size() != y.size() && x.size() != 1 && y.size() != 1) {
        return cannot(absl::StrCat("operands of ", x.size(), " and ", y.size(), " elements"));
      }
      std::vector<int64_t> out(std::max(x.size(), y.size()));
      for (size_t i = 0; i < out.size(); ++i) out[i] = Arith(op, x[x.size() == 1 ? 0 : i], y[y.size() == 1 ? 0 : i]);
      SetValue(node, Broadcast(dims, ydims), out);
    } else if (op == "Gather") {
      const std::vector<int64_t>& indices = *IntsOf(node, 1);
      if (dims.size() != 1 || node.GetInt("axis", 0) != 0) return cannot("only 1-D data along axis 0");
      std::vector<int64_t> out;
      for (int64_t i : indices) {
        const std::optional<int> k = Axis(i, x.size());
        if (!k) return cannot(absl::StrCat("index ", i, " out of range for ", x.size(), " elements"));
        out.push_back(x[*k]);
      }
      SetValue(node, DimsOf(node, 1).value_or(Dims{}), out);
    } else if (op == "Unsqueeze" || op == "Squeeze") {
      const std::optional<Dims> out = SqueezeDims(node, dims);
      if (!out) return cannot("axes out of range or not constant");
      SetValue(node, *out, x);
    } else if (op == "Concat") {
      std::vector<int64_t> out;
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        if (DimsOf(node, i).value_or(Dims{}).size() != 1) return cannot("only 1-D inputs");
        out.insert(out.end(), IntsOf(node, i)->begin(), IntsOf(node, i)->end());
      }
      SetValue(node, {static_cast<int64_t>(out.size())}, out);
    } else if (op == "Slice") {
      if (dims.size() != 1) return cannot("only 1-D data");
      std::vector<int64_t> out;
      const std::optional<Dims> out_dims = SliceDims(node, dims);
      if (!out_dims) return cannot("bounds not constant");
      int64_t start = 0, step = 1;
      SliceBounds(node, &start, nullptr, &step);
      const int64_t n = static_cast<int64_t>(x.size());
      if (start < 0) start += n;
      start = step > 0 ? std::clamp<int64_t>(start, 0, n) : std::clamp<int64_t>(start, 0, n - 1);
      for (int64_t k = 0; k < (*out_dims)[0]; ++k) out.push_back(x[start + k * step]);
      SetValue(node, *out_dims, out);
    }
    return true;
  }

  // Start, end and step of a Slice along its first listed axis.
  void SliceBounds(const Node& node, int64_t* start, int64_t* end, int64_t* step) const {
    const auto starts = ListOperand(node, 1, "starts");
    const auto ends = ListOperand(node, 2, "ends");
    const auto steps = ListOperand(node, 4, "steps");
    if (starts && !starts->empty()) *start = (*starts)[0];
    if (end && ends && !ends->empty()) *end = (*ends)[0];
    if (steps && !steps->empty()) *step = (*steps)[0];
  }

  std::optional<Dims> SqueezeDims(const Node& node, const Dims& dims) const {
    const auto axes = ListOperand(node, 1, "axes");
    if (!axes) return std::nullopt;
    if (node.op_type == "Unsqueeze") {
      Dims out = dims;
      const size_t rank = dims.size() + axes->size();
      std::vector<int> sorted;
      for (int64_t a : *axes) {
        const std::optional<int> k = Axis(a, rank);
        if (!k) return std::nullopt;
        sorted.push_back(*k);
      }
      std::sort(sorted.begin(), sorted.end());
      for (int k : sorted) {
        if (static_cast<size_t>(k) > out.size()) return std::nullopt;
        out.insert(out.begin() + k, 1);
      }
      return out;
    }
    std::vector<bool> drop(dims.size(), axes->empty());
    for (size_t i = 0; axes->empty() && i < dims.size(); ++i) drop[i] = dims[i] == 1;
    for (int64_t a : *axes) {
      const std::optional<int> k = Axis(a, dims.size());
      if (!k) return std::nullopt;
      drop[*k] = true;
    }
    Dims out;
    for (size_t i = 0; i < dims.size(); ++i) {
      if (!drop[i]) out.push_back(dims[i]);
    }
    return out;
  }

  std::optional<Dims> SliceDims(const Node& node, const Dims& dims) const {
    const auto starts = ListOperand(node, 1, "starts");
    const auto ends = ListOperand(node, 2, "ends");
    auto axes = ListOperand(node, 3, "axes");
    auto steps = ListOperand(node, 4, "steps");
    if (!starts || !ends || !axes || !steps || starts->size() != ends->size()) return std::nullopt;
    if (axes->empty()) {
      for (size_t i = 0; i < starts->size(); ++i) axes->push_back(static_cast<int64_t>(i));
    }
    if (steps->empty()) steps->assign(starts->size(), 1);
    if (axes->size() != starts->size() || steps->size() != starts->size()) return std::nullopt;
    Dims out = dims;
    for (size_t i = 0; i < starts->size(); ++i) {
      const std::optional<int> k = Axis((*axes)[i], dims.size());
      if (!k) return std::nullopt;
      const int64_t s = (*starts)[i], e = (*ends)[i], st = (*steps)[i];
      if (!Known(s) || !Known(e) || !Known(st)) return std::nullopt;
      out[*k] = Known(dims[*k]) ? SliceLength(dims[*k], s, e, st) : kUnknown;
    }
    return out;
  }

  // Output dims of the float ops bnserve runs, where they follow from what is
  // known; unknown otherwise (only a Shape reading them makes that an error).
  void InferFloatDims(const Node& node) {
    const std::string& op = node.op_type;
    const std::optional<Dims>& x = DimsOf(node, 0);
    static const std::set<std::string> kSameShape = {"Relu",          "LeakyRelu",
                                                     "Clip",          "Sigmoid",
                                                     "HardSigmoid",   "HardSwish",
                                                     "Tanh",          "Softmax",
                                                     "Identity",      "Dropout",
                                                     "Cast",          "Erf",
                                                     "Exp",           "Log",
                                                     "Sqrt",          "Neg",
                                                     "Abs",           "Floor",
                                                     "Ceil",          "Elu",
                                                     "Selu",          "PRelu",
                                                     "Softplus",      "Mish",
                                                     "LRN",           "BatchNormalization",
                                                     "ChannelAffine", "InstanceNormalization",
                                                     "LogSoftmax"};
    if (!x) return;
    if (kSameShape.count(op)) {
      SetDims(node, 0, x);
    } else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow" || op == "Max" || op == "Min" ||
               op == "Sum") {
      Dims out = *x;
      for (size_t i = 1; i < node.inputs.size(); ++i) {
        const std::optional<Dims>& y = DimsOf(node, i);
        if (!y) return;
        out = Broadcast(out, *y);
      }
      SetDims(node, 0, out);
    } else if (op == "Conv" || op == "MaxPool" || op == "AveragePool") {
      SetDims(node, 0, WindowDims(node, *x));
    } else if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
      Dims out = *x;
      for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
      SetDims(node, 0, out);
    } else if (op == "Gemm") {
      const std::optional<Dims>& b = DimsOf(node, 1);
      if (!b || x->size() != 2 || b->size() != 2) return;
      SetDims(node, 0, Dims{(*x)[node.GetInt("transA", 0) ? 1 : 0], (*b)[node.GetInt("transB", 0) ? 0 : 1]});
    } else if (op == "MatMul") {
      const std::optional<Dims>& b = DimsOf(node, 1);
      if (!b || x->size() < 2 || b->size() < 2) return;
      Dims out = Broadcast(Dims(x->begin(), x->end() - 2), Dims(b->begin(), b->end() - 2));
      out.push_back((*x)[x->size() - 2]);
      out.push_back(b->back());
      SetDims(node, 0, out);
    } else if (op == "Flatten") {
      const std::optional<int> axis = node.GetInt("axis", 1) == static_cast<int64_t>(x->size())
                                          ? std::optional<int>(static_cast<int>(x->size()))
                                          : Axis(node.GetInt("axis", 1), x->size());
      if (axis) SetDims(node, 0, Dims{Product(*x, 0, *axis), Product(*x, *axis, x->size())});
    } else if (op == "Reshape") {
      if (const std::vector<int64_t>* target = IntsOf(node, 1)) SetDims(node, 0, ReshapeDims(node, *x, *target));
    } else if (op == "Transpose") {
      std::vector<int64_t> perm = node.GetInts("perm", {});
      if (perm.empty()) {
        for (size_t i = x->size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
      }
      if (perm.size() != x->size()) return;
      Dims out;
      for (int64_t p : perm) {
        if (p < 0 || p >= static_cast<int64_t>(x->size())) return;
        out.push_back((*x)[p]);
      }
      SetDims(node, 0, out);
    } else if (op == "Concat") {
      const std::optional<int> axis = Axis(node.GetInt("axis", 0), x->size());
      if (!axis) return;
      Dims out = *x;
      for (size_t i = 1; i < node.inputs.size(); ++i) {
        const std::optional<Dims>& y = DimsOf(node, i);
        if (!y || y->size() != x->size()) return;
        out[*axis] = Known(out[*axis]) && Known((*y)[*axis]) ? out[*axis] + (*y)[*axis] : kUnknown;
      }
      SetDims(node, 0, out);
    } else if (op == "Slice") {
      SetDims(node, 0, SliceDims(node, *x));
    } else if (op == "Split") {
      InferSplit(node, *x);
    } else if (op == "Unsqueeze" || op == "Squeeze") {
      SetDims(node, 0, SqueezeDims(node, *x));
    } else if (op == "ReduceMean" || op == "ReduceSum" || op == "ReduceMax" || op == "ReduceMin") {
      const bool axes_input = op == "ReduceSum" ? graph_.opset >= 13 : graph_.opset >= 18;
      const auto axes = ListOperand(node, axes_input ? 1 : kAttributeOnly, "axes");
      if (!axes) return;
      std::vector<bool> reduce(x->size(), axes->empty() && node.GetInt("noop_with_empty_axes", 0) == 0);
      for (int64_t a : *axes) {
        const std::optional<int> k = Axis(a, x->size());
        if (!k) return;
        reduce[*k] = true;
      }
      Dims out;
      for (size_t i = 0; i < x->size(); ++i) {
        if (!reduce[i]) {
          out.push_back((*x)[i]);
        } else if (node.GetInt("keepdims", 1) != 0) {
          out.push_back(1);
        }
      }
      SetDims(node, 0, out);
    } else if (op == "Pad") {
      const auto pads = ListOperand(node, graph_.opset >= 11 ? 1 : kAttributeOnly, "pads");
      auto axes = ListOperand(node, graph_.opset >= 18 ? 3 : kAttributeOnly, "axes");
      if (!pads || !axes) return;
      if (axes->empty()) {
        for (size_t i = 0; i < x->size(); ++i) axes->push_back(static_cast<int64_t>(i));
      }
      if (pads->size() != 2 * axes->size()) return;
      Dims out = *x;
      for (size_t i = 0; i < axes->size(); ++i) {
        const std::optional<int> k = Axis((*axes)[i], x->size());
        if (!k) return;
        const int64_t added = (*pads)[i] + (*pads)[i + axes->size()];
        out[*k] = Known(out[*k]) && Known(added) ? out[*k] + added : kUnknown;
      }
      SetDims(node, 0, out);
    } else if (op == "Resize" || op == "Upsample") {
      InferResize(node, *x);
    }
  }

  std::optional<Dims> WindowDims(const Node& node, const Dims& x) const {
    if (x.size() < 3) return std::nullopt;
    const size_t spatial = x.size() - 2;
    std::vector<int64_t> kernel = node.GetInts("kernel_shape", {});
    Dims out = x;
    if (node.op_type == "Conv") {
      const std::optional<Dims>& w = DimsOf(node, 1);
      if (!w || w->size() != x.size()) return std::nullopt;
      out[1] = (*w)[0];
      if (kernel.empty()) kernel.assign(w->begin() + 2, w->end());
    }
    if (kernel.size() != spatial) return std::nullopt;
    const std::vector<int64_t> strides = node.GetInts("strides", std::vector<int64_t>(spatial, 1));
    const std::vector<int64_t> dilations = node.GetInts("dilations", std::vector<int64_t>(spatial, 1));
    const std::vector<int64_t> pads = node.GetInts("pads", std::vector<int64_t>(2 * spatial, 0));
    const std::string auto_pad = node.GetString("auto_pad", "NOTSET");
    const bool ceil_mode = node.GetInt("ceil_mode", 0) != 0;
    if (strides.size() != spatial || dilations.size() != spatial || pads.size() != 2 * spatial) return std::nullopt;
    for (size_t i = 0; i < spatial; ++i) {
      const int64_t in = x[2 + i];
      if (!Known(in) || strides[i] <= 0) {
        out[2 + i] = kUnknown;
        continue;
      }
      const int64_t window = dilations[i] * (kernel[i] - 1) + 1;
      if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        out[2 + i] = (in + strides[i] - 1) / strides[i];
      } else {
        const int64_t padded = in + (auto_pad == "VALID" ? 0 : pads[i] + pads[i + spatial]) - window;
        if (padded < 0) return std::nullopt;
        int64_t n = (ceil_mode ? (padded + strides[i] - 1) / strides[i] : padded / strides[i]) + 1;
        // ceil_mode: the last window must start inside the input or its begin padding.
        if (ceil_mode && (n - 1) * strides[i] >= in + pads[i]) --n;
        out[2 + i] = n;
      }
    }
    return out;
  }

  std::optional<Dims> ReshapeDims(const Node& node, const Dims& x, const std::vector<int64_t>& target) const {
    const bool allow_zero = node.GetInt("allowzero", 0) != 0;
    Dims out;
    int inferred = -1;
    for (size_t i = 0; i < target.size(); ++i) {
      const int64_t d = target[i];
      if (d == -1) {
        inferred = static_cast<int>(i);
        out.push_back(kUnknown);
      } else if (d == 0 && !allow_zero) {
        if (i >= x.size()) return std::nullopt;
        out.push_back(x[i]);
      } else {
        out.push_back(d);
      }
    }
    if (inferred >= 0) {
      // Element counts as known product times batch^count; the -1 takes the rest.
      auto split = [](const Dims& dims, size_t skip, int64_t* known, int* batches) {
        *known = 1;
        *batches = 0;
        for (size_t i = 0; i < dims.size(); ++i) {
          if (i == skip) continue;
          if (dims[i] == kBatch) {
            ++*batches;
          } else if (!Known(dims[i])) {
            return false;
          } else {
            *known *= dims[i];
          }
        }
        return true;
      };
      int64_t in_known = 0, out_known = 0;
      int in_batches = 0, out_batches = 0;
      if (!split(x, x.size(), &in_known, &in_batches) || !split(out, inferred, &out_known, &out_batches) ||
          out_known == 0) {
        return out;
      }
      if (in_batches == out_batches && in_known % out_known == 0) {
        out[inferred] = in_known / out_known;
      } else if (in_batches == out_batches + 1 && in_known == out_known) {
        out[inferred] = kBatch;
      }
    }
    return out;
  }

  void InferSplit(const Node& node, const Dims& x) {
    const std::optional<int> axis = Axis(node.GetInt("axis", 0), x.size());
    if (!axis || !Known(x[*axis])) return;
    auto split = ListOperand(node, graph_.opset >= 13 ? 1 : kAttributeOnly, "split");
    if (!split) return;
    const int64_t n = static_cast<int64_t>(node.outputs.size());
    if (split->empty()) {
      // Equal parts; from opset 18 num_outputs may leave a smaller last part.
      const int64_t part = (x[*axis] + n - 1) / n;
      for (int64_t i = 0; i < n; ++i) split->push_back(std::min(part, x[*axis] - i * part));
    }
    if (static_cast<int64_t>(split->size()) != n) return;
    for (int64_t i = 0; i < n; ++i) {
      Dims out = x;
      out[*axis] = (*split)[i];
      SetDims(node, i, out);
    }
  }

  // Resize (sizes or constant scales) and Upsample (constant scales).
  void InferResize(const Node& node, const Dims& x) {
    const std::vector<int64_t>* sizes = node.op_type == "Resize" ? IntsOf(node, 3) : nullptr;
    if (sizes != nullptr && !sizes->empty()) {
      if (sizes->size() == x.size()) SetDims(node, 0, *sizes);
      return;
    }
    std::vector<float> scales;
    if (node.op_type == "Upsample" && graph_.opset < 9) {
      const Attribute* a = node.FindAttribute("scales");
      if (a != nullptr) scales = a->floats;
    } else {
      const size_t input = node.op_type == "Upsample" ? 1 : graph_.opset >= 11 ? 2 : 1;
      const ConstantTensor* t = node.HasInput(input) ? graph_.FindInitializer(node.inputs[input]) : nullptr;
      if (t != nullptr && t->dtype == DataType::kFloat) scales = t->floats;
    }
    if (scales.size() != x.size()) return;
    Dims out = x;
    for (size_t i = 0; i < x.size(); ++i) {
      if (scales[i] == 1.0f) continue;
      out[i] = Known(x[i]) ? static_cast<int64_t>(std::floor(x[i] * static_cast<double>(scales[i]))) : kUnknown;
    }
    SetDims(node, 0, out);
  }

  // Removes the computed nodes and gives each value they produced that a
  // remaining node reads an initializer.
  absl::Status Rewrite() {
    std::vector<Node> kept;
    for (Node& node : graph_.nodes) {
      bool folded = !node.outputs.empty();
      for (const std::string& out : node.outputs) folded &= out.empty() || folded_outputs_.count(out) > 0;
      if (folded) continue;
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        if (!node.HasInput(i) || !folded_outputs_.count(node.inputs[i])) continue;
        BN_RETURN_IF_ERROR(Materialize(&node, i));
      }
      kept.push_back(std::move(node));
    }
    for (const ValueInfo& output : graph_.outputs) {
      if (folded_outputs_.count(output.name)) {
        return absl::UnimplementedError(absl::StrCat("graph output '", output.name,
                                                     "' is an int64 shape value; bnserve outputs float tensors only"));
      }
    }
    graph_.nodes = std::move(kept);
    return absl::OkStatus();
  }

  // Makes input `i` of `node` (a folded value) a constant initializer.
  absl::Status Materialize(Node* node, size_t i) {
    const std::string& name = node->inputs[i];
    const ValueFacts& f = facts_.at(name);
    std::vector<int64_t> value = *f.ints;
    const std::string where = absl::StrCat(Describe(*node), ": input ", i, " ('", name, "') = ", DimsString(value));
    for (int64_t v : value) {
      if (v == kUnknown) return absl::UnimplementedError(absl::StrCat(where, " is not known when the model loads"));
    }
    const bool has_batch = std::count(value.begin(), value.end(), kBatch) > 0;
    const std::optional<Dims>& x = DimsOf(*node, 0);
    if (has_batch && node->op_type == "Reshape" && i == 1) {
      bool minus_one = std::count(value.begin(), value.end(), -1) > 0;
      for (size_t k = 0; k < value.size(); ++k) {
        if (value[k] != kBatch) continue;
        if (x && k < x->size() && (*x)[k] == kBatch && node->GetInt("allowzero", 0) == 0) {
          value[k] = 0;
        } else if (!minus_one) {
          value[k] = -1;
          minus_one = true;
        } else {
          return absl::UnimplementedError(
              absl::StrCat(where, ": the batch size appears where neither 0 nor -1 ", "can stand for it"));
        }
      }
    } else if (has_batch && node->op_type == "Resize" && i == 3) {
      return SizesToScales(node, value, where);
    } else if (has_batch) {
      return absl::UnimplementedError(
          absl::StrCat(where, " depends on the batch size, which is not fixed when the model loads"));
    }
    ConstantTensor tensor;
    tensor.dtype = DataType::kInt64;
    BN_ASSIGN_OR_RETURN(tensor.shape, Shape::FromDims(f.dims.value_or(Dims{}), where));
    tensor.ints = std::move(value);
    graph_.SetInitializer(name, std::move(tensor));
    return absl::OkStatus();
  }

  absl::Status SizesToScales(Node* node, const std::vector<int64_t>& sizes, const std::string& where) {
    const std::optional<Dims>& x = DimsOf(*node, 0);
    if (!x || x->size() != sizes.size()) {
      return absl::UnimplementedError(absl::StrCat(where, ": the input's rank is not known when the model loads"));
    }
    ConstantTensor scales;
    scales.shape = Shape{static_cast<int64_t>(sizes.size())};
    for (size_t a = 0; a < sizes.size(); ++a) {
      if (sizes[a] == kBatch && (*x)[a] == kBatch) {
        scales.floats.push_back(1.0f);
      } else if (Known(sizes[a]) && Known((*x)[a]) && (*x)[a] > 0) {
        float s = static_cast<float>(static_cast<double>(sizes[a]) / static_cast<double>((*x)[a]));
        while (std::floor(static_cast<double>((*x)[a]) * s) < static_cast<double>(sizes[a])) {
          s = std::nextafter(s, std::numeric_limits<float>::infinity());
        }
        scales.floats.push_back(s);
      } else {
        return absl::UnimplementedError(absl::StrCat(where, ": axis ", a, " of size ", DimString(sizes[a]),
                                                     " from input dim ", DimString((*x)[a]),
                                                     " cannot be written as a constant scale"));
      }
    }
    const std::string scales_name = absl::StrCat(node->inputs[3], "_bnserve_scales");
    graph_.SetInitializer(scales_name, std::move(scales));
    node->inputs.resize(3);
    node->inputs[2] = scales_name;
    return absl::OkStatus();
  }

  Graph& graph_;
  std::map<std::string, ValueFacts> facts_;
  std::set<std::string> folded_outputs_;
};

}  // namespace

absl::Status FoldShapeComputations(Graph* graph) { return ShapeFolder(graph).Run(); }

}  // namespace bnserve
