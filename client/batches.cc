#include "client/batches.h"

#include <algorithm>
#include <cassert>

#include "client/tensor_convert.h"

namespace bnserve::client {

BatchSplitter::BatchSplitter(const FloatArray& array, int64_t batch_size) : array_(array), batch_size_(batch_size) {
  assert(batch_size > 0 && !array.shape.empty());
  num_batches_ = (array.rows() + batch_size - 1) / batch_size;
}

int64_t BatchSplitter::end(int64_t i) const { return std::min(array_.rows(), (i + 1) * batch_size_); }

v1::Tensor BatchSplitter::Batch(int64_t i) const { return RowsToTensor(array_, begin(i), end(i)); }

int64_t RowsWithinBytes(const FloatArray& array, int64_t max_bytes) {
  const int64_t row_bytes = std::max<int64_t>(1, array.row_size() * static_cast<int64_t>(sizeof(float)));
  return std::max<int64_t>(1, max_bytes / row_bytes);
}

}  // namespace bnserve::client
