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

#include "core/engine/kernels/conv_kernel.h"

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
// Lanes [lo, hi), 0 <= lo <= hi <= kLanes: all bits set in those lanes.
using Mask = __m256i;
inline Mask RangeMask(int lo, int hi) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_and_si256(_mm256_cmpgt_epi32(lanes, _mm256_set1_epi32(lo - 1)),
                          _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), lanes));
}
// Masked-off lanes read as 0 and are neither accessed nor able to fault.
inline Vec LoadMasked(const float* p, Mask mask) { return _mm256_maskload_ps(p, mask); }
inline void Deinterleave(Vec a, Vec b, Vec* even, Vec* odd) {
  // shuffle_ps works within 128-bit halves: [a0 a2 b0 b2 | a4 a6 b4 b6];
  // the 64-bit permute restores the order.
  const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  const __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
  *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
  *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}
inline void StoreLow(float* p, Vec v) { _mm_storeu_ps(p, _mm256_castps256_ps128(v)); }
inline void StoreHigh(float* p, Vec v) { _mm_storeu_ps(p, _mm256_extractf128_ps(v, 1)); }
inline Vec LoadHalves(const float* lo, const float* hi) {
  return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
}
inline void Interleave(Vec even, Vec odd, Vec* a, Vec* b) {
  const __m256 low = _mm256_unpacklo_ps(even, odd);   // e0 o0 e1 o1 | e4 o4 e5 o5
  const __m256 high = _mm256_unpackhi_ps(even, odd);  // e2 o2 e3 o3 | e6 o6 e7 o7
  *a = _mm256_permute2f128_ps(low, high, 0x20);
  *b = _mm256_permute2f128_ps(low, high, 0x31);
}

}  // namespace

#define BNSERVE_CONV_WINOGRAD 1
#define BNSERVE_CONV_TABLE kAvx2ConvKernels
#define BNSERVE_CONV_ISA_NAME "avx2"
#include "core/engine/kernels/conv_kernels.inc"

}  // namespace bnserve::conv_internal
#endif  // defined(__x86_64__)
