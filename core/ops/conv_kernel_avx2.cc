// Convolution kernels for AVX2 + FMA (Haswell and later). core/CMakeLists.txt
// compiles this file alone with -mavx2 -mfma; conv_kernel.cc runs it only
// after CpuHasAvx2Fma() confirms both.
//
// Register tile: 4 rows x 3 vectors of 8 = 12 of the 16 ymm registers, plus
// 3 B vectors and a broadcast.
#if defined(__x86_64__)
#if !defined(__AVX2__) || !defined(__FMA__)
#error "conv_kernel_avx2.cc must be compiled with -mavx2 -mfma (see core/CMakeLists.txt)"
#endif
#include <immintrin.h>

#include "core/ops/conv_kernel.h"

namespace bnserve::conv_internal {
namespace {

using Vec = __m256;
constexpr int kLanes = 8;
constexpr int kMr = 4;
constexpr int kMaxVectors = 3;

inline Vec Load(const float* p) { return _mm256_loadu_ps(p); }
inline void Store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline void StoreFirst(float* p, Vec v, int n) {
  // Lane i is stored when its mask element has the sign bit set: i < n.
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  _mm256_maskstore_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes), v);
}
inline Vec Broadcast(float x) { return _mm256_set1_ps(x); }
inline Vec Zero() { return _mm256_setzero_ps(); }
inline Vec MulAdd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec Add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline Vec Sub(Vec a, Vec b) { return _mm256_sub_ps(a, b); }
// max(0, x) returns its second operand when either is NaN: NaN is kept.
inline Vec Relu(Vec x) { return _mm256_max_ps(_mm256_setzero_ps(), x); }

}  // namespace

#define BNSERVE_CONV_TABLE kAvx2ConvKernels
#define BNSERVE_CONV_ISA_NAME "avx2"
#include "core/ops/conv_kernels.inc"

}  // namespace bnserve::conv_internal
#endif  // defined(__x86_64__)
