// Shared helpers for operator tests: a one-node graph builder, a runner that
// assembles the OpContext the executor would, seeded random data, a float64
// reference convolution, and a tolerant comparison whose failure message
// names the shapes involved. Header-only; include from any *_test.cc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/graph.h"
#include "core/op.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "gtest/gtest.h"

namespace bnserve::testing {

inline Attribute IntAttr(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}

inline Attribute IntsAttr(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

inline Attribute FloatAttr(float v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloat;
  a.f = v;
  return a;
}

inline Attribute StringAttr(std::string v) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = std::move(v);
  return a;
}

// `count` values uniform in [lo, hi), reproducible from `seed`.
inline std::vector<float> RandomValues(int64_t count, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(static_cast<size_t>(count));
  for (float& v : values) v = dist(rng);
  return values;
}

inline Tensor RandomTensor(const Shape& shape, uint32_t seed) {
  return Tensor(shape, RandomValues(shape.NumElements(), seed));
}

// A graph holding one node, built up input by input. Constant inputs become
// initializers; at run time they are passed to the op as views, as the
// executor does.
class OpTest {
 public:
  explicit OpTest(std::string op_type, int64_t opset = 13) {
    graph_.opset = opset;
    node_.op_type = std::move(op_type);
    node_.name = "test_" + node_.op_type;
    node_.outputs = {"y"};
  }

  OpTest& Name(std::string name) {
    node_.name = std::move(name);
    return *this;
  }
  OpTest& Input(const std::string& name) {
    node_.inputs.push_back(name);
    return *this;
  }
  OpTest& ConstantInput(const std::string& name, const Tensor& value) {
    node_.inputs.push_back(name);
    ConstantTensor c;
    c.shape = value.shape;
    c.floats = value.data;
    graph_.SetInitializer(name, std::move(c));
    return *this;
  }
  OpTest& AbsentInput() {
    node_.inputs.emplace_back();
    return *this;
  }
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

  absl::StatusOr<std::unique_ptr<Op>> Build(void (*register_ops)(OpRegistry*)) const {
    OpRegistry registry;
    register_ops(&registry);
    return registry.Create(OpBuildContext{node_, graph_});
  }

  // Runs `op` with `runtime_inputs` feeding the node's non-constant, present
  // inputs in order; outputs are resized by the op. `scratch` may be shared
  // between runs to test reuse.
  absl::Status Run(const Op& op, const std::vector<const Tensor*>& runtime_inputs, std::vector<Tensor>* outputs,
                   std::vector<float>* scratch = nullptr) const {
    std::vector<TensorView> views;
    size_t next = 0;
    for (const std::string& name : node_.inputs) {
      if (name.empty()) {
        views.emplace_back();
      } else if (const ConstantTensor* c = graph_.FindInitializer(name)) {
        views.push_back(TensorView{c->shape, c->floats.data()});
      } else {
        if (next >= runtime_inputs.size()) return absl::InternalError("test: too few runtime inputs");
        views.push_back(runtime_inputs[next++]->view());
      }
    }
    outputs->resize(node_.outputs.size());
    std::vector<Tensor*> output_ptrs;
    for (Tensor& t : *outputs) output_ptrs.push_back(&t);
    std::vector<float> local_scratch;
    OpContext ctx(views.data(), static_cast<int>(views.size()), output_ptrs.data(),
                  static_cast<int>(output_ptrs.size()), scratch != nullptr ? scratch : &local_scratch, nullptr);
    return op.Run(ctx);
  }

 private:
  Graph graph_;
  Node node_;
};

// Expects `actual` to have `expected_shape` and every element to satisfy
// |actual - expected| <= rel_tol * max(|expected|, max |expected| * 1e-2),
// i.e. relative, with a floor for values near zero (sums of mixed signs).
// `what` is printed with any failure (put the case's shapes in it).
inline void ExpectAllClose(const Tensor& actual, const Shape& expected_shape, const std::vector<double>& expected,
                           double rel_tol, const std::string& what) {
  ASSERT_EQ(actual.shape, expected_shape) << what << ": output shape " << actual.shape.ToString()
                                          << ", expected " << expected_shape.ToString();
  ASSERT_EQ(actual.data.size(), expected.size()) << what;
  double max_abs = 0.0;
  for (double e : expected) max_abs = std::max(max_abs, std::fabs(e));
  const double floor = std::max(max_abs * 1e-2, 1e-6);
  int reported = 0;
  int64_t mismatches = 0;
  std::ostringstream details;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double tol = rel_tol * std::max(std::fabs(expected[i]), floor);
    const double diff = std::fabs(static_cast<double>(actual.data[i]) - expected[i]);
    if (!(diff <= tol)) {  // also catches NaN
      ++mismatches;
      if (reported++ < 5) {
        details << "\n  [" << i << "] got " << actual.data[i] << ", expected " << expected[i] << " (tol " << tol
                << ")";
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << what << ": output " << expected_shape.ToString() << ", " << mismatches
                           << " mismatches:" << details.str();
}

// Plain float64 convolution, the reference for Conv. x is [N, C, spatial...]
// with 1 or 2 spatial dims, w is [M, C/group, kernel...], bias is [M] or empty;
// strides/dilations have one entry per spatial dim and pads are explicit
// (begin..., end...). Returns Y and sets *y_shape.
inline std::vector<double> ReferenceConv(const Tensor& x, const Tensor& w, const std::vector<float>& bias,
                                         const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                                         const std::vector<int64_t>& pads, int64_t group, Shape* y_shape) {
  const int spatial = x.shape.rank() - 2;
  // View 1-D as 2-D with height 1.
  const int64_t n_batch = x.shape[0], channels = x.shape[1], out_channels = w.shape[0];
  const int64_t in_h = spatial == 2 ? x.shape[2] : 1, in_w = x.shape[spatial + 1];
  const int64_t k_h = spatial == 2 ? w.shape[2] : 1, k_w = w.shape[spatial + 1];
  const int64_t s_h = spatial == 2 ? strides[0] : 1, s_w = strides[spatial - 1];
  const int64_t d_h = spatial == 2 ? dilations[0] : 1, d_w = dilations[spatial - 1];
  const int64_t p_top = spatial == 2 ? pads[0] : 0, p_left = pads[spatial - 1];
  const int64_t p_bottom = spatial == 2 ? pads[2] : 0, p_right = pads[2 * spatial - 1];
  const int64_t out_h = (in_h + p_top + p_bottom - (d_h * (k_h - 1) + 1)) / s_h + 1;
  const int64_t out_w = (in_w + p_left + p_right - (d_w * (k_w - 1) + 1)) / s_w + 1;
  const int64_t c_per_group = channels / group, m_per_group = out_channels / group;
  *y_shape = spatial == 2 ? Shape{n_batch, out_channels, out_h, out_w} : Shape{n_batch, out_channels, out_w};
  std::vector<double> y(static_cast<size_t>(n_batch * out_channels * out_h * out_w));
  for (int64_t n = 0; n < n_batch; ++n) {
    for (int64_t m = 0; m < out_channels; ++m) {
      const int64_t g = m / m_per_group;
      for (int64_t oh = 0; oh < out_h; ++oh) {
        for (int64_t ow = 0; ow < out_w; ++ow) {
          double sum = bias.empty() ? 0.0 : bias[m];
          for (int64_t c = 0; c < c_per_group; ++c) {
            for (int64_t i = 0; i < k_h; ++i) {
              for (int64_t j = 0; j < k_w; ++j) {
                const int64_t ih = oh * s_h - p_top + i * d_h;
                const int64_t iw = ow * s_w - p_left + j * d_w;
                if (ih < 0 || ih >= in_h || iw < 0 || iw >= in_w) continue;
                const double xv = x.data[((n * channels + g * c_per_group + c) * in_h + ih) * in_w + iw];
                const double wv = w.data[((m * c_per_group + c) * k_h + i) * k_w + j];
                sum += xv * wv;
              }
            }
          }
          y[((n * out_channels + m) * out_h + oh) * out_w + ow] = sum;
        }
      }
    }
  }
  return y;
}

}  // namespace bnserve::testing
