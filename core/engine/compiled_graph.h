// CompiledGraph: a Graph turned into a flat, topologically ordered list of
// instantiated Ops over numbered value slots, with activation buffers
// assigned by liveness (a buffer is reused once its value has no reader
// left), so memory is about the widest cut of the graph, not its sum.
// Immutable after Build; Run is const and thread-safe given one Workspace
// per concurrent run.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/op.h"
#include "core/engine/workspace.h"
#include "core/graph/graph.h"
#include "core/stats/batch_stats_sink.h"

namespace bnserve {

// Creates the Op for one node; the default uses OpRegistry::Builtin().
using OpCreator = std::function<absl::StatusOr<std::unique_ptr<Op>>(const OpBuildContext&)>;

class CompiledGraph {
 public:
  // Takes ownership of `graph` (ops may point into its initializers, or
  // share them). After Build, graph().initializers holds only the constants
  // some op reads at run time.
  static absl::StatusOr<std::unique_ptr<const CompiledGraph>> Build(Graph graph, const OpCreator& creator = nullptr);

  const Graph& graph() const { return graph_; }
  int num_steps() const { return static_cast<int>(steps_.size()); }

  // Checks the inputs against the graph's declared inputs (count, rank, fixed
  // dims) and runs every step, letting ops split their loops over
  // `thread_pool` when it is non-null. Results: output(ws, i).
  absl::Status Run(absl::Span<const TensorView> inputs, Workspace* ws, BatchStatsSink* stats_sink = nullptr,
                   ThreadPool* thread_pool = nullptr) const;
  // The i-th graph output of the last successful Run on `ws`.
  const Tensor& output(const Workspace& ws, int i) const;

 private:
  // Where a value lives at run time.
  struct Slot {
    enum class Kind { kInput, kConstant, kBuffer, kAbsent };
    Kind kind = Kind::kAbsent;
    int index = 0;  // input index, constant index or buffer index
  };
  struct Step {
    std::unique_ptr<Op> op;
    std::vector<Slot> inputs;
    std::vector<int> output_buffers;
    int node_index = 0;
  };

  CompiledGraph() = default;
  // Drops the graph's reference to every initializer that only ops keeping
  // their own constants (Op::KeepsConstantInputs) read, e.g. folded Conv
  // weights once packed: an unshared one is freed, a shared one (the
  // model's) lives on with its other owners. Their views become null.
  void ReleaseKeptConstants(const std::map<std::string, Slot>& slots);
  absl::Status CheckInputs(absl::Span<const TensorView> inputs) const;

  Graph graph_;
  std::vector<TensorView> constants_;  // float initializers, viewed in place
  std::vector<Step> steps_;
  std::vector<int> output_buffers_;  // buffer holding each graph output
  int num_buffers_ = 0;
  size_t max_step_inputs_ = 0;
  size_t max_step_outputs_ = 0;
};

}  // namespace bnserve
