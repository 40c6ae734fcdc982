#include "core/graph/shape.h"

#include <cassert>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bnserve {

Shape::Shape(std::initializer_list<int64_t> dims) {
  assert(dims.size() <= kMaxRank);
  for (int64_t d : dims) dims_[rank_++] = d;
}

absl::StatusOr<Shape> Shape::FromDims(absl::Span<const int64_t> dims, const std::string& what) {
  if (dims.size() > static_cast<size_t>(kMaxRank)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": expected rank at most ", kMaxRank, ", got rank ", dims.size()));
  }
  Shape shape;
  int64_t product = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = dims[i];
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, "[", i, "]: expected a size >= 0, got ", d));
    }
    if (d != 0 && product > kMaxElements / d) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": expected at most ", kMaxElements,
                                                     " elements, got dimensions [", absl::StrJoin(dims, ","),
                                                     "] whose product exceeds it"));
    }
    product *= d;
    shape.push_back(d);
  }
  return shape;
}

int64_t Shape::NumElements() const { return Product(0, rank_); }

int64_t Shape::Product(int from, int to) const {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= dims_[i];
  return p;
}

std::string Shape::ToString() const { return absl::StrCat("[", absl::StrJoin(dims(), ","), "]"); }

bool operator==(const Shape& a, const Shape& b) {
  if (a.rank_ != b.rank_) return false;
  for (int i = 0; i < a.rank_; ++i) {
    if (a.dims_[i] != b.dims_[i]) return false;
  }
  return true;
}

}  // namespace bnserve
