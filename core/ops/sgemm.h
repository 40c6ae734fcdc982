// Sgemm: the one single-precision matrix multiply behind Conv, Gemm and
// MatMul. Every compute-heavy operator funnels into this function so that the
// instruction-set dispatch, the blocking and the small-size shortcuts live in
// one place (core/ops/sgemm.cc, with the kernels in core/ops/sgemm_kernel_*.cc).
#pragma once

#include <cstdint>

namespace bnserve {

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
void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The B operand of SgemmImplicitB: a k x n matrix that is never stored
// whole. The kernel asks for it one packed panel at a time, in the layout it
// would otherwise copy B into.
class SgemmPanelSource {
 public:
  // Writes B[k0 + kk][n0 + j] to dst[kk * width + j] for kk < depth and
  // j < width. Called concurrently only from the thread running the product.
  virtual void WritePanel(int64_t k0, int64_t depth, int64_t n0, int64_t width, float* dst) const = 0;

 protected:
  ~SgemmPanelSource() = default;  // never owned through this interface
};

// C += A * B for row-major A (m x k, row stride lda) and C (m x n, ldc), with
// B supplied by `b`. Same result as Sgemm(false, false, m, n, k, 1, a, lda,
// B, n, 1, c, ldc), but B goes straight into the kernel's packed panels:
// Conv writes its im2col patches there, saving a copy of the whole patch
// matrix and a pass over it. Thread-safe and allocation-free as Sgemm.
void SgemmImplicitB(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const SgemmPanelSource& b,
                    float* c, int64_t ldc);

// The instruction-set variant Sgemm runs on this CPU: "avx512", "avx2" or
// "generic" (baseline x86-64 SSE2, or whatever the target's default is).
const char* SgemmIsa();

}  // namespace bnserve
