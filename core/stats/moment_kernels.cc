#include "core/stats/moment_kernels.h"

#include <cstring>
#include <initializer_list>

#include "core/util/cpu_features.h"

#if defined(__x86_64__)
#define BN_X86_KERNELS 1
#include <immintrin.h>
#else
#define BN_X86_KERNELS 0
#endif

namespace bnserve {
namespace {

// Float64 lanes as GCC/Clang vector types, one hardware register each: plain
// loops would not do, because without -ffast-math the compiler may not
// reorder float64 sums and so does not vectorize them. (Types wider than the
// target's registers are no good either: GCC keeps them in memory.)
typedef double Doubles2 __attribute__((vector_size(16)));
typedef float Floats2 __attribute__((vector_size(8)));
typedef double Doubles4 __attribute__((vector_size(32)));
typedef double Doubles8 __attribute__((vector_size(64)));

// A variant's vector type and how to widen floats into it. kRunVectors
// accumulator pairs keep enough float64 adds in flight. A column tile spans
// kTileVectors registers, as many as leave its shifts and both sums in the
// register file; the widest tile reads rows in the longest contiguous pieces
// (AVX-512's 32 registers hold 64 columns: a whole NHWC row of 64 channels).
// GCC 12 lowers the generic float->double vector conversion in pieces plus
// shuffles even where one instruction exists (a quarter to half of the
// loop's time), so on x86 every variant widens with an intrinsic.
struct PortableOps {  // SSE2 on baseline x86-64, NEON on arm64
  using Vec = Doubles2;
  static constexpr int kLanes = 2;
  static constexpr int kRunVectors = 4;
  static constexpr int kTileVectors = 4;
  static void Widen(const float* p, Vec* out) {
#if BN_X86_KERNELS
    *out = _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
#else
    Floats2 f;
    std::memcpy(&f, p, sizeof(f));
    *out = __builtin_convertvector(f, Vec);
#endif
  }
};

#if BN_X86_KERNELS
struct Avx2Ops {
  using Vec = Doubles4;
  static constexpr int kLanes = 4;
  static constexpr int kRunVectors = 4;
  static constexpr int kTileVectors = 4;
  __attribute__((target("avx2"))) static void Widen(const float* p, Vec* out) {
    *out = _mm256_cvtps_pd(_mm_loadu_ps(p));
  }
};

struct Avx512Ops {
  using Vec = Doubles8;
  static constexpr int kLanes = 8;
  static constexpr int kRunVectors = 2;
  static constexpr int kTileVectors = 8;
  // The masked form sidesteps a spurious -Wmaybe-uninitialized in GCC's own
  // header for _mm512_cvtps_pd.
  __attribute__((target("avx512f"))) static void Widen(const float* p, Vec* out) {
    *out = _mm512_mask_cvtps_pd(_mm512_setzero_pd(), 0xFF, _mm256_loadu_ps(p));
  }
};
#endif

template <typename Ops>
inline void RunSums(const float* x, int64_t n, double shift, double* sum, double* sum_sq) {
  using Vec = typename Ops::Vec;
  constexpr int kStep = Ops::kLanes * Ops::kRunVectors;
  const Vec k = Vec{} + shift;
  Vec s1[Ops::kRunVectors] = {};
  Vec s2[Ops::kRunVectors] = {};
  int64_t i = 0;
  for (; i + kStep <= n; i += kStep) {
    for (int v = 0; v < Ops::kRunVectors; ++v) {
      Vec d;
      Ops::Widen(x + i + v * Ops::kLanes, &d);
      d -= k;
      s1[v] += d;
      s2[v] += d * d;
    }
  }
  for (; i + Ops::kLanes <= n; i += Ops::kLanes) {
    Vec d;
    Ops::Widen(x + i, &d);
    d -= k;
    s1[0] += d;
    s2[0] += d * d;
  }
  double t1 = 0.0;
  double t2 = 0.0;
  for (int v = 0; v < Ops::kRunVectors; ++v) {
    for (int j = 0; j < Ops::kLanes; ++j) {
      t1 += s1[v][j];
      t2 += s2[v][j];
    }
  }
  for (; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - shift;
    t1 += d;
    t2 += d * d;
  }
  *sum = t1;
  *sum_sq = t2;
}

// kVectors * kLanes adjacent columns with their accumulators in registers
// for the whole pass over the rows. Adjacent tiles share cache lines, which
// the caller keeps in L2 by passing few enough rows.
template <typename Ops, int kVectors>
inline void ColumnTile(const float* x, int64_t rows, int64_t stride, const double* shift, double* sum, double* sum_sq) {
  using Vec = typename Ops::Vec;
  Vec k[kVectors];
  Vec s1[kVectors];
  Vec s2[kVectors];
  std::memcpy(k, shift, sizeof(k));
  std::memcpy(s1, sum, sizeof(s1));
  std::memcpy(s2, sum_sq, sizeof(s2));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * stride;
    for (int v = 0; v < kVectors; ++v) {
      Vec d;
      Ops::Widen(row + v * Ops::kLanes, &d);
      d -= k[v];
      s1[v] += d;
      s2[v] += d * d;
    }
  }
  std::memcpy(sum, s1, sizeof(s1));
  std::memcpy(sum_sq, s2, sizeof(s2));
}

template <typename Ops>
inline void ColumnSums(const float* x, int64_t rows, int64_t stride, int64_t width, const double* shift, double* sum,
                       double* sum_sq) {
  constexpr int kTile = Ops::kLanes * Ops::kTileVectors;
  int64_t c = 0;
  for (; c + kTile <= width; c += kTile) {
    ColumnTile<Ops, Ops::kTileVectors>(x + c, rows, stride, shift + c, sum + c, sum_sq + c);
  }
  for (; c + Ops::kLanes <= width; c += Ops::kLanes) {
    ColumnTile<Ops, 1>(x + c, rows, stride, shift + c, sum + c, sum_sq + c);
  }
  for (; c < width; ++c) {
    double s1 = sum[c];
    double s2 = sum_sq[c];
    for (int64_t r = 0; r < rows; ++r) {
      const double d = static_cast<double>(x[r * stride + c]) - shift[c];
      s1 += d;
      s2 += d * d;
    }
    sum[c] = s1;
    sum_sq[c] = s2;
  }
}

// One entry point per variant. `flatten` inlines the templates (and, for
// AVX-512, the widening intrinsic) into a body compiled for that target.
#define BN_DEFINE_MOMENT_KERNELS(suffix, attributes, Ops)                                                              \
  attributes void RunSums##suffix(const float* x, int64_t n, double shift, double* sum, double* sum_sq) {              \
    RunSums<Ops>(x, n, shift, sum, sum_sq);                                                                            \
  }                                                                                                                    \
  attributes void ColumnSums##suffix(const float* x, int64_t rows, int64_t stride, int64_t width, const double* shift, \
                                     double* sum, double* sum_sq) {                                                    \
    ColumnSums<Ops>(x, rows, stride, width, shift, sum, sum_sq);                                                       \
  }

BN_DEFINE_MOMENT_KERNELS(Portable, __attribute__((flatten)), PortableOps)
#if BN_X86_KERNELS
BN_DEFINE_MOMENT_KERNELS(Avx2, __attribute__((target("avx2,fma"), flatten)), Avx2Ops)
BN_DEFINE_MOMENT_KERNELS(Avx512, __attribute__((target("avx512f"), flatten)), Avx512Ops)
#endif

}  // namespace

bool MomentKernelsSupported(MomentKernelIsa isa) {
  switch (isa) {
    case MomentKernelIsa::kPortable:
      return true;
#if BN_X86_KERNELS
    case MomentKernelIsa::kAvx2:
      return CpuHasAvx2Fma();
    case MomentKernelIsa::kAvx512:
      return CpuHasAvx512();
#endif
    default:
      return false;
  }
}

const MomentKernels& GetMomentKernels(MomentKernelIsa isa) {
  static constexpr MomentKernels kPortable = {RunSumsPortable, ColumnSumsPortable};
#if BN_X86_KERNELS
  static constexpr MomentKernels kAvx2 = {RunSumsAvx2, ColumnSumsAvx2};
  static constexpr MomentKernels kAvx512 = {RunSumsAvx512, ColumnSumsAvx512};
  if (isa == MomentKernelIsa::kAvx512) return kAvx512;
  if (isa == MomentKernelIsa::kAvx2) return kAvx2;
#endif
  return kPortable;
}

const MomentKernels& BestMomentKernels() {
  static const MomentKernels& best = []() -> const MomentKernels& {
    for (MomentKernelIsa isa : {MomentKernelIsa::kAvx512, MomentKernelIsa::kAvx2}) {
      if (MomentKernelsSupported(isa)) return GetMomentKernels(isa);
    }
    return GetMomentKernels(MomentKernelIsa::kPortable);
  }();
  return best;
}

}  // namespace bnserve
