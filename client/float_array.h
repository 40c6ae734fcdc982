// FloatArray and LabelArray: dense, row-major arrays read from files on the
// client side (the first dim indexes instances). Plain values: the owner of
// the struct owns the data. Deliberately independent of core/ (a client only
// needs the wire contract, not the engine).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bnserve::client {

struct FloatArray {
  std::vector<int64_t> shape;
  std::vector<float> values;  // product(shape) values, C order

  // Instances: the first dim (1 for a scalar).
  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  // Values per instance: product of every dim but the first.
  int64_t row_size() const {
    int64_t n = 1;
    for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
    return n;
  }
};

// Class labels (int64 or int32 on disk, widened).
struct LabelArray {
  std::vector<int64_t> shape;
  std::vector<int64_t> values;
};

// "[600,1,8,8]".
std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace bnserve::client
