// Convolution kernels for the build's baseline instruction set: SSE2 on
// x86-64 (no FMA: MulAdd rounds twice), plain scalar code elsewhere. Always
// present; the fallback when the CPU has neither AVX2 nor AVX-512.
//
// Register tile: 4 rows x 3 vectors of 4 = 12 of the 16 xmm registers.
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/engine/kernels/conv_kernel.h"

namespace bnserve::conv_internal {
namespace {

#if defined(__SSE2__)
using Vec = __m128;
constexpr int kLanes = 4;

inline Vec Load(const float* p) { return _mm_loadu_ps(p); }
inline void Store(float* p, Vec v) { _mm_storeu_ps(p, v); }
inline void StoreFirst(float* p, Vec v, int n) {
  float lanes[4];
  _mm_storeu_ps(lanes, v);
  for (int i = 0; i < n; ++i) p[i] = lanes[i];
}
inline Vec Broadcast(float x) { return _mm_set1_ps(x); }
inline Vec Zero() { return _mm_setzero_ps(); }
inline Vec MulAdd(Vec a, Vec b, Vec c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
inline Vec Add(Vec a, Vec b) { return _mm_add_ps(a, b); }
inline Vec Sub(Vec a, Vec b) { return _mm_sub_ps(a, b); }
// max(0, x) returns its second operand when either is NaN: NaN is kept.
inline Vec Relu(Vec x) { return _mm_max_ps(_mm_setzero_ps(), x); }
#else
using Vec = float;
constexpr int kLanes = 1;

inline Vec Load(const float* p) { return *p; }
inline void Store(float* p, Vec v) { *p = v; }
inline void StoreFirst(float* p, Vec v, int n) {
  if (n > 0) *p = v;
}
inline Vec Broadcast(float x) { return x; }
inline Vec Zero() { return 0.0f; }
inline Vec MulAdd(Vec a, Vec b, Vec c) { return a * b + c; }
inline Vec Add(Vec a, Vec b) { return a + b; }
inline Vec Sub(Vec a, Vec b) { return a - b; }
inline Vec Relu(Vec x) { return x < 0.0f ? 0.0f : x; }
#endif

constexpr int kMr = 4;
constexpr int kMaxVectors = 3;

}  // namespace

#define BNSERVE_CONV_TABLE kGenericConvKernels
#define BNSERVE_CONV_ISA_NAME "generic"
#include "core/engine/kernels/conv_kernels.inc"

}  // namespace bnserve::conv_internal
