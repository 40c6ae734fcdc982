// Shape: the dimensions of a tensor, stored inline (no heap) so that shape
// arithmetic on the inference hot path never allocates. Rank is limited to
// kMaxRank, which covers every layout ONNX CNN/MLP graphs use.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/types/span.h"
#include "core/util/status.h"

namespace bnserve {

class Shape {
 public:
  static constexpr int kMaxRank = 8;
  // Upper bound on the element count of any tensor we create (2^31 floats,
  // 8 GiB). Requests beyond it are rejected instead of attempting to allocate.
  static constexpr int64_t kMaxElements = int64_t{1} << 31;

  Shape() = default;
  // REQUIRES: dims.size() <= kMaxRank (checked with an assert); use FromDims
  // for untrusted input.
  Shape(std::initializer_list<int64_t> dims);

  // Validates untrusted dimensions: rank <= kMaxRank, every dim >= 0, and the
  // product neither overflows nor exceeds kMaxElements. `what` names the field
  // in the error message (e.g. "input.shape").
  static absl::StatusOr<Shape> FromDims(absl::Span<const int64_t> dims, const std::string& what = "shape");

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return dims_[i]; }
  int64_t& operator[](int i) { return dims_[i]; }
  const int64_t* begin() const { return dims_.data(); }
  const int64_t* end() const { return dims_.data() + rank_; }
  absl::Span<const int64_t> dims() const { return {dims_.data(), static_cast<size_t>(rank_)}; }

  // REQUIRES: rank() < kMaxRank.
  void push_back(int64_t d) { dims_[rank_++] = d; }
  void clear() { rank_ = 0; }

  // Product of the dimensions (1 for a scalar). Shapes built through
  // FromDims are guaranteed not to overflow.
  int64_t NumElements() const;
  // Product of dims in [from, to).
  int64_t Product(int from, int to) const;

  std::string ToString() const;  // "[1,3,32,32]"

  friend bool operator==(const Shape& a, const Shape& b);
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

 private:
  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

}  // namespace bnserve
