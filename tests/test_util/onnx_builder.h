// OnnxBuilder: builds small onnx::ModelProto models in C++ tests, fluently:
//
//   std::string bytes = OnnxBuilder(/*opset=*/15)
//       .Input("x", {"batch", 3})
//       .Output("y", {"batch", 3})
//       .BatchNorm("bn1", "x", "y", {1, 1, 1}, {0, 0, 0}, {0.5, -1, 2}, {1, 4, 9})
//       .AttrFloat("epsilon", 1e-3f)
//       .Bytes();
//
// Attr*() calls apply to the most recently added node. Tensors can be stored
// as raw_data (little-endian, what exporters write) or in the typed fields
// (float_data, double_data, int64_data, int32_data), or moved to an external
// data file (MoveToExternal, MakeTestDir, WriteTestFile). Test-only; not
// thread-safe.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "onnx/onnx_pb.h"

namespace bnserve::testing {

enum class TensorEncoding { kRaw, kTyped };

// A graph input/output dimension: a fixed size, a symbolic name ("batch"), or
// unknown (OnnxDim("") or a negative size: neither dim_value nor dim_param).
struct OnnxDim {
  OnnxDim(int size) : size(size) {}             // NOLINT: implicit so {"batch", 3} reads naturally
  OnnxDim(int64_t size) : size(size) {}         // NOLINT
  OnnxDim(const char* param) : param(param) {}  // NOLINT
  int64_t size = -1;
  std::string param;
};

namespace builder_internal {

inline void AppendLittleEndian(uint64_t v, int size, std::string* out) {
  for (int b = 0; b < size; ++b) out->push_back(static_cast<char>((v >> (8 * b)) & 0xff));
}

inline onnx::TensorProto MakeTensor(const std::string& name, const std::vector<int64_t>& dims, int32_t data_type) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(data_type);
  for (int64_t d : dims) t.add_dims(d);
  return t;
}

}  // namespace builder_internal

inline onnx::TensorProto FloatTensor(const std::string& name, const std::vector<int64_t>& dims,
                                     const std::vector<float>& values, TensorEncoding encoding = TensorEncoding::kRaw) {
  onnx::TensorProto t = builder_internal::MakeTensor(name, dims, onnx::TensorProto::FLOAT);
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    if (encoding == TensorEncoding::kRaw) {
      builder_internal::AppendLittleEndian(bits, 4, t.mutable_raw_data());
    } else {
      t.add_float_data(v);
    }
  }
  return t;
}

inline onnx::TensorProto DoubleTensor(const std::string& name, const std::vector<int64_t>& dims,
                                      const std::vector<double>& values,
                                      TensorEncoding encoding = TensorEncoding::kRaw) {
  onnx::TensorProto t = builder_internal::MakeTensor(name, dims, onnx::TensorProto::DOUBLE);
  for (double v : values) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    if (encoding == TensorEncoding::kRaw) {
      builder_internal::AppendLittleEndian(bits, 8, t.mutable_raw_data());
    } else {
      t.add_double_data(v);
    }
  }
  return t;
}

// FLOAT16 from bit patterns (e.g. 0x3C00 = 1.0); typed form uses int32_data.
inline onnx::TensorProto Float16Tensor(const std::string& name, const std::vector<int64_t>& dims,
                                       const std::vector<uint16_t>& bits,
                                       TensorEncoding encoding = TensorEncoding::kRaw) {
  onnx::TensorProto t = builder_internal::MakeTensor(name, dims, onnx::TensorProto::FLOAT16);
  for (uint16_t b : bits) {
    if (encoding == TensorEncoding::kRaw) {
      builder_internal::AppendLittleEndian(b, 2, t.mutable_raw_data());
    } else {
      t.add_int32_data(b);
    }
  }
  return t;
}

// Integer tensors of any integer `data_type` (INT64, INT32, INT16, INT8,
// UINT16, UINT8, BOOL). Typed form: int64_data for INT64, else int32_data.
inline onnx::TensorProto IntTensor(const std::string& name, const std::vector<int64_t>& dims,
                                   const std::vector<int64_t>& values, int32_t data_type = onnx::TensorProto::INT64,
                                   TensorEncoding encoding = TensorEncoding::kRaw) {
  onnx::TensorProto t = builder_internal::MakeTensor(name, dims, data_type);
  int size = 8;
  switch (data_type) {
    case onnx::TensorProto::INT32:
      size = 4;
      break;
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::UINT16:
      size = 2;
      break;
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::BOOL:
      size = 1;
      break;
    default:
      break;
  }
  for (int64_t v : values) {
    if (encoding == TensorEncoding::kRaw) {
      builder_internal::AppendLittleEndian(static_cast<uint64_t>(v), size, t.mutable_raw_data());
    } else if (data_type == onnx::TensorProto::INT64) {
      t.add_int64_data(v);
    } else {
      t.add_int32_data(static_cast<int32_t>(v));
    }
  }
  return t;
}

// Moves `tensor`'s raw_data out to external storage: sets data_location
// EXTERNAL with external_data location/offset/length and returns the bytes
// the caller must place at `offset` in `location`.
inline std::string MoveToExternal(const std::string& location, int64_t offset, onnx::TensorProto* tensor) {
  std::string bytes = std::move(*tensor->mutable_raw_data());
  tensor->clear_raw_data();
  tensor->set_data_location(onnx::TensorProto::EXTERNAL);
  const std::pair<const char*, std::string> entries[] = {
      {"location", location}, {"offset", std::to_string(offset)}, {"length", std::to_string(bytes.size())}};
  for (const auto& [key, value] : entries) {
    onnx::StringStringEntryProto* e = tensor->add_external_data();
    e->set_key(key);
    e->set_value(value);
  }
  return bytes;
}

// A fresh, empty directory for files of one test (unique per process, since
// ctest may run test cases of one binary in parallel processes).
inline std::string MakeTestDir(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("bnserve_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

inline void WriteTestFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class OnnxBuilder {
 public:
  // A model with ir_version 8, producer "onnx_builder 1", and an opset_import
  // of the default domain ("") at `opset`.
  explicit OnnxBuilder(int64_t opset = 15) {
    model_.set_ir_version(8);
    model_.set_producer_name("onnx_builder");
    model_.set_producer_version("1");
    Opset("", opset);
    model_.mutable_graph()->set_name("test_graph");
  }

  OnnxBuilder& IrVersion(int64_t version) {
    model_.set_ir_version(version);
    return *this;
  }
  OnnxBuilder& Producer(const std::string& name, const std::string& version) {
    model_.set_producer_name(name);
    model_.set_producer_version(version);
    return *this;
  }
  // Adds an opset_import entry (or updates the one for `domain`).
  OnnxBuilder& Opset(const std::string& domain, int64_t version) {
    for (onnx::OperatorSetIdProto& o : *model_.mutable_opset_import()) {
      if (o.domain() == domain) {
        o.set_version(version);
        return *this;
      }
    }
    onnx::OperatorSetIdProto* o = model_.add_opset_import();
    o->set_domain(domain);
    o->set_version(version);
    return *this;
  }
  OnnxBuilder& ClearOpsets() {
    model_.clear_opset_import();
    return *this;
  }

  OnnxBuilder& Input(const std::string& name, const std::vector<OnnxDim>& dims,
                     int32_t elem_type = onnx::TensorProto::FLOAT) {
    SetValueInfo(name, dims, elem_type, graph()->add_input());
    return *this;
  }
  OnnxBuilder& Output(const std::string& name, const std::vector<OnnxDim>& dims,
                      int32_t elem_type = onnx::TensorProto::FLOAT) {
    SetValueInfo(name, dims, elem_type, graph()->add_output());
    return *this;
  }

  OnnxBuilder& Initializer(onnx::TensorProto tensor) {
    *graph()->add_initializer() = std::move(tensor);
    return *this;
  }
  OnnxBuilder& Initializer(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values,
                           TensorEncoding encoding = TensorEncoding::kRaw) {
    return Initializer(FloatTensor(name, dims, values, encoding));
  }

  OnnxBuilder& Node(const std::string& op_type, const std::vector<std::string>& inputs,
                    const std::vector<std::string>& outputs, const std::string& name = "",
                    const std::string& domain = "") {
    onnx::NodeProto* node = graph()->add_node();
    node->set_op_type(op_type);
    node->set_name(name);
    if (!domain.empty()) node->set_domain(domain);
    for (const std::string& in : inputs) node->add_input(in);
    for (const std::string& out : outputs) node->add_output(out);
    return *this;
  }
  // A Constant node with a `value` tensor attribute (the tensor's name is set
  // to `output`, as exporters do).
  OnnxBuilder& Constant(const std::string& output, onnx::TensorProto value, const std::string& name = "") {
    value.set_name(output);
    return Node("Constant", {}, {output}, name).AttrTensor("value", std::move(value));
  }
  // BatchNormalization node `name` reading initializers
  // "<name>.weight", "<name>.bias", "<name>.running_mean", "<name>.running_var"
  // (PyTorch's names), all FLOAT raw_data of length C = mean.size().
  OnnxBuilder& BatchNorm(const std::string& name, const std::string& input, const std::string& output,
                         const std::vector<float>& gamma, const std::vector<float>& beta,
                         const std::vector<float>& mean, const std::vector<float>& var) {
    const int64_t c = static_cast<int64_t>(mean.size());
    Initializer(name + ".weight", {c}, gamma);
    Initializer(name + ".bias", {c}, beta);
    Initializer(name + ".running_mean", {c}, mean);
    Initializer(name + ".running_var", {c}, var);
    return Node("BatchNormalization",
                {input, name + ".weight", name + ".bias", name + ".running_mean", name + ".running_var"}, {output},
                name);
  }

  OnnxBuilder& AttrInt(const std::string& key, int64_t v) {
    AddAttr(key, onnx::AttributeProto::INT)->set_i(v);
    return *this;
  }
  OnnxBuilder& AttrFloat(const std::string& key, float v) {
    AddAttr(key, onnx::AttributeProto::FLOAT)->set_f(v);
    return *this;
  }
  OnnxBuilder& AttrString(const std::string& key, const std::string& v) {
    AddAttr(key, onnx::AttributeProto::STRING)->set_s(v);
    return *this;
  }
  OnnxBuilder& AttrInts(const std::string& key, const std::vector<int64_t>& v) {
    onnx::AttributeProto* a = AddAttr(key, onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
    return *this;
  }
  OnnxBuilder& AttrFloats(const std::string& key, const std::vector<float>& v) {
    onnx::AttributeProto* a = AddAttr(key, onnx::AttributeProto::FLOATS);
    for (float x : v) a->add_floats(x);
    return *this;
  }
  OnnxBuilder& AttrTensor(const std::string& key, onnx::TensorProto v) {
    *AddAttr(key, onnx::AttributeProto::TENSOR)->mutable_t() = std::move(v);
    return *this;
  }
  OnnxBuilder& AttrGraph(const std::string& key, onnx::GraphProto v) {
    *AddAttr(key, onnx::AttributeProto::GRAPH)->mutable_g() = std::move(v);
    return *this;
  }

  OnnxBuilder& MetadataProp(const std::string& key, const std::string& value) {
    onnx::StringStringEntryProto* e = model_.add_metadata_props();
    e->set_key(key);
    e->set_value(value);
    return *this;
  }

  const onnx::ModelProto& model() const { return model_; }
  onnx::ModelProto* mutable_model() { return &model_; }
  std::string Bytes() const { return model_.SerializeAsString(); }

 private:
  onnx::GraphProto* graph() { return model_.mutable_graph(); }

  onnx::AttributeProto* AddAttr(const std::string& key, onnx::AttributeProto::AttributeType type) {
    if (graph()->node_size() == 0) {  // Attr*() before any Node() is a bug in the test
      std::fprintf(stderr, "OnnxBuilder: attribute '%s' added before any node\n", key.c_str());
      std::abort();
    }
    onnx::NodeProto* node = graph()->mutable_node(graph()->node_size() - 1);
    onnx::AttributeProto* a = node->add_attribute();
    a->set_name(key);
    a->set_type(type);
    return a;
  }

  static void SetValueInfo(const std::string& name, const std::vector<OnnxDim>& dims, int32_t elem_type,
                           onnx::ValueInfoProto* info) {
    info->set_name(name);
    onnx::TypeProto::Tensor* tensor_type = info->mutable_type()->mutable_tensor_type();
    tensor_type->set_elem_type(elem_type);
    onnx::TensorShapeProto* shape = tensor_type->mutable_shape();
    for (const OnnxDim& d : dims) {
      onnx::TensorShapeProto::Dimension* dim = shape->add_dim();
      if (!d.param.empty()) {
        dim->set_dim_param(d.param);
      } else if (d.size >= 0) {
        dim->set_dim_value(d.size);
      }  // else: an unknown dimension, neither value nor param
    }
  }

  onnx::ModelProto model_;
};

}  // namespace bnserve::testing
