// Float32 tensors: an owning Tensor (used for weights, outputs and workspace
// buffers) and non-owning views (used to hand request data to the engine
// without copying). Data is dense, row-major, channel axis 1 (ONNX layout).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/graph/shape.h"
#include "core/util/float_buffer.h"

namespace bnserve {

struct TensorView {
  Shape shape;
  const float* data = nullptr;
  int64_t size() const { return shape.NumElements(); }
};

struct Tensor {
  Shape shape;
  FloatBuffer data;

  Tensor() = default;
  // Zero-filled.
  explicit Tensor(const Shape& s) : shape(s), data(static_cast<size_t>(s.NumElements()), 0.0f) {}
  Tensor(const Shape& s, const std::vector<float>& values) : shape(s), data(values.begin(), values.end()) {}

  // Sets the shape and sizes the buffer; the contents are unspecified (the
  // caller overwrites them all). Never shrinks capacity, so a workspace
  // tensor reused with the same or smaller shapes stops allocating after the
  // first run.
  void Resize(const Shape& s) {
    shape = s;
    data.resize(static_cast<size_t>(s.NumElements()));
#ifdef BNSERVE_POISON_RESIZE
    std::fill(data.begin(), data.end(), std::numeric_limits<float>::quiet_NaN());
#endif
  }
  int64_t size() const { return static_cast<int64_t>(data.size()); }
  std::vector<float> ToVector() const { return {data.begin(), data.end()}; }
  TensorView view() const { return TensorView{shape, data.data()}; }
};

}  // namespace bnserve
