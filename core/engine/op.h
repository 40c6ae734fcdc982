// Op: one executable operator instance, built once from a graph Node (with its
// constant inputs, e.g. weights, available for pre-packing) and then run many
// times, concurrently, from many threads. Run() is const: everything mutable
// lives in the OpContext the executor passes in (outputs, scratch), which is
// per request. This is ncnn's "shared Net, per-request Extractor" split.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/graph/tensor.h"
#include "core/util/status.h"

namespace bnserve {

class BatchStatsSink;  // core/stats/batch_stats_sink.h
class ThreadPool;      // core/util/thread_pool.h

// What a running op sees. Built by the executor for every step.
class OpContext {
 public:
  OpContext(const TensorView* inputs, int num_inputs, Tensor* const* outputs, int num_outputs,
            std::vector<float>* scratch, BatchStatsSink* stats_sink, ThreadPool* thread_pool = nullptr)
      : inputs_(inputs),
        num_inputs_(num_inputs),
        outputs_(outputs),
        num_outputs_(num_outputs),
        scratch_(scratch),
        stats_sink_(stats_sink),
        thread_pool_(thread_pool) {}

  int num_inputs() const { return num_inputs_; }
  // An absent optional input has data == nullptr and rank 0.
  const TensorView& input(int i) const { return inputs_[i]; }
  bool has_input(int i) const { return i < num_inputs_ && inputs_[i].data != nullptr; }
  int num_outputs() const { return num_outputs_; }
  // The op must Resize() each output it writes. Output buffers never alias inputs.
  Tensor* output(int i) const { return outputs_[i]; }
  // Reusable per-request scratch memory (e.g. im2col). Contents are undefined
  // on entry; resize it as needed (capacity is kept between runs).
  std::vector<float>* scratch() const { return scratch_; }
  // Non-null only during a statistics pass.
  BatchStatsSink* stats_sink() const { return stats_sink_; }
  // Workers an op may split its loops over (core/util/thread_pool.h), or null
  // when the plan runs single-threaded.
  ThreadPool* thread_pool() const { return thread_pool_; }

 private:
  const TensorView* inputs_;
  int num_inputs_;
  Tensor* const* outputs_;
  int num_outputs_;
  std::vector<float>* scratch_;
  BatchStatsSink* stats_sink_;
  ThreadPool* thread_pool_;
};

class Op {
 public:
  virtual ~Op() = default;
  // Validates runtime shapes (INVALID_ARGUMENT naming the node and the
  // expected and received shapes) and computes the outputs.
  virtual absl::Status Run(const OpContext& ctx) const = 0;
  // True when the op took (copied, packed or shared) at build time every
  // constant input it reads, and never reads a constant from the OpContext.
  // The executor then drops its own reference to constants only such ops
  // read, e.g. a folded Conv weight once it is packed, so the plan does not
  // keep a second, unused copy. Ops keep the default (false) unless sure.
  virtual bool KeepsConstantInputs() const { return false; }
};

// Everything an op factory may look at when building an Op.
struct OpBuildContext {
  const Node& node;
  const Graph& graph;

  // The constant (initializer) feeding input `i`, or nullptr when that input
  // is a runtime value or absent.
  const ConstantTensor* ConstantInput(size_t i) const {
    return node.HasInput(i) ? graph.FindInitializer(node.inputs[i]) : nullptr;
  }
  // The same, shared: for an op that keeps the tensor without copying it.
  std::shared_ptr<const ConstantTensor> SharedConstantInput(size_t i) const {
    if (!node.HasInput(i)) return nullptr;
    auto it = graph.initializers.find(node.inputs[i]);
    return it == graph.initializers.end() ? nullptr : it->second;
  }
  // "Conv node 'conv1' (opset 13)": the prefix every build/run error uses.
  std::string Describe() const;
};

using OpFactory = std::function<absl::StatusOr<std::unique_ptr<Op>>(const OpBuildContext&)>;

// The table of operators bnserve can run, keyed by (domain, op_type), each
// valid for an opset range. Built once at start-up (core/engine/ops/registry.cc
// lists every op); read-only afterwards, so safe to share between threads.
class OpRegistry {
 public:
  static const OpRegistry& Builtin();

  void Register(const std::string& domain, const std::string& op_type, int64_t min_opset, int64_t max_opset,
                OpFactory factory);

  // OK if (domain, op_type) is registered for `opset`; otherwise
  // UNIMPLEMENTED naming the operator, the node and the opset.
  absl::Status CheckSupported(const Node& node, int64_t opset) const;
  // CheckSupported for every node of `graph`, in order: the first unsupported
  // operator is the error. Run at load, before anything else touches the model.
  absl::Status CheckGraph(const Graph& graph) const;

  // Builds the op, or fails as CheckSupported does, or with the factory's
  // error (e.g. an attribute value we do not support).
  absl::StatusOr<std::unique_ptr<Op>> Create(const OpBuildContext& ctx) const;

 private:
  struct Entry {
    int64_t min_opset;
    int64_t max_opset;
    OpFactory factory;
  };
  const Entry* Find(const Node& node, int64_t opset) const;
  std::map<std::pair<std::string, std::string>, std::vector<Entry>> entries_;
};

// Domain used for bnserve's internal ops created by graph rewrites.
inline constexpr char kBnserveDomain[] = "bnserve";

}  // namespace bnserve
