// Test helpers for the non-GEMM operators (element-wise, activations, shape
// ops, batch norm): a one-node graph to build an op from, a runner that feeds
// the op the way the executor does (initializers arrive as inputs too),
// seeded random data, a tolerance comparison that reports the shape and the
// first bad element, and an allocation counter for the "no heap allocation
// per run once outputs have grown" contract.
//
// Include from exactly one .cc per test binary: it replaces the global
// operator new/delete to count allocations.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/graph.h"
#include "core/op.h"
#include "core/shape.h"
#include "core/status.h"
#include "core/tensor.h"
#include "gtest/gtest.h"

namespace bnserve::testing {

// Heap allocations made through operator new since the program started.
inline std::atomic<int64_t>& AllocationCount() {
  static std::atomic<int64_t> count{0};
  return count;
}

}  // namespace bnserve::testing

// The replacements pair malloc with free, which GCC cannot see through.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  bnserve::testing::AllocationCount().fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace bnserve::testing {

using RegisterFn = void (*)(OpRegistry*);

inline Attribute IntAttr(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}
inline Attribute FloatAttr(float v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloat;
  a.f = v;
  return a;
}
inline Attribute IntsAttr(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}
inline Attribute StringAttr(std::string v) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = std::move(v);
  return a;
}

inline ConstantTensor FloatConstant(const Shape& shape, std::vector<float> values) {
  ConstantTensor c;
  c.dtype = DataType::kFloat;
  c.shape = shape;
  c.floats = std::move(values);
  return c;
}
inline ConstantTensor IntConstant(const Shape& shape, std::vector<int64_t> values) {
  ConstantTensor c;
  c.dtype = DataType::kInt64;
  c.shape = shape;
  c.ints = std::move(values);
  return c;
}

// Uniform floats in [lo, hi) from a fixed seed.
inline std::vector<float> RandomFloats(int64_t n, uint32_t seed, float lo = -3.0f, float hi = 3.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}
inline Tensor RandomTensor(const Shape& shape, uint32_t seed, float lo = -3.0f, float hi = 3.0f) {
  return Tensor(shape, RandomFloats(shape.NumElements(), seed, lo, hi));
}

inline Shape ShapeOf(const std::vector<int64_t>& dims) {
  Shape s;
  for (int64_t d : dims) s.push_back(d);
  return s;
}

// Row-major multi-index of flat position `flat` in `shape`.
inline std::vector<int64_t> Unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(static_cast<size_t>(shape.rank()));
  for (int d = shape.rank() - 1; d >= 0; --d) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

// Passes when `got` has shape `shape` and |got - want| <= abs_tol +
// rel_tol * |want| everywhere (NaN matches NaN; infinities must be equal).
inline ::testing::AssertionResult TensorNear(const Tensor& got, const Shape& shape, const std::vector<double>& want,
                                             double rel_tol, double abs_tol) {
  if (got.shape != shape) {
    return ::testing::AssertionFailure() << "shape: expected " << shape.ToString() << ", got " << got.shape.ToString();
  }
  if (got.size() != static_cast<int64_t>(want.size())) {
    return ::testing::AssertionFailure() << "shape " << shape.ToString() << ": expected " << want.size()
                                         << " elements, got " << got.size();
  }
  int64_t bad = 0;
  int64_t first = -1;
  for (int64_t i = 0; i < got.size(); ++i) {
    const double g = got.data[i];
    const double w = want[i];
    bool ok;
    if (std::isnan(w) || std::isnan(g)) {
      ok = std::isnan(w) && std::isnan(g);
    } else if (std::isinf(w) || std::isinf(g)) {
      ok = g == w;
    } else {
      ok = std::fabs(g - w) <= abs_tol + rel_tol * std::fabs(w);
    }
    if (!ok && bad++ == 0) first = i;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  ::testing::AssertionResult r = ::testing::AssertionFailure();
  r << "shape " << shape.ToString() << ": " << bad << " of " << got.size() << " elements off; first at flat " << first
    << " [";
  const std::vector<int64_t> index = Unravel(first, shape);
  for (size_t d = 0; d < index.size(); ++d) r << (d ? "," : "") << index[d];
  r << "]: got " << got.data[first] << ", expected " << want[first];
  return r;
}

// Exact comparison (for ops that only move data).
inline ::testing::AssertionResult TensorEq(const Tensor& got, const Shape& shape, const std::vector<float>& want) {
  return TensorNear(got, shape, std::vector<double>(want.begin(), want.end()), 0.0, 0.0);
}

// A graph with one node of `op_type` at `opset`, named "test_<op_type>".
// Inputs are added in order as runtime values, initializers or absent
// optional inputs. Building and configuring are not thread-safe; once
// configured, Run may be called concurrently (it only reads the graph).
class SingleNodeGraph {
 public:
  SingleNodeGraph(const std::string& op_type, int64_t opset, const std::string& domain = "") {
    graph_.opset = opset;
    node_.op_type = op_type;
    node_.domain = domain;
    node_.name = "test_" + op_type;
    node_.outputs = {"y"};
  }

  SingleNodeGraph& RuntimeInput() {
    node_.inputs.push_back("in" + std::to_string(node_.inputs.size()));
    return *this;
  }
  SingleNodeGraph& ConstantInput(ConstantTensor value) {
    const std::string name = "const" + std::to_string(node_.inputs.size());
    node_.inputs.push_back(name);
    if (value.dtype == DataType::kInt64) {
      // The executor hands every input over as float32; the op must use the
      // build-time constant rather than this lossy view.
      int_views_[name].assign(value.ints.begin(), value.ints.end());
    }
    graph_.SetInitializer(name, std::move(value));
    return *this;
  }
  SingleNodeGraph& AbsentInput() {
    node_.inputs.push_back("");
    return *this;
  }
  SingleNodeGraph& Attr(const std::string& key, Attribute value) {
    node_.attributes[key] = std::move(value);
    return *this;
  }
  // Replaces the output names (an empty name = optional output not requested).
  SingleNodeGraph& Outputs(std::vector<std::string> names) {
    node_.outputs = std::move(names);
    return *this;
  }

  Node& node() { return node_; }
  const Graph& graph() const { return graph_; }

  absl::StatusOr<std::unique_ptr<Op>> Build(RegisterFn register_ops) const {
    OpRegistry registry;
    register_ops(&registry);
    return registry.Create(OpBuildContext{node_, graph_});
  }

  // Runs `op` with `runtime` bound, in order, to the runtime inputs and the
  // initializers to the constant inputs. `outputs` is resized to the node's
  // output count and may be reused between runs (as the executor does).
  absl::Status Run(const Op& op, const std::vector<const Tensor*>& runtime, std::vector<Tensor>* outputs) const {
    return WithContext(runtime, outputs, [&op](const OpContext& ctx) { return op.Run(ctx); });
  }

  // Runs `op` twice on the same outputs and returns how many heap
  // allocations the second Run made (the executor's steady state), or -1
  // with `*status` set when a run fails.
  int64_t AllocationsOnRerun(const Op& op, const std::vector<const Tensor*>& runtime, std::vector<Tensor>* outputs,
                             absl::Status* status) const {
    int64_t allocations = -1;
    *status = WithContext(runtime, outputs, [&](const OpContext& ctx) {
      BN_RETURN_IF_ERROR(op.Run(ctx));
      const int64_t before = AllocationCount().load();
      const absl::Status second = op.Run(ctx);
      allocations = AllocationCount().load() - before;
      return second;
    });
    return status->ok() ? allocations : -1;
  }

  // Builds, runs once with fresh outputs and returns them.
  absl::StatusOr<std::vector<Tensor>> BuildAndRun(RegisterFn register_ops, const std::vector<Tensor>& runtime) const {
    BN_ASSIGN_OR_RETURN(std::unique_ptr<Op> op, Build(register_ops));
    std::vector<const Tensor*> ptrs;
    for (const Tensor& t : runtime) ptrs.push_back(&t);
    std::vector<Tensor> outputs;
    BN_RETURN_IF_ERROR(Run(*op, ptrs, &outputs));
    return outputs;
  }

 private:
  template <typename Fn>
  absl::Status WithContext(const std::vector<const Tensor*>& runtime, std::vector<Tensor>* outputs, Fn&& fn) const {
    std::vector<TensorView> inputs;
    size_t next_runtime = 0;
    for (const std::string& name : node_.inputs) {
      const ConstantTensor* constant = name.empty() ? nullptr : graph_.FindInitializer(name);
      if (name.empty()) {
        inputs.push_back(TensorView{});
      } else if (constant == nullptr) {
        if (next_runtime >= runtime.size()) return absl::InternalError("test: too few runtime inputs");
        inputs.push_back(runtime[next_runtime++]->view());
      } else if (constant->dtype == DataType::kInt64) {
        inputs.push_back(TensorView{constant->shape, int_views_.at(name).data()});
      } else {
        inputs.push_back(TensorView{constant->shape, constant->floats.data()});
      }
    }
    if (next_runtime != runtime.size()) return absl::InternalError("test: too many runtime inputs");
    outputs->resize(node_.outputs.size());
    std::vector<Tensor*> output_ptrs;
    for (Tensor& t : *outputs) output_ptrs.push_back(&t);
    std::vector<float> scratch;  // per run, as the executor's per-request workspace
    OpContext ctx(inputs.data(), static_cast<int>(inputs.size()), output_ptrs.data(),
                  static_cast<int>(output_ptrs.size()), &scratch, nullptr);
    return fn(ctx);
  }

  Graph graph_;
  Node node_;
  std::map<std::string, std::vector<float>> int_views_;
};

}  // namespace bnserve::testing
