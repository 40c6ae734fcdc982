// Conversions between client arrays and wire tensors, and fitting a file's
// instances to a model input's declared shape. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "bnserve/v1/model.pb.h"
#include "bnserve/v1/tensor.pb.h"
#include "client/float_array.h"

namespace bnserve::client {

// Rows [begin, end) of `array` as a raw little-endian float32 tensor with
// shape [end - begin, dims 1...].
// REQUIRES: 0 <= begin <= end <= array.rows(), array.shape non-empty.
v1::Tensor RowsToTensor(const FloatArray& array, int64_t begin, int64_t end);

// The whole array (any rank, scalars included) as a raw float32 tensor.
v1::Tensor ArrayToTensor(const FloatArray& array);

// Decodes either encoding; INVALID_ARGUMENT when the payload does not hold
// product(shape) values.
absl::StatusOr<FloatArray> TensorToArray(const v1::Tensor& tensor);

// Reshapes `array` (instances along dim 0) to the model input `spec`: kept
// as is when its instance dims already match, reshaped when each row holds
// exactly the values of one instance (a CSV row of 64 values for a
// [N,1,8,8] input), and given a batch dim of 1 when it is a single instance
// without one. Otherwise INVALID_ARGUMENT naming `what`, both shapes and the
// values per instance. A spec without a declared shape accepts anything.
absl::StatusOr<FloatArray> FitToInput(FloatArray array, const v1::TensorSpec& spec, const std::string& what);

}  // namespace bnserve::client
