#include "core/engine/compiled_graph.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"

namespace bnserve {
namespace {

// Copies its input: used when a graph output is a graph input or a constant,
// so every output has a buffer of its own.
class CopyOp : public Op {
 public:
  absl::Status Run(const OpContext& ctx) const override {
    const TensorView& in = ctx.input(0);
    Tensor* out = ctx.output(0);
    out->Resize(in.shape);
    std::copy(in.data, in.data + in.size(), out->data.begin());
    return absl::OkStatus();
  }
};

std::string DescribeExpected(const ValueInfo& info) {
  std::string s = "[";
  for (size_t i = 0; i < info.dims.size(); ++i) {
    if (i > 0) s += ",";
    const Dim& d = info.dims[i];
    s += d.symbolic() ? (d.param.empty() ? std::string("?") : d.param) : std::to_string(d.size);
  }
  return s + "]";
}

}  // namespace

absl::StatusOr<std::unique_ptr<const CompiledGraph>> CompiledGraph::Build(Graph graph, const OpCreator& creator) {
  std::unique_ptr<CompiledGraph> cg(new CompiledGraph());
  cg->graph_ = std::move(graph);
  const Graph& g = cg->graph_;

  std::map<std::string, Slot> slots;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    slots[g.inputs[i].name] = Slot{Slot::Kind::kInput, static_cast<int>(i)};
  }
  auto constant_slot = [&](const std::string& name) -> const Slot* {
    auto it = slots.find(name);
    if (it != slots.end()) return &it->second;
    const ConstantTensor* c = g.FindInitializer(name);
    if (c == nullptr) return nullptr;
    // Integer constants (shapes, axes) are consumed at build time; at run
    // time they appear with their shape and a null data pointer.
    TensorView view{c->shape, c->dtype == DataType::kFloat ? c->floats.data() : nullptr};
    cg->constants_.push_back(view);
    Slot s{Slot::Kind::kConstant, static_cast<int>(cg->constants_.size() - 1)};
    return &(slots[name] = s);
  };

  // Last step reading each value, for buffer reuse. Graph outputs live to the end.
  std::map<std::string, size_t> last_use;
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    for (const std::string& in : g.nodes[n].inputs) {
      if (!in.empty()) last_use[in] = n;
    }
  }
  for (const ValueInfo& out : g.outputs) last_use[out.name] = g.nodes.size();

  std::vector<int> free_buffers;
  const OpRegistry& registry = OpRegistry::Builtin();
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    const Node& node = g.nodes[n];
    Step step;
    step.node_index = static_cast<int>(n);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.inputs[i].empty()) {
        step.inputs.push_back(Slot{});
        continue;
      }
      const Slot* s = constant_slot(node.inputs[i]);
      if (s == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("node '", node.name, "': input '", node.inputs[i], "' is not produced by any earlier node"));
      }
      step.inputs.push_back(*s);
    }
    OpBuildContext ctx{node, g};
    absl::StatusOr<std::unique_ptr<Op>> op = creator ? creator(ctx) : registry.Create(ctx);
    if (!op.ok()) return op.status();
    step.op = std::move(op).value();
    // Release buffers whose last reader is this step, then allocate outputs:
    // outputs never alias this step's own inputs because release happens
    // only after the step in execution order (we allocate first).
    for (const std::string& out : node.outputs) {
      int buffer;
      if (!free_buffers.empty()) {
        buffer = free_buffers.back();
        free_buffers.pop_back();
      } else {
        buffer = cg->num_buffers_++;
      }
      step.output_buffers.push_back(buffer);
      slots[out] = Slot{Slot::Kind::kBuffer, buffer};
      if (out.empty() || last_use.find(out) == last_use.end()) {
        // Unused output (e.g. an optional one nobody reads): free right away.
        free_buffers.push_back(buffer);
      }
    }
    for (const std::string& in : node.inputs) {
      auto lu = last_use.find(in);
      if (in.empty() || lu == last_use.end() || lu->second != n) continue;
      const Slot& s = slots[in];
      if (s.kind == Slot::Kind::kBuffer &&
          std::find(free_buffers.begin(), free_buffers.end(), s.index) == free_buffers.end()) {
        free_buffers.push_back(s.index);
      }
    }
    cg->max_step_inputs_ = std::max(cg->max_step_inputs_, step.inputs.size());
    cg->max_step_outputs_ = std::max(cg->max_step_outputs_, step.output_buffers.size());
    cg->steps_.push_back(std::move(step));
  }

  for (const ValueInfo& out : g.outputs) {
    const Slot* s = constant_slot(out.name);
    if (s == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("graph output '", out.name, "' is never produced"));
    }
    if (s->kind == Slot::Kind::kBuffer) {
      cg->output_buffers_.push_back(s->index);
      continue;
    }
    Step copy;
    copy.op = std::make_unique<CopyOp>();
    copy.inputs.push_back(*s);
    copy.output_buffers.push_back(cg->num_buffers_++);
    copy.node_index = -1;
    cg->output_buffers_.push_back(copy.output_buffers[0]);
    cg->max_step_inputs_ = std::max<size_t>(cg->max_step_inputs_, 1);
    cg->max_step_outputs_ = std::max<size_t>(cg->max_step_outputs_, 1);
    cg->steps_.push_back(std::move(copy));
  }
  cg->ReleaseKeptConstants(slots);
  return std::unique_ptr<const CompiledGraph>(std::move(cg));
}

void CompiledGraph::ReleaseKeptConstants(const std::map<std::string, Slot>& slots) {
  std::set<std::string> read_at_run;
  for (const Step& step : steps_) {
    if (step.node_index < 0 || step.op->KeepsConstantInputs()) continue;
    for (const std::string& in : graph_.nodes[step.node_index].inputs) read_at_run.insert(in);
  }
  for (const ValueInfo& out : graph_.outputs) read_at_run.insert(out.name);  // CopyOp reads them
  for (auto it = graph_.initializers.begin(); it != graph_.initializers.end();) {
    if (read_at_run.count(it->first) > 0) {
      ++it;
      continue;
    }
    auto slot = slots.find(it->first);
    if (slot != slots.end() && slot->second.kind == Slot::Kind::kConstant)
      constants_[slot->second.index].data = nullptr;
    it = graph_.initializers.erase(it);
  }
}

absl::Status CompiledGraph::CheckInputs(absl::Span<const TensorView> inputs) const {
  if (inputs.size() != graph_.inputs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs: expected ", graph_.inputs.size(), " input tensor(s), got ", inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ValueInfo& info = graph_.inputs[i];
    const Shape& shape = inputs[i].shape;
    bool ok = info.dims.empty() || shape.rank() == static_cast<int>(info.dims.size());
    for (size_t d = 0; ok && d < info.dims.size(); ++d) {
      ok = info.dims[d].symbolic() || info.dims[d].size == shape[static_cast<int>(d)];
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", info.name, "': expected shape ", DescribeExpected(info), ", got ", shape.ToString()));
    }
    if (inputs[i].data == nullptr && shape.NumElements() > 0) {
      return absl::InvalidArgumentError(absl::StrCat("input '", info.name, "': no data"));
    }
  }
  return absl::OkStatus();
}

absl::Status CompiledGraph::Run(absl::Span<const TensorView> inputs, Workspace* ws, BatchStatsSink* stats_sink,
                                ThreadPool* thread_pool) const {
  BN_RETURN_IF_ERROR(CheckInputs(inputs));
  if (ws->buffers_.size() < static_cast<size_t>(num_buffers_)) ws->buffers_.resize(num_buffers_);
  if (ws->step_inputs_.size() < max_step_inputs_) ws->step_inputs_.resize(max_step_inputs_);
  if (ws->step_outputs_.size() < max_step_outputs_) ws->step_outputs_.resize(max_step_outputs_);

  static const float kEmptySentinel = 0.0f;
  for (const Step& step : steps_) {
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      const Slot& s = step.inputs[i];
      TensorView& view = ws->step_inputs_[i];
      switch (s.kind) {
        case Slot::Kind::kInput:
          view = inputs[s.index];
          break;
        case Slot::Kind::kConstant:
          view = constants_[s.index];
          break;
        case Slot::Kind::kBuffer:
          view = ws->buffers_[s.index].view();
          break;
        case Slot::Kind::kAbsent:
          view = TensorView{};
          break;
      }
      // A present but empty tensor still has a non-null pointer, so ops can
      // tell "empty" from "absent".
      if (s.kind != Slot::Kind::kAbsent && view.data == nullptr && s.kind != Slot::Kind::kConstant) {
        view.data = &kEmptySentinel;
      }
    }
    for (size_t o = 0; o < step.output_buffers.size(); ++o) {
      ws->step_outputs_[o] = &ws->buffers_[step.output_buffers[o]];
    }
    OpContext ctx(ws->step_inputs_.data(), static_cast<int>(step.inputs.size()), ws->step_outputs_.data(),
                  static_cast<int>(step.output_buffers.size()), &ws->scratch_, stats_sink, thread_pool);
    absl::Status st = step.op->Run(ctx);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

const Tensor& CompiledGraph::output(const Workspace& ws, int i) const { return ws.buffers_[output_buffers_[i]]; }

}  // namespace bnserve
