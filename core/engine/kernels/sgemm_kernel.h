// Internal interface between Sgemm's dispatcher (sgemm.cc) and its
// per-instruction-set kernels (sgemm_kernel_*.cc, each compiled with its own
// -m flags from sgemm_eigen_kernels.inc). Only sgemm.cc and tests use it.
//
// Each kernel table is a constant-initialised data object, so choosing one
// executes no code compiled for an instruction set the CPU may lack.
#pragma once

#include <cstdint>

#include "core/engine/kernels/sgemm.h"

namespace bnserve::sgemm_internal {

struct KernelTable {
  const char* isa;
  // C += alpha * op(A) * op(B) for m >= 2, n >= 2, k >= 1 (arguments as Sgemm).
  void (*gemm)(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float* c, int64_t ldc);
  // The same for m == 1 or n == 1: a matrix-vector product, no packing.
  void (*gemv)(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float* c, int64_t ldc);
};

// The full Sgemm contract (beta, degenerate sizes, gemv routing) on a given
// kernel table. Sgemm() is SgemmWith(SelectedKernels(), ...).
void SgemmWith(const KernelTable& kernels, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The best table this CPU supports, chosen once.
const KernelTable& SelectedKernels();

// Every table compiled into this build whose instruction set this CPU
// supports, best first; `count` receives their number (at most 3).
void SupportedKernels(const KernelTable** tables, int* count);

// 64-byte aligned per-thread scratch of at least `floats` floats for Eigen's
// packed panels. Defined in sgemm.cc, which is built for the baseline
// instruction set, so the std::vector behind it is instantiated only there.
float* ThreadPackingBuffer(int64_t floats);

extern const KernelTable kGenericKernels;
#if defined(__x86_64__)
extern const KernelTable kAvx2Kernels;
extern const KernelTable kAvx512Kernels;
#endif

}  // namespace bnserve::sgemm_internal
