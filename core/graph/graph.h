// Graph: bnserve's in-memory form of an ONNX model graph, independent of the
// protobuf classes. The ONNX loader produces it; plan builders rewrite copies
// of it (BN folding, activation fusion) and then instantiate operators from it.
//
// Conventions:
// - `nodes` are topologically sorted (the loader checks and sorts).
// - Constant nodes are turned into `initializers` by the loader; a node never
//   has op_type "Constant".
// - An empty input name means "optional input not given", as in ONNX.
// - Internal rewrites may add attributes whose name starts with "_bnserve_".
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/graph/shape.h"
#include "core/graph/tensor.h"

namespace bnserve {

enum class DataType { kFloat, kInt64 };

// A constant tensor from an initializer or a Constant node. Float data is kept
// as float32 (converted from double/float16 by the loader when exact enough);
// integer data (shapes, axes) as int64.
struct ConstantTensor {
  DataType dtype = DataType::kFloat;
  Shape shape;
  std::vector<float> floats;  // dtype == kFloat
  std::vector<int64_t> ints;  // dtype == kInt64
  // Optional float64 values behind `floats`, set by graph rewrites that
  // compute parameters in float64 (BN scale/shift) so that a later rewrite
  // (folding into a Conv) can round once instead of twice.
  std::vector<double> exact;
};

struct Attribute {
  enum class Kind { kInt, kFloat, kString, kInts, kFloats, kTensor };
  Kind kind = Kind::kInt;
  int64_t i = 0;
  float f = 0.0f;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::shared_ptr<const ConstantTensor> tensor;
};

struct Node {
  std::string name;     // ONNX node name; may be empty in the file, the loader derives one
  std::string op_type;  // e.g. "Conv"
  std::string domain;   // "" for the default ONNX domain
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attributes;
  // True when `name` was made up by the loader because the file left it empty
  // or repeated it; BN layer naming then prefers the running-mean name.
  bool name_derived = false;

  const Attribute* FindAttribute(const std::string& key) const {
    auto it = attributes.find(key);
    return it == attributes.end() ? nullptr : &it->second;
  }
  int64_t GetInt(const std::string& key, int64_t fallback) const {
    const Attribute* a = FindAttribute(key);
    return a ? a->i : fallback;
  }
  float GetFloat(const std::string& key, float fallback) const {
    const Attribute* a = FindAttribute(key);
    return a ? a->f : fallback;
  }
  std::string GetString(const std::string& key, const std::string& fallback) const {
    const Attribute* a = FindAttribute(key);
    return a ? a->s : fallback;
  }
  std::vector<int64_t> GetInts(const std::string& key, std::vector<int64_t> fallback) const {
    const Attribute* a = FindAttribute(key);
    return a ? a->ints : fallback;
  }
  // Number of non-empty inputs at positions < inputs.size().
  bool HasInput(size_t index) const { return index < inputs.size() && !inputs[index].empty(); }
};

// One dimension of a graph input/output: a fixed size, or symbolic (size -1,
// with the ONNX dim_param name if it had one, e.g. "batch").
struct Dim {
  int64_t size = -1;
  std::string param;
  bool symbolic() const { return size < 0; }
};

struct ValueInfo {
  std::string name;
  std::vector<Dim> dims;
};

struct Graph {
  int64_t opset = 0;  // opset version of the default ("" / "ai.onnx") domain
  std::string producer;
  std::vector<ValueInfo> inputs;  // runtime inputs only (initializers excluded)
  std::vector<ValueInfo> outputs;
  std::vector<Node> nodes;  // topologically sorted
  // Shared and immutable: copying a Graph (each plan rewrites its own copy)
  // copies pointers, not weights, so the model and every plan built from it
  // hold one copy of each tensor they have in common.
  std::map<std::string, std::shared_ptr<const ConstantTensor>> initializers;

  const ConstantTensor* FindInitializer(const std::string& name) const {
    auto it = initializers.find(name);
    return it == initializers.end() ? nullptr : it->second.get();
  }
  void SetInitializer(const std::string& name, ConstantTensor value) {
    initializers[name] = std::make_shared<const ConstantTensor>(std::move(value));
  }
};

}  // namespace bnserve
