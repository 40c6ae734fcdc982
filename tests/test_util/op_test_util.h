// Shared helpers for operator tests: a one-node graph builder, a runner that
// assembles the OpContext the executor would (initializers arrive as inputs
// too), seeded random data, comparisons whose failure message names the
// shapes and the first bad element, a float64 reference convolution, and the
// allocation count of a rerun for the "no heap allocation per run once
// outputs have grown" contract.
//
// Include from exactly one .cc per test binary: through allocation_counter.h
// it replaces the global operator new/delete to count allocations.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/engine/op.h"
#include "core/graph/graph.h"
#include "core/graph/shape.h"
#include "core/graph/tensor.h"
#include "core/util/status.h"
#include "core/util/thread_pool.h"
#include "gtest/gtest.h"
#include "tests/test_util/allocation_counter.h"
#include "tests/test_util/graph_builder.h"

namespace bnserve::testing {

using RegisterFn = void (*)(OpRegistry*);

// `count` values uniform in [lo, hi), reproducible from `seed`.
inline std::vector<float> RandomValues(int64_t count, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(static_cast<size_t>(count));
  for (float& v : values) v = dist(rng);
  return values;
}

inline Tensor RandomTensor(const Shape& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  return Tensor(shape, RandomValues(shape.NumElements(), seed, lo, hi));
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
// The message gives the number of bad elements and the first one's index.
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

// TensorNear for results that are sums of mixed signs (convolutions, GEMMs):
// the absolute floor is rel_tol times 1% of the largest |expected|, so values
// near zero are judged against the output's scale. `what` names the case.
inline void ExpectAllClose(const Tensor& actual, const Shape& expected_shape, const std::vector<double>& expected,
                           double rel_tol, const std::string& what) {
  double max_abs = 0.0;
  for (double e : expected) max_abs = std::max(max_abs, std::fabs(e));
  const double floor = std::max(max_abs * 1e-2, 1e-6);
  EXPECT_TRUE(TensorNear(actual, expected_shape, expected, rel_tol, rel_tol * floor)) << what;
}

// A graph holding one node of `op_type` at `opset`, named "test_<op_type>",
// built up input by input: runtime values, initializers (passed to the op as
// views at run time, as the executor does) or absent optional inputs.
// Building and configuring are not thread-safe; once configured, Run may be
// called concurrently (it only reads the graph).
class OpTest {
 public:
  explicit OpTest(std::string op_type, int64_t opset = 13, std::string domain = "") {
    graph_.opset = opset;
    node_.op_type = std::move(op_type);
    node_.domain = std::move(domain);
    node_.name = "test_" + node_.op_type;
    node_.outputs = {"y"};
  }

  OpTest& Name(std::string name) {
    node_.name = std::move(name);
    return *this;
  }
  // A runtime input; unnamed ones are called in<position>.
  OpTest& Input(std::string name = "") {
    node_.inputs.push_back(name.empty() ? "in" + std::to_string(node_.inputs.size()) : std::move(name));
    return *this;
  }
  // An initializer input; unnamed ones are called const<position>.
  OpTest& ConstantInput(ConstantTensor value, std::string name = "") {
    if (name.empty()) name = "const" + std::to_string(node_.inputs.size());
    node_.inputs.push_back(name);
    if (value.dtype == DataType::kInt64) {
      // The executor hands every input over as float32; the op must use the
      // build-time constant rather than this lossy view.
      int_views_[name].assign(value.ints.begin(), value.ints.end());
    }
    graph_.SetInitializer(name, std::move(value));
    return *this;
  }
  OpTest& ConstantInput(const std::string& name, const Tensor& value) {
    return ConstantInput(FloatConstant(value.shape, value.ToVector()), name);
  }
  OpTest& AbsentInput() {
    node_.inputs.emplace_back();
    return *this;
  }
  // Replaces the output names (an empty name = optional output not requested).
  OpTest& Outputs(std::vector<std::string> names) {
    node_.outputs = std::move(names);
    return *this;
  }
  OpTest& Attr(const std::string& key, Attribute value) {
    node_.attributes[key] = std::move(value);
    return *this;
  }

  Node& node() { return node_; }
  const Graph& graph() const { return graph_; }

  absl::StatusOr<std::unique_ptr<Op>> Build(RegisterFn register_ops) const {
    OpRegistry registry;
    register_ops(&registry);
    return registry.Create(OpBuildContext{node_, graph_});
  }

  // Runs from now on give ops this intra-op pool (null: single-threaded).
  OpTest& WithThreadPool(ThreadPool* pool) {
    thread_pool_ = pool;
    return *this;
  }

  // Runs `op` with `runtime_inputs` bound, in order, to the runtime inputs.
  // `outputs` is resized to the node's output count and may be reused between
  // runs (as the executor does); so may `scratch`, to test reuse (by default
  // each run gets a fresh one, as a per-request workspace).
  absl::Status Run(const Op& op, const std::vector<const Tensor*>& runtime_inputs, std::vector<Tensor>* outputs,
                   std::vector<float>* scratch = nullptr) const {
    return WithContext(runtime_inputs, outputs, scratch, [&op](const OpContext& ctx) { return op.Run(ctx); });
  }

  // Runs `op` twice on the same outputs and returns how many heap
  // allocations the second Run made (the executor's steady state), or -1
  // with `*status` set when a run fails.
  int64_t AllocationsOnRerun(const Op& op, const std::vector<const Tensor*>& runtime_inputs,
                             std::vector<Tensor>* outputs, absl::Status* status) const {
    int64_t allocations = -1;
    *status = WithContext(runtime_inputs, outputs, nullptr, [&](const OpContext& ctx) {
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
  absl::Status WithContext(const std::vector<const Tensor*>& runtime, std::vector<Tensor>* outputs,
                           std::vector<float>* scratch, const std::function<absl::Status(const OpContext&)>& fn) const {
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
    std::vector<float> local_scratch;
    OpContext ctx(inputs.data(), static_cast<int>(inputs.size()), output_ptrs.data(),
                  static_cast<int>(output_ptrs.size()), scratch != nullptr ? scratch : &local_scratch, nullptr,
                  thread_pool_);
    return fn(ctx);
  }

  Graph graph_;
  Node node_;
  std::map<std::string, std::vector<float>> int_views_;
  ThreadPool* thread_pool_ = nullptr;
};

// Plain float64 convolution, the reference for Conv. x is [N, C, spatial...]
// with 1, 2 or 3 spatial dims, w is [M, C/group, kernel...], bias is [M] or empty;
// strides/dilations have one entry per spatial dim and pads are explicit
// (begin..., end...). Returns Y and sets *y_shape.
inline std::vector<double> ReferenceConv(const Tensor& x, const Tensor& w, const std::vector<float>& bias,
                                         const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                                         const std::vector<int64_t>& pads, int64_t group, Shape* y_shape) {
  const int spatial = x.shape.rank() - 2;
  // View 1-D and 2-D as 3-D [D, H, W] with leading dummy axes of size 1.
  int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
  int64_t p_lo[3] = {0, 0, 0}, p_hi[3] = {0, 0, 0}, out[3] = {1, 1, 1};
  for (int i = 0; i < spatial; ++i) {
    const int a = 3 - spatial + i;
    in[a] = x.shape[2 + i];
    k[a] = w.shape[2 + i];
    s[a] = strides[i];
    d[a] = dilations[i];
    p_lo[a] = pads[i];
    p_hi[a] = pads[spatial + i];
  }
  for (int a = 0; a < 3; ++a) out[a] = (in[a] + p_lo[a] + p_hi[a] - (d[a] * (k[a] - 1) + 1)) / s[a] + 1;
  const int64_t n_batch = x.shape[0], channels = x.shape[1], out_channels = w.shape[0];
  const int64_t c_per_group = channels / group, m_per_group = out_channels / group;
  std::vector<int64_t> y_dims = {n_batch, out_channels};
  for (int a = 3 - spatial; a < 3; ++a) y_dims.push_back(out[a]);
  *y_shape = Shape::FromDims(y_dims).value();
  const int64_t in_volume = in[0] * in[1] * in[2], out_volume = out[0] * out[1] * out[2];
  const int64_t taps = k[0] * k[1] * k[2];
  std::vector<double> y(static_cast<size_t>(n_batch * out_channels * out_volume));
  for (int64_t n = 0; n < n_batch; ++n) {
    for (int64_t m = 0; m < out_channels; ++m) {
      const int64_t g = m / m_per_group;
      for (int64_t o = 0; o < out_volume; ++o) {
        const int64_t o_pos[3] = {o / (out[1] * out[2]), o / out[2] % out[1], o % out[2]};
        double sum = bias.empty() ? 0.0 : bias[m];
        for (int64_t c = 0; c < c_per_group; ++c) {
          for (int64_t t = 0; t < taps; ++t) {
            const int64_t t_pos[3] = {t / (k[1] * k[2]), t / k[2] % k[1], t % k[2]};
            int64_t i_pos[3];
            bool inside = true;
            for (int a = 0; a < 3; ++a) {
              i_pos[a] = o_pos[a] * s[a] - p_lo[a] + t_pos[a] * d[a];
              inside = inside && i_pos[a] >= 0 && i_pos[a] < in[a];
            }
            if (!inside) continue;
            const double xv = x.data[(n * channels + g * c_per_group + c) * in_volume +
                                     (i_pos[0] * in[1] + i_pos[1]) * in[2] + i_pos[2]];
            const double wv = w.data[(m * c_per_group + c) * taps + t];
            sum += xv * wv;
          }
        }
        y[(n * out_channels + m) * out_volume + o] = sum;
      }
    }
  }
  return y;
}

}  // namespace bnserve::testing
