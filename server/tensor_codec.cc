#include "server/tensor_codec.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace bnserve {
namespace {

constexpr bool kHostIsLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

uint32_t SwapBytes(uint32_t v) { return __builtin_bswap32(v); }

// Copies little-endian float32 bytes into floats on any host.
void CopyFromLittleEndian(const char* bytes, int64_t count, float* out) {
  std::memcpy(out, bytes, static_cast<size_t>(count) * sizeof(float));
  if (!kHostIsLittleEndian) {
    for (int64_t i = 0; i < count; ++i) {
      uint32_t bits;
      std::memcpy(&bits, &out[i], sizeof(bits));
      bits = SwapBytes(bits);
      std::memcpy(&out[i], &bits, sizeof(bits));
    }
  }
}

}  // namespace

void CopyToLittleEndian(const float* values, int64_t count, std::string* out) {
  // assign, not resize + memcpy: one pass over the bytes instead of two.
  out->assign(reinterpret_cast<const char*>(values), static_cast<size_t>(count) * sizeof(float));
  if (!kHostIsLittleEndian) {
    for (int64_t i = 0; i < count; ++i) {
      uint32_t bits;
      std::memcpy(&bits, out->data() + i * sizeof(float), sizeof(bits));
      bits = SwapBytes(bits);
      std::memcpy(out->data() + i * sizeof(float), &bits, sizeof(bits));
    }
  }
}

absl::Status DecodeTensor(const v1::Tensor& tensor, absl::string_view field, DecodedTensors* out) {
  BN_ASSIGN_OR_RETURN(Shape shape, Shape::FromDims(absl::MakeConstSpan(tensor.shape().data(), tensor.shape().size()),
                                                   absl::StrCat(field, ".shape")));
  const std::string& raw = tensor.raw_float32_le();
  if (!raw.empty() && tensor.values_size() > 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected either values or raw_float32_le, got both (",
                                                   tensor.values_size(), " values and ", raw.size(), " bytes)"));
  }
  if (!raw.empty()) return out->AddRawFloat32(tensor.name(), shape, raw, absl::StrCat(field, ".raw_float32_le"));
  return out->AddValues(tensor.name(), shape, tensor.values().data(), tensor.values_size(),
                        absl::StrCat(field, ".values"));
}

absl::Status DecodedTensors::AddValues(absl::string_view name, const Shape& shape, const float* data, int64_t count,
                                       absl::string_view field) {
  const int64_t numel = shape.NumElements();
  if (count != numel) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected ", numel, " values for shape ", shape.ToString(), ", got ", count));
  }
  views.push_back(TensorView{shape, data});
  names.emplace_back(name);
  return absl::OkStatus();
}

absl::Status DecodedTensors::AddRawFloat32(absl::string_view name, const Shape& shape, const std::string& raw,
                                           absl::string_view field) {
  const int64_t numel = shape.NumElements();
  const uint64_t expected = static_cast<uint64_t>(numel) * sizeof(float);
  if (raw.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected 4 * ", numel, " = ", expected,
                                                   " bytes for shape ", shape.ToString(), ", got ", raw.size()));
  }
  TensorView view;
  view.shape = shape;
  if (kHostIsLittleEndian && reinterpret_cast<uintptr_t>(raw.data()) % alignof(float) == 0) {
    // The bytes already are the floats: no copy (a 224x224x3 image is
    // 600 KB). protobuf filled the buffer with memcpy, which implicitly
    // creates the float objects read here (P0593R6, applied as a defect
    // report to earlier standards).
    view.data = reinterpret_cast<const float*>(raw.data());
  } else {
    std::vector<float> values(static_cast<size_t>(numel));
    CopyFromLittleEndian(raw.data(), numel, values.data());
    view.data = values.data();
    owned_.push_back(std::move(values));
  }
  views.push_back(view);
  names.emplace_back(name);
  return absl::OkStatus();
}

absl::Status DecodeTensors(const google::protobuf::RepeatedPtrField<v1::Tensor>& tensors, absl::string_view field,
                           DecodedTensors* out) {
  out->views.reserve(out->views.size() + tensors.size());
  for (int i = 0; i < tensors.size(); ++i) {
    BN_RETURN_IF_ERROR(DecodeTensor(tensors[i], absl::StrCat(field, "[", i, "]"), out));
  }
  return absl::OkStatus();
}

void EncodeTensor(const std::string& name, const TensorView& view, v1::TensorEncoding encoding, v1::Tensor* out) {
  out->set_name(name);
  for (int64_t d : view.shape) out->add_shape(d);
  const int64_t numel = view.size();
  if (encoding == v1::TENSOR_ENCODING_RAW_FLOAT32_LE) {
    CopyToLittleEndian(view.data, numel, out->mutable_raw_float32_le());
  } else {
    out->mutable_values()->Add(view.data, view.data + numel);
  }
}

v1::TensorEncoding ResolveEncoding(v1::TensorEncoding requested,
                                   const google::protobuf::RepeatedPtrField<v1::Tensor>& inputs) {
  if (requested == v1::TENSOR_ENCODING_VALUES || requested == v1::TENSOR_ENCODING_RAW_FLOAT32_LE) {
    return requested;
  }
  if (!inputs.empty() && !inputs[0].raw_float32_le().empty()) return v1::TENSOR_ENCODING_RAW_FLOAT32_LE;
  return v1::TENSOR_ENCODING_VALUES;
}

}  // namespace bnserve
