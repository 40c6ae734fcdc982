// BatchAssembler: rebuilds one batch sent in several chunks (a client stream
// of tensors too large for one message) by concatenating the chunks along
// the batch axis (dim 0). The statistics of a train-mode pass depend on the
// whole batch, so the chunks cannot be processed one by one.
// Not thread-safe (one per stream).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "core/graph/tensor.h"
#include "core/util/status.h"

namespace bnserve {

class BatchAssembler {
 public:
  // At most `max_bytes` of float data in total (RESOURCE_EXHAUSTED beyond).
  explicit BatchAssembler(int64_t max_bytes) : max_bytes_(max_bytes) {}

  // Appends one chunk: one tensor per input, each of rank >= 1. The first
  // chunk fixes the number of inputs and every dim but the first; later
  // chunks must match it (INVALID_ARGUMENT naming the input and both shapes).
  // Every input of a chunk must have the same first dim. Nothing is appended
  // on error.
  absl::Status Append(absl::Span<const TensorView> chunk);

  int64_t chunks() const { return chunks_; }
  // Rows (first-dim entries) appended so far.
  int64_t rows() const { return rows_; }
  // The assembled batch, valid until the next Append.
  std::vector<TensorView> views() const;

 private:
  const int64_t max_bytes_;
  int64_t bytes_ = 0;
  int64_t chunks_ = 0;
  int64_t rows_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace bnserve
