// Converting tensors between bnserve.v1.Tensor messages and core's views.
// Decoding validates everything a client controls (shape, value count, byte
// length) and reports the field; encoding writes either packed values or
// little-endian raw bytes.
#pragma once

#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "bnserve/v1/tensor.pb.h"
#include "core/graph/tensor.h"
#include "core/util/status.h"
#include "google/protobuf/repeated_field.h"

namespace bnserve {

// Tensors decoded from a request. Packed `values` are viewed in place, and
// so are raw little-endian bytes on a little-endian host when the bytes
// field's buffer is float-aligned (always, for the heap buffers protobuf
// parses large fields into): the request message must outlive the views.
// Raw bytes are copied into owned buffers only on a big-endian host or when
// misaligned. Move-only in spirit: the views point into `owned_` and into
// the request.
class DecodedTensors {
 public:
  // Inline for the usual one or two inputs: no allocation per request.
  absl::InlinedVector<TensorView, 2> views;
  absl::InlinedVector<std::string, 2> names;  // Tensor.name of each ("" when unset)

  // The two ways a tensor arrives, whatever the protocol (bnserve.v1 or the
  // Open Inference Protocol). INVALID_ARGUMENT naming `field` when the data
  // does not fit `shape`.
  // `count` floats at `data`, viewed in place (they must outlive this).
  absl::Status AddValues(absl::string_view name, const Shape& shape, const float* data, int64_t count,
                         absl::string_view field);
  // Little-endian float32 bytes, viewed in place when the host and the
  // alignment allow, else copied.
  absl::Status AddRawFloat32(absl::string_view name, const Shape& shape, const std::string& raw,
                             absl::string_view field);

 private:
  absl::InlinedVector<std::vector<float>, 2> owned_;
};

// Appends `tensor` to `out`. INVALID_ARGUMENT naming `field` (e.g.
// "inputs[1]") for a bad shape, both encodings set, a value count other
// than product(shape), or a byte length other than 4 * product(shape).
absl::Status DecodeTensor(const v1::Tensor& tensor, absl::string_view field, DecodedTensors* out);
// Decodes every tensor; fields are named "<field>[i]".
absl::Status DecodeTensors(const google::protobuf::RepeatedPtrField<v1::Tensor>& tensors, absl::string_view field,
                           DecodedTensors* out);

// Sets `out` to the little-endian float32 bytes of `count` floats.
void CopyToLittleEndian(const float* values, int64_t count, std::string* out);

// Writes `view` into `out` in `encoding` (TENSOR_ENCODING_UNSPECIFIED is
// taken as VALUES; callers resolve "same as the request" first).
void EncodeTensor(const std::string& name, const TensorView& view, v1::TensorEncoding encoding, v1::Tensor* out);

// The encoding a response uses: the request's choice, or for UNSPECIFIED the
// encoding of the request's first tensor.
v1::TensorEncoding ResolveEncoding(v1::TensorEncoding requested,
                                   const google::protobuf::RepeatedPtrField<v1::Tensor>& inputs);

}  // namespace bnserve
