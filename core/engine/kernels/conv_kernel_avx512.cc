// Convolution kernels for AVX-512 (F, DQ, VL, BW: Skylake-SP and later).
// core/CMakeLists.txt compiles this file alone with those -m flags;
// conv_kernel.cc runs it only after CpuHasAvx512() confirms them.
//
// Register tile: 8 rows x 3 vectors of 16 = 24 of the 32 zmm accumulators,
// leaving room for the 3 B vectors and a broadcast: 24 FMAs per 11 loads,
// so the FMA ports, not the loads, set the pace.
#if defined(__x86_64__)
#if !defined(__AVX512F__) || !defined(__AVX512DQ__) || !defined(__FMA__)
#error "conv_kernel_avx512.cc must be compiled with -mavx512f -mavx512dq ... (see core/CMakeLists.txt)"
#endif
#include <immintrin.h>

#include "core/engine/kernels/conv_kernel.h"

namespace bnserve::conv_internal {
namespace {

using Vec = __m512;
constexpr int kLanes = 16;
constexpr int kMr = 8;
constexpr int kMaxVectors = 3;

inline Vec Load(const float* p) { return _mm512_loadu_ps(p); }
inline void Store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline void StoreFirst(float* p, Vec v, int n) { _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v); }
inline Vec Broadcast(float x) { return _mm512_set1_ps(x); }
inline Vec Zero() { return _mm512_setzero_ps(); }
inline Vec MulAdd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec Add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline Vec Sub(Vec a, Vec b) { return _mm512_sub_ps(a, b); }
// max(0, x) returns its second operand when either is NaN: NaN is kept.
inline Vec Relu(Vec x) { return _mm512_max_ps(_mm512_setzero_ps(), x); }
// Lanes [lo, hi), 0 <= lo <= hi <= kLanes.
using Mask = __mmask16;
inline Mask RangeMask(int lo, int hi) { return static_cast<Mask>(((1u << hi) - 1) & ~((1u << lo) - 1)); }
// Masked-off lanes read as 0 and are neither accessed nor able to fault.
inline Vec LoadMasked(const float* p, Mask mask) { return _mm512_maskz_loadu_ps(mask, p); }
inline void Deinterleave(Vec a, Vec b, Vec* even, Vec* odd) {
  const __m512i even_index = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd_index = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  *even = _mm512_permutex2var_ps(a, even_index, b);
  *odd = _mm512_permutex2var_ps(a, odd_index, b);
}
inline void StoreLow(float* p, Vec v) { _mm256_storeu_ps(p, _mm512_castps512_ps256(v)); }
inline void StoreHigh(float* p, Vec v) { _mm256_storeu_ps(p, _mm512_extractf32x8_ps(v, 1)); }
inline Vec LoadHalves(const float* lo, const float* hi) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(lo)), _mm256_loadu_ps(hi), 1);
}
inline void Interleave(Vec even, Vec odd, Vec* a, Vec* b) {
  const __m512i low_index = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i high_index = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  *a = _mm512_permutex2var_ps(even, low_index, odd);
  *b = _mm512_permutex2var_ps(even, high_index, odd);
}

}  // namespace

#define BNSERVE_CONV_WINOGRAD 1
#define BNSERVE_CONV_TABLE kAvx512ConvKernels
#define BNSERVE_CONV_ISA_NAME "avx512"
#include "core/engine/kernels/conv_kernels.inc"

}  // namespace bnserve::conv_internal
#endif  // defined(__x86_64__)
