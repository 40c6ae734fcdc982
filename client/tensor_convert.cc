#include "client/tensor_convert.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "raw_float32_le is copied with memcpy; add byte swapping for this host"
#endif

namespace bnserve::client {
namespace {

// Product of dims with overflow check; -1 on overflow or a negative dim.
int64_t CheckedProduct(const std::vector<int64_t>& dims, size_t from) {
  int64_t n = 1;
  for (size_t i = from; i < dims.size(); ++i) {
    if (dims[i] < 0 || __builtin_mul_overflow(n, dims[i], &n)) return -1;
  }
  return n;
}

std::string SpecString(const v1::TensorSpec& spec) {
  std::vector<std::string> dims;
  for (int i = 0; i < spec.shape_size(); ++i) {
    const bool named = i < spec.dim_names_size() && !spec.dim_names(i).empty();
    dims.push_back(spec.shape(i) >= 0 ? absl::StrCat(spec.shape(i)) : named ? spec.dim_names(i) : "?");
  }
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

// Whether `dims` (one instance) matches the spec's dims after the batch.
bool InstanceDimsMatch(const std::vector<int64_t>& dims, size_t from, const v1::TensorSpec& spec) {
  if (dims.size() - from != static_cast<size_t>(spec.shape_size() - 1)) return false;
  for (int i = 1; i < spec.shape_size(); ++i) {
    if (spec.shape(i) >= 0 && spec.shape(i) != dims[from + i - 1]) return false;
  }
  return true;
}

}  // namespace

std::string ShapeString(const std::vector<int64_t>& shape) { return absl::StrCat("[", absl::StrJoin(shape, ","), "]"); }

v1::Tensor RowsToTensor(const FloatArray& array, int64_t begin, int64_t end) {
  v1::Tensor tensor;
  tensor.add_shape(end - begin);
  for (size_t i = 1; i < array.shape.size(); ++i) tensor.add_shape(array.shape[i]);
  const int64_t row = array.row_size();
  tensor.set_raw_float32_le(reinterpret_cast<const char*>(array.values.data() + begin * row),
                            static_cast<size_t>((end - begin) * row) * sizeof(float));
  return tensor;
}

v1::Tensor ArrayToTensor(const FloatArray& array) {
  v1::Tensor tensor;
  for (int64_t dim : array.shape) tensor.add_shape(dim);
  tensor.set_raw_float32_le(reinterpret_cast<const char*>(array.values.data()), array.values.size() * sizeof(float));
  return tensor;
}

absl::StatusOr<FloatArray> TensorToArray(const v1::Tensor& tensor) {
  FloatArray array;
  array.shape.assign(tensor.shape().begin(), tensor.shape().end());
  const int64_t count = CheckedProduct(array.shape, 0);
  if (count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", tensor.name(), "': invalid shape ", ShapeString(array.shape)));
  }
  if (!tensor.raw_float32_le().empty()) {
    if (tensor.raw_float32_le().size() != static_cast<uint64_t>(count) * sizeof(float)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name(), "': raw_float32_le has ",
                                                     tensor.raw_float32_le().size(), " bytes, expected 4 * ", count));
    }
    array.values.resize(static_cast<size_t>(count));
    std::memcpy(array.values.data(), tensor.raw_float32_le().data(), tensor.raw_float32_le().size());
    return array;
  }
  if (tensor.values_size() != count) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name(), "': ", tensor.values_size(),
                                                   " values for shape ", ShapeString(array.shape)));
  }
  array.values.assign(tensor.values().begin(), tensor.values().end());
  return array;
}

absl::StatusOr<FloatArray> FitToInput(FloatArray array, const v1::TensorSpec& spec, const std::string& what) {
  if (spec.shape_size() == 0) return array;
  if (!array.shape.empty() && InstanceDimsMatch(array.shape, 1, spec)) return array;
  // A single instance without its batch dim.
  if (InstanceDimsMatch(array.shape, 0, spec)) {
    array.shape.insert(array.shape.begin(), 1);
    return array;
  }
  std::vector<int64_t> instance(spec.shape().begin() + 1, spec.shape().end());
  const int64_t needed = CheckedProduct(instance, 0);  // -1 when a dim is symbolic
  if (needed >= 0 && !array.shape.empty() && array.row_size() == needed) {
    instance.insert(instance.begin(), array.rows());
    array.shape = std::move(instance);
    return array;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      what, ": data of shape ", ShapeString(array.shape), " does not fit model input '", spec.name(), "' ",
      SpecString(spec),
      needed >= 0
          ? absl::StrCat(" (", needed, " values per instance, got ", array.shape.empty() ? 1 : array.row_size(), ")")
          : ""));
}

}  // namespace bnserve::client
