// Sgemm's dispatcher: picks the kernel table for this CPU once, handles beta
// and degenerate sizes, and owns the per-thread packing buffer. Built with the
// baseline flags only, so everything here runs on any x86-64 CPU.
#include "core/engine/kernels/sgemm.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/engine/kernels/sgemm_kernel.h"
#include "core/util/cpu_features.h"
#include "core/util/thread_pool.h"

namespace bnserve {
namespace sgemm_internal {
namespace {

bool CpuSupports(const KernelTable& table) {
#if defined(__x86_64__)
  if (&table == &kAvx512Kernels) return CpuHasAvx512();
  if (&table == &kAvx2Kernels) return CpuHasAvx2Fma();
#endif
  return &table == &kGenericKernels;
}

// C = beta * C over an m x n block, reading C only when beta != 0.
void ScaleRows(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  if (beta == 1.0f) return;
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f) {
      std::memset(row, 0, static_cast<size_t>(n) * sizeof(float));
    } else {
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
  }
}

}  // namespace

void SupportedKernels(const KernelTable** tables, int* count) {
  *count = 0;
#if defined(__x86_64__)
  if (CpuSupports(kAvx512Kernels)) tables[(*count)++] = &kAvx512Kernels;
  if (CpuSupports(kAvx2Kernels)) tables[(*count)++] = &kAvx2Kernels;
#endif
  tables[(*count)++] = &kGenericKernels;
}

const KernelTable& SelectedKernels() {
  static const KernelTable selected = [] {
    const KernelTable* tables[3];
    int count = 0;
    SupportedKernels(tables, &count);
    KernelTable best = *tables[0];
#if defined(__x86_64__)
    // Eigen's AVX-512 GEMM beats its AVX2 one, but its AVX-512
    // matrix-vector product is the slower of the two at MLP sizes (see
    // tests/bench/kernels_bench.cc), so batch-1 layers keep the AVX2 path.
    if (tables[0] == &kAvx512Kernels && count > 1 && tables[1] == &kAvx2Kernels) {
      best.gemv = kAvx2Kernels.gemv;
    }
#endif
    return best;
  }();
  return selected;
}

float* ThreadPackingBuffer(int64_t floats) {
  // One buffer per thread: Run() is concurrent, and a per-thread buffer needs
  // no lock and no plumbing through every caller. It only grows (to Eigen's
  // largest panel pair, a few MiB), so steady state allocates nothing.
  constexpr int64_t kAlignFloats = 16;  // 64 bytes
  thread_local std::vector<float> buffer;
  const size_t needed = static_cast<size_t>(floats + kAlignFloats);
  if (buffer.size() < needed) buffer.resize(needed);
  const uintptr_t address = reinterpret_cast<uintptr_t>(buffer.data());
  const uintptr_t aligned = (address + 63) & ~uintptr_t{63};
  return reinterpret_cast<float*>(aligned);
}

void SgemmWith(const KernelTable& kernels, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  ScaleRows(m, n, beta, c, ldc);
  if (k <= 0 || alpha == 0.0f) return;
  if (m == 1 || n == 1) {
    kernels.gemv(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, c, ldc);
  } else {
    kernels.gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, c, ldc);
  }
}

}  // namespace sgemm_internal

void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, ThreadPool* pool) {
  const sgemm_internal::KernelTable& kernels = sgemm_internal::SelectedKernels();
  // Slabs narrower than this cost more in per-call packing than they save.
  constexpr int64_t kMinSlab = 32;
  const int threads = NumSlots(pool);
  const bool split_n = m < n;
  const int64_t extent = split_n ? n : m;
  if (threads < 2 || extent < 2 * kMinSlab) {
    sgemm_internal::SgemmWith(kernels, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // A few slabs per thread so a preempted thread holds up little (see
  // core/util/thread_pool.h); fewer for a GEMM, where every slab packs the other
  // operand again, than for a matrix-vector product, which packs nothing.
  const int64_t slabs = (m == 1 || n == 1 ? 4 : 2) * threads;
  const int64_t slab = std::max(kMinSlab, (extent / slabs + kMinSlab - 1) / kMinSlab * kMinSlab);
  ParallelFor(pool, extent, slab, [&](int64_t begin, int64_t end) {
    if (split_n) {  // columns [begin, end) of op(B) and C
      const float* b_slab = trans_b ? b + begin * ldb : b + begin;
      sgemm_internal::SgemmWith(kernels, trans_a, trans_b, m, end - begin, k, alpha, a, lda, b_slab, ldb, beta,
                                c + begin, ldc);
    } else {  // rows [begin, end) of op(A) and C
      const float* a_slab = trans_a ? a + begin : a + begin * lda;
      sgemm_internal::SgemmWith(kernels, trans_a, trans_b, end - begin, n, k, alpha, a_slab, lda, b, ldb, beta,
                                c + begin * ldc, ldc);
    }
  });
}

const char* SgemmIsa() { return sgemm_internal::SelectedKernels().isa; }

}  // namespace bnserve
