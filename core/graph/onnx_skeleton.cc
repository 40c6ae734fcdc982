#include "core/graph/onnx_skeleton.h"

#include <cstdint>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"

namespace bnserve {
namespace {

// The little-endian raw_data of float32 values (ONNX's layout), bit exact.
std::string FloatRawData(const std::vector<float>& values) {
  std::string raw(values.size() * 4, '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &values[i], 4);
    for (int b = 0; b < 4; ++b) raw[4 * i + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return raw;
}

}  // namespace

std::vector<std::string> StripInitializerPayloads(const Graph& graph, onnx::ModelProto* proto) {
  std::vector<std::string> stripped;
  for (onnx::TensorProto& t : *proto->mutable_graph()->mutable_initializer()) {
    if (t.data_type() != onnx::TensorProto::FLOAT || t.data_location() == onnx::TensorProto::EXTERNAL ||
        t.raw_data().empty()) {
      continue;
    }
    const ConstantTensor* value = graph.FindInitializer(t.name());
    if (value == nullptr || value->dtype != DataType::kFloat || value->floats.size() * 4 != t.raw_data().size()) {
      continue;
    }
    // clear_raw_data() would keep the string's capacity: swap it out.
    std::string().swap(*t.mutable_raw_data());
    stripped.push_back(t.name());
  }
  return stripped;
}

absl::Status RestoreInitializerPayloads(const Graph& graph, const std::vector<std::string>& names,
                                        onnx::ModelProto* proto) {
  std::map<std::string, onnx::TensorProto*> by_name;
  for (onnx::TensorProto& t : *proto->mutable_graph()->mutable_initializer()) by_name[t.name()] = &t;
  for (const std::string& name : names) {
    auto t = by_name.find(name);
    const ConstantTensor* value = graph.FindInitializer(name);
    if (t == by_name.end() || value == nullptr) {
      return absl::InternalError(absl::StrCat("initializer '", name, "': stripped from the model's protobuf but ",
                                              t == by_name.end() ? "no longer in it" : "not in its graph"));
    }
    t->second->set_raw_data(FloatRawData(value->floats));
  }
  return absl::OkStatus();
}

}  // namespace bnserve
