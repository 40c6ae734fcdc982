// Building Graph values (core/graph/graph.h) by hand in tests: attributes,
// constant tensors and nodes, for graphs too small to be worth an ONNX file
// (tests/test_util/onnx_builder.h builds those).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/graph/graph.h"
#include "core/graph/shape.h"

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

inline Shape ShapeOf(const std::vector<int64_t>& dims) {
  Shape s;
  for (int64_t d : dims) s.push_back(d);
  return s;
}

inline Node MakeNode(const std::string& op_type, std::vector<std::string> inputs, std::vector<std::string> outputs,
                     const std::string& name) {
  Node n;
  n.op_type = op_type;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.name = name;
  return n;
}

}  // namespace bnserve::testing
