// The two inner loops of ReduceMoments (core/stats/moment_reduction.h), compiled
// once per x86 instruction-set level and chosen at run time, so that a
// baseline x86-64 build still runs them at memory speed on AVX2/AVX-512
// machines. Each loop sums, in float64, the differences of float32 values
// from a shift and their squares; what the shift is and how blocks combine is
// the caller's business.
#pragma once

#include <cstdint>

namespace bnserve {

enum class MomentKernelIsa {
  kPortable,  // plain C++ vector code, any target (SSE2 on baseline x86-64)
  kAvx2,      // x86 AVX2 + FMA
  kAvx512,    // x86 AVX-512F
};

struct MomentKernels {
  // sum = sum_i (x[i] - shift), sum_sq = sum_i (x[i] - shift)^2, i < n.
  void (*run_sums)(const float* x, int64_t n, double shift, double* sum, double* sum_sq);
  // For each column c < width of `rows` rows (row r starting at
  // x + r * stride), ADDS sum_r (x[r*stride+c] - shift[c]) to sum[c] and its
  // square to sum_sq[c], so a caller can split a block into several passes.
  void (*column_sums)(const float* x, int64_t rows, int64_t stride, int64_t width, const double* shift, double* sum,
                      double* sum_sq);
};

// True when this build has the variant and this CPU can run it.
bool MomentKernelsSupported(MomentKernelIsa isa);
// REQUIRES: MomentKernelsSupported(isa).
const MomentKernels& GetMomentKernels(MomentKernelIsa isa);
// The fastest supported variant (decided once per process).
const MomentKernels& BestMomentKernels();

}  // namespace bnserve
