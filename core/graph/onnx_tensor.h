// ONNX TensorProto payloads: the one place that knows the typed fields, the
// little-endian raw_data layouts, float16 and external data files. Used by the
// loader (decode) and the exporter (encode, inline external data). Stateless
// free functions; thread-safe.
//
// Every function takes `what`, the tensor's description for error messages,
// e.g. "initializer 'bn1.running_mean'".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/util/status.h"
#include "onnx/onnx_pb.h"

namespace bnserve {

// Converts a tensor to bnserve's form: FLOAT, DOUBLE and FLOAT16 become
// float32 (a finite double outside the float32 range is INVALID_ARGUMENT);
// INT64, INT32, INT16, INT8, UINT16, UINT8 and BOOL become int64. Other types
// are UNIMPLEMENTED. Sizes are checked (dims >= 0, raw_data length == numel *
// element size, typed field count == numel; else DATA_LOSS). External data is
// read relative to `base_dir` (see ReadExternalData).
absl::StatusOr<ConstantTensor> DecodeTensorProto(const onnx::TensorProto& tensor, const std::string& what,
                                                 const std::string& base_dir);

// The payload bytes of a tensor stored with data_location EXTERNAL: the
// external_data entries "location" (relative to `base_dir`), "offset"
// (default 0) and "length" (must equal numel * element size when present).
// Locations that could leave `base_dir` (absolute, or with a ".." component)
// are INVALID_ARGUMENT; a missing file NOT_FOUND; a file too short DATA_LOSS
// naming the tensor and the file.
absl::StatusOr<std::string> ReadExternalData(const onnx::TensorProto& tensor, const std::string& what,
                                             const std::string& base_dir);

// Replaces the payload of `tensor` (keeping name, dims and data_type) with
// `values` as little-endian raw_data; typed fields and external data are
// cleared. FLOAT, DOUBLE and FLOAT16 tensors only (else UNIMPLEMENTED);
// values.size() must equal numel (else FAILED_PRECONDITION), and every value
// must be finite in the tensor's type (else FAILED_PRECONDITION).
absl::Status EncodeFloatValues(const std::vector<double>& values, const std::string& what, onnx::TensorProto* tensor);

// If `tensor` is stored externally, loads its bytes into raw_data and makes
// it an ordinary inline tensor. No-op for inline tensors.
absl::Status InlineExternalData(const std::string& what, const std::string& base_dir, onnx::TensorProto* tensor);

// IEEE 754 binary16 conversions. HalfBitsToFloat is exact; DoubleToHalfBits
// rounds to nearest even and gives +-inf beyond the float16 range.
float HalfBitsToFloat(uint16_t bits);
uint16_t DoubleToHalfBits(double value);

}  // namespace bnserve
