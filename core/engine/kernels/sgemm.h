// Sgemm: the single-precision matrix multiply behind Gemm and MatMul, with
// the instruction-set dispatch, the blocking and the small-size shortcuts in
// one place (core/engine/kernels/sgemm.cc, with the kernels in core/engine/kernels/sgemm_kernel_*.cc).
// Conv does not use it: its products read their B operand in place from the
// image (core/engine/kernels/conv_kernel.h).
#pragma once

#include <cstdint>

namespace bnserve {

class ThreadPool;  // core/util/thread_pool.h

// C = alpha * op(A) * op(B) + beta * C, every matrix row-major, where op(A) is
// m x k and op(B) is k x n; op(X) = X^T when trans_x. lda, ldb and ldc are the
// row strides of A, B and C as stored (so A is m x k with lda >= k when
// !trans_a, and k x m with lda >= m when trans_a).
//
// As in BLAS, beta == 0 overwrites C without reading it, and alpha == 0 (or
// k == 0) does not read A or B. m == 1 or n == 1 take a matrix-vector path.
//
// Thread-safe. Packing buffers come from a per-thread workspace that only
// grows, so once a thread has run its largest product Sgemm allocates nothing.
//
// With a `pool`, C is cut into slabs along n when m < n (each slab then
// packs all of A, the smaller operand, and its share of B) and along m
// otherwise, and the slabs are computed in parallel.
void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, ThreadPool* pool = nullptr);

// The instruction-set variant Sgemm runs on this CPU: "avx512", "avx2" or
// "generic" (baseline x86-64 SSE2, or whatever the target's default is).
const char* SgemmIsa();

}  // namespace bnserve
