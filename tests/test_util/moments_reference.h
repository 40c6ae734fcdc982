// Independent reference for the moment tests: two-pass statistics computed
// element by element with a plain multi-index walk, accumulated in long
// double (x86: 64-bit mantissa) so that the reference's own rounding (about
// 1e-12 relative for a float64 sum of 10^5 squares of mean-1e4 data) stays
// below the tolerances; plus random test tensors and views of them.
// Deliberately simple and slow.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "core/graph/shape.h"
#include "core/graph/tensor.h"
#include "gtest/gtest.h"

namespace bnserve::testing {

// A view of `data` with shape `dims` (a bad shape fails the current test).
inline TensorView ViewOf(const std::vector<int64_t>& dims, const std::vector<float>& data) {
  auto shape = Shape::FromDims(dims);
  EXPECT_TRUE(shape.ok()) << shape.status();
  return TensorView{*shape, data.data()};
}

struct ReferenceMoments {
  std::vector<int64_t> count;
  std::vector<double> mean;
  std::vector<double> m2;  // sum of squared deviations from the mean
};

// Moments over the axes whose bit is set in `reduced_axes`; outputs in
// row-major order of the kept axes.
inline ReferenceMoments NaiveMoments(const std::vector<int64_t>& dims, const std::vector<float>& data,
                                     uint32_t reduced_axes) {
  const int rank = static_cast<int>(dims.size());
  int64_t outputs = 1;
  for (int i = 0; i < rank; ++i) {
    if (!((reduced_axes >> i) & 1u)) outputs *= dims[i];
  }
  // Output index of every element, from its multi-index.
  std::vector<int64_t> output_of(data.size());
  std::vector<int64_t> index(rank, 0);
  for (size_t e = 0; e < data.size(); ++e) {
    int64_t out = 0;
    for (int i = 0; i < rank; ++i) {
      if (!((reduced_axes >> i) & 1u)) out = out * dims[i] + index[i];
    }
    output_of[e] = out;
    for (int i = rank - 1; i >= 0; --i) {
      if (++index[i] < dims[i]) break;
      index[i] = 0;
    }
  }
  std::vector<long double> sum(outputs, 0.0L);
  std::vector<long double> sum_sq(outputs, 0.0L);
  ReferenceMoments ref;
  ref.count.assign(outputs, 0);
  for (size_t e = 0; e < data.size(); ++e) {
    ref.count[output_of[e]] += 1;
    sum[output_of[e]] += data[e];
  }
  std::vector<long double> mean(outputs, 0.0L);
  for (int64_t o = 0; o < outputs; ++o) {
    if (ref.count[o] > 0) mean[o] = sum[o] / ref.count[o];
  }
  for (size_t e = 0; e < data.size(); ++e) {
    const long double d = data[e] - mean[output_of[e]];
    sum_sq[output_of[e]] += d * d;
  }
  ref.mean.assign(mean.begin(), mean.end());
  ref.m2.assign(sum_sq.begin(), sum_sq.end());
  return ref;
}

inline int64_t NumElements(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// Normal(mean, stddev) floats from a fixed seed.
inline std::vector<float> RandomData(int64_t n, double mean, double stddev, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist(mean, stddev);
  std::vector<float> data(static_cast<size_t>(n));
  for (float& v : data) v = static_cast<float>(dist(rng));
  return data;
}

}  // namespace bnserve::testing
