// Float32 tensors: an owning Tensor (used for weights, outputs and workspace
// buffers) and non-owning views (used to hand request data to the engine
// without copying). Data is dense, row-major, channel axis 1 (ONNX layout).
#pragma once

#include <cstdint>
#include <vector>

#include "core/shape.h"

namespace bnserve {

struct TensorView {
  Shape shape;
  const float* data = nullptr;
  int64_t size() const { return shape.NumElements(); }
};

struct Tensor {
  Shape shape;
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(const Shape& s) : shape(s), data(static_cast<size_t>(s.NumElements())) {}
  Tensor(const Shape& s, std::vector<float> values) : shape(s), data(std::move(values)) {}

  // Sets the shape and sizes the buffer. Never shrinks capacity, so a
  // workspace tensor reused with the same or smaller shapes stops allocating
  // after the first run.
  void Resize(const Shape& s) {
    shape = s;
    data.resize(static_cast<size_t>(s.NumElements()));
  }
  int64_t size() const { return static_cast<int64_t>(data.size()); }
  TensorView view() const { return TensorView{shape, data.data()}; }
};

}  // namespace bnserve
