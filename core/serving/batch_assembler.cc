#include "core/serving/batch_assembler.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace bnserve {
namespace {

bool SameTrailingDims(const Shape& a, const Shape& b) {
  if (a.rank() != b.rank()) return false;
  for (int d = 1; d < a.rank(); ++d) {
    if (a[d] != b[d]) return false;
  }
  return true;
}

// "[*,1,8,8]": a shape whose batch dim may be anything.
std::string AnyBatch(const Shape& shape) {
  std::string out = "[*";
  for (int d = 1; d < shape.rank(); ++d) absl::StrAppend(&out, ",", shape[d]);
  return out + "]";
}

}  // namespace

absl::Status BatchAssembler::Append(absl::Span<const TensorView> chunk) {
  if (chunks_ > 0 && chunk.size() != tensors_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs: expected ", tensors_.size(), " tensor(s) as in the first chunk, got ", chunk.size()));
  }
  int64_t chunk_bytes = 0;
  for (size_t i = 0; i < chunk.size(); ++i) {
    const Shape& shape = chunk[i].shape;
    if (shape.rank() < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("inputs[", i, "].shape: expected a batch dim first, got ", shape.ToString()));
    }
    if (shape[0] != chunk[0].shape[0]) {
      return absl::InvalidArgumentError(absl::StrCat("inputs[", i, "].shape: expected ", chunk[0].shape[0],
                                                     " rows like inputs[0], got ", shape.ToString()));
    }
    if (chunks_ > 0 && !SameTrailingDims(shape, tensors_[i].shape)) {
      return absl::InvalidArgumentError(absl::StrCat("inputs[", i, "].shape: expected ", AnyBatch(tensors_[i].shape),
                                                     " as in the first chunk, got ", shape.ToString()));
    }
    chunk_bytes += chunk[i].size() * static_cast<int64_t>(sizeof(float));
  }
  if (bytes_ + chunk_bytes > max_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat("streamed batch: ", bytes_ + chunk_bytes,
                                                     " bytes of tensor data exceed the server's limit of ", max_bytes_,
                                                     " bytes; send a smaller batch"));
  }
  if (chunks_ == 0) tensors_.resize(chunk.size());
  for (size_t i = 0; i < chunk.size(); ++i) {
    Tensor& tensor = tensors_[i];
    Shape shape = chunk[i].shape;
    shape[0] += chunks_ > 0 ? tensor.shape[0] : 0;
    tensor.shape = shape;
    tensor.data.insert(tensor.data.end(), chunk[i].data, chunk[i].data + chunk[i].size());
  }
  bytes_ += chunk_bytes;
  rows_ += chunk.empty() ? 0 : chunk[0].shape[0];
  ++chunks_;
  return absl::OkStatus();
}

std::vector<TensorView> BatchAssembler::views() const {
  std::vector<TensorView> views;
  views.reserve(tensors_.size());
  for (const Tensor& tensor : tensors_) views.push_back(tensor.view());
  return views;
}

}  // namespace bnserve
