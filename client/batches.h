// BatchSplitter: the instances of a FloatArray (dim 0) cut into consecutive
// batches of at most batch_size rows, in file order, each handed out as a
// wire tensor. A non-owning view: the array must outlive the splitter.
// Immutable after construction; thread-safe.
#pragma once

#include <cstdint>

#include "bnserve/v1/tensor.pb.h"
#include "client/float_array.h"

namespace bnserve::client {

class BatchSplitter {
 public:
  // REQUIRES: batch_size > 0 and array.shape non-empty (a batch dim).
  BatchSplitter(const FloatArray& array, int64_t batch_size);

  int64_t num_batches() const { return num_batches_; }
  int64_t batch_size() const { return batch_size_; }
  // Rows [begin(i), end(i)) form batch i; the last one may be smaller.
  int64_t begin(int64_t i) const { return i * batch_size_; }
  int64_t end(int64_t i) const;
  // Batch i as a raw float32 tensor with shape [end - begin, dims 1...].
  v1::Tensor Batch(int64_t i) const;

 private:
  const FloatArray& array_;
  int64_t batch_size_;
  int64_t num_batches_;
};

// Rows per chunk such that one chunk's float32 payload stays within
// `max_bytes` (at least 1 row, whatever the row size).
int64_t RowsWithinBytes(const FloatArray& array, int64_t max_bytes);

}  // namespace bnserve::client
