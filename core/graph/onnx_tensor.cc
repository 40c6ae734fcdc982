#include "core/graph/onnx_tensor.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace bnserve {
namespace {

using TensorType = onnx::TensorProto;

// How one ONNX element type is laid out in raw_data and what we turn it into.
struct ElementType {
  int size = 0;           // bytes per element in raw_data
  bool floating = false;  // decoded to float32 (else to int64)
  bool is_signed = true;  // integer raw_data: sign-extend
};

std::string DataTypeName(int32_t data_type) {
  return onnx::TensorProto_DataType_IsValid(data_type)
             ? onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(data_type))
             : absl::StrCat("#", data_type);
}

absl::StatusOr<ElementType> GetElementType(int32_t data_type, const std::string& what) {
  switch (data_type) {
    case TensorType::FLOAT:
      return ElementType{4, true, true};
    case TensorType::DOUBLE:
      return ElementType{8, true, true};
    case TensorType::FLOAT16:
      return ElementType{2, true, true};
    case TensorType::INT64:
      return ElementType{8, false, true};
    case TensorType::INT32:
      return ElementType{4, false, true};
    case TensorType::INT16:
      return ElementType{2, false, true};
    case TensorType::INT8:
      return ElementType{1, false, true};
    case TensorType::UINT16:
      return ElementType{2, false, false};
    case TensorType::UINT8:
      return ElementType{1, false, false};
    case TensorType::BOOL:
      return ElementType{1, false, false};
    default:
      return absl::UnimplementedError(absl::StrCat(
          what, ": data type ", DataTypeName(data_type),
          " is not supported (expected FLOAT, DOUBLE, FLOAT16, INT64, INT32, INT16, INT8, UINT16, UINT8 or BOOL)"));
  }
}

absl::StatusOr<Shape> ShapeOf(const onnx::TensorProto& tensor, const std::string& what) {
  auto shape = Shape::FromDims(absl::MakeConstSpan(tensor.dims().data(), tensor.dims_size()), "dims");
  if (!shape.ok()) return absl::DataLossError(absl::StrCat(what, ": ", shape.status().message()));
  return shape;
}

// The typed repeated field ONNX uses for `data_type`, as (name, count).
std::pair<const char*, int> TypedField(const onnx::TensorProto& tensor) {
  switch (tensor.data_type()) {
    case TensorType::FLOAT:
      return {"float_data", tensor.float_data_size()};
    case TensorType::DOUBLE:
      return {"double_data", tensor.double_data_size()};
    case TensorType::INT64:
      return {"int64_data", tensor.int64_data_size()};
    default:
      return {"int32_data", tensor.int32_data_size()};  // FLOAT16 bits and the small integers
  }
}

// Reads `size` bytes little-endian, independent of the host's byte order.
uint64_t LoadLittleEndian(const char* p, int size) {
  uint64_t v = 0;
  for (int b = 0; b < size; ++b) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[b])) << (8 * b);
  return v;
}

void StoreLittleEndian(uint64_t v, int size, char* p) {
  for (int b = 0; b < size; ++b) p[b] = static_cast<char>((v >> (8 * b)) & 0xff);
}

template <typename To, typename From>
To BitCast(From from) {
  static_assert(sizeof(To) == sizeof(From), "size mismatch");
  To to;
  std::memcpy(&to, &from, sizeof(to));
  return to;
}

// Sign-extends the low `size` bytes of `v`.
int64_t SignExtend(uint64_t v, int size) {
  if (size == 8) return static_cast<int64_t>(v);
  const int shift = 64 - 8 * size;
  return static_cast<int64_t>(v << shift) >> shift;
}

absl::StatusOr<float> NarrowToFloat(double v, int64_t index, const std::string& what) {
  // Casting an out-of-range double to float is undefined behaviour, so check first.
  if (std::isfinite(v) && std::fabs(v) > std::numeric_limits<float>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": value ", v, " at index ", index, " is outside the float32 range"));
  }
  return static_cast<float>(v);
}

absl::StatusOr<uint16_t> HalfFromInt32Field(int32_t v, int64_t index, const std::string& what) {
  if (v < 0 || v > 0xffff) {
    return absl::DataLossError(
        absl::StrCat(what, ": int32_data[", index, "] = ", v, " is not a float16 bit pattern (expected 0..65535)"));
  }
  return static_cast<uint16_t>(v);
}

// Decodes FLOAT/DOUBLE/FLOAT16 elements from raw bytes (raw != nullptr) or
// from the typed field.
absl::Status DecodeFloats(const onnx::TensorProto& tensor, const std::string* raw, int64_t numel,
                          const std::string& what, std::vector<float>* out) {
  out->resize(static_cast<size_t>(numel));
  for (int64_t i = 0; i < numel; ++i) {
    switch (tensor.data_type()) {
      case TensorType::FLOAT:
        (*out)[i] = raw ? BitCast<float>(static_cast<uint32_t>(LoadLittleEndian(raw->data() + 4 * i, 4)))
                        : tensor.float_data(static_cast<int>(i));
        break;
      case TensorType::DOUBLE: {
        const double v =
            raw ? BitCast<double>(LoadLittleEndian(raw->data() + 8 * i, 8)) : tensor.double_data(static_cast<int>(i));
        BN_ASSIGN_OR_RETURN((*out)[i], NarrowToFloat(v, i, what));
        break;
      }
      default: {  // FLOAT16
        uint16_t bits = 0;
        if (raw) {
          bits = static_cast<uint16_t>(LoadLittleEndian(raw->data() + 2 * i, 2));
        } else {
          BN_ASSIGN_OR_RETURN(bits, HalfFromInt32Field(tensor.int32_data(static_cast<int>(i)), i, what));
        }
        (*out)[i] = HalfBitsToFloat(bits);
        break;
      }
    }
  }
  return absl::OkStatus();
}

void DecodeInts(const onnx::TensorProto& tensor, const ElementType& type, const std::string* raw, int64_t numel,
                std::vector<int64_t>* out) {
  out->resize(static_cast<size_t>(numel));
  const bool is_bool = tensor.data_type() == TensorType::BOOL;
  for (int64_t i = 0; i < numel; ++i) {
    int64_t v;
    if (raw) {
      const uint64_t bits = LoadLittleEndian(raw->data() + type.size * i, type.size);
      v = type.is_signed ? SignExtend(bits, type.size) : static_cast<int64_t>(bits);
    } else if (tensor.data_type() == TensorType::INT64) {
      v = tensor.int64_data(static_cast<int>(i));
    } else {
      v = tensor.int32_data(static_cast<int>(i));
    }
    (*out)[i] = is_bool ? (v != 0) : v;
  }
}

absl::StatusOr<int64_t> ParseByteCount(const std::string& key, const std::string& value, const std::string& what) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < 0) {
    return absl::DataLossError(
        absl::StrCat(what, ": external_data '", key, "' must be a non-negative integer, got '", value, "'"));
  }
  return n;
}

// External data must stay inside the model's directory: a model file must not
// be able to make the server read arbitrary files.
absl::Status CheckRelativeLocation(const std::string& location, const std::string& what) {
  const bool absolute = location[0] == '/' || location[0] == '\\' || (location.size() > 1 && location[1] == ':');
  bool has_parent = false;
  for (absl::string_view part : absl::StrSplit(location, absl::ByAnyChar("/\\"))) has_parent |= part == "..";
  if (absolute || has_parent) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": external data location '", location,
                     "' escapes the model's directory (expected a relative path without '..')"));
  }
  return absl::OkStatus();
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : absl::StrCat(dir, "/", name);
}

}  // namespace

float HalfBitsToFloat(uint16_t bits) {
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  double magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(mantissa, -24);  // zero or subnormal
  } else if (exponent == 31) {
    magnitude = mantissa ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else {
    magnitude = std::ldexp(mantissa + 1024, exponent - 25);
  }
  return static_cast<float>((bits & 0x8000) ? -magnitude : magnitude);
}

uint16_t DoubleToHalfBits(double value) {
  const uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  const double a = std::fabs(value);
  if (std::isnan(value)) return sign | 0x7e00;
  // 65504 is the largest float16; from halfway to the next power (65520) on,
  // round-to-nearest-even gives infinity.
  if (a >= 65520.0) return sign | 0x7c00;
  if (a < std::ldexp(1.0, -14)) {
    // Subnormal range, in units of 2^-24. Rounding up to 0x400 yields the
    // smallest normal number, which is the correct encoding.
    return sign | static_cast<uint16_t>(std::nearbyint(std::ldexp(a, 24)));
  }
  int exp = 0;
  const double frac = std::frexp(a, &exp);                 // a = frac * 2^exp, frac in [0.5, 1)
  int e = exp - 1;                                         // a = (1 + m / 1024) * 2^e
  double m = std::nearbyint((frac * 2.0 - 1.0) * 1024.0);  // exact scaling; rounds to nearest even
  if (m == 1024.0) {
    m = 0.0;
    ++e;
  }
  return sign | static_cast<uint16_t>((e + 15) << 10) | static_cast<uint16_t>(m);
}

absl::StatusOr<std::string> ReadExternalData(const onnx::TensorProto& tensor, const std::string& what,
                                             const std::string& base_dir) {
  BN_ASSIGN_OR_RETURN(ElementType type, GetElementType(tensor.data_type(), what));
  BN_ASSIGN_OR_RETURN(Shape shape, ShapeOf(tensor, what));
  const int64_t expected = shape.NumElements() * type.size;  // <= 2^31 * 8: no overflow
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const onnx::StringStringEntryProto& entry : tensor.external_data()) {
    if (entry.key() == "location") {
      location = entry.value();
    } else if (entry.key() == "offset") {
      BN_ASSIGN_OR_RETURN(offset, ParseByteCount(entry.key(), entry.value(), what));
    } else if (entry.key() == "length") {
      BN_ASSIGN_OR_RETURN(length, ParseByteCount(entry.key(), entry.value(), what));
    }
  }
  if (location.empty()) {
    return absl::DataLossError(absl::StrCat(what, ": data_location is EXTERNAL but external_data has no 'location'"));
  }
  BN_RETURN_IF_ERROR(CheckRelativeLocation(location, what));
  if (length >= 0 && length != expected) {
    return absl::DataLossError(absl::StrCat(what, ": external_data length is ", length, " bytes, expected ", expected,
                                            " (", shape.NumElements(), " elements of ", type.size, " bytes)"));
  }
  const std::string path = JoinPath(base_dir, location);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(what, ": external data file '", path, "' not found"));
  }
  std::ifstream in(path, std::ios::binary);
  in.seekg(0, std::ios::end);
  const int64_t file_size = static_cast<int64_t>(in.tellg());
  if (!in || offset > file_size || file_size - offset < expected) {
    return absl::DataLossError(absl::StrCat(what, ": external data file '", path, "' has ", file_size,
                                            " bytes, too short for ", expected, " bytes at offset ", offset));
  }
  std::string bytes(static_cast<size_t>(expected), '\0');
  in.seekg(offset);
  in.read(bytes.data(), expected);
  if (!in) return absl::DataLossError(absl::StrCat(what, ": reading external data file '", path, "' failed"));
  return bytes;
}

absl::StatusOr<ConstantTensor> DecodeTensorProto(const onnx::TensorProto& tensor, const std::string& what,
                                                 const std::string& base_dir) {
  BN_ASSIGN_OR_RETURN(ElementType type, GetElementType(tensor.data_type(), what));
  if (tensor.has_segment()) {
    return absl::UnimplementedError(absl::StrCat(what, ": segmented tensors are not supported"));
  }
  ConstantTensor out;
  BN_ASSIGN_OR_RETURN(out.shape, ShapeOf(tensor, what));
  out.dtype = type.floating ? DataType::kFloat : DataType::kInt64;
  const int64_t numel = out.shape.NumElements();

  std::string external;
  const std::string* raw = &tensor.raw_data();
  if (tensor.data_location() == TensorType::EXTERNAL) {
    BN_ASSIGN_OR_RETURN(external, ReadExternalData(tensor, what, base_dir));
    raw = &external;
  }
  const auto [field_name, typed_count] = TypedField(tensor);
  if (!raw->empty() && typed_count > 0) {
    return absl::DataLossError(absl::StrCat(what, ": both raw_data (", raw->size(), " bytes) and ", field_name, " (",
                                            typed_count, " values) are set; expected exactly one"));
  }
  if (raw->empty() && typed_count == 0 && numel > 0) {
    return absl::DataLossError(absl::StrCat(what, ": holds no data, expected ", numel, " ",
                                            DataTypeName(tensor.data_type()), " values for dims ",
                                            out.shape.ToString()));
  }
  if (typed_count > 0) {
    if (typed_count != numel) {
      return absl::DataLossError(absl::StrCat(what, ": ", field_name, " has ", typed_count, " values, expected ", numel,
                                              " for dims ", out.shape.ToString()));
    }
    raw = nullptr;
  } else if (static_cast<int64_t>(raw->size()) != numel * type.size) {
    return absl::DataLossError(absl::StrCat(what, ": raw_data has ", raw->size(), " bytes, expected ",
                                            numel * type.size, " (", numel, " ", DataTypeName(tensor.data_type()),
                                            " values of ", type.size, " bytes for dims ", out.shape.ToString(), ")"));
  }
  if (type.floating) {
    BN_RETURN_IF_ERROR(DecodeFloats(tensor, raw, numel, what, &out.floats));
  } else {
    DecodeInts(tensor, type, raw, numel, &out.ints);
  }
  return out;
}

absl::Status EncodeFloatValues(const std::vector<double>& values, const std::string& what, onnx::TensorProto* tensor) {
  BN_ASSIGN_OR_RETURN(Shape shape, ShapeOf(*tensor, what));
  if (static_cast<int64_t>(values.size()) != shape.NumElements()) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": expected ", shape.NumElements(), " values for dims ",
                                                      shape.ToString(), ", got ", values.size()));
  }
  const int32_t data_type = tensor->data_type();
  if (data_type != TensorType::FLOAT && data_type != TensorType::DOUBLE && data_type != TensorType::FLOAT16) {
    return absl::UnimplementedError(absl::StrCat(what, ": cannot write values into a ", DataTypeName(data_type),
                                                 " tensor (expected FLOAT, DOUBLE or FLOAT16)"));
  }
  BN_ASSIGN_OR_RETURN(ElementType type, GetElementType(data_type, what));
  std::string raw(values.size() * type.size, '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    uint64_t bits = 0;
    bool finite = std::isfinite(v);
    if (data_type == TensorType::DOUBLE) {
      bits = BitCast<uint64_t>(v);
    } else if (data_type == TensorType::FLOAT) {
      finite = finite && std::fabs(v) <= std::numeric_limits<float>::max();
      if (finite) bits = BitCast<uint32_t>(static_cast<float>(v));
    } else {
      bits = DoubleToHalfBits(v);
      finite = finite && (bits & 0x7c00) != 0x7c00;
    }
    if (!finite) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": value ", v, " at index ", i, " is not finite as ", DataTypeName(data_type)));
    }
    StoreLittleEndian(bits, type.size, raw.data() + type.size * i);
  }
  tensor->clear_float_data();
  tensor->clear_double_data();
  tensor->clear_int32_data();
  tensor->clear_int64_data();
  tensor->clear_external_data();
  tensor->set_data_location(TensorType::DEFAULT);
  tensor->set_raw_data(std::move(raw));
  return absl::OkStatus();
}

absl::Status InlineExternalData(const std::string& what, const std::string& base_dir, onnx::TensorProto* tensor) {
  if (tensor->data_location() != TensorType::EXTERNAL) return absl::OkStatus();
  BN_ASSIGN_OR_RETURN(std::string bytes, ReadExternalData(*tensor, what, base_dir));
  tensor->clear_external_data();
  tensor->set_data_location(TensorType::DEFAULT);
  tensor->set_raw_data(std::move(bytes));
  return absl::OkStatus();
}

}  // namespace bnserve
